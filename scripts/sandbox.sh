#!/usr/bin/env bash
# See the product work locally, with no account anywhere: starts a throwaway PostgreSQL, the
# PostgREST-compatible API and the platform simulators on loopback, seeds sample posts, runs
# the real cron wrapper once, prints what happened, and cleans up.
#   ./scripts/sandbox.sh          one run, then clean up
#   ./scripts/sandbox.sh --keep   leave the stack running to try the other commands
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
./scripts/bootstrap.sh
exec .venv/bin/python -m devstack.sandbox "$@"
