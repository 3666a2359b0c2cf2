"""The Facebook adapter against the Graph simulator served on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
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
from services.outcomes import Status
from services.platforms.base import (
    CAROUSEL,
    IMAGE,
    LINK,
    MEDIA_VIDEO,
    REEL,
    STORY,
    TEXT,
    VIDEO,
)
from services.platforms.facebook import FacebookAdapter, _created_before
from services.platforms.graph_errors import GraphError, NotReadyError, Verdict, classify, typed_error
from services.policy import RetryRules, outcome_for_error
from tests.adapters.harness import CLIENT_TIMEOUT_S, SLOW_DELAY_S
from tests.adapters.harness_facebook import HARNESS, PAGE_ID, PAGE_TOKEN, GraphStack, graph_stack

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def stack() -> Iterator[GraphStack]:
    with graph_stack(HARNESS) as running_stack:
        yield running_stack


# ---- classification ------------------------------------------------------------------------

CLASSIFICATION = [
    # code, subcode, is_transient, HTTP status, call publishes, verdict
    (190, 463, False, 400, True, Verdict.EXPIRED),
    (190, 467, False, 400, False, Verdict.EXPIRED),
    (190, None, False, 400, True, Verdict.EXPIRED),
    (102, None, False, 400, True, Verdict.EXPIRED),
    (104, None, False, 400, True, Verdict.EXPIRED),
    (190, 458, False, 400, True, Verdict.REVOKED),
    (190, 460, False, 400, True, Verdict.REVOKED),
    (190, 492, False, 400, True, Verdict.REVOKED),
    (190, 493, False, 400, True, Verdict.REVOKED),
    (10, None, False, 403, True, Verdict.REVOKED),
    (200, None, False, 403, True, Verdict.REVOKED),
    (299, None, False, 403, True, Verdict.REVOKED),
    (4, None, True, 400, True, Verdict.RATE_LIMITED),
    (4, None, True, 403, False, Verdict.RATE_LIMITED),
    (17, None, False, 400, True, Verdict.RATE_LIMITED),
    (32, None, False, 400, True, Verdict.RATE_LIMITED),
    (341, None, False, 400, True, Verdict.RATE_LIMITED),
    (613, None, False, 400, True, Verdict.RATE_LIMITED),
    (80001, None, True, 400, True, Verdict.RATE_LIMITED),
    (80014, None, False, 400, True, Verdict.RATE_LIMITED),
    (None, None, False, 429, True, Verdict.RATE_LIMITED),
    (1, None, False, 500, True, Verdict.AMBIGUOUS),
    (2, None, True, 500, True, Verdict.AMBIGUOUS),
    (2, None, True, 500, False, Verdict.RETRY),
    (None, None, False, 502, True, Verdict.AMBIGUOUS),
    (None, None, False, 503, False, Verdict.RETRY),
    (1234, None, True, 400, True, Verdict.AMBIGUOUS),
    (100, None, False, 400, True, Verdict.PERMANENT),
    (100, 33, False, 400, False, Verdict.PERMANENT),
    (506, None, False, 400, True, Verdict.PERMANENT),
    (368, None, False, 400, True, Verdict.PERMANENT),
    (1609005, None, False, 400, True, Verdict.PERMANENT),
    (324, None, False, 400, True, Verdict.PERMANENT),
    (100, None, False, 500, True, Verdict.AMBIGUOUS),
]


@pytest.mark.parametrize(("code", "subcode", "transient", "status", "publishes", "verdict"), CLASSIFICATION)
def test_classify(
    code: int | None, subcode: int | None, transient: bool, status: int, publishes: bool, verdict: Verdict
) -> None:
    """Graph errors are classified by code and subcode (docs/platforms/facebook.md)."""
    error = GraphError(status, code, subcode, "message", is_transient=transient)
    assert classify(error, publishes=publishes) is verdict


@pytest.mark.parametrize(
    ("verdict", "error_class", "connection_status"),
    [
        (Verdict.PERMANENT, PermanentError, None),
        (Verdict.RETRY, RetryableError, None),
        (Verdict.NOT_READY, NotReadyError, None),
        (Verdict.AMBIGUOUS, AmbiguousError, None),
        (Verdict.RATE_LIMITED, RateLimitedError, None),
        (Verdict.EXPIRED, AuthError, "expired"),
        (Verdict.REVOKED, AuthError, "revoked"),
    ],
)
def test_typed_error_per_verdict(
    verdict: Verdict, error_class: type[PlatformError], connection_status: str | None
) -> None:
    """Each verdict becomes exactly one project error; auth ones carry the connection status."""
    error = GraphError(400, 100, None, "(#100) Something", fbtrace_id="Atrace")
    typed = typed_error("facebook", "Facebook", error, verdict, NOW)
    assert type(typed) is error_class
    assert "Atrace" in typed.detail
    if connection_status:
        assert isinstance(typed, AuthError)
        assert typed.connection_status == connection_status
    if verdict is Verdict.PERMANENT:
        assert typed.message == "Facebook rejected the post: (#100) Something"
    if verdict is Verdict.NOT_READY:
        assert isinstance(typed, RetryableError)
        assert typed.counts_as_attempt is False


def test_platform_text_is_scrubbed_of_tokens() -> None:
    """A platform message that quotes a token reaches neither the user message nor the detail."""
    token = "EAAB" + "x1" * 20
    error = GraphError(400, 100, None, f"(#100) Bad token {token}", user_message=f"Token {token}")
    typed = typed_error("facebook", "Facebook", error, Verdict.PERMANENT, NOW)
    assert token not in typed.message
    assert token not in typed.detail
    assert "[REDACTED]" in typed.message


def test_graph_error_reads_the_reply_and_the_usage_header() -> None:
    """GraphError takes code, subcode, user message, trace id and the longest regain time."""
    usage = {"1": [{"type": "pages", "estimated_time_to_regain_access": 3}], "2": [{"type": "pages"}]}
    usage["3"] = [{"type": "pages", "estimated_time_to_regain_access": 12}]
    reply = httpx.Response(
        400,
        json={
            "error": {
                "message": "(#80001) Too many calls",
                "type": "OAuthException",
                "code": 80001,
                "error_subcode": 7,
                "is_transient": True,
                "error_user_msg": "Wait a bit.",
                "fbtrace_id": "Abc",
            }
        },
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    error = GraphError.from_response(reply)
    assert (error.code, error.subcode, error.is_transient, error.fbtrace_id) == (80001, 7, True, "Abc")
    assert error.regain_minutes == 12
    assert error.describe() == "(#80001) Too many calls: Wait a bit."


def test_graph_error_without_json_keeps_the_status() -> None:
    """A proxy's HTML 502 has no Graph error; its status still classifies it."""
    error = GraphError.from_response(httpx.Response(502, text="<html>Bad gateway</html>"))
    assert (error.status, error.code) == (502, None)
    assert classify(error, publishes=True) is Verdict.AMBIGUOUS


# ---- every post kind -------------------------------------------------------------------------


def test_text_post(stack: GraphStack) -> None:
    """A text post is one /feed call with the text (link included) and gives the post's permalink."""
    job = stack.job(TEXT)
    result = stack.publish(job)
    assert [c["id"] for c in stack.sim.created] == [result.post_id]
    assert result.post_id.startswith(f"{PAGE_ID}_")
    assert result.url == f"https://www.facebook.com/{PAGE_ID}/posts/{result.post_id.split('_')[1]}"
    (feed,) = stack.calls("feed")
    assert feed.form["message"] == job.text
    assert "https://example.com/news" in feed.form["message"]
    assert "link" not in feed.form
    assert stack.recorder.events[-1] == ("sending", stack.sim.requests.index(feed))


def test_single_photo_keeps_the_post_id(stack: GraphStack) -> None:
    """A single photo is one /photos call; the result is the post id, not the photo id."""
    job = stack.job(IMAGE)
    result = stack.publish(job)
    (photos,) = stack.calls("photos")
    assert photos.form["url"] == job.media_urls[0]
    assert photos.form["caption"] == job.text
    assert "published" not in photos.form
    assert stack.sim.created == [
        {"platform": "facebook", "id": result.post_id, "text": job.text, "media": list(job.media_urls)}
    ]
    assert result.post_id.startswith(f"{PAGE_ID}_")
    assert "/posts/" in (result.url or "")


def test_several_photos_are_attached_to_one_feed_post(stack: GraphStack) -> None:
    """Photos are uploaded unpublished, remembered one by one, then attached to one /feed post."""
    job = stack.job(CAROUSEL)
    result = stack.publish(job)
    uploads = stack.calls("photos")
    assert [u.form["url"] for u in uploads] == list(job.media_urls)
    assert all(u.form["published"] == "false" for u in uploads)
    photo_ids = stack.recorder.remembered["photo_ids"]
    noted = [e[1]["photo_ids"] for e in stack.recorder.events if e[0] == "remember" and "photo_ids" in e[1]]
    assert noted == [photo_ids[:1], photo_ids[:2], photo_ids]
    (feed,) = stack.calls("feed")
    assert [json.loads(feed.form[f"attached_media[{i}]"])["media_fbid"] for i in range(3)] == photo_ids
    assert stack.sim.created == [
        {"platform": "facebook", "id": result.post_id, "text": job.text, "media": list(job.media_urls)}
    ]


def test_video_uses_the_video_host_and_a_full_permalink(stack: GraphStack) -> None:
    """A video goes to meta_graph_video_url with file_url; its relative permalink is made absolute."""
    video_base = stack.running.settings.meta_graph_url.replace("/v27.0", "/v26.0")
    stack.ctx.settings = replace(stack.running.settings, meta_graph_video_url=video_base)
    job = stack.job(VIDEO)
    result = stack.publish(job)
    (video,) = stack.calls("videos")
    assert video.path == f"/v26.0/{PAGE_ID}/videos"
    assert (video.form["file_url"], video.form["description"]) == (job.media_urls[0], job.text)
    assert result.post_id.isdigit()
    assert result.url == f"https://www.facebook.com/{PAGE_ID}/videos/{result.post_id}/"
    assert len(stack.sim.created) == 1


@pytest.mark.parametrize("kind", [TEXT, LINK, IMAGE, CAROUSEL, VIDEO])
def test_sending_is_recorded_right_before_the_publishing_call(stack: GraphStack, kind: str) -> None:
    """progress.sending() comes after the uploads and the remembered send time, just before the send."""
    stack.publish(stack.job(kind))
    (publishing,) = stack.calls(HARNESS.publish_step(kind))
    names = [e[0] if e[0] != "remember" else next(iter(e[1])) for e in stack.recorder.events]
    assert names == ["photo_ids"] * (3 if kind == CAROUSEL else 0) + ["sent_after", "sending"]
    assert stack.recorder.events[-1] == ("sending", stack.sim.requests.index(publishing))


def test_the_token_is_never_in_a_url(stack: GraphStack) -> None:
    """Every call carries the token in the Authorization header and none in the URL or query."""
    for kind in HARNESS.kinds:
        stack.publish(stack.job(kind, text=f"{kind} post"))
    assert stack.sim.requests
    for request in stack.sim.requests:
        scheme = "OAuth" if stack.sim.step_of(request) == "video_upload" else "Bearer"
        assert request.headers["authorization"] == f"{scheme} {PAGE_TOKEN}"
        assert PAGE_TOKEN not in request.path
        assert "access_token" not in request.query
        assert "access_token" not in request.form


def test_permalink_read_failure_falls_back(stack: GraphStack) -> None:
    """A failed permalink read still returns the published post, with facebook.com/{id}."""
    stack.sim.inject("server_error", step="permalink")
    result = stack.publish(stack.job(TEXT))
    assert result.url == f"https://www.facebook.com/{result.post_id}"
    assert len(stack.sim.created) == 1


# ---- limits ----------------------------------------------------------------------------------


def test_limits_are_checked_before_any_call(stack: GraphStack) -> None:
    """A text over 63,206 characters is a LimitError naming the limit and the length."""
    job = stack.job(TEXT, text="x" * 63_207)
    with pytest.raises(
        LimitError, match=r"Facebook posts are limited to 63,206 characters; this one has 63,207\."
    ):
        FacebookAdapter().check(job)
    FacebookAdapter().check(stack.job(TEXT, text="x" * 63_206))
    assert not stack.sim.requests


def test_media_kinds_need_media(stack: GraphStack) -> None:
    """An image post without an image is refused before any call."""
    with pytest.raises(LimitError, match="no media file"):
        FacebookAdapter().check(stack.job(IMAGE, media_urls=()))


# ---- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ("permanent", PermanentError),
        ("auth", AuthError),
        ("rate_limit", RateLimitedError),
    ],
)
@pytest.mark.parametrize("kind", [TEXT, IMAGE, CAROUSEL, VIDEO])
def test_refusals_publish_nothing(
    stack: GraphStack, kind: str, fault: str, error_class: type[PlatformError]
) -> None:
    """Class P, A and R refusals of the publishing call raise their error and publish nothing."""
    stack.sim.inject(fault, step=HARNESS.publish_step(kind))
    with pytest.raises(error_class) as caught:
        stack.publish(stack.job(kind))
    assert type(caught.value) is error_class
    assert stack.sim.created == []
    assert not stack.calls("published_posts")


def test_permanent_error_shows_the_platform_message(stack: GraphStack) -> None:
    """Facebook's 506 reaches the user as 'Facebook rejected the post: (#506) Duplicate status message'."""
    stack.publish(stack.job(TEXT, text="Same words"))
    with pytest.raises(PermanentError) as caught:
        stack.publish(stack.job(TEXT, text="Same words"))
    assert caught.value.message == "Facebook rejected the post: (#506) Duplicate status message"
    assert "code 506" in caught.value.detail
    assert len(stack.sim.created) == 1


@pytest.mark.parametrize(
    ("token", "status", "message"),
    [
        ("expired-" + "x" * 30, "expired", "has expired"),
        ("revoked-" + "x" * 30, "revoked", "withdrawn"),
    ],
)
def test_token_errors_mark_the_connection(stack: GraphStack, token: str, status: str, message: str) -> None:
    """190/463 means an expired login and 190/460 a revoked one; the message says to reconnect."""
    connection = replace(stack.running.connection, access_token=token)
    with pytest.raises(AuthError) as caught:
        stack.publish(stack.job(TEXT), connection)
    assert caught.value.connection_status == status
    assert message in caught.value.message
    assert "Reconnect your Facebook account in the app, then reschedule this post." in caught.value.message
    assert token not in str(caught.value)
    assert stack.sim.created == []


def test_rate_limit_waits_for_the_time_facebook_gives(stack: GraphStack) -> None:
    """Code 4 with a BUC header defers until now + estimated_time_to_regain_access minutes."""
    stack.ctx.now = lambda: NOW
    connection = replace(stack.running.connection, access_token="ratelimited-" + "x" * 30)
    with pytest.raises(RateLimitedError) as caught:
        stack.publish(stack.job(TEXT), connection)
    assert caught.value.not_before == NOW + timedelta(minutes=stack.sim.regain_minutes)


def test_photo_upload_failure_is_safe_to_retry(stack: GraphStack) -> None:
    """A 5xx on an unpublished photo upload is T-safe: RetryableError, nothing sent to /feed."""
    stack.sim.inject("server_error", step="photos")
    with pytest.raises(RetryableError):
        stack.publish(stack.job(CAROUSEL))
    assert not stack.calls("feed")
    assert "sending" not in [e[0] for e in stack.recorder.events]


def test_unreachable_image_is_permanent(stack: GraphStack) -> None:
    """An image URL Facebook cannot download is rejected with the platform's words."""
    job = stack.job(IMAGE, media_urls=(f"{stack.running.media_url}/missing/photo.jpg",))
    with pytest.raises(PermanentError, match=r"Facebook rejected the post: \(#324\)"):
        stack.publish(job)


# ---- ambiguous failures and reconciliation ---------------------------------------------------


@pytest.mark.parametrize("fault", ["error_after_apply", "reset_after"])
@pytest.mark.parametrize("kind", [TEXT, IMAGE, CAROUSEL, VIDEO])
def test_applied_but_failed_is_found_not_resent(stack: GraphStack, kind: str, fault: str) -> None:
    """A publishing call that failed after it was applied is found on the Page: published once."""
    stack.sim.inject(fault, step=HARNESS.publish_step(kind))
    result = stack.publish(stack.job(kind))
    assert [c["id"] for c in stack.sim.created] == [result.post_id]
    assert len(stack.calls(HARNESS.publish_step(kind))) == 1
    assert ("sleep", 5.0) in stack.recorder.events


@pytest.mark.parametrize("fault", ["server_error", "reset_before"])
@pytest.mark.parametrize("kind", [TEXT, LINK, IMAGE, CAROUSEL, VIDEO])
def test_not_found_once_stays_ambiguous(stack: GraphStack, kind: str, fault: str) -> None:
    """A failed publishing call whose post is not on the Page 5 s later is still ambiguous (issue #6)."""
    stack.sim.inject(fault, step=HARNESS.publish_step(kind))
    with pytest.raises(AmbiguousError, match="may or may not have been published"):
        stack.publish(stack.job(kind))
    assert stack.sim.created == []
    assert len(stack.calls("published_posts")) == 1


def test_not_found_on_the_last_attempt_is_surfaced_not_rescheduled(stack: GraphStack) -> None:
    """On the last attempt, a post not found once is surfaced ("check your account"), never "reschedule"."""
    stack.sim.inject("server_error", step="feed")
    with pytest.raises(PlatformError) as caught:
        stack.publish(stack.job(TEXT))
    outcome = outcome_for_error(
        caught.value, display_name="Facebook", attempts_so_far=2, now=NOW, rules=RetryRules(max_attempts=3)
    )
    assert outcome.status == Status.UNCONFIRMED  # may be live: surfaced, never reported unpublished
    assert "It was not sent again, to avoid a duplicate" in outcome.message
    assert "reschedule the post only if it is not there" in outcome.message


def test_the_next_attempt_looks_again_and_finds_a_late_post(stack: GraphStack) -> None:
    """A post that shows up after the first look is found by the next attempt, not sent twice."""
    job = stack.job(TEXT)
    stack.sim.inject("server_error", step="feed")
    with pytest.raises(AmbiguousError):
        stack.publish(job)
    late = httpx.post(  # the post Facebook made after all, seen late
        f"{stack.running.settings.meta_graph_url}/{PAGE_ID}/feed",
        data={"message": job.text},
        headers={"Authorization": "Bearer t"},
    ).json()["id"]
    sending_at = datetime.now(UTC)
    again = stack.publish(
        replace(job, sending_started=True, sending_at=sending_at, resume=dict(stack.recorder.remembered))
    )
    assert again.post_id == late
    assert len(stack.calls("feed")) == 2  # the failed one and the late one made above; no resend
    assert len(stack.calls("published_posts")) == 2


def test_the_next_attempt_sends_once_when_the_page_still_has_nothing(stack: GraphStack) -> None:
    """An ambiguous post still absent at the next attempt's look is sent then, once."""
    job = stack.job(TEXT)
    stack.sim.inject("server_error", step="feed")
    with pytest.raises(AmbiguousError):
        stack.publish(job)
    result = stack.publish(
        replace(
            job, sending_started=True, sending_at=datetime.now(UTC), resume=dict(stack.recorder.remembered)
        )
    )
    assert [c["id"] for c in stack.sim.created] == [result.post_id]
    assert len(stack.calls("feed")) == 2


def test_reconciliation_looks_from_the_sending_mark(stack: GraphStack) -> None:
    """With no remembered send time, the look starts 5 min before job.sending_at, not a week back."""
    stack.sim.clock = lambda: time.time() - 3600  # an older post with the same words
    old = stack.publish(stack.job(IMAGE))
    stack.sim.clock = time.time
    sending_at = datetime.now(UTC) - timedelta(minutes=1)
    result = stack.publish(stack.job(IMAGE, sending_started=True, sending_at=sending_at))
    read = stack.calls("published_posts")[-1]
    assert int(read.query["since"]) == int((sending_at - timedelta(minutes=5)).timestamp())
    assert result.post_id != old.post_id
    assert len(stack.sim.created) == 2


def test_timeout_after_apply_is_found(stack: GraphStack) -> None:
    """A reply slower than the client timeout, after the post was created, is found: once."""
    stack.sim.inject("slow_after", step="feed", delay=SLOW_DELAY_S)
    result = stack.publish(stack.job(TEXT))
    assert [c["id"] for c in stack.sim.created] == [result.post_id]
    assert CLIENT_TIMEOUT_S < SLOW_DELAY_S


def test_reconciliation_read_failure_is_ambiguous(stack: GraphStack) -> None:
    """When the check itself fails, the adapter cannot know: AmbiguousError, never a resend."""
    stack.sim.inject("error_after_apply", step="feed")
    stack.sim.inject("server_error", step="published_posts")
    with pytest.raises(AmbiguousError, match="may or may not have been published"):
        stack.publish(stack.job(TEXT))
    assert len(stack.sim.created) == 1
    assert len(stack.calls("feed")) == 1


def test_reconciliation_read_refused_for_auth_is_an_auth_error(stack: GraphStack) -> None:
    """A revoked token during the check stops the connection rather than guessing about the post."""
    stack.sim.inject("error_after_apply", step="feed")
    stack.sim.inject("auth", step="published_posts")
    with pytest.raises(AuthError):
        stack.publish(stack.job(TEXT))
    assert len(stack.calls("feed")) == 1


@pytest.mark.parametrize(
    ("created_time", "before"),
    [
        ("2026-11-28T11:59:59+0000", True),
        ("2026-11-28T12:00:00+0000", False),
        ("2026-11-28T13:00:00+0100", False),
        ("2026-11-28T12:59:59+0100", True),
        (None, False),
        ("yesterday", False),
    ],
)
def test_created_before_reads_graph_times(created_time: str | None, before: bool) -> None:
    """Posts from before the send are skipped even when a list edge ignores `since`."""
    assert _created_before(created_time, int(NOW.timestamp())) is before


def test_reconciliation_ignores_other_posts(stack: GraphStack) -> None:
    """A different post on the Page is not mistaken for ours."""
    stack.publish(stack.job(TEXT, text="Another post"))
    stack.sim.inject("server_error", step="feed")
    with pytest.raises(AmbiguousError):
        stack.publish(stack.job(TEXT))
    assert len(stack.sim.created) == 1


def test_reconciliation_looks_from_just_before_the_send(stack: GraphStack) -> None:
    """The published_posts read asks for posts since the remembered send time, with fields."""
    stack.sim.inject("server_error", step="feed")
    with pytest.raises(AmbiguousError):
        stack.publish(stack.job(TEXT))
    (read,) = stack.calls("published_posts")
    sent_after = stack.recorder.remembered["sent_after"]
    assert read.query["since"] == str(sent_after)
    assert read.query["fields"] == "id,message,created_time"
    assert datetime.now(UTC).timestamp() - sent_after == pytest.approx(300, abs=30)


# ---- resuming --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [TEXT, IMAGE, CAROUSEL, VIDEO])
def test_resume_after_a_crash_mid_send_finds_the_post(stack: GraphStack, kind: str) -> None:
    """sending_started with the post already on the Page: no second create, the same id."""
    first = stack.publish(stack.job(kind))
    resumed = stack.job(kind, sending_started=True, resume=dict(stack.recorder.remembered))
    again = stack.publish(resumed)
    assert again.post_id == first.post_id
    assert len(stack.sim.created) == 1
    assert len(stack.calls(HARNESS.publish_step(kind))) == 1
    assert len(stack.calls("photos")) == {IMAGE: 1, CAROUSEL: 3}.get(kind, 0)


def test_resume_after_a_crash_before_the_post_existed_sends(stack: GraphStack) -> None:
    """sending_started with nothing on the Page: it checks, then publishes once."""
    job = stack.job(
        TEXT, sending_started=True, resume={"sent_after": int(datetime.now(UTC).timestamp()) - 60}
    )
    result = stack.publish(job)
    assert [c["id"] for c in stack.sim.created] == [result.post_id]
    assert len(stack.calls("published_posts")) == 1


def test_resume_without_a_send_time_looks_back_a_week(stack: GraphStack) -> None:
    """An interrupted send with no remembered time still finds a post from earlier."""
    first = stack.publish(stack.job(TEXT))
    result = stack.publish(stack.job(TEXT, sending_started=True))
    assert result.post_id == first.post_id
    (read,) = stack.calls("published_posts")
    assert datetime.now(UTC).timestamp() - int(read.query["since"]) == pytest.approx(7 * 86400, abs=60)


def test_resume_reuses_remembered_photo_ids(stack: GraphStack) -> None:
    """With two photo ids remembered, only the third image is uploaded before /feed."""
    job = stack.job(CAROUSEL)
    uploaded = []
    for url in job.media_urls[:2]:
        reply = httpx.post(
            f"{stack.running.settings.meta_graph_url}/{PAGE_ID}/photos",
            data={"url": url, "published": "false"},
            headers={"Authorization": "Bearer t"},
        )
        uploaded.append(reply.json()["id"])
    before = len(stack.calls("photos"))
    stack.publish(replace(job, resume={"photo_ids": uploaded}))
    new_uploads = stack.calls("photos")[before:]
    assert [u.form["url"] for u in new_uploads] == [job.media_urls[2]]
    (feed,) = stack.calls("feed")
    assert json.loads(feed.form["attached_media[0]"])["media_fbid"] == uploaded[0]
    assert stack.sim.created[0]["media"] == list(job.media_urls)


# ---- slow platform ---------------------------------------------------------------------------


def test_slow_platform_applies_late_and_the_next_attempt_finds_it(stack: GraphStack) -> None:
    """A send that times out before Facebook applies it is ambiguous; the retry finds the post."""
    stack.sim.inject("slow_before", step="feed", delay=SLOW_DELAY_S)
    job = stack.job(TEXT)
    with pytest.raises(AmbiguousError):
        stack.publish(job)
    deadline = time.monotonic() + 5
    while not stack.sim.created and time.monotonic() < deadline:
        time.sleep(0.05)  # the simulator applies the post once its scripted delay is over
    (created,) = stack.sim.created
    result = stack.publish(replace(job, sending_started=True, resume=dict(stack.recorder.remembered)))
    assert result.post_id == created["id"]
    assert len(stack.sim.created) == 1
    assert len(stack.calls("feed")) == 1


# ---- link posts ------------------------------------------------------------------------------


def test_link_post_sends_message_and_link(stack: GraphStack) -> None:
    """A link post is one /feed call with the text and the link, recorded as a link post."""
    job = stack.job(LINK)
    result = stack.publish(job)
    (feed,) = stack.calls("feed")
    assert (feed.form["message"], feed.form["link"]) == (job.text, job.link)
    assert stack.sim.created == [
        {"platform": "facebook", "id": result.post_id, "kind": "link", "text": job.text, "media": [job.link]}
    ]


# ---- reels -----------------------------------------------------------------------------------


def test_reel_goes_through_the_reels_api(stack: GraphStack) -> None:
    """start → upload (OAuth + file_url) → finish PUBLISHED with the text → status until published."""
    job = stack.job(REEL)
    result = stack.publish(job)
    steps = [stack.sim.step_of(r) for r in stack.sim.requests]
    assert steps == ["reels_start", "video_upload", "reels_finish"] + ["video_status"] * 3
    (start,) = stack.calls("reels_start")
    (upload,) = stack.calls("video_upload")
    (finish,) = stack.calls("reels_finish")
    assert start.form == {"upload_phase": "start"}
    assert upload.headers["authorization"] == f"OAuth {PAGE_TOKEN}"
    assert upload.headers["file-url"] == job.media_urls[0]
    video_id = stack.recorder.remembered["video_id"]
    assert upload.path.endswith(f"/video-upload/v27.0/{video_id}")
    assert finish.form == {
        "upload_phase": "finish",
        "video_id": video_id,
        "video_state": "PUBLISHED",
        "description": job.text,
    }
    assert (result.post_id, result.url) == (video_id, f"https://www.facebook.com/reel/{video_id}")
    assert stack.sim.created == [
        {
            "platform": "facebook",
            "id": video_id,
            "kind": "reel",
            "text": job.text,
            "media": list(job.media_urls),
        }
    ]


def test_reel_video_id_is_remembered_before_the_upload(stack: GraphStack) -> None:
    """The video id is noted the moment start answers; sending comes right before finish."""
    stack.publish(stack.job(REEL))
    notes = stack.recorder.notes
    assert [next(iter(n[1])) if n[0] == "remember" else n[0] for n in notes] == [
        "video_id",
        "uploaded",
        "sending",
    ]
    requests = stack.sim.requests
    (upload,) = stack.calls("video_upload")
    (finish,) = stack.calls("reels_finish")
    assert stack.recorder.counted("remember")[0][1] == requests.index(upload)
    assert stack.recorder.counted("sending") == [("sending", requests.index(finish))]


@pytest.mark.parametrize("fault", ["error_after_apply", "reset_after"])
def test_reel_finish_applied_but_failed_is_settled_by_its_status(stack: GraphStack, fault: str) -> None:
    """A finish that failed after Facebook took it: the video's status says so; no second finish."""
    stack.sim.inject(fault, step="reels_finish")
    result = stack.publish(stack.job(REEL))
    assert [c["id"] for c in stack.sim.created] == [result.post_id]
    assert len(stack.calls("reels_finish")) == 1
    assert len(stack.calls("reels_start")) == 1


@pytest.mark.parametrize("fault", ["server_error", "reset_before"])
def test_reel_finish_not_taken_is_finished_again_with_the_same_video(stack: GraphStack, fault: str) -> None:
    """A finish the status shows was not taken is repeated for the same video, never a new start."""
    stack.sim.inject(fault, step="reels_finish")
    result = stack.publish(stack.job(REEL))
    finishes = stack.calls("reels_finish")
    assert [f.form["video_id"] for f in finishes] == [result.post_id] * 2
    assert len(stack.calls("reels_start")) == 1
    assert len(stack.sim.created) == 1


def test_reel_resume_after_a_crash_never_starts_again(stack: GraphStack) -> None:
    """An attempt resumed with a video id and the sending mark reads its status: published, done."""
    first = stack.publish(stack.job(REEL))
    before = len(stack.sim.requests)
    again = stack.publish(stack.job(REEL, sending_started=True, resume=dict(stack.recorder.remembered)))
    assert again == first
    assert [stack.sim.step_of(r) for r in stack.sim.requests[before:]] == ["video_status"]


def test_reel_resume_before_the_upload_uploads_the_same_video(stack: GraphStack) -> None:
    """A video started by an earlier attempt is uploaded and finished, not started again."""
    stack.sim.inject("server_error", step="video_upload")
    job = stack.job(REEL)
    with pytest.raises(RetryableError):
        stack.publish(job)
    result = stack.publish(replace(job, resume=dict(stack.recorder.remembered)))
    assert len(stack.calls("reels_start")) == 1
    assert len(stack.calls("video_upload")) == 2
    assert result.post_id == stack.recorder.remembered["video_id"]
    assert len(stack.sim.created) == 1


def test_reel_still_processing_waits_for_a_later_run(stack: GraphStack) -> None:
    """A reel still processing past the poll budget waits without an attempt; the next run confirms it."""
    stack.sim.video_polls = 20
    job = stack.job(REEL)
    with pytest.raises(RetryableError) as caught:
        stack.publish(job)
    assert caught.value.counts_as_attempt is False
    assert len(stack.sim.created) == 1
    stack.sim.video_polls = 0
    for video in stack.sim.upload_videos.values():
        video.polls_left = 0
    result = stack.publish(replace(job, sending_started=True, resume=dict(stack.recorder.remembered)))
    assert result.post_id == stack.sim.created[0]["id"]
    assert len(stack.calls("reels_finish")) == 1


def test_reel_status_read_failing_after_a_failed_finish_is_ambiguous(stack: GraphStack) -> None:
    """If neither the finish nor the status read answers, nobody knows: AmbiguousError."""
    stack.sim.inject("error_after_apply", step="reels_finish")
    stack.recorder.on_sending = lambda: stack.sim.inject("server_error", step="video_status")
    with pytest.raises(AmbiguousError):
        stack.publish(stack.job(REEL))
    assert len(stack.calls("reels_finish")) == 1


def test_reel_upload_refused_is_permanent_and_publishes_nothing(stack: GraphStack) -> None:
    """A video the upload host cannot fetch fails the post with its words; nothing is finished."""
    job = stack.job(REEL, media_urls=(f"{stack.running.media_url}/missing/clip.mp4",))
    with pytest.raises(PermanentError, match="could not be fetched"):
        stack.publish(job)
    assert not stack.calls("reels_finish")
    assert stack.sim.created == []


def test_reel_upload_url_that_is_not_secure_never_gets_the_token(stack: GraphStack) -> None:
    """An upload address that is plain http on another host is refused before the token is sent."""
    video_id = start_reel(stack)
    resume = {"video_id": video_id, "upload_url": "http://198.51.100.7/video-upload/v27.0/" + video_id}
    with pytest.raises(RetryableError, match="not secure"):
        stack.publish(stack.job(REEL, resume=resume))
    assert not stack.calls("video_upload")
    assert not stack.calls("reels_finish")


def start_reel(stack: GraphStack) -> str:
    """A reel upload session opened directly on the simulator; its video id."""
    reply = httpx.post(
        f"{stack.running.settings.meta_graph_url}/{PAGE_ID}/video_reels",
        data={"upload_phase": "start"},
        headers={"Authorization": "Bearer t"},
    )
    return str(reply.json()["video_id"])


# ---- stories ---------------------------------------------------------------------------------


def test_photo_story_is_an_unpublished_photo_then_photo_stories(stack: GraphStack) -> None:
    """A photo story uploads the photo unpublished, then publishes it as a story, with no text."""
    job = stack.job(STORY)
    result = stack.publish(job)
    (photo,) = stack.calls("photos")
    assert photo.form == {"url": job.media_urls[0], "published": "false"}
    (story,) = stack.calls("photo_stories")
    assert story.form == {"photo_id": stack.recorder.remembered["story_photo_id"]}
    assert stack.sim.created == [
        {
            "platform": "facebook",
            "id": result.post_id,
            "kind": "photo_story",
            "text": "",
            "media": list(job.media_urls),
        }
    ]
    assert stack.recorder.events[-1] == ("sending", stack.sim.requests.index(story))


def test_video_story_goes_through_video_stories(stack: GraphStack) -> None:
    """A video story: start, upload, finish on video_stories; its post_id is the result, and its
    public address is read from the Page's stories."""
    job = stack.job("story:video")
    assert job.media_kind(0) == MEDIA_VIDEO
    result = stack.publish(job)
    steps = [stack.sim.step_of(r) for r in stack.sim.requests]
    assert steps == ["video_stories_start", "video_upload", "video_stories_finish", "stories"]
    assert result.url is not None
    (finish,) = stack.calls("video_stories_finish")
    assert finish.form == {"upload_phase": "finish", "video_id": stack.recorder.remembered["video_id"]}
    assert stack.sim.created[0]["kind"] == "video_story"
    assert result.post_id == stack.sim.created[0]["id"]


@pytest.mark.parametrize("label", [STORY, "story:video"])
def test_story_applied_but_failed_is_found_by_its_media(stack: GraphStack, label: str) -> None:
    """A story call that failed after it was applied is found among the Page's stories by media id."""
    stack.sim.inject("error_after_apply", step=HARNESS.publish_step(label))
    result = stack.publish(stack.job(label))
    assert [c["id"] for c in stack.sim.created] == [result.post_id]
    (read,) = stack.calls("stories")
    assert "media_id" in read.query["fields"]
    assert len(stack.calls(HARNESS.publish_step(label))) == 1


def test_story_not_found_is_ambiguous_and_the_next_attempt_reuses_the_photo(stack: GraphStack) -> None:
    """A failed story call not seen on the Page stays ambiguous; the next attempt sends the same photo."""
    stack.sim.inject("server_error", step="photo_stories")
    job = stack.job(STORY)
    with pytest.raises(AmbiguousError):
        stack.publish(job)
    photo_id = stack.recorder.remembered["story_photo_id"]
    result = stack.publish(
        replace(
            job, sending_started=True, sending_at=datetime.now(UTC), resume=dict(stack.recorder.remembered)
        )
    )
    assert [c.form["photo_id"] for c in stack.calls("photo_stories")] == [photo_id, photo_id]
    assert len(stack.calls("photos")) == 1
    assert [c["id"] for c in stack.sim.created] == [result.post_id]


# ---- limits of the new kinds -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "changes", "message"),
    [
        (
            STORY,
            {"media_urls": ("a.jpg", "b.jpg")},
            "Facebook story posts take 1 media file; this one has 2.",
        ),
        (STORY, {"media_urls": ()}, "This story post has no media file attached."),
        (REEL, {"media_urls": ("a.mp4", "b.mp4")}, "Facebook reel posts take 1 media file; this one has 2."),
        (LINK, {"link": None}, "This link post has no link to share."),
        (TEXT, {"media_urls": ("a.jpg",)}, "Facebook text posts take no media files; this one has 1."),
    ],
)
def test_kind_media_rules(stack: GraphStack, kind: str, changes: dict[str, object], message: str) -> None:
    """Each kind takes the media it can show; a broken rule is a LimitError before any call."""
    with pytest.raises(LimitError) as caught:
        FacebookAdapter().check(stack.job(kind, **changes))
    assert message in caught.value.message
    assert not stack.sim.requests


def test_story_text_is_not_a_limit(stack: GraphStack) -> None:
    """A story's text is not sent, so its length cannot refuse the story."""
    FacebookAdapter().check(stack.job(STORY, text="x" * 70_000))
