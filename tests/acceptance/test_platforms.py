"""Platforms end to end through the real wrapper: limits enforced before any call, deferrals,
token refresh stored encrypted, disconnections, the connection a post names. (Every platform and
post kind published and recorded: test_every_kind.py.)"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from devstack import seed
from devstack.stack import Stack
from tests.acceptance.conftest import Runner

pytestmark = pytest.mark.acceptance

FB_TOKEN = "EAAGm0PX4ZCpsBAplatformsTestToken0123456789"
LI_TOKEN = "AQVplatformsTestLinkedInToken0123456789abc"
GOOGLE_TOKEN = "ya29.platforms-test-access-token"
GOOGLE_REFRESH = "1//platforms-test-refresh-token"


def now() -> datetime:
    return datetime.now(UTC)


def connect_all(stack: Stack, conn, user: str, *, youtube_expires: datetime | None = None) -> None:
    key = stack.encryption_key
    seed.connection(conn, key, user, "facebook", access_token=FB_TOKEN, page_id="104958162837461")
    seed.connection(conn, key, user, "instagram", access_token=FB_TOKEN, page_id="17841400000000001")
    seed.connection(
        conn, key, user, "linkedin", access_token=LI_TOKEN, page_id="abc123", linkedin_id="abc123"
    )
    seed.connection(
        conn,
        key,
        user,
        "youtube",
        access_token=GOOGLE_TOKEN,
        refresh_token=GOOGLE_REFRESH,
        page_id="UCchannel",
        token_expires_at=youtube_expires,
    )


def test_limits_are_enforced_before_any_call(stack: Stack, run_wrapper: Runner):
    """A post breaking a platform limit fails with the limit and its value; the platform hears nothing."""
    long_caption = "x" * 2431
    with stack.connect() as conn:
        user = seed.user(conn, "limits@example.com")
        connect_all(stack, conn, user)
        ig = seed.created_content(
            conn,
            user,
            platform="instagram",
            content=long_caption,
            scheduled_at=now(),
            media_url=stack.media_url("a.jpg"),
        )
        png = seed.created_content(
            conn, user, platform="instagram", scheduled_at=now(), media_url=stack.media_url("a.png")
        )
        li = seed.created_content(conn, user, platform="linkedin", content="y" * 3001, scheduled_at=now())
        yt = seed.created_content(
            conn,
            user,
            platform="youtube",
            content_type="video",
            title="T" * 131,
            media_url=stack.media_url("v.mp4"),
            scheduled_at=now(),
        )
    run = run_wrapper()
    assert run.returncode == 0, run.log
    with stack.connect() as conn:
        errors = {
            pid: seed.row(conn, "created_content", pid)["metadata"]["publish_error"]
            for pid in (ig, png, li, yt)
        }
    assert errors[ig] == "Instagram captions are limited to 2,200 characters; this one has 2,431."
    assert "JPEG" in errors[png]
    assert errors[li] == "LinkedIn posts are limited to 3,000 characters; this one has 3,001."
    assert errors[yt] == "YouTube titles are limited to 100 characters; this one has 131."
    assert stack.graph.requests == []
    assert stack.linkedin.requests == []
    assert stack.youtube.requests == []
    assert stack.media.downloads == []


def test_youtube_token_refresh_is_stored_encrypted(stack: Stack, run_wrapper: Runner):
    """An expiring Google token is refreshed, used, and written back encrypted; the refresh token stays."""
    with stack.connect() as conn:
        user = seed.user(conn, "yt@example.com")
        connect_all(stack, conn, user, youtube_expires=now() - timedelta(minutes=5))
        post = seed.created_content(
            conn,
            user,
            platform="youtube",
            content_type="video",
            title="Refresh",
            media_url=stack.media_url("r.mp4", 300_000),
            scheduled_at=now(),
        )
    run = run_wrapper()
    assert run.returncode == 0, run.log
    assert len(stack.google.issued) == 1
    new_token = stack.google.issued[0]
    with stack.connect() as conn:
        assert seed.row(conn, "created_content", post)["status"] == "published"
        stored = conn.execute(
            "SELECT access_token_encrypted, refresh_token_encrypted, token_expires_at, last_token_refresh "
            "FROM platform_connections WHERE platform = 'youtube'"
        ).fetchone()
    fernet = Fernet(stack.encryption_key.encode())
    assert new_token not in stored[0]
    assert fernet.decrypt(stored[0].encode()).decode() == new_token
    assert fernet.decrypt(stored[1].encode()).decode() == GOOGLE_REFRESH
    assert stored[2] is not None
    assert stored[3] is not None
    uploads = [r for r in stack.youtube.requests if r.method == "POST"]
    assert uploads[-1].headers["authorization"] == f"Bearer {new_token}"


def test_expired_token_disconnects_only_that_connection(stack: Stack, run_wrapper: Runner):
    """Graph 190/463 stops that account's lane: its posts ask the user to reconnect; others go on."""
    with stack.connect() as conn:
        user = seed.user(conn, "expired@example.com")
        connect_all(stack, conn, user)
        conn.execute("DELETE FROM platform_connections WHERE platform = 'facebook'")
        seed.connection(
            conn,
            stack.encryption_key,
            user,
            "facebook",
            access_token="expired-EAAtoken0123456789",
            page_id="104958162837461",
        )
        fb = seed.created_content(conn, user, platform="facebook", scheduled_at=now())
        fb_later = seed.created_content(conn, user, platform="facebook", scheduled_at=now(), content="second")
        li = seed.created_content(conn, user, platform="linkedin", scheduled_at=now())
    run = run_wrapper()
    assert run.returncode == 0, run.log
    with stack.connect() as conn:
        connections = dict(
            conn.execute(
                "SELECT platform, is_active::text || '/' || connection_status FROM platform_connections"
            ).fetchall()
        )
        fb_row = seed.row(conn, "created_content", fb)
        li_row = seed.row(conn, "created_content", li)
    assert connections["facebook"] == "false/expired"
    assert {v for k, v in connections.items() if k != "facebook"} == {"true/active"}
    assert fb_row["status"] == "draft"
    assert "Reconnect your Facebook account" in fb_row["metadata"]["publish_error"]
    assert li_row["status"] == "published"
    with stack.connect() as conn:
        later = seed.row(conn, "created_content", fb_later)["metadata"]["publish_error"]
    assert later == fb_row["metadata"]["publish_error"]  # the lane stopped with the same advice
    assert len([r for r in stack.graph.requests if r.method == "POST"]) == 1  # the dead token was used once


def test_instagram_quota_full_defers_without_failing(stack: Stack, run_wrapper: Runner):
    """A full Instagram publishing quota keeps the post scheduled with a next attempt time."""
    stack.graph.quota_total = 0
    with stack.connect() as conn:
        user = seed.user(conn, "quota@example.com")
        connect_all(stack, conn, user)
        post = seed.created_content(
            conn, user, platform="instagram", media_url=stack.media_url("q.jpg"), scheduled_at=now()
        )
    run = run_wrapper()
    assert run.returncode == 0, run.log
    with stack.connect() as conn:
        row = seed.row(conn, "created_content", post)
    assert row["status"] == "scheduled"
    assert row["metadata"]["_publish_next_attempt_at"] > now().isoformat()
    assert row["metadata"].get("_publish_attempts", 0) == 0
    assert "_publishing" not in row["metadata"]
    assert "deferred=1" in run.log
    second = run_wrapper()
    assert "claimed=0" in second.log.splitlines()[-1]  # not retried before its time


def test_sunset_linkedin_version_defers_every_linkedin_post(stack: Stack, run_wrapper: Runner):
    """LinkedIn 426 is a configuration error: all LinkedIn posts are deferred, none failed; others go on."""
    with stack.connect() as conn:
        user = seed.user(conn, "li@example.com")
        connect_all(stack, conn, user)
        lis = [
            seed.created_content(conn, user, platform="linkedin", content=f"li {i}", scheduled_at=now())
            for i in range(3)
        ]
        fb = seed.created_content(conn, user, platform="facebook", scheduled_at=now())
    run = run_wrapper(LINKEDIN_API_VERSION="202411")
    assert run.returncode == 0, run.log
    with stack.connect() as conn:
        statuses = [seed.row(conn, "created_content", p)["status"] for p in lis]
        assert seed.row(conn, "created_content", fb)["status"] == "published"
    assert statuses == ["scheduled"] * 3
    assert "linkedin publishing stopped for this run" in run.log
    assert len([r for r in stack.linkedin.requests if r.path == "/rest/posts"]) == 1


def test_connection_named_by_the_post_is_used(stack: Stack, run_wrapper: Runner):
    """With several Pages, the post's metadata.page_id picks one; otherwise the newest connection."""
    with stack.connect() as conn:
        user = seed.user(conn, "pages@example.com")
        key = stack.encryption_key
        seed.connection(
            conn,
            key,
            user,
            "facebook",
            access_token=FB_TOKEN,
            page_id="111",
            connected_at=now() - timedelta(days=10),
        )
        seed.connection(
            conn,
            key,
            user,
            "facebook",
            access_token="EAAlegacyPlaintextToken0123456789",
            plaintext=True,
            page_id="222",
            connected_at=now() - timedelta(days=1),
        )
        named = seed.created_content(conn, user, scheduled_at=now(), metadata={"page_id": "111"})
        newest = seed.created_content(conn, user, scheduled_at=now())
        gone = seed.created_content(conn, user, scheduled_at=now(), metadata={"page_id": "999"})
    run = run_wrapper()
    assert run.returncode == 0, run.log
    with stack.connect() as conn:
        assert seed.row(conn, "created_content", named)["metadata"]["facebook_post_id"].startswith("111_")
        assert seed.row(conn, "created_content", newest)["metadata"]["facebook_post_id"].startswith("222_")
        assert "no longer connected" in seed.row(conn, "created_content", gone)["metadata"]["publish_error"]


def test_instagram_reel_still_processing_resumes_from_its_container(stack: Stack, run_wrapper: Runner):
    """A reel still processing when the polls run out is deferred, then published from the same container."""
    stack.graph.video_polls = 5
    with stack.connect() as conn:
        user = seed.user(conn, "reel@example.com")
        connect_all(stack, conn, user)
        post = seed.created_content(
            conn,
            user,
            platform="instagram",
            content_type="reel",
            media_url=stack.media_url("reel.mp4"),
            scheduled_at=now(),
        )
    first = run_wrapper(INSTAGRAM_POLL_MAX="2", PUBLISH_RETRY_DELAY="1s")
    assert first.returncode == 0, first.log
    with stack.connect() as conn:
        meta = seed.row(conn, "created_content", post)["metadata"]
    assert meta["_publish_remote"]["container_id"] in stack.graph.containers
    assert meta.get("_publish_attempts", 0) == 0  # waiting for Instagram is not a failure
    assert stack.graph.created == []
    time.sleep(1.1)
    second = run_wrapper(INSTAGRAM_POLL_MAX="10")
    assert second.returncode == 0, second.log
    assert len(stack.graph.containers) == 1
    assert len(stack.graph.created) == 1
    with stack.connect() as conn:
        row = seed.row(conn, "created_content", post)
    assert row["status"] == "published"  # from the one container the first run made
    # Once published, the attempt's working keys are gone: a rescheduled copy starts afresh.
    assert not {"_publish_remote", "_publish_sending_at", "_publish_attempts"} & set(row["metadata"])


def test_refreshed_linkedin_token_is_reused_by_the_next_post(stack: Stack, run_wrapper: Runner):
    """After a 401 and one refresh, the account's next post uses the stored new token: no second refresh."""
    with stack.connect() as conn:
        user = seed.user(conn, "refresh@example.com")
        seed.connection(
            conn,
            stack.encryption_key,
            user,
            "linkedin",
            access_token="expired-AQVoldtoken0123456789",
            refresh_token="AQWrefreshToken0123456789",
            page_id="abc123",
            linkedin_id="abc123",
        )
        posts = [
            seed.created_content(conn, user, platform="linkedin", content=f"refresh {i}", scheduled_at=now())
            for i in range(2)
        ]
    run = run_wrapper()
    assert run.returncode == 0, run.log
    refreshes = [r for r in stack.linkedin.requests if r.path.endswith("/accessToken")]
    assert len(refreshes) == 1
    with stack.connect() as conn:
        assert [seed.row(conn, "created_content", p)["status"] for p in posts] == ["published", "published"]
        stored = conn.execute("SELECT access_token_encrypted FROM platform_connections").fetchone()
    assert (
        not Fernet(stack.encryption_key.encode()).decrypt(stored[0].encode()).decode().startswith("expired-")
    )
