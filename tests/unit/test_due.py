"""Due-time rules: both tables, timezones, DST gaps and overlaps, lateness, deferrals."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from services.due import (
    Decision,
    ScheduleError,
    candidate_window,
    content_posts_due,
    created_content_due,
    decide,
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
    (None, "2026-11-28", "10:00", "Mars/Olympus", "2026-11-28T10:00:00", "unknown timezone is UTC"),
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


def test_unknown_timezone_warns():
    """An unknown timezone name falls back to UTC with a warning for the log."""
    due = content_posts_due("2026-11-28", "10:00", "Europe/Atlantis")
    assert due.at == utc("2026-11-28T10:00:00")
    assert due.warning is not None
    assert "Europe/Atlantis" in due.warning


@pytest.mark.parametrize(
    ("at", "day", "wall", "message"),
    [
        ("next tuesday", None, None, "not a date and time"),
        (None, None, None, "no scheduled date"),
        (None, "2026-13-45", "10:00", "not a date"),
        (None, "2026-11-28", "25:99", "not a time of day"),
        (12345, None, None, "not a date and time"),
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
