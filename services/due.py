"""When a post is due, in UTC, and what to do with it now. Pure functions: time is a parameter.

Rules (from the app's behaviour; docs/schedules.md is the reference):
- created_content: `scheduled_at` when set (a value without an offset is UTC); otherwise
  `scheduled_date` + `scheduled_time` as wall-clock time in the owner's timezone, 12:00 when
  the time is missing.
- content_posts: `scheduled_date` + `scheduled_time` in the campaign owner's timezone.
- The owner's timezone is `profiles.timezone`; NULL or empty means UTC, as in the app. Anything
  else must be readable without guessing (an IANA name, a Windows zone name, a fixed UTC
  offset); any other value is a ScheduleError, because publishing hours off is worse than not
  publishing.
- Daylight saving: a wall time that does not exist (spring forward) moves forward by the gap;
  an ambiguous one (fall back) means its first occurrence.
- Every instant lies within the years 1 to 9999 in UTC (what Python's datetime can hold);
  a schedule outside them, or `infinity`, is a ScheduleError, never an OverflowError.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from enum import Enum

import pytz

UTC = pytz.utc
NOON = time(12, 0)
# Real UTC offsets run from -12:00 to +14:00; candidate_window relies on the +14:00 bound.
MIN_OFFSET, MAX_OFFSET = timedelta(hours=-12), timedelta(hours=14)
PROFILE_ADVICE = "set it in the app's profile settings (for example Europe/Berlin or +02:00)"


SCHEDULE_FIX = "Fix the schedule in the app and schedule the post again."


class ScheduleError(ValueError):
    """A schedule that cannot be read; the message is a sentence for the user, `fix` what to do.

    Most schedules are fixed in the post itself; a message that already says where the fix is
    (the owner's profile) passes `fix=""`.
    """

    def __init__(
        self, message: str, *, fix: str = "Fix the schedule in the app and schedule the post again."
    ) -> None:
        super().__init__(message)
        self.fix = fix


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
# PostgreSQL renders values Python cannot hold as `infinity`, `-infinity`, years of five or
# more digits, or a trailing " BC".
_BEYOND_CALENDAR = re.compile(r"^\s*(-?infinity|[+-]?\d{5,}-.*|.*\sBC)\s*$", re.IGNORECASE)
_YEARS = "the scheduler handles dates from the year 1 to 9999"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def parse_timestamp(value: object, field: str = "scheduled_at") -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime; a value without offset is UTC."""
    if isinstance(value, str) and _BEYOND_CALENDAR.match(value):
        raise ScheduleError(f"The {field} value {_shown(value)} is not a usable date: {_YEARS}.")
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
            raise ScheduleError(f"The {field} value {_shown(value)} is not a date and time.") from None
    else:
        raise ScheduleError(f"The {field} value {_shown(value)} is not a date and time.")
    if parsed.tzinfo is None:
        return UTC.localize(parsed)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        edge = "before the year 1" if parsed.year < 5000 else "after the year 9999"
        raise ScheduleError(f"The {field} value {_shown(value)} falls {edge} in UTC: {_YEARS}.") from None


_DATE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})(?:[T ].*)?$", re.DOTALL)


def parse_date(value: object) -> date:
    """A `scheduled_date` value (YYYY-MM-DD, possibly followed by a time) as a date."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str) and _BEYOND_CALENDAR.match(value):
        raise ScheduleError(f"The scheduled date {_shown(value)} is not a usable date: {_YEARS}.")
    if isinstance(value, str) and (match := _DATE.match(value)):
        try:
            return date.fromisoformat(match.group(1))
        except ValueError:
            pass
    raise ScheduleError(f"The scheduled date {_shown(value)} is not a date (expected YYYY-MM-DD).")


_TIME = re.compile(r"^\s*(\d\d:\d\d(?::\d\d(?:\.\d{1,6})?)?)(?:Z|[+-]\d\d(?::?\d\d)?)?\s*$")


def parse_time(value: object) -> time:
    """A `scheduled_time` value (HH:MM[:SS[.ffffff]], optionally with an offset that is ignored).

    PostgreSQL's `time` also holds `24:00:00`, which is no Python time: `_local_due` reads it
    as midnight at the end of the day, as PostgreSQL's date + time arithmetic does.
    """
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    # Python's own parser also takes "2000-01" (20:00 at UTC-1) and "T1030": too lenient here.
    if isinstance(value, str) and (match := _TIME.match(value)):
        try:
            return time.fromisoformat(match.group(1))
        except ValueError:
            pass
    raise ScheduleError(f"The scheduled time {_shown(value)} is not a time of day (expected HH:MM).")


def _is_end_of_day(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"\s*24:00(:00(\.0+)?)?\s*", value) is not None


# ---- the owner's time zone ----------------------------------------------------------------------
@functools.cache
def _iana_by_folded() -> dict[str, list[str]]:
    """IANA names by their case-folded form (built on first use: most runs never need it)."""
    table: dict[str, list[str]] = {}
    for name in pytz.all_timezones:
        table.setdefault(name.casefold(), []).append(name)
    return table


@functools.cache
def _windows_by_folded() -> dict[str, str]:
    """Windows zone names (case-folded) to IANA names, from CLDR's table as tzlocal ships it."""
    # A runtime dependency rather than a vendored copy: tzlocal regenerates the table from CLDR at
    # each release, so a version bump keeps it current (docs/schedules.md, "Windows zone names").
    # Imported here because it is large and most runs never need it.
    from tzlocal.windows_tz import win_tz  # noqa: PLC0415

    return {name.casefold(): iana for name, iana in win_tz.items()}


# "+02:00", "+0530", "+2", "UTC+2", "UTC-05:30", "GMT-5", "UTC +02:00": the sign means what
# people mean (east of Greenwich is +). POSIX `Etc/GMT-5` is an IANA name and never reaches this.
_OFFSET_ZONE = re.compile(r"^(?:(?:UTC|GMT)\s*)?([+\-−])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


def owner_timezone(name: object) -> tuple[tzinfo, str | None]:
    """The owner's timezone from `profiles.timezone`, with a note for the log when it was read
    from a form other than its canonical IANA name; ScheduleError when it cannot be read.

    Accepted, in this order: NULL or empty (UTC, as the app does); an IANA name (exact, then
    case-insensitive when that matches exactly one name); a Windows zone name (CLDR mapping,
    case-insensitive); a fixed offset from -12:00 to +14:00.
    """
    if name is None or (isinstance(name, str) and not name.strip()):
        return UTC, None
    if not isinstance(name, str):
        raise _not_a_zone(name)
    text = name.strip()
    if text in pytz.all_timezones_set:
        return pytz.timezone(text), None
    folded = text.casefold()
    matches = _iana_by_folded().get(folded, [])
    if len(matches) == 1:
        return pytz.timezone(matches[0]), f"timezone {_shown(name)} read as {matches[0]}"
    windows = _windows_by_folded()
    if folded in windows:
        iana = windows[folded]
        return pytz.timezone(iana), f"Windows timezone {_shown(name)} read as {iana} (CLDR)"
    offset = _fixed_offset(text)
    if offset is not None:
        if not MIN_OFFSET <= offset <= MAX_OFFSET:
            raise _not_a_zone(name, " (UTC offsets run from -12:00 to +14:00)")
        zone = timezone(offset)
        return zone, f"timezone {_shown(name)} read as the fixed offset {zone} (no daylight saving time)"
    raise _not_a_zone(name)


def _not_a_zone(name: object, why: str = "") -> ScheduleError:
    return ScheduleError(
        f"The owner's profile timezone {_shown(name)} is not a time zone{why}; {PROFILE_ADVICE}.", fix=""
    )


def _fixed_offset(text: str) -> timedelta | None:
    match = _OFFSET_ZONE.match(text)
    if match is None:
        return None
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    if minutes >= 60:
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    return -offset if sign in "-−" else offset


def local_to_utc(day: date, wall: time, zone: tzinfo) -> datetime:
    """Wall-clock `day` + `wall` in `zone` as UTC, with the gap and overlap rules above.

    ScheduleError when the instant falls outside the years 1 to 9999 in UTC (0001-01-01 00:00
    in Tokyo is still year 0 in UTC).
    """
    naive = datetime.combine(day, wall)
    try:
        return _localize(naive, zone)
    except OverflowError:
        edge = "before the year 1" if day.year < 5000 else "after the year 9999"
        raise ScheduleError(
            f"The scheduled date and time {day.isoformat()} {wall:%H:%M} in {zone} falls {edge} "
            f"in UTC: {_YEARS}."
        ) from None


def _localize(naive: datetime, zone: tzinfo) -> datetime:
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
    if _is_end_of_day(scheduled_time):
        if day == date.max:
            raise ScheduleError(f"The scheduled date and time 9999-12-31 24:00 is not usable: {_YEARS}.")
        day, wall = day + timedelta(days=1), time(0)
    else:
        wall = NOON if scheduled_time in (None, "") else parse_time(scheduled_time)
    zone, warning = owner_timezone(timezone_name)
    return DueTime(local_to_utc(day, wall, zone), warning)


def decide(
    due_at: datetime, now: datetime, max_lateness: timedelta, not_before: datetime | None = None
) -> Decision:
    """What to do with a post due at `due_at` when the run's clock reads `now`.

    Only comparisons and one subtraction of aware datetimes: neither can overflow, whatever
    the years (the difference of any two datetimes fits a timedelta).
    """
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
    """Wait before the next try after `failed_attempts` transient failures (doubling, capped).

    Doubles step by step and stops at the cap, so no attempt count (our own metadata key, which
    a broken row may hold as any integer) can overflow a timedelta.
    """
    if failed_attempts < 1 or first_delay <= timedelta(0) or cap <= timedelta(0):
        return timedelta(0)
    delay = min(first_delay, cap)
    for _ in range(failed_attempts - 1):
        if delay >= cap:
            break
        delay = cap if delay > cap / 2 else delay * 2
    return delay


def candidate_window(now: datetime) -> tuple[str, str]:
    """Server-side bounds for reading candidates: (now as ISO, tomorrow's UTC date as ISO).

    Any wall-clock date later than tomorrow in UTC cannot be due yet in any timezone
    (offsets stay within +14 h, see MAX_OFFSET), so the server can skip those rows. At the
    ends of the calendar the bounds are clamped instead of overflowing.
    """
    try:
        now_utc = now.astimezone(UTC)
    except OverflowError:
        now_utc = (datetime.min if now.year < 5000 else datetime.max).replace(tzinfo=UTC)
    today = now_utc.date()
    tomorrow = today if today == date.max else today + timedelta(days=1)
    return now_utc.isoformat(), tomorrow.isoformat()
