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
from services.platforms.base import (
    CAROUSEL,
    IMAGE,
    TEXT,
    VIDEO,
)
from services.platforms.facebook import FacebookAdapter, _created_before
from services.platforms.graph_errors import GraphError, NotReadyError, Verdict, classify, typed_error
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
    """Graph errors are classified by code and subcode as in contract §1.4."""
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


@pytest.mark.parametrize("kind", [TEXT, IMAGE, CAROUSEL, VIDEO])
def test_sending_is_recorded_right_before_the_publishing_call(stack: GraphStack, kind: str) -> None:
    """progress.sending() comes after the uploads and the remembered send time, just before the send."""
    stack.publish(stack.job(kind))
    (publishing,) = stack.calls(HARNESS.publish_step(kind))
    names = [e[0] if e[0] != "remember" else next(iter(e[1])) for e in stack.recorder.events]
    assert names == ["photo_ids"] * (3 if kind == CAROUSEL else 0) + ["sent_after", "sending"]
    assert stack.recorder.events[-1] == ("sending", stack.sim.requests.index(publishing))


def test_the_token_is_never_in_a_url(stack: GraphStack) -> None:
    """Every call carries the token in the Authorization header and none in the URL or query."""
    for kind in (TEXT, IMAGE, CAROUSEL, VIDEO):
        stack.publish(stack.job(kind, text=f"{kind} post"))
    assert stack.sim.requests
    for request in stack.sim.requests:
        assert request.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
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
@pytest.mark.parametrize("kind", [TEXT, IMAGE, CAROUSEL, VIDEO])
def test_not_applied_is_retryable_after_checking(stack: GraphStack, kind: str, fault: str) -> None:
    """A failed publishing call whose post is not on the Page raises RetryableError, not a resend."""
    stack.sim.inject(fault, step=HARNESS.publish_step(kind))
    with pytest.raises(RetryableError, match="nothing was published"):
        stack.publish(stack.job(kind))
    assert stack.sim.created == []
    assert len(stack.calls("published_posts")) == 1


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
    with pytest.raises(RetryableError):
        stack.publish(stack.job(TEXT))
    assert len(stack.sim.created) == 1


def test_reconciliation_looks_from_just_before_the_send(stack: GraphStack) -> None:
    """The published_posts read asks for posts since the remembered send time, with fields."""
    stack.sim.inject("server_error", step="feed")
    with pytest.raises(RetryableError):
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
    """A send that times out before Facebook applies it is retryable; the retry finds the post."""
    stack.sim.inject("slow_before", step="feed", delay=SLOW_DELAY_S)
    job = stack.job(TEXT)
    with pytest.raises(RetryableError):
        stack.publish(job)
    deadline = time.monotonic() + 5
    while not stack.sim.created and time.monotonic() < deadline:
        time.sleep(0.05)  # the simulator applies the post once its scripted delay is over
    (created,) = stack.sim.created
    result = stack.publish(replace(job, sending_started=True, resume=dict(stack.recorder.remembered)))
    assert result.post_id == created["id"]
    assert len(stack.sim.created) == 1
    assert len(stack.calls("feed")) == 1
