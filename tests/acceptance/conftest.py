"""Running the real cron wrapper as a subprocess against the local stack."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import seed
from devstack.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "scripts" / "run_content_publisher.sh"


@dataclass
class WrapperRun:
    """A finished wrapper run: exit code, output and the log file's text."""

    returncode: int
    stdout: str
    stderr: str
    log: str


Runner = Callable[..., WrapperRun]


def wrapper_env(stack: Stack, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A cron-like environment: only PATH/HOME plus the stack's settings and a private log."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update(stack.env())
    env["LOG_FILE"] = str(tmp_path / "publisher.log")
    env["PUBLISHER_LOCK_FILE"] = str(tmp_path / "publisher.lock")
    env.update(overrides)
    return env


@pytest.fixture
def run_wrapper(stack: Stack, tmp_path: Path) -> Runner:
    """Run scripts/run_content_publisher.sh from another directory, as cron would."""

    def run(*args: str, timeout: float = 60, **overrides: str) -> WrapperRun:
        env = wrapper_env(stack, tmp_path, **overrides)
        result = subprocess.run(
            [str(WRAPPER), *args],
            env=env,
            cwd="/",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        log_path = Path(env["LOG_FILE"])
        log = log_path.read_text() if log_path.exists() else ""
        return WrapperRun(result.returncode, result.stdout, result.stderr, log)

    return run


FACEBOOK_PAGE = "104958162837461"
# Settings under which a killed run's claims are taken over within seconds (the lease must allow
# four database timeouts and outlast the budget), and how long to wait for that.
SHORT_LEASE = {"PUBLISH_CLAIM_LEASE": "4s", "SUPABASE_TIMEOUT_SECONDS": "1", "PUBLISH_RUN_BUDGET": "3s"}
PAST_SHORT_LEASE_S = 4.2


def facebook_user(
    stack: Stack, token: str, email: str = "owner@example.com", timezone: str | None = "Asia/Kolkata"
) -> str:
    """A user (with a profile timezone) and an active Facebook Page connection holding `token`."""
    with stack.connect() as conn:
        user = seed.user(conn, email, timezone)
        seed.connection(
            conn,
            stack.encryption_key,
            user,
            "facebook",
            access_token=token,
            page_id=FACEBOOK_PAGE,
            page_name="Acme Bakery",
        )
    return user
