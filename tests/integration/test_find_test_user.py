"""find_test_user.py run as a subprocess against the local stack: the stand-in answers
/auth/v1/admin/users from the real auth.users table, so paging is the real client's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devstack import seed
from devstack.stack import Stack
from tests.cli_process import FIND_TEST_USER, run_cli

pytestmark = pytest.mark.integration

TOKEN = "EAAfindTestUserToken0123456789abcdef"


def add_users(stack: Stack, count: int) -> None:
    """`count` users created after everyone else (listed first: the admin API lists newest first)."""
    with stack.connect() as conn:
        conn.execute(
            "INSERT INTO auth.users (email, created_at) "
            "SELECT 'someone' || n || '@example.com', now() + n * interval '1 second' "
            "FROM generate_series(1, %s) AS n",
            (count,),
        )


def test_finds_the_default_user_on_a_later_page_and_prints_what_test_mode_needs(stack: Stack):
    """services@atsnai.com is found past two full pages; connections, counts and .env lines are printed."""
    now = datetime.now(UTC)
    with stack.connect() as conn:
        user = seed.user(conn, "Services@Atsnai.com")
        other = seed.user(conn, "other@example.com")
        seed.connection(
            conn, stack.encryption_key, user, "facebook", access_token=TOKEN, page_name="Acme Page"
        )
        seed.connection(
            conn,
            stack.encryption_key,
            user,
            "linkedin",
            access_token="AQVlinkedinTokenForFindTestUser0123456789",
            page_name="Acme LinkedIn",
            is_active=False,
            connection_status="expired",
        )
        for _ in range(2):
            seed.created_content(conn, user, scheduled_at=now + timedelta(hours=1))
        seed.created_content(conn, user, status="published")
        seed.created_content(conn, other, scheduled_at=now)
        campaign = seed.campaign(conn, user)
        seed.content_post(conn, campaign, scheduled_date="2026-12-01", scheduled_time="09:00")
        seed.content_post(
            conn, seed.campaign(conn, other), scheduled_date="2026-12-01", scheduled_time="09:00"
        )
    add_users(stack, 110)

    result = run_cli(FIND_TEST_USER, env=stack.env())

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"user id:  {user}" in out
    assert "Acme Page (page facebook-page-1) active" in out
    assert "Acme LinkedIn (page linkedin-page-1) INACTIVE (expired)" in out
    assert "created_content  2" in out
    assert "content_posts    1" in out
    assert out.rstrip().endswith(f"TEST_USER_ID={user}\nTEST_USER_EMAIL=Services@Atsnai.com")
    assert TOKEN not in out
    assert "gAAAAA" not in out  # no ciphertext either


def test_not_found_exits_1_naming_how_many_users_were_searched(stack: Stack):
    """An unknown TEST_USER_EMAIL exits 1 with a hint; a page count that divides evenly still ends."""
    add_users(stack, 100)

    result = run_cli(FIND_TEST_USER, env={**stack.env(), "TEST_USER_EMAIL": "nobody@example.com"})

    assert result.returncode == 1
    assert "nobody@example.com among the 100 users" in result.stderr
    assert "Check the spelling" in result.stderr


def test_email_option_wins_over_test_user_email(stack: Stack):
    """--email is looked up instead of TEST_USER_EMAIL."""
    with stack.connect() as conn:
        wanted = seed.user(conn, "tester@example.com")
        seed.user(conn, "configured@example.com")

    result = run_cli(
        FIND_TEST_USER,
        "--email",
        "tester@example.com",
        env={**stack.env(), "TEST_USER_EMAIL": "configured@example.com"},
    )

    assert result.returncode == 0, result.stderr
    assert f"TEST_USER_ID={wanted}" in result.stdout
    assert "connections:\n  none" in result.stdout


def test_configuration_error_exits_2(stack: Stack):
    """Without the service-role key nothing is asked and the exit code is 2."""
    env = {k: v for k, v in stack.env().items() if k != "SUPABASE_SERVICE_ROLE_KEY"}

    result = run_cli(FIND_TEST_USER, env=env)

    assert result.returncode == 2
    assert "SUPABASE_SERVICE_ROLE_KEY" in result.stderr
