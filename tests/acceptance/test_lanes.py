"""Lanes under realistic latency, through the real wrapper: each account's posts appear in due
order, the caps hold (the simulators count the requests in flight), a slow upload holds up only
its own account, a lease is renewed through an upload three leases long while another server
runs, and a run killed with posts in flight publishes nothing twice after the lease."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack import seed
from devstack.latency import Latency
from devstack.postgres import Cluster
from devstack.stack import Stack, running_stack
from tests.acceptance.conftest import PAST_SHORT_LEASE_S, SHORT_LEASE, WRAPPER, wrapper_env

pytestmark = pytest.mark.acceptance

PLATFORM_LATENCY = Latency(mean_s=0.05, jitter_s=0.02, seed=7)
DATABASE_LATENCY = Latency(mean_s=0.01, jitter_s=0.005, seed=8)


@pytest.fixture
def slow_stack(pg_cluster: Cluster) -> Iterator[Stack]:
    """The local stack with every platform 50 ms away and the database 10 ms away."""
    latency = {"api": DATABASE_LATENCY, "graph": PLATFORM_LATENCY, "youtube": PLATFORM_LATENCY}
    with running_stack(pg_cluster, latency=latency) as running:
        yield running


def host(stack: Stack, tmp_path: Path, name: str, **settings: str) -> subprocess.Popen[str]:
    """Start the real wrapper as one "host" (its own lock file and log)."""
    env = wrapper_env(
        stack,
        tmp_path,
        PUBLISHER_LOCK_FILE=str(tmp_path / f"{name}.lock"),
        LOG_FILE=str(tmp_path / f"{name}.log"),
        **settings,
    )
    return subprocess.Popen(
        [str(WRAPPER)],
        env=env,
        cwd="/",
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_host(stack: Stack, tmp_path: Path, name: str, **settings: str) -> str:
    """Run one host to its end; its log."""
    process = host(stack, tmp_path, name, **settings)
    assert process.wait(timeout=120) == 0, (tmp_path / f"{name}.log").read_text()
    return (tmp_path / f"{name}.log").read_text()


def pages(stack: Stack, count: int, email: str = "lanes@example.com") -> tuple[str, list[str]]:
    """A user with `count` Facebook Pages."""
    with stack.connect() as conn:
        user = seed.user(conn, email, "Asia/Kolkata")
        ids = [f"88000{i:03d}" for i in range(count)]
        for page in ids:
            seed.connection(
                conn,
                stack.encryption_key,
                user,
                "facebook",
                access_token=f"EAAlanesToken{page}x0123456789",
                page_id=page,
            )
    return user, ids


def youtube_video(
    stack: Stack, conn: Any, user: str, channel: str, media: str, size: int, *, title: str, due: datetime
) -> str:
    """A YouTube channel of `user` with a fresh token, and one video post due at `due` naming it."""
    seed.connection(
        conn,
        stack.encryption_key,
        user,
        "youtube",
        access_token=f"ya29.{channel}0123456789",
        refresh_token=f"1//{channel}",
        page_id=channel,
        token_expires_at=datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1),
    )
    return seed.created_content(
        conn,
        user,
        platform="youtube",
        content_type="video",
        title=title,
        content=title,
        media_url=stack.media_url(media, size),
        scheduled_at=due,
        metadata={"page_id": channel},
    )


def test_each_accounts_posts_appear_in_due_order_under_concurrency(slow_stack: Stack, tmp_path: Path):
    """Four accounts with five posts each, sixteen lanes: every account's posts are created in due order."""
    stack = slow_stack
    user, ids = pages(stack, 4)
    now = datetime.now(UTC)
    with stack.connect() as conn:
        for page in ids:
            for minute in (3, 0, 4, 1, 2):  # seeded out of order
                seed.created_content(
                    conn,
                    user,
                    content=f"{page} at minute {minute}",
                    scheduled_at=now - timedelta(minutes=10 - minute),
                    metadata={"page_id": page},
                )
    run_host(stack, tmp_path, "a", PUBLISH_CONCURRENCY="16")
    assert len(stack.graph.created) == 20
    for page in ids:
        order = [int(p["text"].rsplit(" ", 1)[1]) for p in stack.graph.created if p["text"].startswith(page)]
        assert order == [0, 1, 2, 3, 4], page
    assert stack.inflight_max["graph"] >= 2  # the accounts did run side by side


def test_the_run_and_platform_caps_hold(slow_stack: Stack, tmp_path: Path):
    """With PUBLISH_CONCURRENCY=4 and YouTube capped at 1, the simulators never see more in flight."""
    stack = slow_stack
    user, ids = pages(stack, 24)
    with stack.connect() as conn:
        for page in ids:
            seed.created_content(conn, user, scheduled_at=datetime.now(UTC), metadata={"page_id": page})
        for channel in range(3):
            youtube_video(
                stack,
                conn,
                user,
                f"UClanes{channel}",
                f"lanes-{channel}.mp4",
                600_000,
                title=f"Clip {channel}",
                due=datetime.now(UTC),
            )
    run_host(stack, tmp_path, "a", PUBLISH_CONCURRENCY="4", PUBLISH_CONCURRENCY_YOUTUBE="1")
    assert len(stack.graph.created) == 24
    assert len(stack.youtube.created) == 3
    assert 2 <= stack.inflight_max["graph"] <= 4
    assert stack.inflight_max["youtube"] == 1


def test_a_slow_upload_holds_up_only_its_own_account(pg_cluster: Cluster, tmp_path: Path):
    """A video uploading at 1 MB/s for seconds: every other account's posts are out before it ends."""
    latency = {"graph": PLATFORM_LATENCY, "youtube": Latency(body_bytes_per_s=1_000_000)}
    with running_stack(pg_cluster, latency=latency) as stack:
        user, ids = pages(stack, 12)
        with stack.connect() as conn:
            video = youtube_video(
                stack,
                conn,
                user,
                "UCslow",
                "big.mp4",
                3_000_000,
                title="Big",
                due=datetime.now(UTC) - timedelta(minutes=5),
            )  # due first
            others = [
                seed.created_content(conn, user, scheduled_at=datetime.now(UTC), metadata={"page_id": page})
                for page in ids
            ]
        run_host(stack, tmp_path, "a", PUBLISH_CONCURRENCY="4")
        with stack.connect() as conn:
            video_done = seed.row(conn, "created_content", video)["published_at"]
            done = [seed.row(conn, "created_content", post)["published_at"] for post in others]
    assert all(moment is not None and moment < video_done for moment in done)


def test_a_lease_is_renewed_through_an_upload_three_leases_long(pg_cluster: Cluster, tmp_path: Path):
    """A 4 s lease, a 12 s upload, a second server trying every second: one session, one video."""
    latency = {"youtube": Latency(body_bytes_per_s=250_000)}
    with running_stack(pg_cluster, latency=latency) as stack:
        with stack.connect() as conn:
            user = seed.user(conn, "long@example.com")
            post = youtube_video(
                stack, conn, user, "UClong", "long.mp4", 3_000_000, title="Long upload", due=datetime.now(UTC)
            )
        first = host(stack, tmp_path, "a", **SHORT_LEASE)
        started = time.monotonic()
        rivals = 0
        while first.poll() is None:
            time.sleep(1.0)
            run_host(stack, tmp_path, f"b{rivals}", **SHORT_LEASE)
            rivals += 1
        assert first.returncode == 0
        took = time.monotonic() - started
        with stack.connect() as conn:
            row = seed.row(conn, "created_content", post)
    assert took > 3 * 4, "the upload was not longer than three leases; the test proves nothing"
    assert rivals >= 8
    assert len(stack.youtube.sessions) == 1
    assert len(stack.youtube.created) == 1
    assert row["status"] == "published"


def test_a_run_killed_with_posts_in_flight_publishes_nothing_twice(pg_cluster: Cluster, tmp_path: Path):
    """Killed while eight lanes are mid-call: after the lease another host settles all, none twice."""
    latency = {"graph": Latency(mean_s=0.4, jitter_s=0.2, seed=3)}
    with running_stack(pg_cluster, latency=latency) as stack:
        user, ids = pages(stack, 8)
        with stack.connect() as conn:
            posts = [
                seed.created_content(
                    conn,
                    user,
                    content=f"killed {page} {n}",
                    scheduled_at=datetime.now(UTC),
                    metadata={"page_id": page},
                )
                for page in ids
                for n in range(3)
            ]
        victim = host(stack, tmp_path, "victim", PUBLISH_CONCURRENCY="8", **SHORT_LEASE)
        deadline = time.monotonic() + 30
        while len(stack.graph.created) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        time.sleep(PAST_SHORT_LEASE_S)
        for attempt in range(3):
            run_host(
                stack,
                tmp_path,
                f"survivor{attempt}",
                PUBLISH_CONCURRENCY="8",
                PUBLISH_RETRY_DELAY="1s",
                **SHORT_LEASE,
            )
            with stack.connect() as conn:
                left = [p for p in posts if seed.row(conn, "created_content", p)["status"] == "scheduled"]
            if not left:
                break
            time.sleep(1.1)
        texts = [p["text"] for p in stack.graph.created]
        with stack.connect() as conn:
            statuses = {seed.row(conn, "created_content", p)["status"] for p in posts}
    assert len(texts) == len(set(texts)), "a post was published twice"
    assert statuses == {"published"}
    assert len(texts) == len(posts)


def test_a_post_due_during_a_long_upload_goes_out_before_the_upload_ends(pg_cluster: Cluster, tmp_path: Path):
    """Cron's next run on the host is skipped while an upload runs: the running one rescans and publishes."""
    latency = {"youtube": Latency(body_bytes_per_s=400_000)}
    with running_stack(pg_cluster, latency=latency) as stack:
        user, [page] = pages(stack, 1, "rescan@example.com")
        with stack.connect() as conn:
            video = youtube_video(
                stack, conn, user, "UCrescan", "rescan.mp4", 3_000_000, title="Long", due=datetime.now(UTC)
            )
        running = host(stack, tmp_path, "a", PUBLISH_RESCAN_INTERVAL="2s")
        time.sleep(2.5)
        with stack.connect() as conn:
            late = seed.created_content(
                conn,
                user,
                content="due while uploading",
                scheduled_at=datetime.now(UTC),
                metadata={"page_id": page},
            )
        skipped = run_host(stack, tmp_path, "a")  # cron's next start on the same host: the lock says no
        assert "still active on this host" in skipped
        assert running.wait(timeout=60) == 0
        with stack.connect() as conn:
            late_at = seed.row(conn, "created_content", late)["published_at"]
            video_at = seed.row(conn, "created_content", video)["published_at"]
    assert late_at is not None
    assert video_at is not None
    assert late_at < video_at
