"""Operating the publisher through the real command line and cron wrapper: --dry-run, the
heartbeat, the log file (JSON format, rotation by size) and --help."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack import seed
from devstack.server import RunningServer, serve
from devstack.stack import Stack
from services.config import VARIABLES
from tests.acceptance.conftest import FACEBOOK_PAGE as PAGE
from tests.acceptance.conftest import Runner, wrapper_env
from tests.acceptance.conftest import facebook_user as shared_facebook_user
from tests.acceptance.every_outcome import dump
from tests.cli_process import PUBLISHER, run_cli

pytestmark = pytest.mark.acceptance

TOKEN = "EAAGm0PX4ZCpsBAoperationsToken0123456789"


def facebook_user(stack: Stack) -> str:
    return shared_facebook_user(stack, TOKEN)


def block_of(output: str, post_id: str) -> str:
    """The dry run's block about one post (its numbered header line up to the next blank line)."""
    for block in output.split("\n\n"):
        if f"/{post_id}  " in block:
            return block
    raise AssertionError(f"{post_id} not in the dry run:\n{output}")


def test_dry_run_describes_each_due_post_and_changes_nothing(stack: Stack):
    """--dry-run lists every due post with what would be sent, writes nothing, calls no platform."""
    user = facebook_user(stack)
    now = datetime.now(UTC)
    with stack.connect() as conn:
        text = seed.created_content(
            conn,
            user,
            title="Hello",
            content="Fresh bread",
            hashtags=["bread"],
            scheduled_at=now - timedelta(minutes=3),
        )
        carousel = seed.created_content(
            conn,
            user,
            content_type="carousel",
            images=[stack.media_url(f"{n}.jpg") for n in range(3)],
            scheduled_at=now - timedelta(minutes=2),
        )
        too_long = seed.created_content(
            conn, user, content="x" * 70_000, scheduled_at=now - timedelta(minutes=1)
        )
        stale = seed.created_content(conn, user, scheduled_at=now - timedelta(days=2))
        retry = seed.created_content(
            conn,
            user,
            scheduled_at=now - timedelta(minutes=4),
            metadata={"_publish_next_attempt_at": (now + timedelta(minutes=20)).isoformat()},
        )
        tiktok = seed.created_content(conn, user, platform="tiktok", scheduled_at=now)
        future = seed.created_content(conn, user, scheduled_at=now + timedelta(hours=2))
    before = dump(stack)

    result = run_cli(PUBLISHER, "--dry-run", env=stack.env())

    assert result.returncode == 0, result.stderr
    assert dump(stack) == before, "the dry run wrote to the database"
    for simulator in (stack.graph, stack.linkedin, stack.youtube, stack.google):
        assert simulator.requests == []
    assert stack.media.downloads == []
    out = result.stdout
    assert out.splitlines()[1] == "5 post(s) to settle, 1 waiting for a retry."
    first = block_of(out, text)
    assert f"created_content/{text}  facebook  -> would publish" in first
    assert f"owner       {user}" in first
    assert "(3m late)" in first
    assert "post        text, 26 characters, 0 media file(s)" in first  # "Hello\n\nFresh bread\n\n#bread"
    assert f"connection  Acme Bakery (page {PAGE}, connection " in first
    assert "carousel, 24 characters, 3 media file(s)" in block_of(out, carousel)
    limit = block_of(out, too_long)
    assert "-> would fail" in limit
    assert "problem     Facebook posts are limited to 63,206 characters; this one has 70,000." in limit
    assert "-> would expire" in block_of(out, stale)
    assert "-> waits for a retry" in block_of(out, retry)
    assert "not supported" in block_of(out, tiktok)
    assert future not in out
    assert TOKEN not in out + result.stderr


def test_dry_run_of_one_post_id_shows_it_even_before_it_is_due(stack: Stack):
    """--dry-run --post-id previews exactly that post, as --post-id would publish it now."""
    user = facebook_user(stack)
    with stack.connect() as conn:
        later = seed.created_content(conn, user, scheduled_at=datetime.now(UTC) + timedelta(hours=2))
        seed.created_content(conn, user, scheduled_at=datetime.now(UTC))

    result = run_cli(PUBLISHER, "--dry-run", "--post-id", later, env=stack.env())

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "1 post(s) to settle, 0 waiting for a retry."
    block = block_of(result.stdout, later)
    assert "-> would publish" in block
    assert "(due in 1h5" in block  # about two hours ahead


class Monitor:
    """A tiny uptime monitor: records the path of every ping it receives."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            self.paths.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"OK"]


@pytest.fixture
def monitor() -> Iterator[tuple[Monitor, RunningServer]]:
    """A monitor served on loopback for the duration of a test."""
    app = Monitor()
    with serve(app) as server:
        yield app, server


def test_heartbeat_pings_after_each_run_and_fail_on_a_failed_run(
    stack: Stack, run_wrapper: Runner, monitor: tuple[Monitor, RunningServer]
):
    """A completed run GETs HEARTBEAT_URL, a failed one GETs …/fail; the URL is never logged."""
    app, server = monitor
    url = f"{server.url}/ping/3f1c9a"

    completed = run_wrapper(HEARTBEAT_URL=url)
    # A key the database API refuses fails the run at once (a refused connection would be
    # retried by the client for 7 s first).
    failed = run_wrapper(HEARTBEAT_URL=url, SUPABASE_SERVICE_ROLE_KEY="not-the-service-key")

    assert completed.returncode == 0, completed.log
    assert failed.returncode == 1
    assert app.paths == ["GET /ping/3f1c9a", "GET /ping/3f1c9a/fail"]
    assert "3f1c9a" not in failed.log


def seed_due_posts(stack: Stack, count: int) -> tuple[str, list[str]]:
    """A Facebook user with `count` due posts; returns the user id and the post ids."""
    user = facebook_user(stack)
    now = datetime.now(UTC)
    with stack.connect() as conn:
        posts = [
            seed.created_content(conn, user, content=f"Post {n}", scheduled_at=now - timedelta(seconds=n))
            for n in range(count)
        ]
    return user, posts


def test_a_monitor_that_is_down_never_fails_the_run(stack: Stack, run_wrapper: Runner):
    """An unreachable HEARTBEAT_URL is logged as a warning and the run still exits 0."""
    _, [post] = seed_due_posts(stack, 1)

    run = run_wrapper(HEARTBEAT_URL="http://127.0.0.1:9/ping/abc")

    assert run.returncode == 0, run.log
    assert "WARNING heartbeat ping failed (ConnectError); the run is not affected" in run.log
    with stack.connect() as conn:
        assert seed.row(conn, "created_content", post)["status"] == "published"


def test_json_log_has_one_object_per_outcome_and_one_summary(stack: Stack, run_wrapper: Runner):
    """LOG_FORMAT=json: every line parses; one object per post outcome with its fields; one summary."""
    user, posts = seed_due_posts(stack, 3)
    with stack.connect() as conn:
        posts.append(seed.created_content(conn, user, platform="tiktok", scheduled_at=None))

    run = run_wrapper(LOG_FORMAT="json")

    assert run.returncode == 0, run.log
    records = [json.loads(line) for line in run.log.splitlines()]
    outcomes = [r for r in records if r["message"].startswith("post ")]
    assert sorted(r["post"] for r in outcomes) == sorted(posts)
    for record in outcomes:
        assert {"run", "table", "owner", "platform", "kind", "outcome", "seconds"} <= record.keys()
    assert sorted(r["outcome"] for r in outcomes) == ["failed", "published", "published", "published"]
    summaries = [r for r in records if " finished: " in r["message"]]
    assert len(summaries) == 1
    assert "published=3 failed=1" in summaries[0]["message"]


def test_log_file_rotates_by_size_keeping_a_bounded_number(stack: Stack, tmp_path: Path, run_wrapper: Runner):
    """With a tiny LOG_MAX_BYTES the file rotates on its own and only LOG_BACKUP_COUNT old files stay."""
    seed_due_posts(stack, 12)

    run = run_wrapper(LOG_MAX_BYTES="1024", LOG_BACKUP_COUNT="2")

    assert run.returncode == 0, run.log
    files = sorted(path.name for path in tmp_path.glob("publisher.log*"))
    assert files == ["publisher.log", "publisher.log.1", "publisher.log.2"]
    for name in files:
        assert (tmp_path / name).stat().st_size <= 1024 + 600  # one record may cross the limit
    assert " finished: claimed=12 published=12" in run.log.splitlines()[-1]


def test_help_documents_every_option_command_and_variable(stack: Stack, tmp_path: Path):
    """--help names every option, both commands and every environment variable; status --help its own."""
    env = wrapper_env(stack, tmp_path)

    main = run_cli(PUBLISHER, "--help", env=env)
    status = run_cli(PUBLISHER, "status", "--help", env=env)

    assert main.returncode == 0
    for word in (
        "--dry-run",
        "--post-id",
        "--table",
        "--limit",
        "--user-id",
        "status",
        "check",
        "exit codes",
    ):
        assert word in main.stdout
    for name in VARIABLES:
        assert f"  {name} " in main.stdout, name
    assert status.returncode == 0
    for word in ("--json", "--table", "--user-id"):
        assert word in status.stdout
