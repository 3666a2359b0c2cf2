#!/usr/bin/env bash
# Every benchmark against the local stack (throwaway PostgreSQL, API stand-in, simulators with
# production-like latency), printed as one table of figures, ratios and goals.
#   ./scripts/bench.sh [--quick] [burst|isolation|idle|memory|contention ...] [size flags]
# ./scripts/bench.sh --help lists the size flags; docs/PERFORMANCE.md holds the latest figures.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
./scripts/bootstrap.sh >/dev/null

# The publisher must not pick up a developer's .env.
export PUBLISHER_ENV_FILE=none
exec .venv/bin/python -m benchmarks "$@"
