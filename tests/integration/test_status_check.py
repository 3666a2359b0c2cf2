"""`status` and `check` through the real command line, against the local stack."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet

from devstack import seed
from devstack.stack import Stack
from tests.acceptance.every_outcome import dump
from tests.cli_process import PUBLISHER, run_cli

pytestmark = pytest.mark.integration

TOKEN = "EAAstatusCheckToken0123456789abcdefgh"


def iso(moment: datetime) -> str:
    """A metadata timestamp exactly as sql/migration.sql writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def test_status_counts_every_state_per_table_and_platform(stack: Stack):
    """status --json counts scheduled, due, retry, overdue, invalid, claims and the last 24 h exactly."""
    now = datetime.now(UTC)
    with stack.connect() as conn:
        user = seed.user(conn, "owner@example.com")
        other = seed.user(conn, "other@example.com")

        def post(**columns: Any) -> str:
            columns.setdefault("scheduled_at", now - timedelta(minutes=5))
            return seed.created_content(conn, columns.pop("owner", user), **columns)

        post(scheduled_at=now + timedelta(hours=1))
        post()
        overdue = post(scheduled_at=now - timedelta(days=2))
        post(scheduled_at=None)
        post(metadata={"_publish_next_attempt_at": iso(now + timedelta(minutes=30))})
        post(
            metadata={
                "_publishing": True,
                "_publishing_at": iso(now - timedelta(minutes=2)),
                "_publishing_run": "r1",
            }
        )
        stale = post(metadata={"_publishing": True, "_publishing_at": iso(now - timedelta(hours=1))})
        post(status="published", published_at=now - timedelta(hours=1))
        post(status="published", published_at=now - timedelta(days=2))
        post(
            status="draft",
            metadata={"publish_error": "x", "publish_failed_at": iso(now - timedelta(hours=1))},
        )
        post(
            status="draft", metadata={"publish_error": "x", "publish_failed_at": iso(now - timedelta(days=3))}
        )
        post(status="expired", metadata={"expired_at": iso(now - timedelta(hours=2))})
        post(platform="linkedin")
        post(owner=other)
        due_local = now - timedelta(minutes=5)
        seed.content_post(
            conn, seed.campaign(conn, user), scheduled_date=due_local.date(), scheduled_time=due_local.time()
        )
    before = dump(stack)

    result = run_cli(PUBLISHER, "status", "--json", env=stack.env())

    assert result.returncode == 0, result.stderr
    assert dump(stack) == before, "status wrote to the database"
    report = json.loads(result.stdout)
    rows = {(r["table"], r["platform"]): r for r in report["rows"]}
    assert set(rows) == {
        ("created_content", "facebook"),
        ("created_content", "linkedin"),
        ("content_posts", "facebook"),
    }
    facebook = rows["created_content", "facebook"]
    expected = {
        "scheduled": 8,
        "due_now": 4,  # the plain due post, the other user's and the two claimed ones
        "waiting_retry": 1,
        "overdue": 1,
        "invalid": 1,
        "held_claims": 2,
        "stale_claims": 1,
        "published_24h": 1,
        "failed_24h": 1,
        "expired_24h": 1,
    }
    assert {k: facebook[k] for k in expected} == expected
    assert 3590 <= facebook["oldest_claim_age_seconds"] <= 3700
    assert rows["created_content", "linkedin"]["due_now"] == 1
    assert rows["content_posts", "facebook"]["due_now"] == 1
    assert report["oldest_due"]["id"] == overdue
    assert 2 * 86400 - 60 <= report["oldest_due"]["late_seconds"] <= 2 * 86400 + 60
    assert report["claims"][0]["id"] == stale
    assert [c["stale"] for c in report["claims"]] == [True, False]

    scoped = run_cli(PUBLISHER, "status", "--user-id", other, env=stack.env())

    assert scoped.returncode == 0, scoped.stderr
    lines = scoped.stdout.splitlines()
    assert lines[1] == f"TEST MODE: only user {other}"
    assert lines[2].split()[:4] == ["table", "platform", "scheduled", "due"]
    assert lines[3].split()[:4] == ["created_content", "facebook", "1", "1"]
    assert len(lines) == 5  # header, test mode, column titles, one row, the oldest due post
    assert lines[4].startswith("Oldest due post: created_content/")


def test_check_passes_on_a_healthy_stack(stack: Stack):
    """check exits 0 and says ready when configuration, database, migration and tokens are fine."""
    with stack.connect() as conn:
        user = seed.user(conn, "owner@example.com")
        seed.connection(conn, stack.encryption_key, user, "facebook", access_token=TOKEN)

    result = run_cli(PUBLISHER, "check", env=stack.env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok       migration installed" in result.stdout
    assert "ENCRYPTION_KEY decrypts the tokens of all 1 active connections" in result.stdout
    assert "the publisher is ready" in result.stdout
    assert "PROBLEM" not in result.stdout


def test_check_names_every_problem_with_its_fix(stack: Stack):
    """Missing migration parts, undecryptable and damaged tokens, an old LinkedIn version: each has a fix."""
    other_key = Fernet.generate_key().decode()
    with stack.connect() as conn:
        user = seed.user(conn, "owner@example.com")
        good = seed.connection(conn, stack.encryption_key, user, "facebook", access_token=TOKEN)
        foreign = seed.connection(
            conn, other_key, user, "linkedin", access_token="AQVforeignKeyToken0123456789"
        )
        damaged = seed.connection(
            conn, stack.encryption_key, user, "youtube", access_token="garbage-not-a-token", plaintext=True
        )
        conn.execute("DROP FUNCTION public.publisher_release(text, uuid, text)")
        conn.execute("ALTER TABLE public.content_posts DROP COLUMN primary_image_url")

    result = run_cli(PUBLISHER, "check", env={**stack.env(), "LINKEDIN_API_VERSION": "202401"})

    assert result.returncode == 1
    out = result.stdout
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 4, out
    assert any("publisher_release" in line for line in problems)
    assert any("primary_image_url" in line for line in problems)
    assert any(f"cannot decrypt the tokens of connection {foreign}" in line for line in problems)
    assert any(f"connection {damaged}" in line and "damaged" in line for line in problems)
    assert good not in out
    today = datetime.now(UTC).date()
    months = (today.year - 2024) * 12 + today.month - 1
    assert f"WARNING  LINKEDIN_API_VERSION 202401 is {months} months old" in out
    lines = out.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(("PROBLEM", "WARNING")):
            assert lines[index + 1].lstrip().startswith("fix: "), line
    assert "sql/migration.sql" in out
    assert "NOT ready" in out
    assert "garbage-not-a-token" not in out
    assert TOKEN not in out


def test_check_with_the_wrong_encryption_key_says_so_once(stack: Stack):
    """When ENCRYPTION_KEY decrypts no connection at all, check names the key, not each connection."""
    with stack.connect() as conn:
        user = seed.user(conn, "owner@example.com")
        for page in ("p1", "p2"):
            seed.connection(conn, stack.encryption_key, user, "facebook", access_token=TOKEN, page_id=page)

    result = run_cli(
        PUBLISHER, "check", env={**stack.env(), "ENCRYPTION_KEY": Fernet.generate_key().decode()}
    )

    assert result.returncode == 1
    assert "PROBLEM  ENCRYPTION_KEY decrypts none of the 2 active connections' tokens" in result.stdout
    assert result.stdout.count("PROBLEM") == 1


def test_check_reports_an_unreachable_database_with_its_fix(stack: Stack):
    """An unreachable SUPABASE_URL is one problem whose fix names the URL and the key; exit 1."""
    result = run_cli(PUBLISHER, "check", env={**stack.env(), "SUPABASE_URL": "http://127.0.0.1:9"})

    assert result.returncode == 1
    assert "PROBLEM  the database API at http://127.0.0.1:9 did not accept the service key" in result.stdout
    assert "fix: check SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY" in result.stdout
    assert stack.service_key not in result.stdout + result.stderr


def test_check_lists_configuration_problems_with_fixes_and_exits_2(stack: Stack):
    """An incomplete configuration is listed problem by problem, each with its fix; exit 2."""
    env = {k: v for k, v in stack.env().items() if k not in ("SUPABASE_URL", "ENCRYPTION_KEY")}

    result = run_cli(PUBLISHER, "check", env=env)

    assert result.returncode == 2
    problems = [line for line in result.stdout.splitlines() if line.startswith("PROBLEM")]
    assert [p.split()[1] for p in problems] == ["SUPABASE_URL", "ENCRYPTION_KEY"]
    assert result.stdout.count("fix: set it in .env") == 2


def test_check_measures_and_prints_the_apis_max_rows(stack: Stack):
    """check reads the effective "Max rows" from the API itself and warns when it is below 1,000."""
    healthy = run_cli(PUBLISHER, "check", env=stack.env())
    assert "ok       the database API returns up to 1000 rows per request" in healthy.stdout
    stack.api.max_rows = 7
    lowered = run_cli(PUBLISHER, "check", env=stack.env())
    assert "WARNING  the database API returns at most 7 rows per request" in lowered.stdout
    assert lowered.returncode == 0  # the publisher pages correctly whatever it is: only a warning


def test_check_warns_about_youtube_videos_made_private_against_the_request(stack: Stack):
    """A video YouTube made private (an unaudited Google project) is named by check as a warning."""
    with stack.connect() as conn:
        user = seed.user(conn, "yt@example.com")
        seed.created_content(
            conn,
            user,
            platform="youtube",
            status="published",
            published_at=datetime.now(UTC),
            metadata={"youtube_privacy": "private", "youtube_privacy_requested": "public"},
        )
    result = run_cli(PUBLISHER, "check", env=stack.env())
    assert "WARNING  1 YouTube video(s) published in the last 7 days were made PRIVATE" in result.stdout
    assert "audit" in result.stdout
