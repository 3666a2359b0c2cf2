"""Benchmarks of a publishing run, printed as figures against a baseline or the physical floor.

    .venv/bin/python -m benchmarks.bench_run [--posts 300] [--repeat 7]

1. Idle run: the real wrapper against an empty database, compared with the floor any run pays
   (starting Python and importing supabase-py + httpx), and the number of API requests it makes.
2. Throughput: N due Facebook posts in one run, compared with the floor set by the HTTP round
   trips each post needs (claim share, sending note, the platform call, permalink, outcome
   write, connection reads), each measured on the same loopback servers.
Loopback stand-ins make the platform and database free, so what remains is our own overhead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from devstack import seed
from devstack.postgres import start_cluster
from devstack.server import serve
from devstack.stack import ROOT, start_stack

WRAPPER = ROOT / "scripts" / "run_content_publisher.sh"
PYTHON = ROOT / ".venv" / "bin" / "python"


class Counter:
    """WSGI middleware counting requests."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self.lock:
            self.count += 1
        return self.app(environ, start_response)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def median_of(repeat: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(repeat))


def round_trip(url: str, repeat: int = 200) -> float:
    """Median seconds of one keep-alive GET to a loopback server."""
    with httpx.Client() as client:
        client.get(url)
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(url)
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    cluster = start_cluster()
    stack = start_stack(cluster)
    counter = Counter(stack.api)
    counted = serve(counter)
    workdir = Path(tempfile.mkdtemp(prefix="publisher-bench-"))
    env = {
        **os.environ,
        **stack.env(),
        "SUPABASE_URL": counted.url,
        "LOG_FILE": str(workdir / "bench.log"),
        "PUBLISHER_LOCK_FILE": str(workdir / "bench.lock"),
        "PUBLISH_RUN_BUDGET": "1h",
        "PUBLISH_BATCH_SIZE": "20",
    }
    try:
        python_floor = median_of(args.repeat, lambda: timed([str(PYTHON), "-c", "pass"]))
        import_floor = median_of(args.repeat, lambda: timed([str(PYTHON), "-c", "import supabase, httpx"]))
        timed([str(WRAPPER)], env)  # warm the disk cache
        counter.count = 0
        idle = median_of(args.repeat, lambda: timed([str(WRAPPER)], env))
        idle_requests = counter.count / args.repeat
        print("== idle run (empty database)")
        print(f"python start            {python_floor * 1000:7.0f} ms")
        print(f"import supabase + httpx {import_floor * 1000:7.0f} ms   (floor of any run)")
        print(
            f"idle wrapper run        {idle * 1000:7.0f} ms   = {idle / import_floor:.2f} x the import floor"
        )
        print(f"API requests per idle run: {idle_requests:.0f}")

        with stack.connect() as conn:
            user = seed.user(conn, "bench@example.com")
            seed.connection(
                conn,
                stack.encryption_key,
                user,
                "facebook",
                access_token="EAAbenchmarkToken0123456789abcdef",
                page_id="999",
            )
            now = datetime.now(UTC)
            for i in range(args.posts):
                seed.created_content(conn, user, scheduled_at=now, content=f"bench {i}")
        counter.count = 0
        before = len(stack.graph.requests)
        elapsed = timed([str(WRAPPER)], env)
        api_requests = counter.count
        platform_requests = len(stack.graph.requests) - before
        published = len(stack.graph.created)
        if published != args.posts:
            raise SystemExit(f"published {published} of {args.posts}: see {workdir / 'bench.log'}")
        api_rtt = round_trip(f"{counted.url}/rest/v1/profiles?select=id&limit=1")
        graph_rtt = round_trip(f"{stack.urls['graph']}/v27.0/999?fields=id")
        floor = api_requests * api_rtt + platform_requests * graph_rtt
        run_only = elapsed - idle
        print(f"\n== {args.posts} due Facebook posts in one run (sequential)")
        per_post_ms = run_only / args.posts * 1000
        print(f"run time                {elapsed:7.2f} s   ({per_post_ms:.1f} ms per post beyond idle)")
        api_each, platform_each = api_requests / args.posts, platform_requests / args.posts
        print(f"requests per post       {api_each:7.2f} API + {platform_each:.2f} platform")
        print(f"median round trip       {api_rtt * 1000:7.2f} ms API, {graph_rtt * 1000:.2f} ms platform")
        print(f"round-trip floor        {floor:7.2f} s   -> run time = {run_only / floor:.2f} x the floor")
    finally:
        counted.close()
        stack.close()
        cluster.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
