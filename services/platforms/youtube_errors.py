"""YouTube's error replies as typed errors, and how long each kind of "not now" lasts.

Facts and sources: docs/platforms/youtube.md ("Errors and waits"). Three kinds of waiting:

- a short-term throttle (429, `rateLimitExceeded`, `userRateLimitExceeded`) passes in minutes:
  the wait is YouTube's `Retry-After` when it sends one, else 5 minutes doubled for each
  throttle the same post met before (capped at an hour);
- the project's daily quota (`quotaExceeded`, `dailyLimitExceeded`) resets at the next
  midnight Pacific time;
- the channel's upload cap (`uploadLimitExceeded`): YouTube says to try again in 24 hours.

Every `RateLimitedError` says in its message when the post is tried again, so a post that a
quota pushes past the lateness limit can say why it expired.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytz

from services.errors import AuthError, PermanentError, PlatformError, RateLimitedError, RetryableError
from services.platforms.base import platform_text

PLATFORM = "youtube"
PACIFIC = pytz.timezone("America/Los_Angeles")  # YouTube quotas reset at midnight Pacific time
THROTTLE_FIRST_WAIT = timedelta(minutes=5)
THROTTLE_MAX_WAIT = timedelta(hours=1)
THROTTLE_MIN_WAIT = timedelta(minutes=1)  # a Retry-After of seconds still waits for a later run
RETRY_AFTER_MAX = timedelta(hours=24)  # a larger value is taken as a mistake, not obeyed
UPLOAD_CAP_WAIT = timedelta(hours=24)

# errors[].reason values, by class (docs/platforms/youtube.md, "Errors and waits").
AUTH_REASONS = {
    "authError": "expired",
    "required": "expired",
    "youtubeSignupRequired": "revoked",
    "forbidden": "revoked",
    "insufficientPermissions": "revoked",
    "authenticatedUserAccountSuspended": "revoked",
    "authenticatedUserAccountClosed": "revoked",
}
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
THROTTLE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
UPLOAD_CAP_REASON = "uploadLimitExceeded"


class ThrottledError(RateLimitedError):
    """A short-term throttle: the adapter counts these per post to back off further each time."""


def when(moment: datetime) -> str:
    """A moment as users read it in messages: '2026-12-02 08:00 UTC'."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def next_pacific_midnight(now: datetime) -> datetime:
    """The next midnight in America/Los_Angeles after `now`, in UTC (when YouTube quotas reset)."""
    local = now.astimezone(PACIFIC)
    midnight = PACIFIC.localize(datetime.combine(local.date() + timedelta(days=1), time.min))
    return midnight.astimezone(UTC)


def retry_after(response: httpx.Response, now: datetime) -> timedelta | None:
    """The wait a `Retry-After` header asks for (seconds or an HTTP date); None if absent or absurd."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        wait = timedelta(seconds=int(value))
    else:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        wait = moment - now
    return wait if timedelta(0) <= wait <= RETRY_AFTER_MAX else None


def throttle_wait(earlier_throttles: int, asked: timedelta | None) -> timedelta:
    """How long to wait after a short-term throttle: Retry-After if given, else backing off."""
    if asked is not None:
        return max(asked, THROTTLE_MIN_WAIT)
    return min(THROTTLE_FIRST_WAIT * (1 << min(earlier_throttles, 10)), THROTTLE_MAX_WAIT)


def throttled(
    lead: str, detail: str, now: datetime, *, earlier_throttles: int, asked: timedelta | None
) -> ThrottledError:
    """The error for a short-term throttle; `lead` says who throttles, the rest says until when."""
    not_before = now + throttle_wait(earlier_throttles, asked)
    return ThrottledError(
        PLATFORM,
        f"{lead}; the video is tried again after {when(not_before)}.",
        detail=detail,
        not_before=not_before,
    )


def google_reason(response: httpx.Response) -> tuple[str, str]:
    """(errors[0].reason, error.message) of a Google error body; empty strings if it is not one."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    items = error.get("errors")
    first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    return str(first.get("reason", "")), str(error.get("message") or first.get("message") or "")


def classify(response: httpx.Response, now: datetime, *, earlier_throttles: int = 0) -> PlatformError:
    """The typed error for a YouTube error reply, by HTTP status and errors[].reason.

    Callers deal first with what depends on the call: a 401 worth one token refresh, a 404 or
    410 upload session, a 5xx on an upload PUT. `earlier_throttles` is how many short-term
    throttles this post met before (the backoff grows with it).
    """
    status = response.status_code
    reason, message = google_reason(response)
    detail = f"HTTP {status} {reason}".strip()
    shown = platform_text(message or f"HTTP {status}")
    if reason in QUOTA_REASONS:
        reset = next_pacific_midnight(now)
        return RateLimitedError(
            PLATFORM,
            "YouTube's daily upload quota for this app is used up; the video is uploaded after it "
            f"resets at midnight Pacific time ({when(reset)}).",
            detail=detail,
            not_before=reset,
        )
    if reason == UPLOAD_CAP_REASON:
        later = now + UPLOAD_CAP_WAIT
        return RateLimitedError(
            PLATFORM,
            "This YouTube channel has reached the number of videos YouTube lets it upload for now; "
            f"the video is tried again after {when(later)}.",
            detail=detail,
            not_before=later,
        )
    if status == 429 or reason in THROTTLE_REASONS:
        return throttled(
            "YouTube is limiting how fast this app may upload",
            detail,
            now,
            earlier_throttles=earlier_throttles,
            asked=retry_after(response, now),
        )
    if status == 401 or reason in AUTH_REASONS:
        return AuthError(
            PLATFORM,
            f"YouTube refused the channel's authorisation; please reconnect YouTube. ({shown})",
            detail=detail,
            connection_status=AUTH_REASONS.get(reason, "expired"),
        )
    if status >= 500:
        return RetryableError(PLATFORM, f"YouTube had a temporary problem: {shown}", detail=detail)
    return PermanentError(PLATFORM, f"YouTube rejected the video: {shown}", detail=detail)
