"""The real cron wrapper, run as a subprocess against the local stack: publishing both tables,
exactly once across runs, hosts and a killed run; overlap protection; exit codes; the log."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytz
from cryptography.fernet import Fernet

from devstack import seed
from devstack.stack import Stack
from tests.acceptance.conftest import PAST_SHORT_LEASE_S, SHORT_LEASE, WRAPPER, Runner, wrapper_env
from tests.acceptance.conftest import facebook_user as shared_facebook_user

pytestmark = pytest.mark.acceptance

TOKEN = "EAAGm0PX4ZCpsBAacceptanceToken0123456789"


def facebook_user(
    stack: Stack, email: str = "owner@example.com", timezone: str | None = "Asia/Kolkata"
) -> str:
    return shared_facebook_user(stack, TOKEN, email, timezone)


def now() -> datetime:
    return datetime.now(UTC)


def test_due_posts_of_both_tables_are_published_once(stack: Stack, run_wrapper: Runner):
    """Due posts of both tables are published and recorded; future ones untouched; a rerun sends nothing."""
    user = facebook_user(stack)
    local_due = now().astimezone(pytz.timezone("Asia/Kolkata")) - timedelta(minutes=3)
    with stack.connect() as conn:
        text = seed.created_content(
            conn, user, scheduled_at=now() - timedelta(minutes=1), title="Hello", hashtags=["bread", "#fresh"]
        )
        photo = seed.created_content(
            conn,
            user,
            scheduled_at=now() - timedelta(minutes=2),
            content_type="static_post",
            media_url=stack.media_url("loaf.jpg"),
        )
        future = seed.created_content(conn, user, scheduled_at=now() + timedelta(hours=1))
        campaign = seed.campaign(conn, user)
        cp = seed.content_post(
            conn, campaign, scheduled_date=local_due.date(), scheduled_time=local_due.time()
        )
        cp_future = seed.content_post(
            conn,
            campaign,
            scheduled_date=local_due.date() + timedelta(days=1),
            scheduled_time=local_due.time(),
        )
    first = run_wrapper(TZ="Pacific/Auckland")  # the server's own timezone must not matter
    assert first.returncode == 0, first.log
    created = {post["id"]: post for post in stack.graph.created}
    assert len(created) == 3
    with stack.connect() as conn:
        rows = {
            pid: seed.row(conn, table, pid)
            for table, pid in (
                ("created_content", text),
                ("created_content", photo),
                ("created_content", future),
                ("content_posts", cp),
                ("content_posts", cp_future),
            )
        }
    for pid in (text, photo, cp):
        meta = rows[pid]["metadata"]
        assert rows[pid]["status"] == "published"
        assert rows[pid]["published_at"] is not None
        assert meta["facebook_post_id"] in created
        assert meta["post_url"].startswith("https://www.facebook.com/")
        assert "_publishing" not in meta
    assert rows[text]["channel_post_id"] == rows[text]["metadata"]["facebook_post_id"]
    assert (
        created[rows[text]["metadata"]["facebook_post_id"]]["text"]
        == "Hello\n\nHello from the scheduler\n\n#bread #fresh"
    )
    assert created[rows[photo]["metadata"]["facebook_post_id"]]["media"]
    for pid in (future, cp_future):
        assert rows[pid]["status"] == "scheduled"
        assert not rows[pid]["metadata"]
    assert "finished: claimed=3 published=3 failed=0" in first.log

    second = run_wrapper()
    assert second.returncode == 0
    assert len(stack.graph.created) == 3
    assert "finished: claimed=0 published=0" in second.log.splitlines()[-1]


def test_bad_rows_get_precise_errors_and_others_go_on(stack: Stack, run_wrapper: Runner):
    """Garbage rows go back to draft with a readable error; the good post in between is published."""
    user = facebook_user(stack)
    with stack.connect() as conn:
        no_schedule = seed.created_content(conn, user, scheduled_at=None)
        tiktok = seed.created_content(conn, user, platform="tiktok", scheduled_at=now())
        nowhere = seed.created_content(conn, user, platform=None, scheduled_at=now())
        no_connection = seed.created_content(conn, user, platform="linkedin", scheduled_at=now())
        good = seed.created_content(conn, user, scheduled_at=now())
        orphan = seed.content_post(
            conn, seed.campaign(conn, None), scheduled_date=now().date(), scheduled_time="00:00"
        )
        stale = seed.created_content(conn, user, scheduled_at=now() - timedelta(days=3))
    run = run_wrapper()
    assert run.returncode == 0, run.log
    with stack.connect() as conn:

        def row(pid: str, table: str = "created_content") -> dict:
            return seed.row(conn, table, pid)

        assert row(good)["status"] == "published"
        assert row(no_schedule)["status"] == "draft"
        assert "no scheduled date or time" in row(no_schedule)["metadata"]["publish_error"]
        assert (
            row(tiktok)["metadata"]["publish_error"]
            == "Publishing to TikTok is not supported by the scheduler."
        )
        assert row(no_connection)["metadata"]["publish_error"] == (
            "No active LinkedIn connection: reconnect the account in the app."
        )
        assert "no owner" in row(orphan, "content_posts")["metadata"]["publish_error"]
        assert "names no platform" in row(nowhere)["metadata"]["publish_error"]
        assert row(stale)["status"] == "expired"
        assert "more than 24 hours" in row(stale)["metadata"]["expired_reason"]
    assert "published=1 failed=5 expired=1" in run.log


def test_a_second_run_on_the_same_host_skips_while_one_is_active(
    stack: Stack, run_wrapper: Runner, tmp_path: Path
):
    """While a run holds the host lock, another wrapper logs one line, exits 0 and publishes nothing."""
    user = facebook_user(stack)
    with stack.connect() as conn:
        post = seed.created_content(conn, user, scheduled_at=now())
    with (tmp_path / "publisher.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        skipped = run_wrapper()
    assert skipped.returncode == 0
    assert skipped.log.count("still active") == 1
    assert stack.graph.created == []
    assert run_wrapper().returncode == 0
    with stack.connect() as conn:
        assert seed.row(conn, "created_content", post)["status"] == "published"


def test_overlapping_wrapper_runs_do_not_both_run(stack: Stack, tmp_path: Path):
    """A wrapper started while a slow run is still publishing exits at once; the post is sent once."""
    user = facebook_user(stack)
    with stack.connect() as conn:
        seed.created_content(conn, user, scheduled_at=now())
    stack.graph.inject("slow_after", step="feed", delay=2.0)
    env = wrapper_env(stack, tmp_path)
    slow = subprocess.Popen([str(WRAPPER)], env=env, cwd="/")
    deadline = time.monotonic() + 20
    while not stack.graph.created and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run([str(WRAPPER)], env=env, cwd="/", capture_output=True, timeout=30, check=False)
    assert slow.wait(timeout=30) == 0
    assert second.returncode == 0
    log = Path(env["LOG_FILE"]).read_text()
    assert log.count("still active") == 1
    assert len(stack.graph.created) == 1


def test_two_hosts_at_once_publish_each_post_exactly_once(stack: Stack, tmp_path: Path):
    """Two servers (separate host locks) racing over 40 due posts publish each exactly once."""
    user = facebook_user(stack)
    with stack.connect() as conn:
        posts = [seed.created_content(conn, user, scheduled_at=now(), content=f"post {i}") for i in range(40)]
    runs = []
    for host in ("a", "b"):
        env = wrapper_env(
            stack,
            tmp_path,
            PUBLISHER_LOCK_FILE=str(tmp_path / f"{host}.lock"),
            LOG_FILE=str(tmp_path / f"{host}.log"),
            PUBLISH_BATCH_SIZE="3",
        )
        runs.append(subprocess.Popen([str(WRAPPER)], env=env, cwd="/"))
    assert [run.wait(timeout=60) for run in runs] == [0, 0]
    texts = [post["text"] for post in stack.graph.created]
    assert sorted(texts) == sorted(f"post {i}" for i in range(40))
    with stack.connect() as conn:
        assert {seed.row(conn, "created_content", p)["status"] for p in posts} == {"published"}
    claimed = [
        int(line.split("claimed=")[1].split()[0])
        for host in ("a", "b")
        for line in (tmp_path / f"{host}.log").read_text().splitlines()
        if "finished:" in line
    ]
    assert sum(claimed) == 40


def test_killed_run_is_recovered_without_a_duplicate(stack: Stack, tmp_path: Path, run_wrapper: Runner):
    """A run killed after Facebook accepted a post is recorded after the lease, never re-sent."""
    user = facebook_user(stack)
    with stack.connect() as conn:
        post = seed.created_content(conn, user, scheduled_at=now())
    stack.graph.inject("slow_after", step="feed", delay=30.0)
    env = wrapper_env(stack, tmp_path)
    victim = subprocess.Popen([str(WRAPPER)], env=env, cwd="/", start_new_session=True)
    deadline = time.monotonic() + 20
    while not stack.graph.created and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(stack.graph.created) == 1
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    with stack.connect() as conn:
        meta = seed.row(conn, "created_content", post)["metadata"]
    assert meta["_publishing"] is True
    assert "_publish_sending_at" in meta
    time.sleep(PAST_SHORT_LEASE_S)
    recovery = run_wrapper(**SHORT_LEASE)
    assert recovery.returncode == 0, recovery.log
    assert len(stack.graph.created) == 1
    with stack.connect() as conn:
        final = seed.row(conn, "created_content", post)
    assert final["status"] == "published"
    assert final["metadata"]["facebook_post_id"] == stack.graph.created[0]["id"]


def test_configuration_errors_exit_2_naming_the_variable(stack: Stack, run_wrapper: Runner):
    """A missing required variable exits 2 before any work, naming it and never printing values."""
    run = run_wrapper(ENCRYPTION_KEY="")
    assert run.returncode == 2
    assert "ENCRYPTION_KEY is not set" in run.log
    assert stack.service_key not in run.log


def test_unreachable_database_exits_1(stack: Stack, run_wrapper: Runner):
    """When the database API cannot be reached the run fails with exit 1 and a clear log line."""
    run = run_wrapper(SUPABASE_URL="http://127.0.0.1:9", SUPABASE_TIMEOUT_SECONDS="2")
    assert run.returncode == 1
    assert "Database request failed" in run.log


def test_wrong_encryption_key_fails_the_run_and_touches_no_post(stack: Stack, run_wrapper: Runner):
    """A wrong ENCRYPTION_KEY exits 1 loudly; the post stays scheduled and unclaimed."""
    user = facebook_user(stack)
    with stack.connect() as conn:
        post = seed.created_content(conn, user, scheduled_at=now())
    run = run_wrapper(ENCRYPTION_KEY="A" * 43 + "=")
    assert run.returncode == 1
    assert "ENCRYPTION_KEY cannot decrypt" in run.log
    with stack.connect() as conn:
        row = seed.row(conn, "created_content", post)
    assert row["status"] == "scheduled"
    assert "_publishing" not in row["metadata"]
    assert stack.graph.requests == []


def test_a_token_saved_under_another_key_fails_only_its_own_connection(stack: Stack, run_wrapper: Runner):
    """One connection whose Fernet token another key made (or that is cut short) fails its own posts
    ("reconnect"); every other user's posts publish and the run exits 0."""
    alien = Fernet(Fernet.generate_key())
    with stack.connect() as conn:
        good_user = seed.user(conn, "good@example.com")
        seed.connection(
            conn, stack.encryption_key, good_user, "facebook", access_token="EAAgoodToken0123456789"
        )
        foreign_user = seed.user(conn, "foreign@example.com")
        foreign = seed.connection(
            conn, stack.encryption_key, foreign_user, "facebook", access_token="placeholder", page_id="999"
        )
        cut_user = seed.user(conn, "cut@example.com")
        cut = seed.connection(
            conn, stack.encryption_key, cut_user, "facebook", access_token="p", page_id="998"
        )
        conn.execute(
            "UPDATE platform_connections SET access_token_encrypted = %s WHERE id = %s",
            (alien.encrypt(b"EAAforeignToken0123456789").decode(), foreign),
        )
        conn.execute(
            "UPDATE platform_connections SET access_token_encrypted = left(access_token_encrypted, 60) "
            "WHERE id = %s",
            (cut,),
        )
        good = seed.created_content(conn, good_user, scheduled_at=now())
        bad = [seed.created_content(conn, user, scheduled_at=now()) for user in (foreign_user, cut_user)]
    run = run_wrapper()
    assert run.returncode == 0, run.log
    with stack.connect() as conn:
        assert seed.row(conn, "created_content", good)["status"] == "published"
        for post in bad:
            row = seed.row(conn, "created_content", post)
            assert row["status"] == "draft"
            assert "connection is damaged" in row["metadata"]["publish_error"]
            assert "reconnect the account" in row["metadata"]["publish_error"]
    assert len(stack.graph.created) == 1


def test_cron_redirect_to_the_log_does_not_duplicate_lines(stack: Stack, tmp_path: Path):
    """`>> logs/content_publisher.log 2>&1` in the crontab leaves each line once in the log."""
    facebook_user(stack)
    env = wrapper_env(stack, tmp_path)
    with Path(env["LOG_FILE"]).open("a") as log:
        result = subprocess.run(
            [str(WRAPPER)], env=env, cwd="/", stdout=log, stderr=subprocess.STDOUT, timeout=60, check=False
        )
    assert result.returncode == 0
    text = Path(env["LOG_FILE"]).read_text()
    assert text.count("started") == 1
    assert text.count("finished:") == 1


def test_log_file_set_only_in_the_env_file_is_used_by_wrapper_and_python(stack: Stack, tmp_path: Path):
    """LOG_FILE from .env (not the environment) receives both the wrapper's and the run's lines."""
    log = tmp_path / "from-env-file.log"
    env_file = tmp_path / "publisher.env"
    settings = {k: v for k, v in stack.env().items() if k != "PUBLISHER_ENV_FILE"}
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()) + f'LOG_FILE="{log}"\n')
    env = {
        "PATH": "/usr/bin:/bin",
        "PUBLISHER_ENV_FILE": str(env_file),
        "PUBLISHER_LOCK_FILE": str(tmp_path / "lock"),
    }
    assert subprocess.run([str(WRAPPER)], env=env, cwd="/", timeout=60, check=False).returncode == 0
    with (tmp_path / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert subprocess.run([str(WRAPPER)], env=env, cwd="/", timeout=60, check=False).returncode == 0
    text = log.read_text()
    assert "finished: claimed=0" in text
    assert "still active" in text


def test_post_ids_not_acted_on_are_each_explained(stack: Stack, run_wrapper: Runner):
    """--post-id names every requested post it did not publish, with its status and what to do."""
    user = facebook_user(stack)
    with stack.connect() as conn:
        due = seed.created_content(conn, user, scheduled_at=now())
        draft = seed.created_content(conn, user, scheduled_at=now(), status="draft")
        published = seed.created_content(conn, user, scheduled_at=now(), status="published")
    unknown = "00000000-0000-4000-8000-000000000001"

    mixed = run_wrapper("--post-id", due, "--post-id", draft, "--post-id", published, "--post-id", unknown)

    assert mixed.returncode == 0, mixed.log  # one of them was published
    with stack.connect() as conn:
        assert seed.row(conn, "created_content", due)["status"] == "published"
    # From cron the wrapper appends what the command prints to the log; at a terminal it is printed.
    lines = [line for line in mixed.log.splitlines() if line.startswith("post ")]
    assert len(lines) == 3
    assert any(draft in line and "'draft'" in line and "schedule it in the app" in line for line in lines)
    assert any(published in line and "already published" in line for line in lines)
    assert any(unknown in line and "not found" in line for line in lines)

    nothing = run_wrapper("--post-id", draft)
    assert nothing.returncode == 1  # none of the requested posts could be acted on
    assert f"post {draft}" in nothing.log
