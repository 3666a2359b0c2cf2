"""What a platform error means for the post: fail, defer, disconnect, or surface. Pure: time is a
parameter.

Adapters only classify; this table decides. Keeping the policy here (not in adapters) is what
lets retries, deferrals and at-most-once rules change in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.due import retry_delay
from services.errors import (
    AmbiguousError,
    AuthError,
    PlatformConfigError,
    PlatformError,
    RateLimitedError,
    RetryableError,
)
from services.outcomes import Deferred, Failed, Outcome, Unconfirmed


@dataclass(frozen=True)
class RetryRules:
    """The retry settings from configuration."""

    max_attempts: int = 3
    first_delay: timedelta = timedelta(minutes=2)
    rate_limit_delay: timedelta = timedelta(minutes=30)


def maybe_live_advice(display_name: str) -> str:
    """What a user should do about a post that may or may not be live."""
    return (
        f"It was not sent again, to avoid a duplicate: check your {display_name} account, and "
        "reschedule the post only if it is not there."
    )


def outcome_for_error(
    error: PlatformError, *, display_name: str, attempts_so_far: int, now: datetime, rules: RetryRules
) -> Outcome:
    """The outcome of an attempt that raised `error`, given the post's earlier failed attempts."""
    detail = f"{error.kind}: {error.detail}" if error.detail else error.kind
    if isinstance(error, RateLimitedError):
        not_before = (
            error.not_before if error.not_before and error.not_before > now else now + rules.rate_limit_delay
        )
        return Deferred(error.message, not_before, detail=detail)
    if isinstance(error, PlatformConfigError):
        return Deferred(error.message, now + rules.rate_limit_delay, detail=detail, stop_platform=True)
    if isinstance(error, AuthError):
        return Failed(error.message, detail=detail, disconnect=error.connection_status, stop_account=True)
    if isinstance(error, RetryableError) and not error.counts_as_attempt:
        return Deferred(error.message, now + rules.first_delay, detail=detail)
    if isinstance(error, RetryableError | AmbiguousError):
        # Both are tried again later, each try using an attempt. An ambiguous post keeps its
        # "sending" mark, so the next attempt asks the platform first (adapters reconcile before
        # any re-send); when the attempts run out, the user is told it may be live.
        failed = attempts_so_far + 1
        if failed < rules.max_attempts:
            return Deferred(
                error.message,
                now + retry_delay(failed, rules.first_delay),
                count_attempt=True,
                detail=detail,
            )
        if isinstance(error, AmbiguousError):
            return Unconfirmed(f"{error.message} {maybe_live_advice(display_name)}", detail=detail)
        return Failed(
            f"{error.message} Gave up after {failed} attempts; reschedule the post to try again.",
            detail=detail,
        )
    return Failed(error.message, detail=detail)
