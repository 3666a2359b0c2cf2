"""The Instagram adapter against the Graph simulator served on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.errors import (
    AmbiguousError,
    AuthError,
    LimitError,
    PermanentError,
    PlatformError,
    RateLimitedError,
    RetryableError,
)
from services.platforms.base import CAROUSEL, IMAGE, REEL, STORY, TEXT, VIDEO
from services.platforms.graph_errors import GraphError, NotReadyError, Verdict
from services.platforms.instagram import InstagramAdapter, classify_instagram_error
from tests.adapters.harness_facebook import GraphStack, graph_stack
from tests.adapters.harness_instagram import (
    HARNESS,
    IG_LOGIN_TOKEN,
    IG_LOGIN_USER_ID,
    IG_TOKEN,
    IG_USER_ID,
    login_connection,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def stack() -> Iterator[GraphStack]:
    with graph_stack(HARNESS) as running_stack:
        yield running_stack


def container_of(stack: GraphStack) -> str:
    """The container the adapter published (its last media_publish call)."""
    return stack.calls("media_publish")[-1].form["creation_id"]


# ---- classification ------------------------------------------------------------------------

CLASSIFICATION = [
    # code, subcode, is_transient, HTTP status, call publishes, verdict
    (9007, 2207027, False, 400, True, Verdict.NOT_READY),
    (4, 2207051, False, 400, True, Verdict.PERMANENT),
    (4, None, True, 400, True, Verdict.RATE_LIMITED),
    (9, 2207042, False, 400, True, Verdict.RATE_LIMITED),
    (17, None, False, 400, False, Verdict.RATE_LIMITED),
    (32, None, False, 400, False, Verdict.RATE_LIMITED),
    (613, None, False, 400, False, Verdict.RATE_LIMITED),
    (80002, None, True, 400, True, Verdict.RATE_LIMITED),
    (25, 2207050, False, 400, True, Verdict.REVOKED),
    (190, 463, False, 400, False, Verdict.EXPIRED),
    (190, 460, False, 400, False, Verdict.REVOKED),
    (10, None, False, 403, False, Verdict.REVOKED),
    (200, None, False, 403, True, Verdict.REVOKED),
    (-1, 2207001, True, 400, True, Verdict.AMBIGUOUS),
    (-1, 2207001, True, 400, False, Verdict.RETRY),
    (-1, 2207032, False, 400, True, Verdict.AMBIGUOUS),
    (-1, 2207053, False, 400, False, Verdict.RETRY),
    (-2, 2207003, False, 400, False, Verdict.RETRY),
    (-2, 2207020, False, 400, True, Verdict.RETRY),
    (24, 2207006, False, 400, False, Verdict.RETRY),
    (24, 2207008, False, 400, True, Verdict.RETRY),
    (2, None, True, 500, True, Verdict.AMBIGUOUS),
    (2, None, True, 500, False, Verdict.RETRY),
    (1, None, False, 500, True, Verdict.AMBIGUOUS),
    (9004, 2207052, False, 400, False, Verdict.PERMANENT),
    (352, 2207026, False, 400, False, Verdict.PERMANENT),
    (36000, 2207004, False, 400, False, Verdict.PERMANENT),
    (36001, 2207005, False, 400, False, Verdict.PERMANENT),
    (36003, 2207009, False, 400, False, Verdict.PERMANENT),
    (36004, 2207010, False, 400, False, Verdict.PERMANENT),
    (100, 2207023, False, 400, False, Verdict.PERMANENT),
    (100, 2207028, False, 400, False, Verdict.PERMANENT),
    (100, 2207040, False, 400, False, Verdict.PERMANENT),
    (100, 2207057, False, 400, False, Verdict.PERMANENT),
    (100, None, False, 400, True, Verdict.PERMANENT),
]


@pytest.mark.parametrize(("code", "subcode", "transient", "status", "publishes", "verdict"), CLASSIFICATION)
def test_classify_instagram_error(
    code: int, subcode: int | None, transient: bool, status: int, publishes: bool, verdict: Verdict
) -> None:
    """Instagram errors are classified by code and subcode (docs/platforms/instagram.md)."""
    error = GraphError(status, code, subcode, "message", is_transient=transient)
    assert classify_instagram_error(error, publishes=publishes) is verdict


# ---- every post kind -------------------------------------------------------------------------


def test_image_post(stack: GraphStack) -> None:
    """Quota, container, status, publish, permalink: in that order, published once."""
    job = stack.job(IMAGE)
    result = stack.publish(job)
    steps = [stack.sim.step_of(r) for r in stack.sim.requests]
    assert steps == ["publishing_limit", "media", "container_status", "media_publish", "ig_media"]
    (create,) = stack.calls("media")
    assert (create.form["image_url"], create.form["caption"]) == (job.media_urls[0], job.text)
    assert "media_type" not in create.form
    assert stack.sim.created == [
        {"platform": "instagram", "id": result.post_id, "text": job.text, "media": list(job.media_urls)}
    ]
    assert result.url is not None
    assert result.url.startswith("https://www.instagram.com/p/")
    assert result.post_id not in result.url
    remembered = stack.recorder.remembered
    # The container, then the send time with the sending mark: no write after the publish.
    assert remembered == {"container_id": container_of(stack), "sent_after": remembered["sent_after"]}
    assert datetime.now(UTC).timestamp() - remembered["sent_after"] == pytest.approx(300, abs=30)


def test_video_is_a_reel_and_waits_for_processing(stack: GraphStack) -> None:
    """A video container is REELS; the adapter polls while IN_PROGRESS, sleeping between reads."""
    job = stack.job(VIDEO)
    result = stack.publish(job)
    (create,) = stack.calls("media")
    assert (create.form["media_type"], create.form["video_url"]) == ("REELS", job.media_urls[0])
    assert len(stack.calls("container_status")) == 3  # IN_PROGRESS, IN_PROGRESS, FINISHED
    interval = stack.ctx.settings.instagram_poll_interval_s
    assert [e for e in stack.recorder.events if e[0] == "sleep"] == [("sleep", interval)] * 2
    assert result.url is not None
    assert result.url.startswith("https://www.instagram.com/reel/")
    assert len(stack.sim.created) == 1


def test_carousel_builds_children_then_parent(stack: GraphStack) -> None:
    """Each image becomes an item container (remembered at once), then one CAROUSEL parent."""
    job = stack.job(CAROUSEL)
    result = stack.publish(job)
    creates = stack.calls("media")
    children, parent = creates[:-1], creates[-1]
    assert [c.form["image_url"] for c in children] == list(job.media_urls)
    assert all(c.form["is_carousel_item"] == "true" for c in children)
    assert parent.form["media_type"] == "CAROUSEL"
    child_ids = parent.form["children"].split(",")
    noted = [e[1]["children"] for e in stack.recorder.events if e[0] == "remember" and "children" in e[1]]
    assert noted == [child_ids[:1], child_ids[:2], child_ids, child_ids]
    assert stack.recorder.remembered["container_id"] == container_of(stack)
    assert stack.sim.created == [
        {"platform": "instagram", "id": result.post_id, "text": job.text, "media": list(job.media_urls)}
    ]


@pytest.mark.parametrize("kind", HARNESS.kinds)
def test_sending_is_recorded_right_before_media_publish(stack: GraphStack, kind: str) -> None:
    """progress.sending() is the last note before media_publish, after the container and send time."""
    job = stack.job(kind)
    stack.publish(job)
    (publish,) = stack.calls("media_publish")
    sending = [e for e in stack.recorder.events if e[0] == "sending"]
    assert sending == [("sending", stack.sim.requests.index(publish))]
    notes = stack.recorder.notes
    assert [next(iter(n[1])) for n in notes[notes.index(sending[0]) - 2 : notes.index(sending[0])]] == [
        "container_id",
        "sent_after",
    ]


def test_ig_user_id_falls_back_to_instagram_id(stack: GraphStack) -> None:
    """A connection with no page_id publishes to its instagram_id."""
    connection = replace(stack.running.connection, page_id=None, instagram_id=IG_USER_ID)
    stack.publish(stack.job(IMAGE), connection)
    assert stack.calls("media_publish")[0].path.endswith(f"/{IG_USER_ID}/media_publish")


def test_the_token_is_never_in_a_url(stack: GraphStack) -> None:
    """Every call carries the token in the Authorization header and none in the URL or form."""
    for kind in HARNESS.kinds:
        stack.publish(stack.job(kind, text=f"{kind} caption"))
    running = stack.running
    for sim, token in ((running.facebook_graph, IG_TOKEN), (running.instagram_graph, IG_LOGIN_TOKEN)):
        assert sim.requests
        for request in sim.requests:
            assert request.headers["authorization"] == f"Bearer {token}"
            assert "access_token" not in request.query
            assert "access_token" not in request.form
            assert token not in request.path


def test_permalink_read_failure_leaves_no_url(stack: GraphStack) -> None:
    """A failed permalink read still returns the published media, without inventing a URL."""
    stack.sim.inject("server_error", step="ig_media")
    result = stack.publish(stack.job(IMAGE))
    assert result.url is None
    assert [c["id"] for c in stack.sim.created] == [result.post_id]


# ---- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "changes", "message"),
    [
        (
            IMAGE,
            {"text": "x" * 2431},
            "Instagram captions are limited to 2,200 characters; this one has 2,431.",
        ),
        (
            IMAGE,
            {"text": " ".join(f"#tag{i}" for i in range(31))},
            "Instagram allows at most 30 hashtags; this post has 31.",
        ),
        (TEXT, {}, "text posts to Instagram"),
    ],
)
def test_limits(stack: GraphStack, kind: str, changes: dict[str, object], message: str) -> None:
    """Caption length, hashtags and kinds are refused before any call, naming the limit."""
    job = stack.job(kind, **changes)
    with pytest.raises(LimitError) as caught:
        InstagramAdapter().check(job)
    assert message in caught.value.message
    assert not stack.sim.requests


@pytest.mark.parametrize(
    ("count", "message"),
    [(1, "need at least 2 images; this one has 1"), (11, "limited to 10 images; this one has 11")],
)
def test_carousel_size_limits(stack: GraphStack, count: int, message: str) -> None:
    """Carousels take 2–10 images."""
    urls = tuple(f"{stack.running.media_url}/media/{i}.jpg" for i in range(count))
    with pytest.raises(LimitError, match=message):
        InstagramAdapter().check(stack.job(CAROUSEL, media_urls=urls))


def test_only_jpeg_images(stack: GraphStack) -> None:
    """A PNG is refused by check(); sent anyway, Instagram's own 36001 becomes a PermanentError."""
    job = stack.job(IMAGE, media_urls=(f"{stack.running.media_url}/media/photo.png",))
    with pytest.raises(LimitError, match=r"Instagram accepts only JPEG images; photo\.png is not one\."):
        InstagramAdapter().check(job)
    with pytest.raises(PermanentError) as caught:
        stack.publish(job)
    assert caught.value.message == (
        "Instagram rejected the post: Invalid parameter: The image format is not supported. "
        "Supported formats are: JPEG"
    )
    assert stack.sim.created == []


def test_a_caption_over_the_limit_is_refused_by_instagram_too(stack: GraphStack) -> None:
    """The simulator enforces the 2,200 characters (36004/2207010) for a client that skips check()."""
    with pytest.raises(PermanentError, match="Captions can have at most 2200 characters"):
        stack.publish(stack.job(IMAGE, text="x" * 2201))
    assert stack.sim.created == []


# ---- quota, refusals, processing ------------------------------------------------------------


def test_full_quota_defers_before_creating_anything(stack: GraphStack) -> None:
    """quota_usage >= quota_total is a RateLimitedError and no container is created."""
    stack.sim.use_quota(IG_USER_ID, stack.sim.quota_total)
    with pytest.raises(RateLimitedError, match="used its 50 API posts"):
        stack.publish(stack.job(IMAGE))
    assert not stack.calls("media")


def test_quota_just_below_the_limit_publishes(stack: GraphStack) -> None:
    """One post left in the quota is enough."""
    stack.sim.use_quota(IG_USER_ID, stack.sim.quota_total - 1)
    stack.publish(stack.job(IMAGE))
    assert len(stack.sim.created) == 1


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [("permanent", PermanentError), ("auth", AuthError), ("rate_limit", RateLimitedError)],
)
@pytest.mark.parametrize("kind", HARNESS.kinds)
def test_refusals_of_media_publish(
    stack: GraphStack, kind: str, fault: str, error_class: type[PlatformError]
) -> None:
    """P, A and R refusals of media_publish raise their error and publish nothing."""
    job = stack.job(kind)
    stack.sim.inject(fault, step="media_publish", times=3)  # a refresh must not hide a dead token
    with pytest.raises(error_class) as caught:
        stack.publish(job)
    assert type(caught.value) is error_class
    assert stack.sim.created == []
    refreshed = fault == "auth" and kind.endswith("@login")
    assert len(stack.calls("media_publish")) == (2 if refreshed else 1)


@pytest.mark.parametrize(
    ("token", "error_class"),
    [
        ("expired-" + "x" * 30, AuthError),
        ("revoked-" + "x" * 30, AuthError),
        ("ratelimited-" + "x" * 30, RateLimitedError),
    ],
)
def test_token_errors(stack: GraphStack, token: str, error_class: type[PlatformError]) -> None:
    """Token conventions end the run at the first call with the right class, token not shown."""
    stack.ctx.now = lambda: NOW
    connection = replace(stack.running.connection, access_token=token)
    with pytest.raises(error_class) as caught:
        stack.publish(stack.job(IMAGE), connection)
    assert token not in str(caught.value)
    assert "Instagram" in caught.value.message
    if isinstance(caught.value, RateLimitedError):
        assert caught.value.not_before == NOW + timedelta(minutes=stack.sim.regain_minutes)
    assert len(stack.sim.requests) == 1


def test_container_error_is_permanent_with_the_status_text(stack: GraphStack) -> None:
    """A container that ends in ERROR fails the post with Instagram's status text."""
    job = stack.job(VIDEO, media_urls=(f"{stack.running.media_url}/media/clip.webm",))
    with pytest.raises(PermanentError) as caught:
        stack.publish(job)
    assert caught.value.message == (
        "Instagram could not process the media: Error: Media upload has failed with error code 2207026"
    )
    assert not stack.calls("media_publish")


def test_unreachable_image_is_permanent(stack: GraphStack) -> None:
    """An image URL Instagram cannot fetch (9004/2207052) fails the post with the platform's words."""
    job = stack.job(IMAGE, media_urls=(f"{stack.running.media_url}/missing/photo.jpg",))
    with pytest.raises(PermanentError, match="could not be fetched"):
        stack.publish(job)


def test_still_processing_waits_for_a_later_run_without_an_attempt(stack: GraphStack) -> None:
    """IN_PROGRESS past the poll budget: RetryableError(counts_as_attempt=False), container kept."""
    stack.sim.video_polls = 8
    job = stack.job(VIDEO)
    with pytest.raises(RetryableError) as caught:
        stack.publish(job)
    assert caught.value.counts_as_attempt is False
    poll_max = stack.ctx.settings.instagram_poll_max
    assert len([e for e in stack.recorder.events if e[0] == "sleep"]) == poll_max
    assert len(stack.calls("container_status")) == poll_max + 1
    assert not stack.calls("media_publish")
    container = stack.recorder.remembered["container_id"]
    # The next run resumes the same container instead of creating another.
    result = stack.publish(replace(job, resume=dict(stack.recorder.remembered)))
    assert len(stack.calls("media")) == 1
    assert container_of(stack) == container
    assert [c["id"] for c in stack.sim.created] == [result.post_id]


def test_not_ready_on_publish_polls_again(stack: GraphStack) -> None:
    """9007/2207027 from media_publish after FINISHED means poll, then publish: once."""
    stack.sim.not_ready_publishes = 2
    result = stack.publish(stack.job(IMAGE))
    assert len(stack.calls("media_publish")) == 3
    assert len(stack.calls("container_status")) == 3
    assert [e[0] for e in stack.recorder.events].count("sleep") == 2
    assert [c["id"] for c in stack.sim.created] == [result.post_id]


def test_not_ready_past_the_budget_waits_for_a_later_run(stack: GraphStack) -> None:
    """A publish that stays "not ready" for the whole budget is deferred without an attempt."""
    stack.sim.not_ready_publishes = 100
    with pytest.raises(NotReadyError) as caught:
        stack.publish(stack.job(IMAGE))
    assert caught.value.counts_as_attempt is False
    assert stack.sim.created == []


# ---- ambiguous publishes ---------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["error_after_apply", "reset_after"])
@pytest.mark.parametrize("kind", HARNESS.kinds)
def test_applied_publish_is_found_from_the_container(stack: GraphStack, kind: str, fault: str) -> None:
    """A publish that failed after taking effect: the container says PUBLISHED, never publish again."""
    job = stack.job(kind)
    stack.sim.inject(fault, step="media_publish")
    result = stack.publish(job)
    assert [c["id"] for c in stack.sim.created] == [result.post_id]
    assert len(stack.calls("media_publish")) == 1
    assert result.url is not None
    assert stack.recorder.remembered["media_id"] == result.post_id


@pytest.mark.parametrize("fault", ["server_error", "reset_before"])
@pytest.mark.parametrize("kind", HARNESS.kinds)
def test_failed_publish_of_a_finished_container_is_sent_once_more(
    stack: GraphStack, kind: str, fault: str
) -> None:
    """A publish that did not take effect leaves the container FINISHED: publishing it again is safe."""
    job = stack.job(kind)
    stack.sim.inject(fault, step="media_publish")
    result = stack.publish(job)
    assert [c["id"] for c in stack.sim.created] == [result.post_id]
    calls = stack.calls("media_publish")
    assert len(calls) == 2
    assert calls[0].form["creation_id"] == calls[1].form["creation_id"]


def test_two_failed_publishes_are_retryable(stack: GraphStack) -> None:
    """Only one extra publish per run: a second failure with the container FINISHED is retryable."""
    stack.sim.inject("server_error", step="media_publish", times=2)
    with pytest.raises(RetryableError, match="nothing was published"):
        stack.publish(stack.job(IMAGE))
    assert stack.sim.created == []
    assert len(stack.calls("media_publish")) == 2


def test_timeout_after_apply_is_found(stack: GraphStack) -> None:
    """A publish reply slower than the client timeout, after the media went live: found, once."""
    stack.sim.inject("slow_after", step="media_publish", delay=1.2)
    result = stack.publish(stack.job(IMAGE))
    assert [c["id"] for c in stack.sim.created] == [result.post_id]
    assert len(stack.calls("media_publish")) == 1


def test_status_read_failing_after_a_failed_publish_is_ambiguous(stack: GraphStack) -> None:
    """If neither the publish nor the status read answers, the adapter says it cannot know."""
    stack.sim.inject("error_after_apply", step="media_publish")
    # Scripted from the sending() note, so the status read before the publish still works.
    stack.recorder.on_sending = lambda: stack.sim.inject("server_error", step="container_status")
    with pytest.raises(AmbiguousError, match="may or may not have been published"):
        stack.publish(stack.job(IMAGE))
    assert len(stack.sim.created) == 1
    assert len(stack.calls("media_publish")) == 1


# ---- resuming --------------------------------------------------------------------------------


def test_resume_after_a_lost_outcome_write_finds_the_post_without_publishing(stack: GraphStack) -> None:
    """Published, then the outcome write was lost: the container reads PUBLISHED and the post is found."""
    first = stack.publish(stack.job(IMAGE))
    before = len(stack.sim.requests)
    again = stack.publish(stack.job(IMAGE, sending_started=True, resume=dict(stack.recorder.remembered)))
    assert again.post_id == first.post_id
    steps = [stack.sim.step_of(r) for r in stack.sim.requests[before:]]
    assert "media_publish" not in steps
    assert "media" not in steps  # no new container either
    assert len(stack.sim.created) == 1


@pytest.mark.parametrize("kind", HARNESS.kinds)
def test_resume_of_a_published_container_finds_the_media(stack: GraphStack, kind: str) -> None:
    """PUBLISHED container, media id lost in a crash: the account's media after the mark give it back."""
    sending_at = datetime.now(UTC)
    first = stack.publish(stack.job(kind))
    resume = {"container_id": stack.recorder.remembered["container_id"]}
    again = stack.publish(stack.job(kind, sending_started=True, sending_at=sending_at, resume=resume))
    assert again == first
    assert len(stack.calls("media_publish")) == 1
    assert len(stack.sim.created) == 1


def test_resume_of_a_finished_container_publishes_it(stack: GraphStack) -> None:
    """A FINISHED container from an earlier attempt is published, not recreated."""
    stack.sim.inject("rate_limit", step="media_publish")
    job = stack.job(IMAGE)
    with pytest.raises(RateLimitedError):
        stack.publish(job)
    container = stack.recorder.remembered["container_id"]
    result = stack.publish(replace(job, sending_started=True, resume=dict(stack.recorder.remembered)))
    assert len(stack.calls("media")) == 1
    assert container_of(stack) == container
    assert [c["id"] for c in stack.sim.created] == [result.post_id]


@pytest.mark.parametrize("state", ["EXPIRED", "ERROR"])
def test_resume_of_an_expired_or_failed_container_makes_a_new_one(stack: GraphStack, state: str) -> None:
    """An EXPIRED or ERROR container from an earlier attempt is replaced by a new one."""
    stack.sim.inject("rate_limit", step="media_publish")
    job = stack.job(CAROUSEL)
    with pytest.raises(RateLimitedError):
        stack.publish(job)
    old = stack.recorder.remembered["container_id"]
    stack.sim.set_container_status(old, state, status="Error: something" if state == "ERROR" else "")
    result = stack.publish(replace(job, sending_started=True, resume=dict(stack.recorder.remembered)))
    assert container_of(stack) != old
    assert len(stack.calls("media")) == 2 * (len(job.media_urls) + 1)
    assert [c["id"] for c in stack.sim.created] == [result.post_id]


def test_resume_reuses_children_when_the_parent_was_never_created(stack: GraphStack) -> None:
    """Item containers remembered before the parent existed are reused, not created again."""
    job = stack.job(CAROUSEL)
    children = []
    for url in job.media_urls[:2]:
        reply = stack.ctx.http.post(
            f"{stack.ctx.settings.meta_graph_url}/{IG_USER_ID}/media",
            data={"image_url": url, "is_carousel_item": "true"},
            headers={"Authorization": "Bearer t0ken"},
        )
        children.append(reply.json()["id"])
    before = len(stack.calls("media"))
    stack.publish(replace(job, resume={"children": children}))
    new_creates = stack.calls("media")[before:]
    assert [c.form.get("image_url") for c in new_creates] == [job.media_urls[2], None]
    assert new_creates[-1].form["children"].split(",")[:2] == children
    assert len(stack.sim.created) == 1


def test_resume_after_sending_without_a_container_looks_for_the_post(stack: GraphStack) -> None:
    """sending_started without any remembered id: a post with our caption is taken, not redone."""
    sending_at = datetime.now(UTC)
    first = stack.publish(stack.job(IMAGE))
    again = stack.publish(stack.job(IMAGE, sending_started=True, sending_at=sending_at))
    assert again == first
    assert len(stack.calls("media")) == 1
    assert len(stack.sim.created) == 1


def test_resume_of_a_container_instagram_no_longer_knows_makes_a_new_one(stack: GraphStack) -> None:
    """A remembered container id Instagram does not know (100/33) is replaced, not a failure."""
    result = stack.publish(stack.job(IMAGE, resume={"container_id": "999"}))
    assert container_of(stack) != "999"
    assert [c["id"] for c in stack.sim.created] == [result.post_id]


# ---- reconciliation only after the sending mark (issue #7) -----------------------------------


def test_recurring_caption_older_than_the_sending_mark_is_not_taken(stack: GraphStack) -> None:
    """A media with the same caption from before the sending mark is not ours: the new post goes out."""
    stack.sim.clock = lambda: time.time() - 7 * 86400  # last week's post with the same caption
    old = stack.publish(stack.job(IMAGE))
    stack.sim.clock = time.time
    sending_at = datetime.now(UTC) - timedelta(minutes=1)
    result = stack.publish(stack.job(IMAGE, sending_started=True, sending_at=sending_at))
    assert result.post_id != old.post_id
    assert [c["id"] for c in stack.sim.created] == [old.post_id, result.post_id]


def test_published_container_without_a_known_send_time_is_not_guessed(stack: GraphStack) -> None:
    """A PUBLISHED container whose media id and send time are both lost is surfaced, not matched."""
    first = stack.publish(stack.job(IMAGE))
    resume = {"container_id": stack.recorder.remembered["container_id"]}
    with pytest.raises(AmbiguousError):
        stack.publish(stack.job(IMAGE, sending_started=True, resume=resume))
    assert [c["id"] for c in stack.sim.created] == [first.post_id]


def test_remembered_send_time_bounds_the_search(stack: GraphStack) -> None:
    """The send time remembered before media_publish is enough to find our media after a crash."""
    first = stack.publish(stack.job(IMAGE))
    resume = {k: v for k, v in stack.recorder.remembered.items() if k != "media_id"}
    again = stack.publish(stack.job(IMAGE, sending_started=True, resume=resume))
    assert again == first


# ---- stories, mixed carousels, reel options --------------------------------------------------


@pytest.mark.parametrize(("label", "media_field"), [(STORY, "image_url"), ("story:video", "video_url")])
def test_story_container_has_no_caption(stack: GraphStack, label: str, media_field: str) -> None:
    """A story is media_type=STORIES with its one image or video and no caption."""
    job = stack.job(label)
    result = stack.publish(job)
    (create,) = stack.calls("media")
    assert create.form == {"media_type": "STORIES", media_field: job.media_urls[0]}
    assert stack.sim.created == [
        {
            "platform": "instagram",
            "id": result.post_id,
            "text": "",
            "media": list(job.media_urls),
            "kind": "story",
        }
    ]


def test_story_found_on_the_stories_edge_after_a_lost_media_id(stack: GraphStack) -> None:
    """Stories are not on the media edge: a lost story id is found on /stories after the mark."""
    sending_at = datetime.now(UTC)
    first = stack.publish(stack.job(STORY))
    resume = {"container_id": stack.recorder.remembered["container_id"]}
    again = stack.publish(stack.job(STORY, sending_started=True, sending_at=sending_at, resume=resume))
    assert again.post_id == first.post_id
    assert stack.calls("stories")


def test_mixed_carousel_polls_every_video_item_before_the_parent(stack: GraphStack) -> None:
    """Video items are VIDEO + video_url; all items are created, then polled FINISHED, then the parent."""
    job = stack.job("carousel:mixed")
    result = stack.publish(job)
    creates = stack.calls("media")
    assert [c.form for c in creates[:3]] == [
        {"image_url": job.media_urls[0], "is_carousel_item": "true"},
        {"media_type": "VIDEO", "video_url": job.media_urls[1], "is_carousel_item": "true"},
        {"media_type": "VIDEO", "video_url": job.media_urls[2], "is_carousel_item": "true"},
    ]
    steps = [stack.sim.step_of(r) for r in stack.sim.requests]
    parent = stack.sim.requests.index(creates[3])
    assert steps[1:4] == ["media"] * 3
    assert steps[4:parent] == ["container_status"] * (parent - 4)
    children = creates[3].form["children"].split(",")
    assert all(stack.sim.containers[c].status_code == "PUBLISHED" for c in children)
    assert stack.sim.created[0]["media"] == list(job.media_urls)
    assert result.post_id == stack.sim.created[0]["id"]


def test_a_carousel_video_must_be_a_video_item(stack: GraphStack) -> None:
    """Instagram refuses a carousel item marked REELS (100/2207023): the adapter never sends one."""
    job = stack.job("carousel:mixed")
    stack.publish(job)
    assert all(c.form.get("media_type") in (None, "VIDEO", "CAROUSEL") for c in stack.calls("media"))


def test_reel_sends_cover_and_share_to_feed(stack: GraphStack) -> None:
    """A reel carries cover_url (metadata.thumbnail) and share_to_feed (metadata.share_to_feed)."""
    job = stack.job(REEL)
    stack.publish(job)
    (create,) = stack.calls("media")
    assert (create.form["cover_url"], create.form["share_to_feed"]) == (job.thumbnail, "false")
    (record,) = stack.sim.created
    assert (record["kind"], record["cover_url"], record["share_to_feed"]) == ("reel", job.thumbnail, False)


def test_reel_without_options_sends_none(stack: GraphStack) -> None:
    """Without a thumbnail or share_to_feed, Instagram's defaults apply: neither is sent."""
    stack.publish(stack.job(REEL, thumbnail=None, share_to_feed=None))
    (create,) = stack.calls("media")
    assert "cover_url" not in create.form
    assert "share_to_feed" not in create.form


@pytest.mark.parametrize(
    ("kind", "changes", "message"),
    [
        (REEL, {"thumbnail": "https://example.com/cover.png"}, "reel covers must be JPEG images; cover.png"),
        (STORY, {"media_urls": ("a.jpg", "b.jpg")}, "stories show one image or video; this one has 2"),
        (STORY, {"media_urls": ("a.png",)}, "Instagram accepts only JPEG images; a.png is not one."),
    ],
)
def test_new_kind_limits(stack: GraphStack, kind: str, changes: dict[str, object], message: str) -> None:
    """Reel covers are JPEG, a story shows one media file (JPEG when an image)."""
    with pytest.raises(LimitError, match=message):
        InstagramAdapter().check(stack.job(kind, **changes))


def test_story_text_is_not_a_caption_limit(stack: GraphStack) -> None:
    """A story's text is not sent, so neither its length nor its hashtags refuse the story."""
    InstagramAdapter().check(stack.job(STORY, text="#x " * 40 + "y" * 3000))


# ---- Instagram Login -------------------------------------------------------------------------


def test_instagram_login_token_uses_graph_instagram_com(stack: GraphStack) -> None:
    """An IG… token publishes on graph.instagram.com and never touches graph.facebook.com."""
    result = stack.publish(stack.job(IMAGE), login_connection(stack.running))
    login = stack.running.instagram_graph
    assert [c["id"] for c in login.created] == [result.post_id]
    assert stack.running.facebook_graph.requests == []
    assert login.requests[0].path == f"/v27.0/{IG_LOGIN_USER_ID}/content_publishing_limit"
    assert not [r for r in login.requests if login.step_of(r) == "me"]


def test_an_unknown_token_shape_is_asked_once_on_graph_instagram_com(stack: GraphStack) -> None:
    """A token with neither prefix: one /me on graph.instagram.com decides the host for the attempt."""
    connection = replace(stack.running.connection, access_token="opaque-token-0123456789")
    stack.publish(stack.job(IMAGE), connection)
    login = stack.running.instagram_graph
    assert [login.step_of(r) for r in login.requests] == ["me"]
    assert len(stack.running.facebook_graph.created) == 1


def test_instagram_login_refreshes_once_after_a_190(stack: GraphStack) -> None:
    """A stale Instagram Login token is refreshed once and the refused call made again with the new one."""
    connection = replace(login_connection(stack.running), access_token="IGAAstale-" + "x" * 30)
    result = stack.publish(stack.job(IMAGE), connection)
    login = stack.running.instagram_graph
    (new_token,) = login.refreshes
    ((saved_for, update),) = stack.recorder.saved_tokens
    assert (saved_for.id, update.access_token, update.refresh_token) == (connection.id, new_token, None)
    assert update.expires_at is not None
    (refresh,) = [r for r in login.requests if login.step_of(r) == "refresh_token"]
    assert refresh.path == "/refresh_access_token"
    assert refresh.query == {"grant_type": "ig_refresh_token"}
    assert refresh.headers["authorization"] == f"Bearer {connection.access_token}"
    assert login.requests[-1].headers["authorization"] == f"Bearer {new_token}"
    assert [c["id"] for c in login.created] == [result.post_id]


def test_instagram_login_token_that_cannot_be_refreshed_is_an_auth_error(stack: GraphStack) -> None:
    """An expired Instagram Login token fails its refresh too: AuthError, the token never shown."""
    connection = replace(login_connection(stack.running), access_token="IGAAexpired-" + "x" * 30)
    with pytest.raises(AuthError) as caught:
        stack.publish(stack.job(IMAGE), connection)
    assert caught.value.connection_status == "expired"
    assert connection.access_token not in str(caught.value)
    assert stack.recorder.saved_tokens == []


def test_facebook_host_refuses_instagram_login_tokens(stack: GraphStack) -> None:
    """Sent to graph.facebook.com, an IG… token is a 190: the two hosts are never mixed up."""
    reply = stack.ctx.http.get(
        f"{stack.ctx.settings.meta_graph_url}/{IG_USER_ID}/media",
        headers={"Authorization": f"Bearer {IG_LOGIN_TOKEN}"},
    )
    assert reply.json()["error"]["code"] == 190
