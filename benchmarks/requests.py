"""What one post costs, by platform and kind: platform requests, media downloads, and the
database writes on the post's own path (progress notes and the outcome), counted.

Every sample post of the sandbox (one per platform and kind) is published alone with
`--post-id` through the real wrapper against a stack without added latency. Requests to each
simulator and to the media host are counted by the stack's meters; the database calls are
counted by name at the API stand-in, so the writes a post costs (claim and reads are per batch
and per run) are told apart from the run's own reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks.harness import Row, fresh_stack, publisher_env, run_wrapper
from devstack import seed
from devstack.postgres import Cluster
from devstack.sandbox import seed_samples
from devstack.server import WSGIApp

# Database calls that belong to one post's path; everything else is per batch or per run.
PER_POST = ("publisher_note", "publisher_mark_published", "publisher_mark_failed", "publisher_defer")
RUN_APPS = ("api", "media")


class _CountingCalls:
    """Counts the API stand-in's requests by method and path (RPC names included)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.calls: Counter[str] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.calls[str(environ.get("PATH_INFO", "")).rsplit("/", 1)[-1]] += 1
        return self.app(environ, start_response)


def requests_per_post(cluster: Cluster, workdir: Path) -> list[Row]:
    """One row per sample post that publishes: platform requests, media downloads, database writes."""
    rows: list[Row] = []
    with fresh_stack(cluster) as stack:
        counting = _CountingCalls(stack.meters["api"].app)
        stack.meters["api"].app = counting
        samples = seed_samples(stack)
        env = publisher_env(stack, workdir, "requests", {})
        for table, post_id, description in samples:
            with stack.connect() as conn:
                if seed.row(conn, table, post_id)["status"] != "scheduled":
                    continue
            stack.reset_meters()
            counting.calls.clear()
            run_wrapper(env, "--post-id", post_id)
            with stack.connect() as conn:
                status = seed.row(conn, table, post_id)["status"]
            if status != "published":
                continue
            platform = {name: n for name, n in stack.request_counts.items() if name not in RUN_APPS and n}
            writes = sum(counting.calls[name] for name in PER_POST)
            detail = ", ".join(f"{n} {name}" for name, n in sorted(platform.items()))
            rows.append(
                Row(
                    "requests",
                    description,
                    f"{sum(platform.values())} platform ({detail}); {stack.request_counts['media']} media; "
                    f"{writes} database writes",
                )
            )
    return rows
