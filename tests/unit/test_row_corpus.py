"""Malformed rows: a corpus of the kinds of garbage real tables hold, and a property over any row.

Each row goes through the pure path a run takes before any network call: post_from_row, its
due time (services.decisions.due_time), build_job, then the platform adapter's check(). Whatever
the row holds, that path either succeeds or raises one of our own input errors with a sentence
for the user; never TypeError, AttributeError, OverflowError or a ValueError from deep inside.
What only a run can judge (an unknown platform, a post with no owner, connections) is checked
through the real wrapper in tests/acceptance/test_malformed_rows.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.decisions import due_time
from services.due import Decision, ScheduleError, decide
from services.errors import LimitError
from services.platforms.base import PublishJob
from services.platforms.registry import ADAPTERS
from services.posts import (
    CONTENT_POSTS,
    CREATED_CONTENT,
    InvalidPostError,
    Post,
    build_job,
    is_web_address,
    post_from_row,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
OUR_ERRORS = (ScheduleError, InvalidPostError, LimitError)
T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    """One corpus row: its table, the columns that differ from a good row, and what must happen."""

    name: str
    table: str
    columns: dict[str, Any]
    timezone: Any = "Europe/Berlin"
    error: type[Exception] | None = None  # None: the pure path succeeds
    words: tuple[str, ...] = ()  # in the error message
    kind: str | None = None  # success: the job's kind
    text: str | None = None  # success: the job's text
    adapter: bool = True  # False: no adapter takes the platform (the run fails it)
    owner: bool = True  # False: the post has no owner (the run fails it)
    extra: dict[str, Any] = field(default_factory=dict)


def good_row(table: str) -> dict[str, Any]:
    """A row the app writes for a Facebook text post due now."""
    if table == CREATED_CONTENT:
        return {
            "id": "c1",
            "user_id": "u1",
            "platform": "facebook",
            "content_type": "post",
            "title": None,
            "content": "Fresh bread today",
            "hashtags": [],
            "images": [],
            "carousel_images": [],
            "media_url": None,
            "status": "scheduled",
            "metadata": {},
            "scheduled_at": "2026-11-28T11:00:00+00:00",
            "scheduled_date": None,
            "scheduled_time": None,
        }
    return {
        "id": "p1",
        "platform": "facebook",
        "post_type": "text",
        "title": None,
        "content": "Fresh bread today",
        "hashtags": None,
        "status": "scheduled",
        "metadata": None,
        "primary_image_url": None,
        "scheduled_date": "2026-11-28",
        "scheduled_time": "11:00:00",
        "content_campaigns": {"user_id": "u2"},
    }


CC, CP = CREATED_CONTENT, CONTENT_POSTS
JPGS = [f"https://cdn.example.com/{n}.jpg" for n in range(12)]
RTL = "خبز طازج اليوم 🍞 לחם טרי"

CORPUS = [
    # ---- platform --------------------------------------------------------------------------
    Row("unknown platform", CC, {"platform": "myspace"}, adapter=False, kind="text"),
    Row("empty platform", CC, {"platform": ""}, adapter=False, kind="text"),
    Row("NULL platform", CC, {"platform": None}, adapter=False, kind="text"),
    Row("mixed-case platform", CC, {"platform": " FaceBook "}, kind="text"),
    Row("platform as a number", CC, {"platform": 7}, adapter=False, kind="text"),
    # ---- metadata --------------------------------------------------------------------------
    Row("NULL metadata", CP, {"metadata": None}, kind="text"),
    Row("metadata is an array", CC, {"metadata": [1, 2]}, kind="text"),
    Row("metadata is a string", CC, {"metadata": "oops"}, kind="text"),
    Row(
        "metadata.carousel_images is a number",
        CC,
        {"metadata": {"carousel_images": 3}},
        error=InvalidPostError,
        words=("carousel images", "not a list of texts", "3"),
    ),
    Row(
        "metadata.carousel_images is one string",
        CC,
        {"metadata": {"carousel_images": JPGS[0]}},
        kind="image",
    ),
    Row(
        "metadata.carousel_images is a string that is no address",
        CC,
        {"metadata": {"carousel_images": "[a.jpg, b.jpg]"}},
        error=InvalidPostError,
        words=("media file address", "'[a.jpg, b.jpg]'", "not a web address"),
    ),
    Row(
        "media_type is a list",
        CC,
        {"metadata": {"media_type": ["video"]}, "media_url": JPGS[0]},
        error=InvalidPostError,
        words=("media_type", "['video']", "must be a word"),
    ),
    Row(
        "video_url is a dict",
        CC,
        {"metadata": {"video_url": {"url": "https://x/v.mp4"}}},
        error=InvalidPostError,
        words=("video URL", "is not a text"),
    ),
    Row("_publish_remote is a string", CC, {"metadata": {"_publish_remote": "C1"}}, kind="text"),
    # ---- columns of the wrong type ---------------------------------------------------------
    Row(
        "hashtags as a number",
        CC,
        {"hashtags": 42},
        error=InvalidPostError,
        words=("hashtags", "not a list of texts", "42"),
    ),
    Row(
        "images as a dict",
        CC,
        {"images": {"0": JPGS[0]}},
        error=InvalidPostError,
        words=("images", "not a list of texts"),
    ),
    Row(
        "images holding NULL",
        CC,
        {"images": [JPGS[0], None]},
        error=InvalidPostError,
        words=("images", "not a list of texts"),
    ),
    Row("content is NULL", CC, {"content": None}, error=InvalidPostError, words=("no text content",)),
    Row("content is an object", CP, {"content": {"text": "x"}}, error=InvalidPostError, words=("no text",)),
    Row(
        "title is a number", CC, {"title": 2026}, error=InvalidPostError, words=("title", "not text", "2026")
    ),
    # ---- text ------------------------------------------------------------------------------
    Row(
        "empty content, no title",
        CC,
        {"content": "", "title": ""},
        error=InvalidPostError,
        words=("empty", "no title, text or hashtags"),
    ),
    Row("blank content, a title", CP, {"content": "  \n ", "title": "Only a title"}, text="Only a title"),
    Row(
        "only NUL characters",
        CC,
        {"content": "\x00\x00", "title": "\x00"},
        error=InvalidPostError,
        words=("empty",),
    ),
    Row("NUL characters inside", CC, {"content": "Fresh\x00 bread"}, text="Fresh bread"),
    Row(
        "hashtags with and without #, repeated",
        CC,
        {"hashtags": ["#Bread", "bread", "rye", "#RYE", " #fresh "]},
        text="Fresh bread today\n\n#Bread #rye #fresh",
    ),
    Row("hashtags as one string", CP, {"hashtags": "#a, b  #a"}, text="Fresh bread today\n\n#a #b"),
    Row("emoji and right-to-left text", CC, {"content": RTL, "title": "🍞"}, text=f"🍞\n\n{RTL}"),
    Row(
        "text over the LinkedIn limit",
        CC,
        {"platform": "linkedin", "content": "x" * 3001},
        error=LimitError,
        words=("LinkedIn", "3,000 characters", "3,001"),
    ),
    Row(
        "text over the Facebook limit",
        CP,
        {"content": "é" * 70_000},
        error=LimitError,
        words=("Facebook", "63,206 characters", "70,000"),
    ),
    Row(
        "31 distinct Instagram hashtags",
        CC,
        {"platform": "instagram", "media_url": JPGS[0], "hashtags": [f"t{n}" for n in range(31)]},
        error=LimitError,
        words=("at most 30 hashtags", "31"),
    ),
    Row(
        "very long YouTube title",
        CC,
        {"platform": "youtube", "content_type": "video", "media_url": "https://x/v.mp4", "title": "T" * 101},
        error=LimitError,
        words=("YouTube titles", "100 characters", "101"),
    ),
    Row(
        "very long title on Facebook",
        CC,
        {"title": "T" * 5000},
        kind="text",
    ),
    Row(
        "YouTube title with angle brackets",
        CC,
        {"platform": "youtube", "content_type": "video", "media_url": "https://x/v.mp4", "title": "<b>"},
        error=LimitError,
        words=("YouTube", "'<'"),
    ),
    # ---- media -----------------------------------------------------------------------------
    Row(
        "image post without an image (Instagram)",
        CP,
        {"platform": "instagram", "post_type": "image"},
        error=LimitError,
        words=("cannot publish text posts to Instagram",),
    ),
    Row(
        "video post without a video (YouTube)",
        CC,
        {"platform": "youtube", "content_type": "video", "title": "Clip"},
        error=LimitError,
        words=("video post has no media file",),
    ),
    Row(
        "media that is not an address",
        CC,
        {"media_url": "loaf.jpg"},
        error=InvalidPostError,
        words=("media file address", "'loaf.jpg'", "http://"),
    ),
    Row(
        "media address with a space in the host",
        CP,
        {"primary_image_url": "https://cdn example.com/a.jpg"},
        error=InvalidPostError,
        words=("not a web address",),
    ),
    Row(
        "media on ftp",
        CC,
        {"images": ["ftp://files.example.com/a.jpg"]},
        error=InvalidPostError,
        words=("media file address", "ftp://"),
    ),
    Row(
        "carousel of 1 (Instagram)",
        CC,
        {"platform": "instagram", "content_type": "carousel", "images": JPGS[:1]},
        error=LimitError,
        words=("Instagram carousels need at least 2 images", "has 1"),
    ),
    Row(
        "carousel of 11 (Instagram)",
        CC,
        {"platform": "instagram", "content_type": "carousel", "images": JPGS[:11]},
        error=LimitError,
        words=("Instagram carousels are limited to 10 images", "has 11"),
    ),
    Row(
        "PNG on Instagram",
        CP,
        {"platform": "instagram", "post_type": "image", "primary_image_url": "https://x/a.png"},
        error=LimitError,
        words=("only JPEG", "a.png"),
    ),
    Row(
        "email kind on Facebook",
        CC,
        {"content_type": "email"},
        error=LimitError,
        words=("cannot publish email posts to Facebook",),
    ),
    # ---- options ---------------------------------------------------------------------------
    Row(
        "privacy garbage",
        CC,
        {"metadata": {"privacy": "friends only"}},
        error=InvalidPostError,
        words=("privacy", "'friends only'", "public, unlisted, private"),
    ),
    Row(
        "category garbage",
        CC,
        {"metadata": {"category": {"id": 22}}},
        error=InvalidPostError,
        words=("category", "YouTube category number"),
    ),
    Row(
        "link that is no web address",
        CC,
        {"metadata": {"link": "javascript:alert(1)"}},
        error=InvalidPostError,
        words=("link", "not a web address"),
    ),
    Row(
        "made_for_kids garbage",
        CC,
        {"metadata": {"made_for_kids": "yes"}},
        error=InvalidPostError,
        words=("made_for_kids", "true or false"),
    ),
    # ---- schedule --------------------------------------------------------------------------
    Row(
        "unparseable scheduled_at",
        CC,
        {"scheduled_at": "next tuesday"},
        error=ScheduleError,
        words=("scheduled_at", "'next tuesday'", "not a date and time"),
    ),
    Row(
        "scheduled_at before the year 1 in UTC",
        CC,
        {"scheduled_at": "0001-01-01T00:00:00+05:00"},
        error=ScheduleError,
        words=("before the year 1",),
    ),
    Row(
        "scheduled_at infinity",
        CC,
        {"scheduled_at": "infinity"},
        error=ScheduleError,
        words=("'infinity'", "not a usable date"),
    ),
    Row(
        "date at the start of the calendar in Tokyo",
        CP,
        {"scheduled_date": "0001-01-01", "scheduled_time": "00:00:00"},
        timezone="Asia/Tokyo",
        error=ScheduleError,
        words=("0001-01-01 00:00 in Asia/Tokyo", "before the year 1"),
    ),
    Row(
        "date at the end of the calendar in the Pacific",
        CC,
        {"scheduled_at": None, "scheduled_date": "9999-12-31", "scheduled_time": "23:00"},
        timezone="Pacific/Pago_Pago",
        error=ScheduleError,
        words=("9999-12-31 23:00 in Pacific/Pago_Pago", "after the year 9999"),
    ),
    Row(
        "date without time",
        CC,
        {"scheduled_at": None, "scheduled_date": "2026-11-28", "scheduled_time": None},
        kind="text",
        extra={"due": datetime(2026, 11, 28, 11, 0, tzinfo=UTC)},  # noon in Berlin
    ),
    Row(
        "no schedule at all",
        CC,
        {"scheduled_at": None},
        error=ScheduleError,
        words=("no scheduled date or time",),
    ),
    Row(
        "impossible date",
        CP,
        {"scheduled_date": "2026-02-30"},
        error=ScheduleError,
        words=("'2026-02-30'", "not a date"),
    ),
    Row(
        "time as a number",
        CP,
        {"scheduled_time": 1100},
        error=ScheduleError,
        words=("scheduled time 1100", "not a time of day"),
    ),
    Row(
        "unknown timezone",
        CP,
        {},
        timezone="Mars/Olympus",
        error=ScheduleError,
        words=("'Mars/Olympus'", "not a time zone", "profile settings"),
    ),
    Row(
        "Windows timezone name",
        CP,
        {"scheduled_time": "06:00:00"},
        timezone="Eastern Standard Time",
        kind="text",
        extra={"due": datetime(2026, 11, 28, 11, 0, tzinfo=UTC)},
    ),
    Row(
        "human offset GMT-5",
        CP,
        {"scheduled_time": "06:00:00"},
        timezone="GMT-5",
        kind="text",
        extra={"due": datetime(2026, 11, 28, 11, 0, tzinfo=UTC)},
    ),
    # ---- owner -----------------------------------------------------------------------------
    Row("campaign without owner", CP, {"content_campaigns": {"user_id": None}}, owner=False, kind="text"),
    Row("campaign missing", CP, {"content_campaigns": None}, owner=False, kind="text"),
    Row("campaign embed as a list", CP, {"content_campaigns": [{"user_id": "u2"}]}, owner=False, kind="text"),
]


def pure_path(table: str, row: dict[str, Any], timezone: Any) -> tuple[Post, datetime, PublishJob]:
    """What a run does with a row before any network call; raises only what the row causes."""
    post = post_from_row(table, row, timezone)
    due = due_time(post).at
    job = build_job(post)
    adapter = ADAPTERS.get(post.platform)
    if adapter is not None:
        adapter.check(job)
    return post, due, job


def test_the_corpus_is_large_and_names_are_unique():
    """The corpus keeps at least 30 kinds of malformed rows, each named once."""
    assert len(CORPUS) >= 30
    assert len({row.name for row in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[row.name for row in CORPUS])
def test_malformed_row(case: Row):
    """A malformed row succeeds or fails with our own error naming what is wrong; nothing else escapes."""
    row = {**good_row(case.table), **case.columns}
    if case.error is not None:
        with pytest.raises(case.error) as caught:
            pure_path(case.table, row, case.timezone)
        message = str(caught.value)
        for word in case.words:
            assert word in message, message
        assert message.rstrip().endswith("."), message
        return
    post, due, job = pure_path(case.table, row, case.timezone)
    assert (post.platform in ADAPTERS) is case.adapter
    assert (post.owner_id is not None) is case.owner
    if case.kind is not None:
        assert job.kind == case.kind
    if case.text is not None:
        assert job.text == case.text
    if "due" in case.extra:
        assert due == case.extra["due"]


# ---- any row -----------------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
_STAMPS = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat(sep=" ")),
    st.dates().map(lambda d: d.isoformat()),
    st.times().map(lambda t: t.isoformat()),
    st.sampled_from(
        ["infinity", "-infinity", "24:00", "10000-01-01", "0044-03-15 BC", "0001-01-01T00:00:00+14:00"]
    ),
)
_URLS = st.sampled_from(
    ["https://x/a.jpg", "https://x/v.mp4", "https://x/d.pdf", "https://x/a.png", "a.jpg", "https://a b/c"]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    _TEXT,
    _STAMPS,
    _URLS,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_META_KEYS = (
    "carousel_images",
    "media_type",
    "video_url",
    "link",
    "thumbnail",
    "privacy",
    "category",
    "made_for_kids",
    "share_to_feed",
    "_publish_remote",
    "_publish_sending_at",
    "_publish_next_attempt_at",
)
_METADATA = st.one_of(
    _VALUES,
    st.fixed_dictionaries({}, optional=dict.fromkeys(_META_KEYS, st.one_of(_VALUES, st.lists(_URLS)))),
)
_PLATFORMS = st.one_of(st.sampled_from([*ADAPTERS, "Facebook", " youtube ", "twitter", ""]), _VALUES)
_KINDS = st.one_of(
    st.sampled_from(["post", "static_post", "reel", "video", "carousel", "story", "blog", "email", "image"]),
    _VALUES,
)
_ROWS = st.fixed_dictionaries(
    {"id": st.uuids().map(str)},
    optional={
        "user_id": st.one_of(st.uuids().map(str), _VALUES),
        "platform": _PLATFORMS,
        "content_type": _KINDS,
        "post_type": _KINDS,
        "title": _VALUES,
        "content": st.one_of(_TEXT, _VALUES),
        "hashtags": st.one_of(st.lists(_TEXT, max_size=40), _VALUES),
        "images": st.one_of(st.lists(_URLS, max_size=12), _VALUES),
        "carousel_images": st.one_of(st.lists(_URLS, max_size=12), _VALUES),
        "media_url": st.one_of(_URLS, _VALUES),
        "primary_image_url": st.one_of(_URLS, _VALUES),
        "metadata": _METADATA,
        "scheduled_at": st.one_of(_STAMPS, _VALUES),
        "scheduled_date": st.one_of(_STAMPS, _VALUES),
        "scheduled_time": st.one_of(_STAMPS, _VALUES),
        "content_campaigns": st.one_of(st.fixed_dictionaries({"user_id": _VALUES}), _VALUES),
    },
)
_ZONES = st.one_of(
    st.sampled_from(
        [
            None,
            "",
            "Asia/Tokyo",
            "Pacific/Pago_Pago",
            "Etc/GMT-14",
            "GMT-5",
            "+14:00",
            "Eastern Standard Time",
        ]
    ),
    _VALUES,
)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=st.sampled_from([CREATED_CONTENT, CONTENT_POSTS]), row=_ROWS, timezone=_ZONES)
def test_any_row_becomes_a_post_or_one_of_our_errors(table: str, row: dict[str, Any], timezone: Any):
    """Whatever a row holds, it becomes a post, a due time and a job, or one of our own input errors."""
    post = post_from_row(table, row, timezone)  # never raises: the run reads every row with it
    due, problem = _attempt(lambda: due_time(post).at)
    if due is not None:
        assert due.tzinfo is not None
        for lateness in (timedelta(0), timedelta(hours=24), timedelta.max):
            assert isinstance(decide(due, NOW, lateness), Decision)
    job, job_problem = _attempt(lambda: _checked_job(post))
    if job is not None:
        assert job.text
        assert "\x00" not in job.text
        assert all(is_web_address(url) for url in job.media_urls)
        assert len({tag.casefold() for tag in job.hashtags}) == len(job.hashtags)
    for error in (problem, job_problem):
        assert error is None or str(error).rstrip().endswith(".")


def _checked_job(post: Post) -> PublishJob:
    job = build_job(post)
    adapter = ADAPTERS.get(post.platform)
    if adapter is not None:
        adapter.check(job)
    return job


def _attempt(call: Callable[[], T]) -> tuple[T | None, Exception | None]:
    """The call's result, or the input error it raised (anything else fails the test)."""
    try:
        return call(), None
    except OUR_ERRORS as exc:
        return None, exc
