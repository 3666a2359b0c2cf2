"""What every benchmark shares: the machine, a stack per measurement, the real wrapper as a
process (wall time and peak memory), bulk seeding, and the one table of figures.

The publisher always runs as `scripts/run_content_publisher.sh`, a separate process, exactly as
cron starts it: the figures include interpreter start-up, imports and the lock, as production
pays them. Calls are counted by the stack's meters (devstack/latency.py), never assumed.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from devstack import seed
from devstack.latency import Latency
from devstack.postgres import Cluster
from devstack.stack import ROOT, Stack, create_database, start_stack

WRAPPER = ROOT / "scripts" / "run_content_publisher.sh"
PYTHON = ROOT / ".venv" / "bin" / "python"
PLATFORM_APPS = ("graph", "linkedin", "youtube", "google")


@dataclass(frozen=True)
class Row:
    """One figure of the results table."""

    bench: str
    figure: str
    value: str
    goal: str = ""
    met: bool | None = None

    @property
    def verdict(self) -> str:
        return "" if self.met is None else "yes" if self.met else "NO"


@dataclass(frozen=True)
class Run:
    """One wrapper process: when it started (epoch), how long it took, its peak memory."""

    started: float
    seconds: float
    peak_rss_mib: float
    returncode: int


def latencies(platform_s: float, database_s: float, jitter: float = 0.1) -> dict[str, Latency]:
    """Every platform simulator at `platform_s`, the API stand-in at `database_s`, ±`jitter` of each."""
    out = {name: Latency(platform_s, platform_s * jitter, seed=i) for i, name in enumerate(PLATFORM_APPS)}
    out["api"] = Latency(database_s, database_s * jitter, seed=99)
    return out


@contextmanager
def fresh_stack(cluster: Cluster, latency: Mapping[str, Latency] | None = None) -> Iterator[Stack]:
    """A stack over a new database; the database is dropped afterwards (benchmarks seed a lot)."""
    database = create_database(cluster)
    stack = start_stack(cluster, database, latency=latency)
    try:
        yield stack
    finally:
        stack.close()
        drop_database(cluster, database)


def drop_database(cluster: Cluster, database: str) -> None:
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def publisher_env(stack: Stack, workdir: Path, name: str, settings: Mapping[str, str]) -> dict[str, str]:
    """The wrapper's environment: the stack's, production's upload chunk size, no run budget,
    its own log and lock file (one lock file per simulated host), plus `settings` (e.g.
    PUBLISH_CONCURRENCY, which a runner that does not know it yet simply ignores)."""
    env = {**os.environ, **stack.env()}
    env.pop("YOUTUBE_CHUNK_BYTES")  # the tests' small chunks would multiply the upload's round trips
    env.update(
        {
            "LOG_FILE": str(workdir / f"{name}.log"),
            "PUBLISHER_LOCK_FILE": str(workdir / f"{name}.lock"),
            "PUBLISH_RUN_BUDGET": "6h",
            "PUBLISH_CLAIM_LEASE": "7h",  # a lease must outlast the budget
            "HTTP_TIMEOUT_SECONDS": "60",
            **settings,
        }
    )
    return env


def start_wrapper(env: Mapping[str, str], *args: str) -> tuple[subprocess.Popen[bytes], float]:
    """Start the wrapper; returns the process and its start time (epoch seconds)."""
    started = time.time()
    process = subprocess.Popen(
        [str(WRAPPER), *args], env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return process, started


def wait_wrapper(process: subprocess.Popen[bytes], started: float) -> Run:
    """Wait for a started wrapper. wait4 reports the peak RSS of the wrapper and of every
    descendant it waited for, i.e. the publisher's Python process."""
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.time() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Run(started, seconds, usage.ru_maxrss / 1024, process.returncode)


def run_wrapper(env: Mapping[str, str], *args: str) -> Run:
    """Run the wrapper to its end."""
    return wait_wrapper(*start_wrapper(env, *args))


def timed(cmd: Sequence[str]) -> float:
    started = time.perf_counter()
    subprocess.run(list(cmd), check=True, capture_output=True)
    return time.perf_counter() - started


def median_of(repeat: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(repeat))


# ---- seeding ------------------------------------------------------------------------------------


def accounts(stack: Stack, platform_name: str, count: int, prefix: str) -> list[str]:
    """`count` users with one connection each to `platform_name`; their user ids."""
    users = []
    with stack.connect() as conn, conn.transaction():
        for i in range(count):
            user = seed.user(conn, f"{prefix}{i}@bench.example")
            seed.connection(
                conn,
                stack.encryption_key,
                user,
                platform_name,
                access_token=f"bench-{platform_name}-token-{i:05d}-0123456789abcdef",
                refresh_token=f"bench-{platform_name}-refresh-{i:05d}",
                page_id=f"{prefix}{i:05d}",
                linkedin_id=f"{prefix}{i:05d}",
            )
            users.append(user)
    return users


def posts(stack: Stack, rows: Sequence[Mapping[str, Any]]) -> None:
    """created_content rows in one transaction (each a dict of columns; same keys in every row)."""
    if not rows:
        return
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    with stack.connect() as conn, conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO public.created_content ({names}) VALUES ({marks})",  # noqa: S608 (our names)
            [[row[c] for c in columns] for row in rows],
        )


def published_times(stack: Stack, since: float) -> dict[str, float]:
    """Seconds from `since` (epoch) to each published post's outcome write, by post text."""
    with stack.connect() as conn:
        rows = conn.execute(
            "SELECT content, extract(epoch FROM published_at)::float8 FROM public.created_content"
            " WHERE status = 'published'"
        ).fetchall()
    return {str(text): float(str(at)) - since for text, at in rows}


def statuses(stack: Stack) -> dict[str, int]:
    with stack.connect() as conn:
        rows = conn.execute("SELECT status, count(*) FROM public.created_content GROUP BY 1").fetchall()
    return {str(status): int(str(n)) for status, n in rows}


# ---- the machine and the table ------------------------------------------------------------------


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        mem_kib = int(next(line for line in info if line.startswith("MemTotal")).split()[1])
    postgres = subprocess.run(
        [str(Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")) / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "postgresql": postgres or "unknown",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def table(rows: Sequence[Row]) -> str:
    """The results as one Markdown table (readable in a terminal, pasted as is into the docs)."""
    head = ("benchmark", "figure", "value", "goal", "met")
    cells = [head, *((r.bench, r.figure, r.value, r.goal, r.verdict) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), rule, *(line(c) for c in cells[1:])])


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="publisher-bench-"))


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"
