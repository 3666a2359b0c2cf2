"""The X adapter against the X simulator served on loopback."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.server import serve
from devstack.simulators.media import MediaHost, media_bytes
from devstack.simulators.x import TOKEN_PATH, XSimulator
from services.errors import (
    AmbiguousError,
    AuthError,
    LimitError,
    PermanentError,
    PlatformConfigError,
    PlatformError,
    RateLimitedError,
    RetryableError,
)
from services.platforms.base import (
    CAROUSEL,
    DOCUMENT,
    IMAGE,
    LINK,
    MEDIA_IMAGE,
    MEDIA_VIDEO,
    REEL,
    STORY,
    TEXT,
    VIDEO,
    AdapterContext,
    Connection,
    PlatformSettings,
    PublishJob,
    PublishResult,
    TokenUpdate,
)
from services.platforms.registry import ADAPTERS
from services.platforms.x import (
    MEDIA_POLLS,
    RECONNECT,
    XAdapter,
    comparable,
    is_duplicate,
    post_url,
    rate_limit_reset,
)
from tests.adapters.harness import ProgressRecorder

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
USER_ID = "1500000000000000001"
USERNAME = "sim_bakery"
ACCOUNT = Connection(
    id="conn-x",
    user_id="user-1",
    platform="twitter",
    page_id=USER_ID,
    page_name="Sim Bakery",
    page_username=USERNAME,
    access_token="x-good-access",
    refresh_token="x-good-refresh",
)
EXPIRED = dataclasses.replace(ACCOUNT, access_token="expired-x-access")


@dataclass
class World:
    """A served simulator and media host, and a recorder for what the adapter reports."""

    sim: XSimulator
    settings: PlatformSettings
    http: httpx.Client
    media: MediaHost = field(default_factory=MediaHost)
    media_url: str = ""
    recorder: ProgressRecorder = field(default_factory=ProgressRecorder)
    now: Callable[[], datetime] = lambda: NOW

    def ctx(self, recorder: ProgressRecorder | None = None, tokens: Any = None) -> AdapterContext:
        recorder = recorder or self.recorder
        return AdapterContext(
            http=self.http,
            settings=self.settings,
            progress=recorder,
            now=self.now,
            sleep=recorder.sleep,
            save_token=recorder.save_token,
            tokens=tokens,
        )

    def publish(self, job: PublishJob, connection: Connection = ACCOUNT) -> PublishResult:
        return XAdapter().publish(job, connection, self.ctx())

    def file(self, name: str, size: int = 100_000) -> str:
        return f"{self.media_url}/media/{name}?bytes={size}"

    def requests(self, step: str) -> list[Any]:
        return [r for r in self.sim.requests if self.sim.step_of(r) == step]


class Swappable:
    """A WSGI app forwarding to whatever app the current test installed (one server per module)."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Swappable, str, Swappable, str]]:
    x_app, media_app = Swappable(), Swappable()
    with serve(x_app) as x, serve(media_app) as media:
        yield x_app, x.url, media_app, media.url


@pytest.fixture
def world(servers: tuple[Swappable, str, Swappable, str]) -> Iterator[World]:
    x_app, x_url, media_app, media_url = servers
    x_app.app, media_app.app = XSimulator(user_id=USER_ID, username=USERNAME), MediaHost()
    settings = PlatformSettings(
        media_allowed_hosts=("127.0.0.1",),  # the simulators and media host are on loopback
        x_api_url=x_url,
        x_oauth_token_url=x_url + TOKEN_PATH,
        x_client_id=x_app.app.client_id,
        x_segment_bytes=256 * 1024,
    )
    with httpx.Client(timeout=5) as http:
        yield World(sim=x_app.app, settings=settings, http=http, media=media_app.app, media_url=media_url)


def job(text: str = "Hello X", kind: str = TEXT, media: tuple[str, ...] = (), **extra: Any) -> PublishJob:
    kinds = tuple(MEDIA_VIDEO if kind in (VIDEO, REEL) else MEDIA_IMAGE for _ in media)
    return PublishJob(
        ref="created_content/test",
        kind=kind,
        title="",
        text=text,
        body=text,
        hashtags=(),
        media_urls=media,
        media_kinds=extra.pop("media_kinds", kinds),
        **extra,
    )


def sha256_of(name: str, size: int) -> str:
    return hashlib.sha256(media_bytes(name, size)).hexdigest()


def resumed(first: PublishJob, recorder: ProgressRecorder, **extra: Any) -> PublishJob:
    """The job as a later attempt sees it: what the first remembered, and whether it sent."""
    return dataclasses.replace(
        first, resume=dict(recorder.remembered), sending_started=recorder.sending_count > 0, **extra
    )


# ---- pure functions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("Bread & butter <3", "Bread &amp; butter &lt;3"),
        ("Menu: https://example.com/menu?a=1", "Menu: https://t.co/AbCdEf1234"),
        ("Look at this", "Look at this https://t.co/MediaLink1"),  # a media post's trailing link
        ("Line one\n\nline two  ", "Line one\n\nline two"),
        ("Cafe\u0301", "Café"),
    ],
)
def test_comparable_survives_what_x_rewrites(sent: str, shown: str) -> None:
    """Our text and the text X shows back compare equal despite t.co links, escapes and NFC."""
    assert comparable(sent) == comparable(shown)


def test_comparable_still_tells_different_texts_apart() -> None:
    """Reconciliation matches only the same words, not any post."""
    assert comparable("Fresh bread today") != comparable("Fresh bread tomorrow")


def test_post_url_with_and_without_username() -> None:
    """The post URL names the account when known, else X's generic form."""
    assert post_url("123", "bakery") == "https://x.com/bakery/status/123"
    assert post_url("123", None) == "https://x.com/i/web/status/123"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-rate-limit-reset": "1800000000"}, 1800000000),
        (  # the daily user cap is used up: its reset, later than the 15-minute window's
            {
                "x-rate-limit-reset": "1800000000",
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": "1800050000",
            },
            1800050000,
        ),
        (  # a daily cap with posts left does not hold the post back
            {
                "x-rate-limit-reset": "1800000000",
                "x-app-limit-24hour-remaining": "12",
                "x-app-limit-24hour-reset": "1800050000",
            },
            1800000000,
        ),
        ({}, None),
        ({"x-rate-limit-reset": "soon"}, None),
    ],
)
def test_rate_limit_reset_picks_the_limit_that_is_used_up(
    headers: dict[str, str], expected: int | None
) -> None:
    """The post waits for the window or daily cap that is exhausted, as X's headers say."""
    reset = rate_limit_reset(httpx.Response(429, headers=headers))
    assert (reset.timestamp() if reset else None) == expected


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            403,
            {"detail": "You are not allowed to create a Tweet with duplicate content.", "status": 403},
            True,
        ),
        (403, {"errors": [{"message": "Status is a duplicate content."}]}, True),
        (403, {"detail": "You are not permitted to perform this action."}, False),
        (400, {"detail": "duplicate content"}, False),
    ],
)
def test_duplicate_refusal_is_recognised(status: int, body: dict[str, Any], expected: bool) -> None:
    """Only a 403 saying "duplicate content" is X's duplicate refusal."""
    assert is_duplicate(httpx.Response(status, json=body)) is expected


def test_registered_as_twitter() -> None:
    """The app stores X as platform `twitter`: that is the registry key."""
    assert isinstance(ADAPTERS["twitter"], XAdapter)


# ---- limits --------------------------------------------------------------------------------

CJK = "日" * 141


@pytest.mark.parametrize(
    ("case", "problem"),
    [
        (job("a" * 281), "this one counts 281"),
        (job(CJK), "this one counts 282"),
        (job("\U0001f525" * 141), "this one counts 282"),
        (job("a" * 260, LINK, link="https://example.com/" + "x" * 10), "this one counts 285"),
        (job("x", CAROUSEL, ("a.jpg",) * 5), "limited to 4 images"),
        (job("x", CAROUSEL, ("a.jpg",)), "at least 2 images"),
        (job("x", IMAGE, ("a.gif",)), "JPEG, PNG or WebP"),
        (
            job("x", CAROUSEL, ("a.jpg", "b.mp4"), media_kinds=(MEDIA_IMAGE, MEDIA_VIDEO)),
            "4 images or one video",
        ),
        (job("x", VIDEO, ("a.mp4", "b.mp4")), "only one video"),
        (job("x", STORY, ("a.jpg",)), "cannot publish story posts"),
        (job("x", DOCUMENT, ("a.pdf",)), "cannot publish document posts"),
        (job("x", IMAGE, ()), "no media file"),
    ],
)
def test_limits_are_checked_before_any_call(case: PublishJob, problem: str) -> None:
    """Every limit is found by `check`, without a network (there is no HTTP client here)."""
    with pytest.raises(LimitError) as caught:
        XAdapter().check(case)
    assert problem in caught.value.message


def test_link_post_over_280_only_with_its_link_fails() -> None:
    """The appended link counts 23 (plus the blank line): 256 characters fit without it, not with it."""
    XAdapter().check(job("a" * 256))
    with pytest.raises(LimitError):
        XAdapter().check(job("a" * 256, LINK, link="https://example.com/page"))


@pytest.mark.parametrize(
    "case",
    [
        job("a" * 280),
        job("日" * 140),
        job("a" * 240 + " https://example.com/" + "x" * 300),
        job("a" * 255, LINK, link="https://example.com/" + "x" * 300),
        job("x", CAROUSEL, tuple(f"{n}.png" for n in range(4))),
        job("x", IMAGE, ("https://storage.example.com/object/abc123",)),  # no extension: checked on download
        job("x", REEL, ("a.mp4",)),
    ],
)
def test_posts_at_the_limits_pass_the_check(case: PublishJob) -> None:
    """Posts exactly at each limit are accepted."""
    XAdapter().check(case)


# ---- what is sent --------------------------------------------------------------------------


def test_text_post_sends_the_text_with_the_bearer_token(world: World) -> None:
    """POST /2/tweets carries the text and the user's token; the URL names the account."""
    result = world.publish(job("Fresh bread & butter"))
    [call] = world.requests("tweets")
    assert call.json == {"text": "Fresh bread & butter"}
    assert call.headers["authorization"] == "Bearer x-good-access"
    assert result == PublishResult(
        post_id=world.sim.created[0]["id"],
        url=f"https://x.com/{USERNAME}/status/{world.sim.created[0]['id']}",
    )
    assert world.requests("me") == []
    assert world.recorder.notes == [("sending", 0)]


def test_link_is_appended_to_the_text(world: World) -> None:
    """A link post carries its link at the end of the text, unless the text holds it already."""
    world.publish(job("Our menu", LINK, link="https://example.com/menu"))
    world.publish(job("See https://example.com/b here", LINK, link="https://example.com/b"))
    assert [c.json["text"] for c in world.requests("tweets")] == [
        "Our menu\n\nhttps://example.com/menu",
        "See https://example.com/b here",
    ]


def test_username_comes_from_users_me_when_the_connection_lacks_it(world: World) -> None:
    """Without page_username (and a numeric page_id) the account is read once from /2/users/me."""
    connection = dataclasses.replace(ACCOUNT, page_username=None, page_id="not-a-user-id")
    result = world.publish(job("Who am I"), connection)
    assert len(world.requests("me")) == 1
    assert result.url == f"https://x.com/{USERNAME}/status/{result.post_id}"


def test_url_falls_back_when_the_account_cannot_be_read(world: World) -> None:
    """A failing /2/users/me after the post exists never fails the published post."""
    world.sim.inject("server_error", step="me")
    result = world.publish(job("Anonymous"), dataclasses.replace(ACCOUNT, page_username=None))
    assert result.url == f"https://x.com/i/web/status/{result.post_id}"
    assert len(world.sim.created) == 1


def test_one_image_is_uploaded_as_multipart_and_attached(world: World) -> None:
    """The image arrives byte for byte with media_category tweet_image; the post carries its id."""
    world.publish(job("A croissant", IMAGE, (world.file("croissant.jpg", 150_000),)))
    [upload] = world.requests("upload")
    assert upload.headers["content-type"].startswith("multipart/form-data")
    [media_id] = world.sim.created[0]["media"]
    item = world.sim.media[media_id]
    assert item.category == "tweet_image"
    assert item.media_type == "image/jpeg"
    assert item.sha256 == sha256_of("croissant.jpg", 150_000)
    assert world.requests("tweets")[0].json == {"text": "A croissant", "media": {"media_ids": [media_id]}}


def test_several_images_keep_their_order(world: World) -> None:
    """A carousel's images are uploaded and attached in media order."""
    names = ("a.png", "b.png", "c.png", "d.png")
    world.publish(job("Four loaves", CAROUSEL, tuple(world.file(n, 50_000 + i) for i, n in enumerate(names))))
    media = world.sim.created[0]["media"]
    assert [world.sim.media[m].sha256 for m in media] == [
        sha256_of(n, 50_000 + i) for i, n in enumerate(names)
    ]


def test_video_runs_every_chunked_step(world: World) -> None:
    """initialize (size, type, category) → ordered segments → finalize → STATUS until succeeded."""
    size = 3 * 256 * 1024 + 5000
    world.publish(job("Kitchen tour", VIDEO, (world.file("tour.mp4", size),)))
    [init] = world.requests("initialize")
    assert init.json == {"media_type": "video/mp4", "total_bytes": size, "media_category": "tweet_video"}
    assert len(world.requests("append")) == 4
    assert len(world.requests("finalize")) == 1
    assert len(world.requests("status")) == world.sim.processing_polls + 1
    assert world.recorder.sleeps == [1.0] * (world.sim.processing_polls + 1)
    [media_id] = world.sim.created[0]["media"]
    assert world.sim.media[media_id].sha256 == sha256_of("tour.mp4", size)
    assert world.recorder.notes[-1] == ("sending", 0)


def test_video_streams_through_in_bounded_memory(world: World) -> None:
    """A 32 MiB video goes from the media host to X segment by segment, never whole in memory.

    The bound is a few segments (256 KiB here) plus HTTP objects awaiting garbage collection; it
    does not grow with the file (measured: the same peak, about 6 MiB, for 8, 16 and 32 MiB).
    """
    size = 32 * 1024 * 1024
    tracemalloc.start()
    try:
        world.publish(job("Big film", VIDEO, (world.file("big.mp4", size),)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [media_id] = world.sim.created[0]["media"]
    assert world.sim.media[media_id].sha256 == sha256_of("big.mp4", size)
    assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes while streaming {size:,}"


def test_media_id_is_remembered_before_the_segments(world: World) -> None:
    """The upload id is noted the moment it exists: a failed segment leaves it noted, nothing sent."""
    world.sim.inject("server_error", step="append")
    with pytest.raises(RetryableError):
        world.publish(job("Tour", VIDEO, (world.file("tour.mp4", 300_000),)))
    [media_id] = world.sim.media
    [(kind, ids)] = world.recorder.notes
    assert kind == "remember"
    assert [(e["id"], e["stage"]) for e in ids["media"]] == [(media_id, "uploading")]
    assert world.sim.created == []


def test_resume_reuses_a_finished_video(world: World) -> None:
    """A later attempt reuses the processed video instead of uploading it again."""
    first = job("Tour", VIDEO, (world.file("tour.mp4", 300_000),))
    world.sim.inject("server_error", step="tweets", times=2)  # the send and the re-send both fail
    with pytest.raises(AmbiguousError):
        world.publish(first)
    second = resumed(first, world.recorder, sending_at=NOW)
    world.publish(second, ACCOUNT)
    assert len(world.requests("initialize")) == 1
    assert len(world.sim.created) == 1


def test_resume_polls_a_video_still_processing(world: World) -> None:
    """Processing past the run's polls waits without using an attempt; the next attempt polls on."""
    world.sim.processing_polls = MEDIA_POLLS + 3
    first = job("Slow", VIDEO, (world.file("slow.mp4", 300_000),))
    with pytest.raises(RetryableError) as caught:
        world.publish(first)
    assert caught.value.counts_as_attempt is False
    assert world.recorder.sending_count == 0
    second = resumed(first, world.recorder)
    world.publish(second)
    assert len(world.requests("initialize")) == 1
    assert len(world.sim.created) == 1


@pytest.mark.parametrize("why", ["expired", "unfinished", "other_url", "failed"])
def test_resume_uploads_again_when_the_earlier_media_cannot_serve(world: World, why: str) -> None:
    """An expired, unfinished, different or failed earlier upload is replaced by a fresh one."""
    url = world.file("tour.mp4", 300_000)
    first_fault = {"unfinished": ("server_error", "finalize")}.get(why, ("rate_limit", "tweets"))
    if why == "failed":
        world.sim.processing_outcome = "failed"
    else:
        world.sim.inject(first_fault[0], step=first_fault[1])
    with pytest.raises(PlatformError):
        world.publish(job("Tour", VIDEO, (url,)))
    world.sim.processing_outcome = "succeeded"
    later = resumed(job("Tour", VIDEO, (url,)), world.recorder)
    if why == "expired":
        world.now = lambda: NOW + timedelta(days=1)
    if why == "other_url":
        later = dataclasses.replace(later, media_urls=(world.file("other.mp4", 300_000),))
    world.publish(later)
    assert len(world.requests("initialize")) == 2
    first_media = next(iter(world.sim.media))
    assert world.sim.created[0]["media"] != [first_media]


def test_resume_reuses_images_and_uploads_only_the_changed_one(world: World) -> None:
    """Images an earlier attempt uploaded are reused for the same URL at the same position."""
    urls = (world.file("a.jpg"), world.file("b.jpg"))
    world.sim.inject("rate_limit", step="tweets")
    with pytest.raises(RateLimitedError):
        world.publish(job("Two", CAROUSEL, urls))
    later = resumed(job("Two", CAROUSEL, (urls[0], world.file("c.jpg"))), world.recorder)
    world.publish(later)
    assert len(world.requests("upload")) == 3
    first_upload = next(iter(world.sim.media))
    assert world.sim.created[0]["media"][0] == first_upload


def test_processing_failure_is_permanent(world: World) -> None:
    """A video X could not process fails the post with X's reason."""
    world.sim.processing_outcome = "failed"
    with pytest.raises(PermanentError) as caught:
        world.publish(job("Broken", VIDEO, (world.file("broken.mp4", 300_000),)))
    assert "Unsupported video format" in caught.value.message


def test_image_over_5_mb_is_permanent_and_not_uploaded(world: World) -> None:
    """An image larger than X accepts fails before anything is sent to X."""
    with pytest.raises(PermanentError) as caught:
        world.publish(job("Huge", IMAGE, (world.file("huge.jpg", 5 * 1024 * 1024 + 1),)))
    assert "5 MB" in caught.value.message
    assert world.sim.requests == []


def test_image_whose_server_says_gif_is_refused(world: World) -> None:
    """An image whose server says it is a GIF is refused, naming the type, before X is called."""
    with pytest.raises(PermanentError) as caught:
        world.publish(job("Animated", IMAGE, (world.file("anim.gif", 1000),)))
    assert "image/gif" in caught.value.message
    assert world.sim.requests == []


def test_missing_media_file_is_permanent(world: World) -> None:
    """A media URL that answers 404 fails the post, naming the file."""
    with pytest.raises(PermanentError) as caught:
        world.publish(job("Gone", IMAGE, (f"{world.media_url}/missing/gone.jpg",)))
    assert "gone.jpg" in caught.value.message


# ---- errors --------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    fault: str | None = None
    step: str = "tweets"
    token: str = "x-good-access"
    error: type[PlatformError] = PermanentError
    times: int = 1


CASES = [
    Case("permanent", "permanent", error=PermanentError),
    Case("rate limit on the post", "rate_limit", error=RateLimitedError),
    Case("rate limit on an upload", "rate_limit", step="upload", error=RateLimitedError),
    Case("server error on an upload", "server_error", step="upload", error=RetryableError),
    Case("server error on initialize", "server_error", step="initialize", error=RetryableError),
    Case("unauthorized after a refresh", "auth", error=AuthError, times=5),
    Case("usage capped", token="capped-token", error=PlatformConfigError),
    Case("credits used up", token="nocredits-token", error=PlatformConfigError),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_errors_are_classified(world: World, case: Case) -> None:
    """Each X reply becomes the error class docs/platforms/x.md gives it; nothing is published."""
    if case.fault:
        world.sim.inject(case.fault, step=case.step, times=case.times)
    kind = VIDEO if case.step == "initialize" else IMAGE if case.step == "upload" else TEXT
    media = {TEXT: (), IMAGE: (world.file("a.jpg"),), VIDEO: (world.file("a.mp4"),)}[kind]
    with pytest.raises(case.error):
        world.publish(job("Classified", kind, media), dataclasses.replace(ACCOUNT, access_token=case.token))
    assert world.sim.created == []


def test_rate_limit_waits_until_the_reset_x_names(world: World) -> None:
    """A 429 defers the post to x-rate-limit-reset, to the second."""
    world.sim.inject("rate_limit", step="tweets")
    before = int(time.time())
    with pytest.raises(RateLimitedError) as caught:
        world.publish(job("Throttled"))
    assert caught.value.not_before is not None
    assert before + 900 <= caught.value.not_before.timestamp() <= int(time.time()) + 900


def test_permanent_error_carries_x_message(world: World) -> None:
    """X's own explanation reaches the user's message."""
    world.sim.inject("permanent", step="tweets")
    with pytest.raises(PermanentError) as caught:
        world.publish(job("Refused"))
    assert "The `text` field is invalid." in caught.value.message


# ---- at most once --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault", ["server_error", "error_after_apply", "reset_before", "reset_after", "slow_before", "slow_after"]
)
def test_ambiguous_send_is_settled_with_one_post(world: World, fault: str) -> None:
    """After a send that may have published, the adapter ends with exactly one post and its id."""
    world.http = httpx.Client(timeout=0.5)
    world.sim.inject(fault, step="tweets", delay=1.0)
    result = world.publish(job("Maybe sent"))
    time.sleep(1.2 if fault.startswith("slow") else 0)
    assert [c["id"] for c in world.sim.created] == [result.post_id]
    world.http.close()


def test_applied_send_is_found_on_the_timeline_without_a_resend(world: World) -> None:
    """When the first send landed, reconciliation finds it: no second POST is made."""
    world.sim.inject("error_after_apply", step="tweets")
    result = world.publish(job("Landed & shown back with https://example.com/x"))
    assert len(world.requests("tweets")) == 1
    assert result.post_id == world.sim.created[0]["id"]
    [timeline] = world.requests("timeline")
    assert timeline.query["start_time"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_duplicate_refusal_after_our_ambiguous_send_means_it_went_out(world: World) -> None:
    """Timeline lagging, re-send refused as duplicate: ambiguous, never a second post."""
    world.sim.hide_from_timeline = True
    world.sim.inject("error_after_apply", step="tweets")
    with pytest.raises(AmbiguousError):
        world.publish(job("Lagging"))
    assert len(world.sim.created) == 1
    world.sim.hide_from_timeline = False
    for tweet in world.sim.tweets.values():
        tweet.hidden = False
    second = resumed(job("Lagging"), world.recorder, sending_at=NOW)
    result = world.publish(second)
    assert result.post_id == world.sim.created[0]["id"]
    assert len(world.sim.created) == 1


def test_duplicate_of_a_post_we_never_sent_fails(world: World) -> None:
    """The same text posted by hand earlier is a real duplicate: the post fails, nothing found."""
    world.sim.add_tweet("Said it before")
    with pytest.raises(PermanentError) as caught:
        world.publish(job("Said it before"))
    assert "exactly this text" in caught.value.message
    assert world.requests("timeline") == []


def test_crash_mid_send_is_settled_from_the_timeline_first(world: World) -> None:
    """A post sent by a crashed attempt is found before anything is uploaded or sent again."""
    text = "Sent before the crash"
    first_id = world.sim.add_tweet(text)
    result = world.publish(job(text, IMAGE, (world.file("a.jpg"),), sending_started=True, sending_at=NOW))
    assert result.post_id == first_id
    assert world.requests("upload") == []
    assert world.requests("tweets") == []


def test_only_posts_after_the_sending_mark_count(world: World) -> None:
    """An identical post older than the sending mark is never taken for ours."""
    old = world.sim.add_tweet("Weekly special", created_at=time.time() - 3600)
    sending_at = datetime.now(UTC) - timedelta(seconds=60)
    with pytest.raises(AmbiguousError):
        world.publish(job("Weekly special", sending_started=True, sending_at=sending_at))
    assert world.requests("timeline")[0].query["start_time"] == sending_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [c["id"] for c in world.sim.created] == []
    assert old in world.sim.tweets


def test_crash_before_the_post_landed_sends_it_once(world: World) -> None:
    """A crashed attempt whose post never landed: not on the timeline, sent now, exactly once."""
    result = world.publish(job("Never landed", sending_started=True, sending_at=NOW))
    assert [c["id"] for c in world.sim.created] == [result.post_id]


@pytest.mark.parametrize(
    ("fault", "error"), [("server_error", AmbiguousError), ("rate_limit", RateLimitedError)]
)
def test_failing_reconciliation_stays_unresolved(
    world: World, fault: str, error: type[PlatformError]
) -> None:
    """When X cannot be asked, the post is neither re-sent nor said to be unpublished."""
    world.sim.inject(fault, step="timeline")
    with pytest.raises(error):
        world.publish(job("Unknown", sending_started=True, sending_at=NOW))
    assert world.requests("tweets") == []


# ---- tokens --------------------------------------------------------------------------------


def test_expired_token_is_refreshed_and_the_new_pair_saved(world: World) -> None:
    """A 401 refreshes once; the saved update carries X's new refresh token; the retry uses the new token."""
    world.publish(job("After a refresh"), EXPIRED)
    [(spent, issued)] = world.sim.refreshes
    assert spent == "x-good-refresh"
    [(_, update)] = world.recorder.saved_tokens
    assert update.refresh_token == issued
    assert update.access_token == world.sim.issued_tokens[0]
    assert update.expires_at == NOW + timedelta(seconds=7200)
    assert world.requests("tweets")[-1].headers["authorization"] == f"Bearer {update.access_token}"
    assert len(world.sim.created) == 1


def test_refreshed_token_serves_the_rest_of_the_attempt(world: World) -> None:
    """After a refresh during an upload, every later call carries the new token."""
    world.publish(job("Refreshed mid-way", IMAGE, (world.file("a.jpg"),)), EXPIRED)
    new = f"Bearer {world.sim.issued_tokens[0]}"
    assert world.requests("tweets")[0].headers["authorization"] == new
    assert len(world.sim.refreshes) == 1


def test_public_client_names_itself_in_the_form(world: World) -> None:
    """Without a client secret the refresh sends client_id in the form, no Basic header."""
    world.publish(job("Public client"), EXPIRED)
    [call] = world.requests("token")
    assert call.form["client_id"] == world.sim.client_id
    assert "authorization" not in call.headers


def test_confidential_client_uses_basic_auth(world: World) -> None:
    """With a client secret the refresh authenticates with Basic client_id:client_secret."""
    world.sim.client_secret = "s3cret"
    world.settings = dataclasses.replace(world.settings, x_client_secret="s3cret")
    world.publish(job("Confidential client"), EXPIRED)
    [call] = world.requests("token")
    expected = base64.b64encode(f"{world.sim.client_id}:s3cret".encode()).decode()
    assert call.headers["authorization"] == f"Basic {expected}"
    assert "client_id" not in call.form


def test_wrong_client_secret_is_a_config_error(world: World) -> None:
    """X refusing our client credentials is our configuration, not the user's connection."""
    world.sim.client_secret = "s3cret"
    world.settings = dataclasses.replace(world.settings, x_client_secret="wrong")
    with pytest.raises(PlatformConfigError) as caught:
        world.publish(job("Bad client"), EXPIRED)
    assert "X_CLIENT_ID" in caught.value.message


def test_spent_refresh_token_asks_to_reconnect(world: World) -> None:
    """A refresh token X already rotated away is refused: AuthError, and the simulator saw the reuse."""
    world.publish(job("First"), EXPIRED)
    with pytest.raises(AuthError) as caught:
        world.publish(job("Second"), EXPIRED)  # the same, now spent, refresh token
    assert caught.value.message == RECONNECT
    assert world.sim.reused_refresh_tokens == ["x-good-refresh"]


def test_no_refresh_without_a_client_id(world: World) -> None:
    """Without X_CLIENT_ID a 401 is AuthError at once, and no token call is made."""
    world.settings = dataclasses.replace(world.settings, x_client_id="")
    with pytest.raises(AuthError):
        world.publish(job("No client"), EXPIRED)
    assert world.requests("token") == []


@pytest.mark.parametrize(
    ("fault", "error"), [("server_error", RetryableError), ("rate_limit", RateLimitedError)]
)
def test_token_endpoint_failures_are_not_auth_errors(
    world: World, fault: str, error: type[PlatformError]
) -> None:
    """A sign-in service that fails or throttles leaves the connection alone."""
    world.sim.inject(fault, step="token")
    with pytest.raises(error):
        world.publish(job("Token trouble"), EXPIRED)


class MemoryVault:
    """A TokenVault in memory: one refresh at a time, the stored pair re-read under the lock."""

    def __init__(self, connection: Connection) -> None:
        self.lock = threading.Lock()
        self.stored = connection
        self.exchanges = 0

    def refresh(self, connection: Connection, exchange: Callable[[Connection], TokenUpdate]) -> Connection:
        with self.lock:
            stored = self.stored
            if (stored.access_token, stored.refresh_token) != (
                connection.access_token,
                connection.refresh_token,
            ):
                return stored  # another lane refreshed meanwhile: use its pair
            update = exchange(stored)
            self.exchanges += 1
            self.stored = dataclasses.replace(
                stored,
                access_token=update.access_token,
                refresh_token=update.refresh_token or stored.refresh_token,
                token_expires_at=update.expires_at,
            )
            return self.stored


def test_two_lanes_with_an_expired_token_refresh_once(world: World) -> None:
    """Two adapters in two threads: exactly one refresh, both publish, no rotated token reused."""
    vault = MemoryVault(EXPIRED)
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}

    def lane(name: str) -> None:
        recorder = ProgressRecorder()
        ctx = world.ctx(recorder, tokens=vault)
        barrier.wait()
        try:
            results[name] = XAdapter().publish(job(f"Lane {name} post"), EXPIRED, ctx)
        except PlatformError as exc:  # pragma: no cover (reported by the assertion below)
            results[name] = exc

    threads = [threading.Thread(target=lane, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert all(isinstance(r, PublishResult) for r in results.values()), results
    assert len(results) == 2
    refused = [r for r in world.requests("tweets") if r.headers["authorization"] == "Bearer expired-x-access"]
    assert len(refused) == 2  # both lanes needed a new token
    assert vault.exchanges == 1
    assert len(world.sim.refreshes) == 1
    assert world.sim.reused_refresh_tokens == []
    assert vault.stored.refresh_token == world.sim.refreshes[0][1]
    assert len(world.sim.created) == 2
