"""Due-time rules: both tables, timezones, DST gaps and overlaps, lateness, deferrals."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import pytz
from tzlocal.windows_tz import win_tz

from services.due import (
    Decision,
    ScheduleError,
    candidate_window,
    content_posts_due,
    created_content_due,
    decide,
    owner_timezone,
    parse_timestamp,
    retry_delay,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


CREATED_CONTENT_CASES = [
    # scheduled_at, date, time, timezone, expected UTC, why
    ("2026-11-28T10:00:00+00:00", None, None, None, "2026-11-28T10:00:00", "aware UTC"),
    ("2026-11-28T10:00:00Z", None, None, None, "2026-11-28T10:00:00", "Z suffix"),
    ("2026-11-28T15:30:00+05:30", None, None, "America/New_York", "2026-11-28T10:00:00", "offset wins"),
    ("2026-11-28 10:00:00", None, None, "Asia/Kolkata", "2026-11-28T10:00:00", "naive is UTC, not local"),
    ("2026-11-28T10:00:00.123456+00", None, None, None, "2026-11-28T10:00:00.123456", "PostgreSQL +00"),
    ("2026-11-28T10:00:00", "2026-11-29", "09:00", None, "2026-11-28T10:00:00", "scheduled_at beats date"),
    (None, "2026-11-28", "15:30:00", "Asia/Kolkata", "2026-11-28T10:00:00", "date+time in owner tz"),
    (None, "2026-11-28", "15:30", "Asia/Kolkata", "2026-11-28T10:00:00", "HH:MM"),
    (None, "2026-11-28", None, "Asia/Kolkata", "2026-11-28T06:30:00", "missing time is noon local"),
    (None, "2026-11-28", "10:00", None, "2026-11-28T10:00:00", "no timezone is UTC"),
    (None, "2026-11-28", "24:00:00", "Asia/Kolkata", "2026-11-28T18:30:00", "24:00 is the end of the day"),
    (None, "2026-11-28", "24:00", None, "2026-11-29T00:00:00", "24:00 without seconds"),
    (None, "2026-11-28", "10:00", "", "2026-11-28T10:00:00", "empty timezone is UTC"),
    # America/New_York: 2026-03-08 02:00 -> 03:00 (gap), 2026-11-01 02:00 -> 01:00 (overlap)
    (None, "2026-03-08", "02:30", "America/New_York", "2026-03-08T07:30:00", "NY gap moves forward"),
    (None, "2026-03-08", "03:30", "America/New_York", "2026-03-08T07:30:00", "NY just after gap"),
    (None, "2026-11-01", "01:30", "America/New_York", "2026-11-01T05:30:00", "NY overlap: first (EDT)"),
    # Europe/Berlin: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00
    (None, "2026-03-29", "02:15", "Europe/Berlin", "2026-03-29T01:15:00", "Berlin gap moves forward"),
    (None, "2026-10-25", "02:30", "Europe/Berlin", "2026-10-25T00:30:00", "Berlin overlap: first (CEST)"),
    # Australia/Sydney (southern hemisphere): 2026-04-05 03:00 -> 02:00, 2026-10-04 02:00 -> 03:00
    (None, "2026-04-05", "02:30", "Australia/Sydney", "2026-04-04T15:30:00", "Sydney overlap: first (AEDT)"),
    (None, "2026-10-04", "02:30", "Australia/Sydney", "2026-10-03T16:30:00", "Sydney gap moves forward"),
]


@pytest.mark.parametrize(("at", "day", "wall", "zone", "expected", "why"), CREATED_CONTENT_CASES)
def test_created_content_due_time(at, day, wall, zone, expected, why):
    """created_content due times follow scheduled_at, else date + time in the owner's timezone."""
    assert created_content_due(at, day, wall, zone).at == utc(expected), why


CONTENT_POSTS_CASES = [
    ("2026-11-28", "09:00:00", "America/New_York", "2026-11-28T14:00:00"),
    ("2026-07-01", "09:00:00", "America/New_York", "2026-07-01T13:00:00"),
    ("2026-11-28", "09:00:00", "Asia/Kolkata", "2026-11-28T03:30:00"),
    ("2026-11-28", "00:15:00", "Pacific/Kiritimati", "2026-11-27T10:15:00"),
    ("2026-11-28", "23:45:00", "Pacific/Pago_Pago", "2026-11-29T10:45:00"),
    ("2026-03-08", "02:00:00", "America/New_York", "2026-03-08T07:00:00"),
    ("2026-11-01", "01:00:00", "America/New_York", "2026-11-01T05:00:00"),
]


@pytest.mark.parametrize(("day", "wall", "zone", "expected"), CONTENT_POSTS_CASES)
def test_content_posts_due_time(day, wall, zone, expected):
    """content_posts due times are wall-clock date and time in the campaign owner's timezone."""
    assert content_posts_due(day, wall, zone).at == utc(expected)


def test_unknown_timezone_fails_the_post_instead_of_meaning_utc():
    """An unknown timezone name is a ScheduleError naming it and where to fix it, never UTC."""
    with pytest.raises(ScheduleError) as caught:
        content_posts_due("2026-11-28", "10:00", "Europe/Atlantis")
    assert str(caught.value) == (
        "The owner's profile timezone 'Europe/Atlantis' is not a time zone; set it in the app's "
        "profile settings (for example Europe/Berlin or +02:00)."
    )


@pytest.mark.parametrize(
    ("at", "day", "wall", "message"),
    [
        ("next tuesday", None, None, "not a date and time"),
        (None, None, None, "no scheduled date"),
        (None, "2026-13-45", "10:00", "not a date"),
        (None, "2026-11-28", "25:99", "not a time of day"),
        (12345, None, None, "not a date and time"),
        (None, "2026-11-28garbage", "10:00", "not a date"),
        (None, ["2026-11-28"], "10:00", "not a date"),
        (None, "2026-11-28", 1000, "not a time of day"),
        (None, "2026-11-28", "24:30", "not a time of day"),
    ],
)
def test_unreadable_schedules_raise_readable_errors(at, day, wall, message):
    """A schedule that cannot be read raises ScheduleError with a sentence naming the problem."""
    with pytest.raises(ScheduleError, match=message):
        created_content_due(at, day, wall, None)


def test_process_timezone_does_not_matter(monkeypatch):
    """The process TZ never changes a due time (naive values are UTC, not local)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert os.environ["TZ"] == "Asia/Tokyo"
        assert parse_timestamp("2026-11-28 10:00:00") == utc("2026-11-28T10:00:00")
        assert content_posts_due("2026-11-28", "10:00", None).at == utc("2026-11-28T10:00:00")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


NOW = utc("2026-11-28T12:00:00")
DAY = timedelta(hours=24)


@pytest.mark.parametrize(
    ("due", "not_before", "expected"),
    [
        ("2026-11-28T12:00:01", None, Decision.WAIT),
        ("2026-11-28T12:00:00", None, Decision.PUBLISH),
        ("2026-11-27T12:00:00", None, Decision.PUBLISH),  # exactly at the limit: still published
        ("2026-11-27T11:59:59", None, Decision.EXPIRE),
        ("2026-11-28T11:00:00", "2026-11-28T12:05:00", Decision.DEFERRED),
        ("2026-11-28T11:00:00", "2026-11-28T11:59:00", Decision.PUBLISH),
        ("2026-11-26T11:00:00", "2026-11-28T12:05:00", Decision.EXPIRE),  # lateness wins
    ],
)
def test_decide(due, not_before, expected):
    """A post waits until due, is published within the lateness limit, expires after it."""
    assert decide(utc(due), NOW, DAY, utc(not_before) if not_before else None) is expected


def test_retry_delay_doubles_and_caps():
    """Transient failures wait 2, 4, 8 ... minutes, never more than the cap."""
    first = timedelta(minutes=2)
    assert [retry_delay(n, first).total_seconds() / 60 for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert retry_delay(20, first) == timedelta(hours=1)


def test_candidate_window_covers_every_timezone():
    """The server-side date bound is tomorrow in UTC: tight, yet no wall-clock date beyond it can be due."""
    moment = utc("2026-11-28T23:59:59")
    now, tomorrow = candidate_window(moment)
    assert tomorrow == "2026-11-29"
    assert now.startswith("2026-11-28T23:59:59")
    # UTC+14 already lives in tomorrow's date, so a tighter bound would miss due posts...
    assert content_posts_due(tomorrow, "00:00", "Pacific/Kiritimati").at <= moment
    # ...and the day after tomorrow has not begun anywhere yet.
    day_after = (moment.date() + timedelta(days=2)).isoformat()
    assert content_posts_due(day_after, "00:00", "Pacific/Kiritimati").at > moment


# ---- the ends of the calendar ------------------------------------------------------------------

BEYOND_CALENDAR = [
    # scheduled_at, date, time, timezone, words the message must hold
    (None, "0001-01-01", "00:00", "Asia/Tokyo", ["0001-01-01 00:00 in Asia/Tokyo", "before the year 1"]),
    (None, "0001-01-01", "08:59", "Asia/Tokyo", ["before the year 1", "from the year 1 to 9999"]),
    (None, "9999-12-31", "23:00", "Pacific/Pago_Pago", ["9999-12-31 23:00", "after the year 9999"]),
    (None, "9999-12-31", "20:00", "America/New_York", ["after the year 9999"]),
    (None, "9999-12-31", "13:00", "-12:00", ["in UTC-12:00", "after the year 9999"]),
    (None, "0001-01-01", "01:00", "+05:30", ["in UTC+05:30", "before the year 1"]),
    (None, "9999-12-31", "24:00", None, ["9999-12-31 24:00", "1 to 9999"]),
    ("0001-01-01T00:00:00+05:00", None, None, None, ["scheduled_at", "before the year 1"]),
    ("0001-01-01 04:59:59+05", None, None, None, ["before the year 1"]),
    ("9999-12-31T23:00:00-05:00", None, None, None, ["scheduled_at", "after the year 9999"]),
    ("infinity", None, None, None, ["'infinity'", "not a usable date", "1 to 9999"]),
    ("-infinity", None, None, None, ["'-infinity'", "not a usable date"]),
    ("10000-01-01T00:00:00+00:00", None, None, None, ["'10000-01-01", "not a usable date"]),
    ("294276-12-31T23:59:59+00:00", None, None, None, ["not a usable date"]),
    ("0044-03-15T12:00:00+00:00 BC", None, None, None, ["BC'", "not a usable date"]),
    (None, "infinity", "10:00", None, ["scheduled date 'infinity'", "not a usable date"]),
    (None, "10000-01-01", "10:00", None, ["scheduled date '10000-01-01'", "not a usable date"]),
    (None, "0044-03-15 BC", "10:00", None, ["not a usable date"]),
]


@pytest.mark.parametrize(("at", "day", "wall", "zone", "words"), BEYOND_CALENDAR)
def test_schedules_beyond_the_calendar_are_schedule_errors(at, day, wall, zone, words):
    """A schedule outside the years 1 to 9999 in UTC is a ScheduleError saying so, never an OverflowError."""
    with pytest.raises(ScheduleError) as caught:
        created_content_due(at, day, wall, zone)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize(
    ("day", "wall", "zone", "expected"),
    [
        (
            "0001-01-01",
            "12:00",
            "Asia/Tokyo",
            datetime(1, 1, 1, 2, 41, tzinfo=UTC),
        ),  # Tokyo LMT (pytz: +9:19)
        ("0001-01-01", "00:00", "America/New_York", datetime(1, 1, 1, 4, 56, tzinfo=UTC)),  # New York LMT
        ("9999-12-31", "23:59", "UTC", datetime(9999, 12, 31, 23, 59, tzinfo=UTC)),
        ("9999-12-31", "09:00", "Pacific/Kiritimati", datetime(9999, 12, 30, 19, 0, tzinfo=UTC)),
    ],
)
def test_the_last_representable_instants_are_still_due_times(day, wall, zone, expected):
    """Near the ends of the calendar, a wall time that still exists in UTC is a due time, not an error."""
    assert content_posts_due(day, wall, zone).at == expected


def test_next_attempt_and_claim_stamps_beyond_the_calendar_are_schedule_errors():
    """parse_timestamp (it also reads our metadata stamps) raises ScheduleError at the edges."""
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-00:01", "infinity"):
        with pytest.raises(ScheduleError):
            parse_timestamp(value, "_publish_next_attempt_at")
    with pytest.raises(ValueError, match="_publishing_at"):
        parse_timestamp(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=3))), "_publishing_at")


EAST_5, WEST_5 = timezone(timedelta(hours=5)), timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime.max.replace(tzinfo=UTC), ("9999-12-31T23:59:59.999999+00:00", "9999-12-31")),
        (datetime(9999, 12, 31, 23, tzinfo=UTC), ("9999-12-31T23:00:00+00:00", "9999-12-31")),
        (
            datetime.min.replace(tzinfo=timezone(timedelta(hours=5))),
            ("0001-01-01T00:00:00+00:00", "0001-01-02"),
        ),
        (
            datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))),
            ("9999-12-31T23:59:59.999999+00:00", "9999-12-31"),
        ),
    ],
)
def test_candidate_window_clamps_at_the_ends_of_the_calendar(moment, expected):
    """candidate_window never overflows: at the ends of the calendar its bounds are clamped."""
    assert candidate_window(moment) == expected


@pytest.mark.parametrize("attempts", [1, 2, 30, 63, 64, 1000, 10**9])
def test_retry_delay_never_overflows(attempts):
    """Any attempt count (a broken row may hold any integer) gives a delay within the cap."""
    first = timedelta(minutes=2)
    assert timedelta(0) < retry_delay(attempts, first) <= timedelta(hours=1)
    assert retry_delay(attempts, timedelta(days=1), cap=timedelta.max) <= timedelta.max
    assert retry_delay(attempts, timedelta.max, cap=timedelta.max) == timedelta.max


def test_decide_at_the_ends_of_the_calendar():
    """decide compares instants at either end of the calendar, in any offset, without overflowing."""
    east, west = timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))
    first = datetime.min.replace(tzinfo=east)
    last = datetime.max.replace(tzinfo=west)
    assert decide(first, last, DAY) is Decision.EXPIRE
    assert decide(last, first, DAY) is Decision.WAIT
    assert decide(first, first, timedelta.max, not_before=last) is Decision.DEFERRED


# ---- time zone forms ---------------------------------------------------------------------------

WINTER, SUMMER = "2026-01-15", "2026-07-15"

TIMEZONE_FORMS = [
    # profiles.timezone, date, the UTC offset it must give at 12:00 that day (hours), why
    (None, WINTER, 0, "NULL is UTC, as in the app"),
    ("", WINTER, 0, "empty is UTC"),
    ("   ", WINTER, 0, "blank is UTC"),
    ("Europe/Berlin", WINTER, 1, "IANA"),
    ("Europe/Berlin", SUMMER, 2, "IANA follows daylight saving time"),
    (" Asia/Kolkata ", WINTER, 5.5, "IANA with spaces around"),
    ("asia/kolkata", WINTER, 5.5, "IANA, case-insensitive"),
    ("AMERICA/NEW_YORK", SUMMER, -4, "IANA, upper case"),
    ("US/Eastern", WINTER, -5, "IANA backward-compatible link"),
    ("EST5EDT", SUMMER, -4, "IANA POSIX-style name, as IANA defines it"),
    ("UTC", SUMMER, 0, "IANA UTC"),
    ("gmt", SUMMER, 0, "IANA GMT"),
    ("Etc/GMT-5", WINTER, 5, "POSIX Etc/ sign is inverted: Etc/GMT-5 is UTC+5"),
    ("Etc/GMT+8", WINTER, -8, "POSIX Etc/ sign is inverted: Etc/GMT+8 is UTC-8"),
    ("Eastern Standard Time", WINTER, -5, "Windows name (America/New_York)"),
    ("Eastern Standard Time", SUMMER, -4, "Windows name follows daylight saving time"),
    ("W. Europe Standard Time", SUMMER, 2, "Windows name (Europe/Berlin)"),
    ("india standard time", WINTER, 5.5, "Windows name, case-insensitive"),
    ("Tokyo Standard Time", WINTER, 9, "Windows name (Asia/Tokyo)"),
    ("AUS Eastern Standard Time", WINTER, 11, "Windows name (Australia/Sydney, southern summer)"),
    ("UTC-02", WINTER, -2, "Windows UTC-02 (Etc/GMT+2) agrees with the human reading"),
    ("+02:00", WINTER, 2, "fixed offset"),
    ("+0530", WINTER, 5.5, "fixed offset without colon"),
    ("-03", WINTER, -3, "fixed offset, hours only"),
    ("\u221203:30", WINTER, -3.5, "fixed offset with a typographic minus"),
    ("UTC+2", SUMMER, 2, "UTC+2 means two hours east of Greenwich"),
    ("UTC-05:30", WINTER, -5.5, "UTC-05:30"),
    ("utc +9", WINTER, 9, "lower case, space before the sign"),
    ("GMT-5", WINTER, -5, "GMT-5 means five hours west, unlike Etc/GMT-5"),
    ("GMT+14", WINTER, 14, "the easternmost offset"),
    ("UTC-12:00", WINTER, -12, "the westernmost offset"),
]


@pytest.mark.parametrize(("name", "day", "hours", "why"), TIMEZONE_FORMS)
def test_timezone_forms_that_can_be_read_without_guessing(name, day, hours, why):
    """IANA names, Windows zone names and fixed offsets give the UTC offset people mean."""
    due = content_posts_due(day, "12:00", name).at
    assert due == utc(f"{day}T12:00:00") - timedelta(hours=hours), why


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("Foo/Bar", ["'Foo/Bar'", "not a time zone"]),
        ("garbage", ["'garbage'"]),
        ("Mars/Olympus", ["'Mars/Olympus'"]),
        ("America/New York", ["'America/New York'"]),  # a space is not an underscore: no guessing
        ("IST", ["'IST'"]),  # India, Israel or Ireland: an abbreviation is a guess
        ("PST", ["'PST'"]),
        ("Eastern Time", ["'Eastern Time'"]),
        ("Etc/GMT_plus_5", ["'Etc/GMT_plus_5'"]),  # pytz's own escape, not an IANA name
        ("posix/Europe/Berlin", ["'posix/Europe/Berlin'"]),
        ("Europe/Berlin\x00", ["'Europe/Berlin\\x00'"]),
        ("GMT+15", ["'GMT+15'", "offsets run from -12:00 to +14:00"]),
        ("+14:30", ["offsets run from -12:00 to +14:00"]),
        ("UTC-13", ["offsets run from -12:00 to +14:00"]),
        ("+05:75", ["'+05:75'", "not a time zone"]),
        ("+2 hours", ["'+2 hours'"]),
        ("0530", ["'0530'"]),  # no sign: not an offset anyone writes
        (5, ["5 is not a time zone"]),
        (["Europe/Berlin"], ["['Europe/Berlin']"]),
        ("X" * 500, ["'XXXX", "…", "not a time zone"]),
    ],
)
def test_unreadable_timezones_fail_the_post_naming_the_value(name, words):
    """A timezone that cannot be read without guessing is a ScheduleError naming it and where to fix it."""
    with pytest.raises(ScheduleError) as caught:
        content_posts_due(WINTER, "12:00", name)
    message = str(caught.value)
    assert "owner's profile timezone" in message
    assert "set it in the app's profile settings" in message
    assert len(message) < 250
    for word in words:
        assert word in message


def test_every_windows_zone_name_is_read():
    """Every name of the CLDR Windows table resolves to a pytz zone, whatever its case."""
    for name, iana in win_tz.items():
        if name in pytz.all_timezones_set:
            continue  # "UTC" is an IANA name too, read as such
        zone, note = owner_timezone(name.upper())
        assert str(zone) == iana
        assert note is not None
        assert iana in note


def test_iana_names_differ_by_more_than_case():
    """Case-insensitive IANA lookups are unambiguous: no two names differ only by case."""
    folded = [name.casefold() for name in pytz.all_timezones]
    assert len(folded) == len(set(folded))


@pytest.mark.parametrize(
    ("name", "note"),
    [
        ("Europe/Berlin", None),
        ("europe/berlin", "read as Europe/Berlin"),
        ("Romance Standard Time", "read as Europe/Paris"),
        ("UTC+2", "fixed offset UTC+02:00 (no daylight saving time)"),
    ],
)
def test_timezones_read_from_another_form_say_how(name, note):
    """A timezone read from a form other than its IANA name leaves a note for the log."""
    due = content_posts_due(WINTER, "12:00", name)
    assert due.warning == (None if note is None else f"timezone {name!r} {note}") or note in (
        due.warning or ""
    )


@pytest.mark.parametrize("wall", ["2000-01-01", "T1030", "1030", "10:00 pm", "10.30", "10:00:00:00"])
def test_times_python_would_stretch_to_read_are_refused(wall):
    """scheduled_time is HH:MM[:SS[.ffffff]] (optionally with an offset), not whatever Python can read."""
    with pytest.raises(ScheduleError, match="not a time of day"):
        content_posts_due("2026-11-28", wall, None)
