"""Every benchmark of the publisher, against the local stack, as one table of figures.

    ./scripts/bench.sh                     # all of them, full sizes (tens of minutes)
    ./scripts/bench.sh --quick             # all of them, small sizes (about a minute)
    ./scripts/bench.sh burst idle          # only these
    ./scripts/bench.sh --help              # every size flag

Benchmarks: burst, isolation, idle, memory, contention, requests (docs/PERFORMANCE.md explains each, its
goals and the latest figures). Figures, ratios and goals are printed; nothing asserts, so a
slower machine gives slower figures, not a failure.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.burst import BurstSizes, burst, contention, isolation
from benchmarks.harness import Row, machine, table, workdir
from benchmarks.idle import idle
from benchmarks.memory import memory
from benchmarks.requests import requests_per_post
from devstack.postgres import Cluster, cluster

NAMES = ("burst", "isolation", "idle", "memory", "contention", "requests")
MIB = 1024 * 1024

# Sizes: (full, quick). The quick ones only prove every benchmark runs end to end.
DEFAULTS: dict[str, tuple[float, float]] = {
    "posts": (2000, 60),
    "per_page": (10, 10),
    "slice": (200, 20),
    "platform_ms": (150, 20),
    "db_ms": (30, 5),
    "videos": (3, 2),
    "video_mib": (1024, 16),
    "image_mb": (50, 5),
    "together": (8, 2),
    "backlog": (100_000, 5_000),
    "hosts": (4, 4),
    "repeat": (5, 3),
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "benchmarks", nargs="*", choices=[[], *NAMES], metavar="BENCHMARK", help=", ".join(NAMES)
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of about a minute")
    parser.add_argument("--concurrency", default="16,32", help="burst levels (default 16,32)")
    size = parser.add_argument_group("sizes (defaults: full / --quick)")
    for name, (full, quick) in DEFAULTS.items():
        size.add_argument(
            f"--{name.replace('_', '-')}", type=type(full), default=None, help=f"{full:g} / {quick:g}"
        )
    args = parser.parse_args(argv)
    for name, (full, quick) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, float(quick if args.quick else full))
    args.levels = [int(level) for level in args.concurrency.split(",") if level.strip()]
    args.benchmarks = args.benchmarks or list(NAMES)
    return args


def runners(args: argparse.Namespace, work: Path) -> dict[str, Callable[[Cluster], list[Row]]]:
    sizes = BurstSizes(int(args.posts), int(args.per_page), args.platform_ms, args.db_ms)
    video_bytes = int(args.video_mib * MIB)
    level = args.levels[0] if args.levels else 16
    return {
        "burst": lambda c: burst(c, work, sizes, int(args.slice), args.levels),
        "isolation": lambda c: isolation(c, work, sizes, level, int(args.videos), video_bytes),
        "idle": lambda c: idle(c, work, int(args.backlog), int(args.repeat)),
        "memory": lambda c: memory(c, work, video_bytes, int(args.image_mb * 1e6), int(args.together)),
        "contention": lambda c: contention(c, work, sizes, level, int(args.hosts)),
        "requests": lambda c: requests_per_post(c, work),
    }


def main(argv: list[str]) -> int:
    args = parse(argv)
    work = workdir()
    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    print(f"logs: {work}", flush=True)
    rows: list[Row] = []
    todo = runners(args, work)
    with cluster() as pg:
        for name in args.benchmarks:
            started = time.perf_counter()
            print(f"running {name} ...", file=sys.stderr, flush=True)
            done = todo[name](pg)
            rows += done
            # Each benchmark's figures as soon as they exist: a long run that fails later keeps them.
            print(f"  {name} took {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
            print(table(done), file=sys.stderr, flush=True)
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
