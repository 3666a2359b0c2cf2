"""X rotates refresh tokens: two hosts whose posts hit one expired connection at the same moment
refresh it once, store the new pair, and both publish (through the real wrapper)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from devstack import seed
from devstack.stack import Stack
from tests.acceptance.conftest import WRAPPER, wrapper_env

pytestmark = pytest.mark.acceptance


def test_two_hosts_refresh_one_rotating_connection_once(stack: Stack, tmp_path: Path):
    """Each host publishes its own post of one X account at once: one refresh, no spent token reused."""
    with stack.connect() as conn:
        user = seed.user(conn, "rotate@example.com")
        connection = seed.connection(
            conn,
            stack.encryption_key,
            user,
            "twitter",
            access_token="expired-x-access-0123456789",
            refresh_token="x-refresh-0123456789",
            page_id=stack.x.user_id,
            page_username=stack.x.username,
        )
        posts = [
            seed.created_content(
                conn, user, platform="twitter", content=f"rotation {i}", scheduled_at=datetime.now(UTC)
            )
            for i in range(4)
        ]
    hosts = []
    for number, post in enumerate(posts):
        env = wrapper_env(
            stack,
            tmp_path,
            PUBLISHER_LOCK_FILE=str(tmp_path / f"host{number}.lock"),
            LOG_FILE=str(tmp_path / f"host{number}.log"),
        )
        hosts.append(
            subprocess.Popen(
                [str(WRAPPER), "--post-id", post],
                env=env,
                cwd="/",
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    assert [host.wait(timeout=60) for host in hosts] == [0, 0, 0, 0]

    assert len(stack.x.refreshes) == 1
    assert stack.x.reused_refresh_tokens == []
    with stack.connect() as conn:
        assert {seed.row(conn, "created_content", post)["status"] for post in posts} == {"published"}
        stored = conn.execute(
            "SELECT refresh_token_encrypted FROM platform_connections WHERE id = %s", (connection,)
        ).fetchone()
    assert stored is not None
    [(_, issued)] = stack.x.refreshes
    assert Fernet(stack.encryption_key.encode()).decrypt(stored[0].encode()).decode() == issued
    assert len(stack.x.created) == 4
