"""A throwaway PostgreSQL 15 cluster for tests and the sandbox.

initdb refuses to run as root, so as root the cluster runs as an unprivileged system user
(`pgtest`, created on first use). The data directory lives in a fresh temp dir, the socket
stays inside it, and the server listens on 127.0.0.1 only. Durability settings are off: this
database exists for seconds.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
RUN_AS = "pgtest"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_user() -> None:
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS],
            check=True,
        )


def _as_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", RUN_AS, "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class Cluster:
    """A running cluster: connect with `dsn` (user postgres, trust auth, database postgres)."""

    root: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, database: str) -> str:
        """The DSN of another database on this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server and delete its files."""
        subprocess.run(
            _as_user(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"]
            ),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Cluster:
    """initdb and start a new cluster on a free loopback port (about 0.7 s)."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(
            f"PostgreSQL binaries not found in {PG_BIN}: run ./scripts/bootstrap.sh (installs postgresql-15)"
        )
    root = Path(tempfile.mkdtemp(prefix="publisher-pg-"))
    if os.geteuid() == 0:
        _ensure_user()
        shutil.chown(root, user=RUN_AS)
    data = root / "data"
    init = _as_user(
        [
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]
    )
    subprocess.run(init, check=True, capture_output=True)
    port = _free_port()
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=200 -c timezone=UTC"
    )
    start = _as_user(
        [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start"]
    )
    result = subprocess.run(start, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{log}")
    return Cluster(root=root, port=port)


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    """A cluster for the duration of a `with` block."""
    running = start_cluster()
    try:
        yield running
    finally:
        running.stop()
