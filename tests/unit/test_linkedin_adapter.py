"""The LinkedIn adapter against the LinkedIn simulator served on loopback."""

from __future__ import annotations

import dataclasses
import hashlib
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.server import serve
from devstack.simulators.base import FAULTS
from devstack.simulators.linkedin import TOKEN_PATH, VIDEO_PART_BYTES, LinkedInSimulator
from devstack.simulators.media import MediaHost, media_bytes
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
from services.platforms.linkedin import (
    DOCUMENT_MAX_BYTES,
    GRACE_S,
    IMAGE_POLL_INTERVAL_S,
    IMAGE_POLLS,
    RECONNECT,
    VIDEO_MAX_BYTES,
    VIDEO_POLL_INTERVAL_S,
    VIDEO_POLLS,
    LinkedInAdapter,
    author_urn,
    little_text,
    next_midnight_utc,
    upload_parts,
)
from tests.adapters.harness import SLOW_DELAY_S, ProgressRecorder
from tests.adapters.harness_linkedin import HARNESS

NOW = datetime(2026, 11, 28, 21, 30, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 29, tzinfo=UTC)
MEMBER = Connection(
    id="conn-1",
    user_id="user-1",
    platform="linkedin",
    page_id="abc123",
    page_name="Ada Lovelace",
    access_token="AQV-good-token",
    linkedin_id="abc123",
)
EVERY_RESERVED = "Every one: \\ | { } @ [ ] ( ) < > # * _ ~ and a #hashtag, C#, a_b, (#tag)."


@dataclass
class World:
    """A served simulator and media host, and recorders for what the adapter reports."""

    sim: LinkedInSimulator
    settings: PlatformSettings
    http: httpx.Client
    media: MediaHost = field(default_factory=MediaHost)
    media_url: str = ""
    recorder: ProgressRecorder = field(default_factory=ProgressRecorder)

    def publish(self, job: PublishJob, connection: Connection = MEMBER) -> PublishResult:
        ctx = AdapterContext(
            http=self.http,
            settings=self.settings,
            progress=self.recorder,
            now=lambda: NOW,
            sleep=self.recorder.sleep,
            save_token=self.recorder.save_token,
        )
        return LinkedInAdapter().publish(job, connection, ctx)

    def image(self, name: str, size: int = 100_000) -> str:
        return f"{self.media_url}/media/{name}?bytes={size}"

    def requests(self, step: str) -> list[Any]:
        return [r for r in self.sim.requests if self.sim.step_of(r) == step]


class Swappable:
    """A WSGI app forwarding to whatever app the current test installed.

    Starting and stopping servers costs about 0.1 s a test; serving once per module and giving
    each test a fresh simulator keeps the file fast without sharing any state between tests.
    """

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Swappable, str, Swappable, str]]:
    linkedin_app, media_app = Swappable(), Swappable()
    with serve(linkedin_app) as linkedin, serve(media_app) as media:
        yield linkedin_app, linkedin.url, media_app, media.url


@pytest.fixture
def world(servers: tuple[Swappable, str, Swappable, str]) -> Iterator[World]:
    linkedin_app, linkedin_url, media_app, media_url = servers
    linkedin_app.app, media_app.app = LinkedInSimulator(), MediaHost()
    settings = PlatformSettings(
        media_allowed_hosts=("127.0.0.1",),  # the simulators and media host are on loopback
        linkedin_api_url=linkedin_url,
        linkedin_oauth_url=linkedin_url + TOKEN_PATH,
        linkedin_client_id="app-id",
        linkedin_client_secret="app-secret",
    )
    with httpx.Client(timeout=5) as http:
        yield World(
            sim=linkedin_app.app, settings=settings, http=http, media=media_app.app, media_url=media_url
        )


def job(
    text: str = "Hello LinkedIn", kind: str = TEXT, images: tuple[str, ...] = (), **extra: Any
) -> PublishJob:
    return PublishJob(
        ref="created_content/test",
        kind=kind,
        title="",
        text=text,
        body=text,
        hashtags=(),
        media_urls=images,
        **extra,
    )


def sha256_of(name: str, size: int) -> str:
    return hashlib.sha256(media_bytes(name, size)).hexdigest()


# ---- pure functions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain words, no specials.", "plain words, no specials."),
        ("results (Q3)", "results \\(Q3\\)"),
        ("#launch day", "#launch day"),
        ("line one\n#tag", "line one\n#tag"),
        ("(#tag)", "\\(#tag\\)"),
        ("C# and F#", "C\\# and F\\#"),
        ("issue#42", "issue\\#42"),
        ("# heading", "\\# heading"),
        ("##double", "\\#\\#double"),
        ("#snake_tag", "#snake\\_tag"),
        ("back\\slash", "back\\\\slash"),
        ("\\|{}@[]()<>#*_~", "\\\\\\|\\{\\}\\@\\[\\]\\(\\)\\<\\>\\#\\*\\_\\~"),
        ("émoji 🚀 #café", "émoji 🚀 #café"),
    ],
)
def test_little_text_escapes_reserved_characters_but_not_hashtags(text: str, escaped: str) -> None:
    """Every reserved character is backslash-escaped, except a '#' that starts a hashtag."""
    assert little_text(text) == escaped


def test_author_is_the_organization_when_there_is_one() -> None:
    """A company page posts as urn:li:organization, a member as urn:li:person (page_id as fallback)."""
    organization = dataclasses.replace(MEMBER, organization_id="4242")
    no_member_id = dataclasses.replace(MEMBER, linkedin_id=None, page_id="p-77")
    assert author_urn(organization) == "urn:li:organization:4242"
    assert author_urn(MEMBER) == "urn:li:person:abc123"
    assert author_urn(no_member_id) == "urn:li:person:p-77"
    with pytest.raises(PermanentError):
        author_urn(dataclasses.replace(MEMBER, linkedin_id=None, page_id=None))


def test_next_midnight_utc() -> None:
    """LinkedIn's daily limits reset at the next 00:00 UTC, also just before and at midnight."""
    assert next_midnight_utc(NOW) == MIDNIGHT
    assert next_midnight_utc(MIDNIGHT) == MIDNIGHT + timedelta(days=1)
    assert next_midnight_utc(datetime(2026, 11, 29, 1, 0, tzinfo=UTC) - timedelta(hours=2)) == MIDNIGHT


def _instructions(*ranges: tuple[int, int]) -> list[dict[str, Any]]:
    return [{"uploadUrl": f"https://up.example/{a}", "firstByte": a, "lastByte": b} for a, b in ranges]


@pytest.mark.parametrize(
    ("instructions", "usable"),
    [
        (_instructions((0, 9), (10, 14)), True),
        (_instructions((0, 14)), True),
        (_instructions((0, 9), (11, 14)), False),  # a gap
        (_instructions((10, 14), (0, 9)), False),  # out of order
        (_instructions((0, 9)), False),  # short of the file
        (_instructions((0, 9), (10, 20)), False),  # past the file
        ([], False),
        ("not a list", False),
    ],
)
def test_upload_parts_must_tile_the_file(instructions: Any, usable: bool) -> None:
    """A 15-byte video's upload plan is used only when its ranges cover bytes 0-14 in order, once."""
    parts = upload_parts(instructions, 15)
    assert (parts is not None) == usable
    if parts is not None:
        assert [p["etag"] for p in parts] == [None] * len(parts)


# ---- publishing ----------------------------------------------------------------------------


def test_text_post_sends_the_documented_body_and_headers(world: World) -> None:
    """A text post is one POST /rest/posts with the required headers and body; the urn comes back."""
    result = world.publish(job("Hello LinkedIn"))

    [request] = world.sim.requests
    assert request.headers["authorization"] == "Bearer AQV-good-token"
    assert request.headers["linkedin-version"] == world.settings.linkedin_api_version
    assert request.headers["x-restli-protocol-version"] == "2.0.0"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "author": "urn:li:person:abc123",
        "commentary": "Hello LinkedIn",
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    urn = world.sim.created[0]["id"]
    assert result == PublishResult(post_id=urn, url=f"https://www.linkedin.com/feed/update/{urn}")
    assert world.recorder.notes == [("sending", 0)]  # the World counts nothing: counter() is 0


def test_every_reserved_character_arrives_whole(world: World) -> None:
    """A post with every little-text reserved character is stored whole, not truncated."""
    world.publish(job(EVERY_RESERVED))
    assert world.sim.created[0]["text"] == EVERY_RESERVED


def test_one_image_is_uploaded_and_posted_as_media(world: World) -> None:
    """One image: initializeUpload, the exact bytes PUT, then content.media with that urn."""
    url = world.image("photo.jpg", 200_000)
    world.publish(job("With a photo", IMAGE, (url,)))

    [post] = world.sim.created
    [urn] = post["media"]
    assert world.sim.posts[post["id"]]["content"] == {"media": {"id": urn}}
    assert world.sim.images[urn].sha256 == sha256_of("photo.jpg", 200_000)
    assert world.media.downloads == ["/media/photo.jpg"]
    assert world.recorder.notes == [("remember", {"images": [urn], "image_urls": [url]}), ("sending", 0)]


def test_several_images_are_posted_as_multi_image_in_order(world: World) -> None:
    """Several images become content.multiImage, in the job's order, each with its own bytes."""
    names = ["a.jpg", "b.png", "c.gif"]
    world.publish(job("Three pictures", CAROUSEL, tuple(world.image(n) for n in names)))

    [post] = world.sim.created
    assert world.sim.posts[post["id"]]["content"] == {
        "multiImage": {"images": [{"id": u} for u in post["media"]]}
    }
    assert [world.sim.images[u].sha256 for u in post["media"]] == [sha256_of(n, 100_000) for n in names]


def test_organization_connection_posts_and_owns_images_as_the_organization(world: World) -> None:
    """With organization_id set, both the images and the post belong to urn:li:organization."""
    organization = dataclasses.replace(MEMBER, organization_id="4242")
    world.publish(job("From the page", IMAGE, (world.image("logo.png"),)), organization)
    [post] = world.sim.created
    assert post["author"] == "urn:li:organization:4242"
    assert world.sim.images[post["media"][0]].owner == "urn:li:organization:4242"


def test_images_stream_through_in_bounded_memory(world: World) -> None:
    """A 16 MiB image goes from the media host to LinkedIn without being held whole in memory."""
    size = 16 * 1024 * 1024
    tracemalloc.start()
    try:
        world.publish(job("Big picture", IMAGE, (world.image("big.jpg", size),)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [urn] = world.sim.created[0]["media"]
    assert world.sim.images[urn].size == size
    assert world.sim.images[urn].sha256 == sha256_of("big.jpg", size)
    assert peak < 2 * 1024 * 1024, f"peak {peak:,} bytes while streaming {size:,}"
    [put] = world.requests("upload")
    assert put.headers.get("transfer-encoding") is None  # sent with its Content-Length


def test_image_urn_is_remembered_before_the_upload(world: World) -> None:
    """The urn is remembered as soon as it exists: an upload failure leaves it noted, nothing sent."""
    world.sim.inject("server_error", step="upload")
    url = world.image("photo.jpg")
    with pytest.raises(RetryableError):
        world.publish(job("x", IMAGE, (url,)))
    [urn] = world.sim.images
    assert world.recorder.notes == [("remember", {"images": [urn], "image_urls": [url]})]
    assert world.sim.created == []


def test_resume_reuses_available_images(world: World) -> None:
    """A second attempt reuses the images the first one uploaded instead of uploading again."""
    urls = (world.image("a.jpg"), world.image("b.jpg"))
    world.sim.inject("rate_limit", step="posts")
    with pytest.raises(RateLimitedError):
        world.publish(job("Two pictures", CAROUSEL, urls))
    earlier = world.recorder.remembered

    world.publish(job("Two pictures", CAROUSEL, urls, resume=earlier, sending_started=True))
    assert len(world.requests("images_init")) == 2
    assert world.sim.created[0]["media"] == earlier["images"]


def test_resume_uploads_again_an_image_whose_bytes_never_arrived(world: World) -> None:
    """A remembered urn still WAITING_UPLOAD (the upload broke) is replaced by a fresh upload."""
    url = world.image("a.jpg")
    world.sim.inject("reset_before", step="upload")
    with pytest.raises(RetryableError):
        world.publish(job("x", IMAGE, (url,)))
    [broken] = world.recorder.remembered["images"]

    world.publish(job("x", IMAGE, (url,), resume=world.recorder.remembered))
    assert len(world.requests("images_init")) == 2
    assert world.sim.created[0]["media"] != [broken]


def test_resume_uploads_again_only_the_images_whose_url_changed(world: World) -> None:
    """After the user swaps one image, the others are reused and only the new one is uploaded."""
    urls = (world.image("a.jpg"), world.image("b.jpg"), world.image("c.jpg"))
    world.sim.inject("rate_limit", step="posts")
    with pytest.raises(RateLimitedError):
        world.publish(job("x", CAROUSEL, urls))
    a, b, c = world.recorder.remembered["images"]

    edited = (urls[0], world.image("b2.jpg"), urls[2])
    world.publish(job("x", CAROUSEL, edited, resume=world.recorder.remembered))
    assert len(world.requests("images_init")) == 4
    [post] = world.sim.created
    assert post["media"][0::2] == [a, c]
    assert post["media"][1] not in (a, b, c)


def test_processing_images_are_polled_until_available(world: World) -> None:
    """An image still PROCESSING is polled, with ctx.sleep between checks, before posting."""
    world.sim.processing_polls = 3
    world.publish(job("x", IMAGE, (world.image("a.jpg"),)))
    assert world.recorder.sleeps == [IMAGE_POLL_INTERVAL_S] * 3
    assert len(world.sim.created) == 1


def test_image_processing_past_the_poll_budget_waits_without_using_an_attempt(world: World) -> None:
    """An image still processing after the last poll defers the post; nothing is published."""
    world.sim.processing_polls = IMAGE_POLLS + 5
    with pytest.raises(RetryableError) as caught:
        world.publish(job("x", IMAGE, (world.image("a.jpg"),)))
    assert caught.value.counts_as_attempt is False
    assert world.sim.created == []


def test_image_processing_failure_is_permanent(world: World) -> None:
    """PROCESSING_FAILED fails the post with a sentence naming the image."""
    world.sim.processing_outcome = "PROCESSING_FAILED"
    with pytest.raises(PermanentError, match=r"could not process the image a\.jpg"):
        world.publish(job("x", IMAGE, (world.image("a.jpg"),)))


def test_missing_media_file_is_permanent(world: World) -> None:
    """A media URL that answers 404 fails the post; nothing is published."""
    with pytest.raises(PermanentError, match="could not be downloaded"):
        world.publish(job("x", IMAGE, (f"{world.media_url}/missing/gone.jpg",)))
    assert world.sim.created == []


# ---- videos --------------------------------------------------------------------------------

PART = VIDEO_PART_BYTES


def video_job(url: str, kind: str = VIDEO, title: str = "Our bakery", **extra: Any) -> PublishJob:
    return dataclasses.replace(job("A tour", kind, (url,), **extra), title=title)


def upload_ids(requests: list[Any]) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in requests]


class FailingAfterParts(ProgressRecorder):
    """Progress that faults the simulator's next part once `parts` etags are remembered."""

    def __init__(self, sim: LinkedInSimulator, parts: int, fault: str = "reset_before") -> None:
        super().__init__()
        self.sim, self.parts, self.fault = sim, parts, fault

    def remember(self, **remote_ids: Any) -> None:
        super().remember(**remote_ids)
        plan = remote_ids.get("video_upload") or {}
        done = sum(1 for part in plan.get("parts", []) if part["etag"])
        if done == self.parts:
            self.sim.inject(self.fault, step="video_upload")


def test_video_is_uploaded_in_parts_and_posted_with_its_title(world: World) -> None:
    """A video: init with its size, one PUT per 4 MiB part, finalize with the etags, post media+title."""
    size = 2 * PART + 123_456
    url = world.image("tour.mp4", size)
    result = world.publish(video_job(url))

    [init] = world.requests("videos_init")
    assert init.json["initializeUploadRequest"]["fileSizeBytes"] == size
    parts = world.requests("video_upload")
    assert [int(p.headers["x-sim-body-bytes"]) for p in parts] == [PART, PART, 123_456]
    [video] = world.sim.videos.values()
    [finalize] = world.requests("videos_finalize")
    assert finalize.json["finalizeUploadRequest"]["uploadedPartIds"] == [p.etag for p in video.parts]
    [post] = world.sim.created
    assert (post["kind"], post["title"], post["bytes"]) == ("video", "Our bakery", size)
    assert post["sha256"] == sha256_of("tour.mp4", size)
    assert world.sim.posts[post["id"]]["content"] == {"media": {"id": video.urn, "title": "Our bakery"}}
    assert result.post_id == post["id"]
    assert world.media.downloads == ["/media/tour.mp4"]  # the size and the parts come off one read


def test_reel_is_posted_as_a_video(world: World) -> None:
    """A reel becomes a LinkedIn video; a video without a title is posted without one."""
    world.publish(video_job(world.image("short.mov", 300_000), REEL, title=""))
    [post] = world.sim.created
    assert post["kind"] == "video"
    assert "title" not in world.sim.posts[post["id"]]["content"]["media"]


def test_video_urn_is_remembered_before_any_part_is_uploaded(world: World) -> None:
    """The video urn and its upload plan are remembered at init: a failed first part leaves them noted."""
    world.sim.inject("server_error", step="video_upload")
    url = world.image("tour.mp4", PART + 10)
    with pytest.raises(RetryableError):
        world.publish(video_job(url))
    [urn] = world.sim.videos
    first = world.recorder.notes[0]
    assert first[0] == "remember"
    assert (first[1]["video"], first[1]["video_url"]) == (urn, url)
    assert [part["etag"] for part in first[1]["video_upload"]["parts"]] == [None, None]
    assert world.sim.created == []


def test_resumed_video_sends_only_the_missing_parts(world: World) -> None:
    """After the third part broke off, the next attempt PUTs parts 3 and 4 only, and the file is whole."""
    size = 3 * PART + 5000
    url = world.image("long.mp4", size)
    world.recorder = FailingAfterParts(world.sim, parts=2)
    with pytest.raises(RetryableError):
        world.publish(video_job(url))
    earlier = world.recorder.remembered
    sent_before = len(world.requests("video_upload"))

    world.recorder = ProgressRecorder()
    world.publish(video_job(url, resume=earlier))
    resumed = world.requests("video_upload")[sent_before:]
    [urn] = world.sim.videos
    assert upload_ids(resumed) == [p.upload_id for p in world.sim.videos[urn].parts[2:]]
    assert world.sim.created[0]["sha256"] == sha256_of("long.mp4", size)
    assert len(world.requests("videos_init")) == 1


def test_token_refreshed_mid_video_sends_only_the_missing_parts(world: World) -> None:
    """A 401 on the second part: one refresh, the media read again, parts 2 and 3 sent with the new token."""
    size = 2 * PART + 1000
    connection = dataclasses.replace(MEMBER, refresh_token="rt-1")
    world.recorder = FailingAfterParts(world.sim, parts=1, fault="auth")
    world.publish(video_job(world.image("tour.mp4", size)), connection)
    [new_token] = world.sim.issued_tokens
    [video] = world.sim.videos.values()
    parts = world.requests("video_upload")
    ids = [p.upload_id for p in video.parts]
    assert upload_ids(parts) == [ids[0], ids[1], ids[1], ids[2]]
    assert [p.headers["authorization"] for p in parts[2:]] == [f"Bearer {new_token}"] * 2
    assert world.media.downloads == ["/media/tour.mp4"] * 2
    assert world.sim.created[0]["sha256"] == sha256_of("tour.mp4", size)


def test_available_video_is_not_uploaded_again(world: World) -> None:
    """A remembered video that is AVAILABLE is posted as it is: no new init, no part sent again."""
    url = world.image("tour.mp4", 200_000)
    world.sim.inject("rate_limit", step="posts")
    with pytest.raises(RateLimitedError):
        world.publish(video_job(url))
    counts = (len(world.requests("videos_init")), len(world.requests("video_upload")))

    world.publish(video_job(url, resume=world.recorder.remembered, sending_started=True))
    assert (len(world.requests("videos_init")), len(world.requests("video_upload"))) == counts
    assert world.sim.created[0]["media"] == [world.recorder.remembered["video"]]


def test_expired_upload_plan_starts_a_fresh_upload(world: World) -> None:
    """Upload URLs past their expiry are not reused: the video is initialised and uploaded anew."""
    url = world.image("tour.mp4", 200_000)
    world.sim.inject("server_error", step="video_upload")
    with pytest.raises(RetryableError):
        world.publish(video_job(url))
    earlier = dict(world.recorder.remembered)
    expired = int((NOW - timedelta(hours=1)).timestamp() * 1000)
    earlier["video_upload"] = {**earlier["video_upload"], "expires_at_ms": expired}

    world.publish(video_job(url, resume=earlier))
    assert len(world.requests("videos_init")) == 2
    assert world.sim.created[0]["media"] != [earlier["video"]]


def test_video_processing_is_polled_then_deferred_without_an_attempt(world: World) -> None:
    """Still PROCESSING after the run's polls: defer without an attempt; the next run posts it."""
    world.sim.processing_polls = VIDEO_POLLS + 2
    url = world.image("tour.mp4", 200_000)
    with pytest.raises(RetryableError) as caught:
        world.publish(video_job(url))
    assert caught.value.counts_as_attempt is False
    assert world.recorder.sleeps == [VIDEO_POLL_INTERVAL_S] * (VIDEO_POLLS - 1)
    assert world.sim.created == []

    world.publish(video_job(url, resume=world.recorder.remembered))
    assert len(world.requests("videos_init")) == 1
    assert len(world.sim.created) == 1


def test_video_that_is_not_mp4_fails_processing_permanently(world: World) -> None:
    """PROCESSING_FAILED (bytes that are not MP4/MOV) fails the post, naming the file."""
    with pytest.raises(PermanentError, match=r"could not process the video clip\.webm"):
        world.publish(video_job(world.image("clip.webm", 100_000)))
    assert world.sim.created == []


def test_video_over_the_size_limit_is_refused_before_uploading(world: World) -> None:
    """A video larger than LinkedIn accepts fails with both sizes; LinkedIn is never asked."""
    with pytest.raises(PermanentError, match=r"at most 500 MB; huge\.mp4 has 501 MB"):
        world.publish(video_job(world.image("huge.mp4", VIDEO_MAX_BYTES + 1024 * 1024)))
    assert world.sim.requests == []


def test_videos_stream_through_in_bounded_memory(world: World) -> None:
    """A 12 MiB video goes part by part from the media host to LinkedIn, never whole in memory."""
    size = 3 * PART
    tracemalloc.start()
    try:
        world.publish(video_job(world.image("big.mp4", size)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert world.sim.created[0]["sha256"] == sha256_of("big.mp4", size)
    assert peak < 2 * 1024 * 1024, f"peak {peak:,} bytes while streaming {size:,}"


# ---- documents and links -------------------------------------------------------------------


def test_document_is_uploaded_and_posted_with_the_post_title(world: World) -> None:
    """A PDF: documents initializeUpload, one PUT of its bytes, content.media with the post's title."""
    url = world.image("deck.pdf", 300_000)
    world.publish(dataclasses.replace(job("Our deck", DOCUMENT, (url,)), title="Q3 results"))
    [post] = world.sim.created
    [urn] = world.sim.documents
    assert world.sim.posts[post["id"]]["content"] == {"media": {"id": urn, "title": "Q3 results"}}
    assert (post["kind"], post["sha256"]) == ("document", sha256_of("deck.pdf", 300_000))
    assert world.recorder.notes[0] == ("remember", {"documents": [urn], "document_urls": [url]})


def test_document_without_a_title_is_titled_with_its_file_name(world: World) -> None:
    """LinkedIn needs a document title: a post without one uses the file name, spaces and all."""
    world.publish(job("Our deck", DOCUMENT, (world.image("Q3%20report.pdf"),)))
    assert world.sim.created[0]["title"] == "Q3 report.pdf"


def test_document_linkedin_cannot_process_fails(world: World) -> None:
    """A file LinkedIn cannot read as a document fails the post, naming it."""
    with pytest.raises(PermanentError, match=r"could not process the document notes\.docx"):
        world.publish(job("Notes", DOCUMENT, (world.image("notes.docx"),)))


def test_document_over_100_mb_is_refused(world: World) -> None:
    """A document over 100 MB fails with both sizes, and none of it is uploaded."""
    big = world.image("huge.pdf", DOCUMENT_MAX_BYTES + 5 * 1024 * 1024)
    with pytest.raises(PermanentError, match=r"at most 100 MB; huge\.pdf has 105 MB"):
        world.publish(job("Huge", DOCUMENT, (big,)))
    assert world.requests("document_upload") == []


def test_link_post_is_an_article_titled_with_the_host_and_its_thumbnail(world: World) -> None:
    """A link post: content.article with the link, its host as title, and the thumbnail uploaded."""
    thumbnail = world.image("card.png")
    world.publish(job("Read this", LINK, link="https://www.example.com/news/1", thumbnail=thumbnail))
    [post] = world.sim.created
    [image] = world.sim.images
    assert world.sim.posts[post["id"]]["content"] == {
        "article": {"source": "https://www.example.com/news/1", "title": "example.com", "thumbnail": image}
    }
    assert world.sim.images[image].sha256 == sha256_of("card.png", 100_000)


def test_link_post_without_thumbnail_uses_the_post_title(world: World) -> None:
    """Without a thumbnail no image is uploaded; a post with a title gives the article that title."""
    linked = dataclasses.replace(job("Read this", LINK, link="https://example.com/a"), title="Big news")
    world.publish(linked)
    [post] = world.sim.created
    assert (post["kind"], post["title"], post["thumbnail"]) == ("article", "Big news", None)
    assert world.requests("images_init") == []


def test_media_is_fetched_only_from_web_addresses(world: World) -> None:
    """A media URL that is not http(s) is refused by the shared media fetcher; LinkedIn is not asked."""
    with pytest.raises(PermanentError, match="not at an http or https web address"):
        world.publish(job("x", IMAGE, ("file:///etc/passwd.jpg",)))
    assert world.requests("upload") == []


# ---- error classes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One row of the classification table: how to provoke it and what must come out."""

    name: str
    error: type[PlatformError]
    token: str = "AQV-good-token"
    faults: tuple[str, ...] = ()  # injected in this order, each once, on `step`
    step: str = "posts"
    version: str = "202607"
    kind: str = TEXT
    connection_status: str | None = None
    message: str = ""  # a phrase the user-facing message must contain


CASES = [
    Case("422 schema error", PermanentError, faults=("permanent",), message="field is required"),
    Case("401 invalid, no refresh token", AuthError, faults=("auth",), connection_status="expired"),
    Case("401 expired, no refresh token", AuthError, token="expired-secret-1", connection_status="expired"),
    Case("401 revoked", AuthError, token="revoked-secret-1", connection_status="revoked"),
    Case("403 access denied", AuthError, token="denied-secret-1", connection_status="revoked"),
    Case("429 throttled", RateLimitedError, token="ratelimited-secret-1"),
    Case("426 sunset version", PlatformConfigError, version="202511", message="LINKEDIN_API_VERSION"),
    Case("426 on an image step", PlatformConfigError, version="202401", kind=IMAGE),
    Case("500 on initializeUpload", RetryableError, faults=("server_error",), step="images_init", kind=IMAGE),
    Case("500 on the upload", RetryableError, faults=("server_error",), step="upload", kind=IMAGE),
    Case(
        "500 on the image status", RetryableError, faults=("server_error",), step="image_status", kind=IMAGE
    ),
    Case("reset on the upload", RetryableError, faults=("reset_before",), step="upload", kind=IMAGE),
    Case("500 on the post, twice", AmbiguousError, faults=("server_error", "server_error")),
    Case("reset on the post, twice", AmbiguousError, faults=("reset_before", "reset_before")),
    Case("500 then 429 on the post", AmbiguousError, faults=("server_error", "rate_limit")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_errors_are_classified(world: World, case: Case) -> None:
    """Each LinkedIn failure becomes its documented error class; nothing is published; no token leaks."""
    world.settings = dataclasses.replace(world.settings, linkedin_api_version=case.version)
    for fault in case.faults:
        world.sim.inject(fault, step=case.step)
    connection = dataclasses.replace(MEMBER, access_token=case.token)
    images = (world.image("a.jpg"),) if case.kind == IMAGE else ()

    with pytest.raises(case.error) as caught:
        world.publish(job("Classified", case.kind, images), connection)

    error = caught.value
    assert type(error) is case.error
    assert world.sim.created == []
    assert "secret" not in str(error)
    assert case.message in error.message
    if case.connection_status:
        assert isinstance(error, AuthError)
        assert error.connection_status == case.connection_status
        assert RECONNECT in error.message
    if isinstance(error, RateLimitedError):
        assert error.not_before == MIDNIGHT


def test_revoked_token_is_not_refreshed(world: World) -> None:
    """REVOKED_ACCESS_TOKEN goes straight to 'revoked' even when a refresh token exists."""
    connection = dataclasses.replace(MEMBER, access_token="revoked-1", refresh_token="rt-1")
    with pytest.raises(AuthError):
        world.publish(job(), connection)
    assert world.requests("token") == []


def test_permanent_error_carries_linkedin_message(world: World) -> None:
    """A 422 from LinkedIn fails the post with LinkedIn's own words."""
    too_long = "x" * 3001  # publish() trusts check(); LinkedIn is the one refusing here
    with pytest.raises(
        PermanentError, match=r"LinkedIn refused the post: ERROR :: /commentary :: length 3001"
    ):
        world.publish(job(too_long))


# ---- at most once --------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["server_error", "error_after_apply", "reset_before", "reset_after"])
def test_ambiguous_post_failure_is_resolved_by_resending(world: World, fault: str) -> None:
    """After a 5xx or broken connection the post is re-sent once: published exactly once, urn known."""
    world.sim.inject(fault, step="posts")
    result = world.publish(job(EVERY_RESERVED))
    [post] = world.sim.created
    assert result.post_id == post["id"]
    assert len(world.requests("posts")) == 2


@pytest.mark.parametrize("fault", ["slow_before", "slow_after"])
def test_timed_out_post_is_resolved_by_resending(world: World, fault: str) -> None:
    """A post whose answer times out is re-sent; LinkedIn's duplicate check keeps it to one post."""
    world.http.timeout = httpx.Timeout(0.2)
    world.sim.inject(fault, step="posts", delay=0.5)
    result = world.publish(job("Slow"))
    [post] = world.sim.created
    assert result.post_id == post["id"]


def test_duplicate_of_a_post_we_never_sent_fails(world: World) -> None:
    """DUPLICATE_POST on a first send is a real duplicate: the post fails, naming LinkedIn's reason."""
    world.publish(job("Same words"))
    with pytest.raises(PermanentError, match="duplicate"):
        world.publish(job("Same words"))
    assert len(world.sim.created) == 1


def test_duplicate_after_a_crash_mid_send_is_our_post(world: World) -> None:
    """With sending_started (an earlier run died mid-send), DUPLICATE_POST means it was published."""
    first = world.publish(job("Same words"))
    again = world.publish(job("Same words", sending_started=True))
    assert again == first
    assert len(world.sim.created) == 1


# ---- token refresh -------------------------------------------------------------------------


def test_expired_token_is_refreshed_saved_and_used(world: World) -> None:
    """A 401 with a refresh token: refresh, ctx.save_token with the new token, retry with it."""
    connection = dataclasses.replace(MEMBER, access_token="expired-1", refresh_token="rt-1")
    world.publish(job(), connection)

    [new_token] = world.sim.issued_tokens
    assert [update for _, update in world.recorder.saved_tokens] == [
        TokenUpdate(access_token=new_token, refresh_token="rt-1", expires_at=NOW + timedelta(seconds=5184000))
    ]
    [token_request] = world.requests("token")
    assert token_request.form == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-1",
        "client_id": "app-id",
        "client_secret": "app-secret",
    }
    first, retry = world.requests("posts")
    assert first.headers["authorization"] == "Bearer expired-1"
    assert retry.headers["authorization"] == f"Bearer {new_token}"
    assert len(world.sim.created) == 1


def test_refreshed_token_serves_the_rest_of_the_attempt(world: World) -> None:
    """A 401 on the upload refreshes once; the upload restarts from the media and later calls use it."""
    connection = dataclasses.replace(MEMBER, refresh_token="rt-1")
    world.sim.inject("auth", step="upload")
    world.publish(job("x", IMAGE, (world.image("a.jpg"),)), connection)
    [new_token] = world.sim.issued_tokens
    assert world.media.downloads == ["/media/a.jpg", "/media/a.jpg"]
    assert world.requests("posts")[0].headers["authorization"] == f"Bearer {new_token}"
    assert len(world.recorder.saved_tokens) == 1


def test_token_is_refreshed_at_most_once(world: World) -> None:
    """A second 401 after a refresh is an AuthError; there is no second refresh."""
    connection = dataclasses.replace(MEMBER, refresh_token="rt-1")
    world.sim.inject("auth", step="posts", times=2)
    with pytest.raises(AuthError):
        world.publish(job(), connection)
    assert len(world.requests("token")) == 1
    assert world.sim.created == []


def test_no_refresh_without_client_credentials(world: World) -> None:
    """Without a LinkedIn client id/secret configured, a 401 is an AuthError at once."""
    world.settings = dataclasses.replace(world.settings, linkedin_client_id="", linkedin_client_secret="")
    connection = dataclasses.replace(MEMBER, access_token="expired-1", refresh_token="rt-1")
    with pytest.raises(AuthError):
        world.publish(job(), connection)
    assert world.requests("token") == []


@pytest.mark.parametrize(
    ("refresh_token", "connection_status"), [("revoked-rt", "revoked"), ("expired-rt", "expired")]
)
def test_refused_refresh_asks_to_reconnect(world: World, refresh_token: str, connection_status: str) -> None:
    """invalid_grant from the token endpoint is an AuthError; nothing is saved or published."""
    connection = dataclasses.replace(MEMBER, access_token="expired-1", refresh_token=refresh_token)
    with pytest.raises(AuthError) as caught:
        world.publish(job(), connection)
    assert (caught.value.connection_status, caught.value.message) == (connection_status, RECONNECT)
    assert (world.recorder.saved_tokens, world.sim.created) == ([], [])


def test_token_endpoint_failure_is_retryable(world: World) -> None:
    """A 5xx from the token endpoint publishes nothing, so the post may simply be tried again."""
    connection = dataclasses.replace(MEMBER, access_token="expired-1", refresh_token="rt-1")
    world.sim.inject("server_error", step="token")
    with pytest.raises(RetryableError):
        world.publish(job(), connection)


def test_wrong_client_secret_is_a_config_error(world: World) -> None:
    """invalid_client means our app credentials are wrong: class C, not the user's connection."""
    world.sim.client_secret = "the-real-secret"
    connection = dataclasses.replace(MEMBER, access_token="expired-1", refresh_token="rt-1")
    with pytest.raises(PlatformConfigError):
        world.publish(job(), connection)


def test_new_token_refused_as_revoked_is_waited_out(world: World) -> None:
    """A just-issued token answered with 65601 is retried after 1, 2 and 4 s, then the post goes out."""
    world.sim.fresh_token_revoked_requests = 3
    connection = dataclasses.replace(MEMBER, access_token="expired-1", refresh_token="rt-1")
    result = world.publish(job(), connection)
    assert world.recorder.sleeps == [1.0, 2.0, 4.0]
    assert len(world.requests("token")) == 1
    [post] = world.sim.created
    assert result.post_id == post["id"]


def test_new_token_still_revoked_after_the_grace_window_disconnects(world: World) -> None:
    """A new token still refused as revoked after GRACE_S seconds of waiting is believed: revoked."""
    world.sim.fresh_token_revoked_requests = 100
    connection = dataclasses.replace(MEMBER, access_token="expired-1", refresh_token="rt-1")
    with pytest.raises(AuthError) as caught:
        world.publish(job(), connection)
    assert caught.value.connection_status == "revoked"
    assert sum(world.recorder.sleeps) == GRACE_S
    assert len(world.requests("token")) == 1
    assert world.sim.created == []


def test_revoked_token_without_a_refresh_is_not_waited_for(world: World) -> None:
    """Without a refresh in this attempt a 65601 is believed at once: no waiting."""
    connection = dataclasses.replace(MEMBER, access_token="revoked-1", refresh_token="rt-1")
    with pytest.raises(AuthError):
        world.publish(job(), connection)
    assert world.recorder.sleeps == []


# ---- limits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "images", "problem"),
    [
        (TEXT, "x" * 3001, 0, "LinkedIn posts are limited to 3,000 characters; this one has 3,001."),
        (CAROUSEL, "x", 1, "LinkedIn carousels need at least 2 images; this one has 1."),
        (CAROUSEL, "x", 21, "LinkedIn carousels are limited to 20 images; this one has 21."),
        (
            STORY,
            "x",
            1,
            "cannot publish story posts to LinkedIn "
            "(it can publish: text, image, carousel, video, reel, link, document).",
        ),
    ],
)
def test_limits_are_checked_before_any_call(kind: str, text: str, images: int, problem: str) -> None:
    """Each broken limit is named with its number and the post's own."""
    urls = tuple(f"https://cdn.example/{n}.jpg" for n in range(images))
    with pytest.raises(LimitError) as caught:
        LinkedInAdapter().check(job(text, kind, urls))
    assert caught.value.message.endswith(problem)


def test_posts_at_the_limits_pass_the_check() -> None:
    """3,000 characters (even with every reserved one escaped later) and 2 or 20 images are fine."""
    adapter = LinkedInAdapter()
    adapter.check(job("(" * 3000))
    for count in (2, 20):
        adapter.check(job("x", CAROUSEL, tuple(f"https://cdn.example/{n}.jpg" for n in range(count))))


# ---- a matrix-style run through the shared harness ------------------------------------------

EXPECTED = {
    "permanent": PermanentError,
    "auth": AuthError,
    "rate_limit": RateLimitedError,
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", [CAROUSEL])  # the shared matrix runs every kind; this is a spot check
def test_harness_publishes_at_most_once_under_every_fault(kind: str, fault: str) -> None:
    """Through HARNESS, every shared fault on the publishing step gives one post or a clean refusal."""
    with HARNESS.start() as running, httpx.Client(timeout=running.settings.http_timeout_s) as http:
        running.simulator.inject(fault, step=HARNESS.publish_step(kind), delay=SLOW_DELAY_S)
        world = World(sim=running.simulator, settings=running.settings, http=http)
        the_job = HARNESS.job(running, kind)
        if fault in EXPECTED:
            with pytest.raises(EXPECTED[fault]):
                world.publish(the_job, running.connection)
            assert running.simulator.created == []
        else:
            result = world.publish(the_job, running.connection)
            [post] = running.simulator.created
            assert (post["id"], post["text"]) == (result.post_id, the_job.text)
