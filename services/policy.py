"""What a platform error means for the post: fail, defer, or disconnect. Pure: time is a parameter.

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

PUBLISHED, FAILED, DEFERRED = "published", "failed", "deferred"


@dataclass(frozen=True)
class Outcome:
    """How one attempt at one post ended, as the run writes it back."""

    status: str  # PUBLISHED, FAILED or DEFERRED
    message: str = ""  # FAILED: the sentence for publish_error; DEFERRED: the reason
    detail: str = ""  # for operators only (platform code, HTTP status): the log, never the row
    platform_post_id: str | None = None
    url: str | None = None
    not_before: datetime | None = None  # DEFERRED: next attempt
    count_attempt: bool = False  # DEFERRED: does this wait use one of the post's attempts
    disconnect: str | None = None  # connection_status to set when the connection must be dropped
    stop_platform: bool = False  # class C: defer every other post of this platform in this run


@dataclass(frozen=True)
class RetryRules:
    """The retry settings from configuration."""

    max_attempts: int = 3
    first_delay: timedelta = timedelta(minutes=2)
    rate_limit_delay: timedelta = timedelta(minutes=30)


def outcome_for_error(
    error: PlatformError, *, display_name: str, attempts_so_far: int, now: datetime, rules: RetryRules
) -> Outcome:
    """The outcome of an attempt that raised `error`, given the post's earlier failed attempts."""
    detail = f"{error.kind}: {error.detail}" if error.detail else error.kind
    if isinstance(error, RateLimitedError):
        not_before = (
            error.not_before if error.not_before and error.not_before > now else now + rules.rate_limit_delay
        )
        return Outcome(DEFERRED, message=error.message, detail=detail, not_before=not_before)
    if isinstance(error, PlatformConfigError):
        return Outcome(
            DEFERRED,
            message=error.message,
            detail=detail,
            not_before=now + rules.rate_limit_delay,
            stop_platform=True,
        )
    if isinstance(error, AuthError):
        return Outcome(FAILED, message=error.message, detail=detail, disconnect=error.connection_status)
    if isinstance(error, RetryableError) and not error.counts_as_attempt:
        return Outcome(DEFERRED, message=error.message, detail=detail, not_before=now + rules.first_delay)
    if isinstance(error, RetryableError | AmbiguousError):
        # Both are tried again later, each try using an attempt. An ambiguous post keeps its
        # "sending" mark, so the next attempt asks the platform first (adapters reconcile before
        # any re-send); when the attempts run out, the user decides and nothing is sent again.
        failed = attempts_so_far + 1
        if failed < rules.max_attempts:
            return Outcome(
                DEFERRED,
                message=error.message,
                detail=detail,
                not_before=now + retry_delay(failed, rules.first_delay),
                count_attempt=True,
            )
        if isinstance(error, AmbiguousError):
            advice = (
                f"It was not sent again, to avoid a duplicate: check your {display_name} account and "
                "reschedule the post only if it is not there."
            )
        else:
            advice = f"Gave up after {failed} attempts; reschedule the post to try again."
        return Outcome(FAILED, message=f"{error.message} {advice}", detail=detail)
    return Outcome(FAILED, message=error.message, detail=detail)
