"""Many posts due at once: the burst, the burst beside huge uploads, the burst over four hosts.

Burst: `posts` text posts due now over `posts / per_page` Facebook pages, every platform call
slowed to `platform_ms` and every database call to `db_ms`. Its physical limit is

    max(sum of every post's calls × their latency / concurrency, the longest per-account chain)
    + the idle run (start-up and the empty reads every run pays)

with the calls counted on the simulators and the API stand-in, not assumed. The runner is given
PUBLISH_CONCURRENCY; a runner that does not know the setting runs one post at a time, which the
"most platform calls in flight" figure shows.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    Row,
    Run,
    accounts,
    fresh_stack,
    latencies,
    posts,
    published_times,
    publisher_env,
    run_wrapper,
    seconds,
    start_wrapper,
    statuses,
    wait_wrapper,
)
from devstack.latency import Latency
from devstack.postgres import Cluster
from devstack.stack import Stack

MIB = 1024 * 1024


@dataclass(frozen=True)
class BurstSizes:
    posts: int
    per_page: int
    platform_ms: float
    db_ms: float


@dataclass(frozen=True)
class BurstResult:
    """One measured burst."""

    posts: int
    concurrency: int
    run: Run
    idle: Run
    api_calls: int  # during the burst run, the idle run's own calls taken out
    platform_calls: int
    inflight_max: int  # most platform calls in flight at once
    serial_s: float  # sum over posts of the calls on its path × their latency
    chain_s: float  # the longest per-account chain
    done_at: dict[str, float]  # post text -> seconds from the run's start to its outcome write

    @property
    def limit_s(self) -> float:
        return max(self.serial_s / self.concurrency, self.chain_s) + self.idle.seconds

    @property
    def posts_per_s(self) -> float:
        return self.posts / self.run.seconds


def burst_rows(
    stack: Stack, count: int, per_page: int, due: datetime, tag: str = "burst"
) -> list[dict[str, Any]]:
    pages = accounts(stack, "facebook", -(-count // per_page), f"{tag}-page-")
    return [
        {
            "user_id": pages[i // per_page],
            "platform": "facebook",
            "content_type": "post",
            "content": f"{tag} post {i:05d}",
            "status": "scheduled",
            "scheduled_at": due,
        }
        for i in range(count)
    ]


def settings(concurrency: int) -> dict[str, str]:
    return {"PUBLISH_CONCURRENCY": str(concurrency)}


# A burst alone at a level is measured once per invocation: isolation compares with burst's run.
_ALONE: dict[tuple[BurstSizes, int, int], BurstResult] = {}


def burst_alone(
    cluster: Cluster, workdir: Path, sizes: BurstSizes, posts_count: int, level: int
) -> BurstResult:
    """The burst with nothing else due (measured once per sizes and level)."""
    key = (sizes, posts_count, level)
    if key not in _ALONE:
        _ALONE[key] = measure_burst(cluster, workdir, sizes, posts_count, level)[0]
    return _ALONE[key]


def measure_burst(
    cluster: Cluster,
    workdir: Path,
    sizes: BurstSizes,
    posts_count: int,
    concurrency: int,
    *,
    videos: int = 0,
    video_bytes: int = 0,
    youtube_rate: float = 20e6,
) -> tuple[BurstResult, dict[str, float]]:
    """One burst run (with `videos` YouTube uploads due at the same time); also the videos'
    completion times."""
    latency: dict[str, Latency] = latencies(sizes.platform_ms / 1000, sizes.db_ms / 1000)
    youtube = latency["youtube"]
    latency["youtube"] = Latency(youtube.mean_s, youtube.jitter_s, youtube.seed, youtube_rate)
    with fresh_stack(cluster, latency) as stack:
        name = f"burst-{posts_count}-{concurrency}-{videos}"
        env = publisher_env(stack, workdir, name, settings(concurrency))
        due = datetime.now(UTC) - timedelta(minutes=1)
        rows = burst_rows(stack, posts_count, sizes.per_page, due)
        uploads = [
            {
                "user_id": channel,
                "platform": "youtube",
                "content_type": "long_video",
                "content": f"video post {i}",
                "status": "scheduled",
                "scheduled_at": due,
                "title": f"Benchmark video {i}",
                "media_url": stack.media_url(f"bench-{i}.mp4", video_bytes),
            }
            for i, channel in enumerate(accounts(stack, "youtube", videos, "channel-"))
        ]
        stack.reset_meters()
        idle = run_wrapper(env)  # nothing due yet: what every run pays
        idle_api = stack.request_counts["api"]
        posts(stack, rows)
        posts(stack, uploads)
        stack.reset_meters()
        run = run_wrapper(env)
        api_calls = stack.request_counts["api"] - idle_api
        platform_calls = stack.request_counts["graph"]
        inflight = max(stack.inflight_max[app] for app in ("graph", "youtube"))
        done = published_times(stack, run.started)
        published = statuses(stack).get("published", 0)
        if published != len(rows) + len(uploads):
            expected = len(rows) + len(uploads)
            raise SystemExit(f"{name}: published {published} of {expected}: see {env['LOG_FILE']}")
    per_post = (api_calls * sizes.db_ms + platform_calls * sizes.platform_ms) / 1000 / posts_count
    result = BurstResult(
        posts=posts_count,
        concurrency=concurrency,
        run=run,
        idle=idle,
        api_calls=api_calls,
        platform_calls=platform_calls,
        inflight_max=inflight,
        serial_s=per_post * posts_count,
        chain_s=per_post * sizes.per_page,
        done_at={text: at for text, at in done.items() if text.startswith("burst ")},
    )
    return result, {text: at for text, at in done.items() if text.startswith("video ")}


def burst(
    cluster: Cluster, workdir: Path, sizes: BurstSizes, slice_posts: int, levels: list[int]
) -> list[Row]:
    """Wall time at concurrency 1 (on a slice) and at each level, against the physical limit."""
    rows: list[Row] = []
    base = burst_alone(cluster, workdir, sizes, slice_posts, 1)
    api_each, platform_each = base.api_calls / base.posts, base.platform_calls / base.posts
    label = f"burst c=1 ({base.posts}-post slice)"
    rows += [
        Row("burst", "calls per post (counted)", f"{api_each:.2f} database + {platform_each:.2f} platform"),
        Row(
            "burst", "latency per call", f"{sizes.db_ms:.0f} ms database, {sizes.platform_ms:.0f} ms platform"
        ),
        Row("burst", "idle run (part of every limit)", seconds(base.idle.seconds)),
        *_level_rows(label, base, base),
    ]
    for level in levels:
        result = burst_alone(cluster, workdir, sizes, sizes.posts, level)
        rows += _level_rows(f"burst c={level}", result, base)
        last = max(result.done_at.values())
        rows.append(
            Row(f"burst c={level}", f"all {result.posts} out after", seconds(last), "≤ 60 s", last <= 60)
        )
    return rows


def _level_rows(label: str, result: BurstResult, base: BurstResult) -> list[Row]:
    ratio = result.run.seconds / result.limit_s
    speedup = result.posts_per_s / base.posts_per_s
    rows = [
        Row(label, "wall time", seconds(result.run.seconds)),
        Row(
            label,
            "physical limit",
            f"{seconds(result.limit_s)} (max({result.serial_s:.1f}/{result.concurrency},"
            f" {result.chain_s:.1f}) + {result.idle.seconds:.2f})",
        ),
        Row(label, "wall / limit", f"{ratio:.2f}x", "≤ 1.3x" if result is not base else "", None),
        Row(label, "posts/s", f"{result.posts_per_s:.2f} ({speedup:.1f}x c=1)"),
        Row(label, "most platform calls in flight", str(result.inflight_max)),
    ]
    if result is not base:
        rows[2] = Row(label, "wall / limit", f"{ratio:.2f}x", "≤ 1.3x", ratio <= 1.3)
        rows[3] = Row(label, "posts/s", f"{result.posts_per_s:.2f}", "", None)
        rows.insert(4, Row(label, "posts/s vs c=1", f"{speedup:.1f}x", "≥ 10x", speedup >= 10))
    return rows


def isolation(
    cluster: Cluster, workdir: Path, sizes: BurstSizes, concurrency: int, videos: int, video_bytes: int
) -> list[Row]:
    """The burst's completion times with huge YouTube uploads due at the same time, vs alone."""
    alone = burst_alone(cluster, workdir, sizes, sizes.posts, concurrency)
    mixed, video_done = measure_burst(
        cluster, workdir, sizes, sizes.posts, concurrency, videos=videos, video_bytes=video_bytes
    )
    label = f"isolation c={concurrency}"
    size = f"{videos} x {video_bytes / MIB:.0f} MiB at 20 MB/s"
    rows = [Row(label, "uploads beside the burst", f"{size}, {sizes.posts} text posts")]
    for name, pick in (("median", statistics.median), ("p95", _p95), ("last", max)):
        before, after = pick(list(alone.done_at.values())), pick(list(mixed.done_at.values()))
        goal = "≤ 1.3x alone" if name != "median" else ""
        met = after <= 1.3 * before if goal else None
        rows.append(
            Row(label, f"text posts done, {name}", f"{seconds(after)} vs {seconds(before)} alone", goal, met)
        )
    rows.append(Row(label, "videos done, last", seconds(max(video_done.values()))))
    return rows


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def contention(cluster: Cluster, workdir: Path, sizes: BurstSizes, concurrency: int, hosts: int) -> list[Row]:
    """`hosts` wrappers at once (own lock files) over one burst: wall time and duplicates."""
    latency = latencies(sizes.platform_ms / 1000, sizes.db_ms / 1000)
    with fresh_stack(cluster, latency) as stack:
        due = datetime.now(UTC) - timedelta(minutes=1)
        posts(stack, burst_rows(stack, sizes.posts, sizes.per_page, due))
        envs = [publisher_env(stack, workdir, f"host{i}", settings(concurrency)) for i in range(hosts)]
        started = [start_wrapper(env) for env in envs]
        runs = [wait_wrapper(*one) for one in started]
        first = min(run.started for run in runs)
        wall = max(run.started + run.seconds for run in runs) - first
        sent = Counter(str(post.get("text")) for post in stack.graph.created)
        duplicates = sum(n - 1 for n in sent.values() if n > 1)
        published = statuses(stack).get("published", 0)
        failed_runs = sum(run.returncode != 0 for run in runs)
    label = f"contention {hosts} hosts c={concurrency}"
    return [
        Row(label, "wall time, first start to last end", seconds(wall)),
        Row(
            label,
            "posts published",
            f"{published} of {sizes.posts}",
            "all",
            published == sizes.posts,
        ),
        Row(label, "duplicates on the platform", str(duplicates), "0", duplicates == 0),
        Row(label, "runs that failed", str(failed_runs), "0", failed_runs == 0),
    ]
