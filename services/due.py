"""When a post is due, in UTC, and what to do with it now. Pure functions: time is a parameter.

Rules (from the app's behaviour, see README "What is due"):
- created_content: `scheduled_at` when set (a value without an offset is UTC); otherwise
  `scheduled_date` + `scheduled_time` as wall-clock time in the owner's timezone, 12:00 when
  the time is missing.
- content_posts: `scheduled_date` + `scheduled_time` in the campaign owner's timezone.
- The owner's timezone is `profiles.timezone`; NULL or an unknown name means UTC (unknown
  names produce a warning for the log).
- Daylight saving: a wall time that does not exist (spring forward) moves forward by the gap;
  an ambiguous one (fall back) means its first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import Enum

import pytz

UTC = pytz.utc
NOON = time(12, 0)


class ScheduleError(ValueError):
    """A schedule that cannot be read; the message is a sentence for the user."""


@dataclass(frozen=True)
class DueTime:
    """A post's due time in UTC, and any warning worth logging about how it was found."""

    at: datetime
    warning: str | None = None


class Decision(Enum):
    """What a run does with a candidate post now."""

    WAIT = "wait"  # not due yet
    DEFERRED = "deferred"  # due, but an earlier attempt asked to wait until later
    PUBLISH = "publish"
    EXPIRE = "expire"  # overdue by more than the lateness limit


_OFFSET_COLON = re.compile(r"([+-]\d\d)(\d\d)$")


def parse_timestamp(value: object, field: str = "scheduled_at") -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime; a value without offset is UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "T", 1)
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        text = _OFFSET_COLON.sub(r"\1:\2", text)
        if re.search(r"[+-]\d\d$", text) and "T" in text:
            text += ":00"  # PostgreSQL renders whole-hour offsets as "+05"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ScheduleError(f"The {field} value {value!r} is not a date and time.") from None
    else:
        raise ScheduleError(f"The {field} value {value!r} is not a date and time.")
    if parsed.tzinfo is None:
        return UTC.localize(parsed)
    return parsed.astimezone(UTC)


def parse_date(value: object) -> date:
    """A `scheduled_date` value (YYYY-MM-DD) as a date."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise ScheduleError(f"The scheduled date {value!r} is not a date (expected YYYY-MM-DD).")


def parse_time(value: object) -> time:
    """A `scheduled_time` value (HH:MM[:SS[.ffffff]], optionally with an offset that is ignored)."""
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        text = re.sub(r"(Z|[+-]\d\d(:?\d\d)?)$", "", value.strip())
        try:
            return time.fromisoformat(text)
        except ValueError:
            pass
    raise ScheduleError(f"The scheduled time {value!r} is not a time of day (expected HH:MM).")


def owner_timezone(name: object) -> tuple[tzinfo, str | None]:
    """The owner's timezone, or UTC with a warning when the stored name is unknown."""
    if name is None or (isinstance(name, str) and not name.strip()):
        return UTC, None
    try:
        return pytz.timezone(str(name).strip()), None
    except pytz.UnknownTimeZoneError:
        return UTC, f"unknown timezone {name!r} in the owner's profile; using UTC"


def local_to_utc(day: date, wall: time, zone: tzinfo) -> datetime:
    """Wall-clock `day` + `wall` in `zone` as UTC, with the gap and overlap rules above."""
    naive = datetime.combine(day, wall)
    if not isinstance(zone, pytz.tzinfo.BaseTzInfo):
        return UTC.localize(naive) if zone is UTC else naive.replace(tzinfo=zone).astimezone(UTC)
    try:
        return zone.localize(naive, is_dst=None).astimezone(UTC)
    except pytz.exceptions.NonExistentTimeError:
        # Both readings land outside the gap; the later instant is the wall time moved forward.
        return max(_both_readings(zone, naive))
    except pytz.exceptions.AmbiguousTimeError:
        return min(_both_readings(zone, naive))


def _both_readings(zone: pytz.tzinfo.BaseTzInfo, naive: datetime) -> list[datetime]:
    return [zone.localize(naive, is_dst=flag).astimezone(UTC) for flag in (True, False)]


def created_content_due(
    scheduled_at: object, scheduled_date: object, scheduled_time: object, timezone_name: object
) -> DueTime:
    """Due time of a created_content row."""
    if scheduled_at not in (None, ""):
        return DueTime(parse_timestamp(scheduled_at))
    if scheduled_date in (None, ""):
        raise ScheduleError("The post is scheduled but has no scheduled date or time.")
    return _local_due(scheduled_date, scheduled_time, timezone_name)


def content_posts_due(scheduled_date: object, scheduled_time: object, timezone_name: object) -> DueTime:
    """Due time of a content_posts row (wall-clock date and time of the campaign owner)."""
    if scheduled_date in (None, ""):
        raise ScheduleError("The post is scheduled but has no scheduled date.")
    return _local_due(scheduled_date, scheduled_time, timezone_name)


def _local_due(scheduled_date: object, scheduled_time: object, timezone_name: object) -> DueTime:
    day = parse_date(scheduled_date)
    wall = NOON if scheduled_time in (None, "") else parse_time(scheduled_time)
    zone, warning = owner_timezone(timezone_name)
    return DueTime(local_to_utc(day, wall, zone), warning)


def decide(
    due_at: datetime, now: datetime, max_lateness: timedelta, not_before: datetime | None = None
) -> Decision:
    """What to do with a post due at `due_at` when the run's clock reads `now`."""
    if due_at > now:
        return Decision.WAIT
    if now - due_at > max_lateness:
        return Decision.EXPIRE
    if not_before is not None and not_before > now:
        return Decision.DEFERRED
    return Decision.PUBLISH


def retry_delay(
    failed_attempts: int, first_delay: timedelta, cap: timedelta = timedelta(hours=1)
) -> timedelta:
    """Wait before the next try after `failed_attempts` transient failures (doubling, capped)."""
    if failed_attempts < 1:
        return timedelta(0)
    return min(first_delay * (1 << (failed_attempts - 1)), cap)


def candidate_window(now: datetime) -> tuple[str, str]:
    """Server-side bounds for reading candidates: (now as ISO, tomorrow's UTC date as ISO).

    Any wall-clock date later than tomorrow in UTC cannot be due yet in any timezone
    (offsets stay within ±14 h), so the server can skip those rows.
    """
    now_utc = now.astimezone(UTC)
    return now_utc.isoformat(), (now_utc.date() + timedelta(days=1)).isoformat()
