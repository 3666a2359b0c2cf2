"""Error policy: what each class of platform error does to the post."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.errors import (
    AmbiguousError,
    AuthError,
    LimitError,
    PermanentError,
    PlatformConfigError,
    RateLimitedError,
    RetryableError,
)
from services.outcomes import Status
from services.policy import RetryRules, outcome_for_error

DEFERRED, FAILED, UNCONFIRMED = Status.DEFERRED, Status.FAILED, Status.UNCONFIRMED

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
RULES = RetryRules(max_attempts=3, first_delay=timedelta(minutes=2), rate_limit_delay=timedelta(minutes=30))


def decide(error, attempts=0):
    return outcome_for_error(error, display_name="Facebook", attempts_so_far=attempts, now=NOW, rules=RULES)


def test_rate_limit_defers_without_using_an_attempt():
    """A rate limit defers to the platform's time and is not counted as a failure."""
    later = NOW + timedelta(hours=3)
    outcome = decide(RateLimitedError("facebook", "slow down", not_before=later), attempts=2)
    assert (outcome.status, outcome.not_before, outcome.count_attempt) == (DEFERRED, later, False)


def test_rate_limit_without_time_uses_default_delay():
    """Without a platform time, a rate limit waits the configured delay."""
    assert decide(RateLimitedError("facebook", "x")).not_before == NOW + timedelta(minutes=30)


@pytest.mark.parametrize(
    ("attempts", "status", "delay"), [(0, DEFERRED, 2), (1, DEFERRED, 4), (2, FAILED, None)]
)
def test_retryable_backs_off_then_fails(attempts, status, delay):
    """A transient failure is retried with growing delays, then fails after the last attempt."""
    outcome = decide(RetryableError("facebook", "Timed out."), attempts=attempts)
    assert outcome.status == status
    if delay is None:
        assert "Gave up after 3 attempts" in outcome.message
    else:
        assert outcome.not_before == NOW + timedelta(minutes=delay)
        assert outcome.count_attempt is True


def test_waiting_is_not_an_attempt():
    """A container still processing defers without using an attempt, whatever the count."""
    outcome = decide(RetryableError("instagram", "processing", counts_as_attempt=False), attempts=5)
    assert (outcome.status, outcome.count_attempt) == (DEFERRED, False)


def test_ambiguous_is_checked_again_later_then_surfaced():
    """An ambiguous failure is deferred (the next attempt reconciles first), then surfaced at the last."""
    error = AmbiguousError("facebook", "The connection dropped.")
    first = decide(error, attempts=0)
    assert (first.status, first.count_attempt, first.not_before) == (
        DEFERRED,
        True,
        NOW + timedelta(minutes=2),
    )
    last = decide(error, attempts=2)
    assert last.status == UNCONFIRMED
    assert "check your Facebook account" in last.message


def test_auth_disconnects_the_connection():
    """An auth error fails the post and asks for the connection to be marked with its status."""
    outcome = decide(AuthError("facebook", "Reconnect.", connection_status="revoked"))
    assert (outcome.status, outcome.disconnect, outcome.stop_account) == (FAILED, "revoked", True)


def test_config_error_stops_the_platform_without_failing():
    """A configuration error defers the post and stops the platform for the run."""
    outcome = decide(PlatformConfigError("linkedin", "version sunset"))
    assert (outcome.status, outcome.stop_platform, outcome.count_attempt) == (DEFERRED, True, False)


@pytest.mark.parametrize("error", [PermanentError("facebook", "Bad."), LimitError("facebook", "Too long.")])
def test_permanent_fails_with_the_message(error):
    """Permanent errors and broken limits fail the post with the error's own sentence."""
    outcome = decide(error)
    assert (outcome.status, outcome.message) == (FAILED, error.message)
