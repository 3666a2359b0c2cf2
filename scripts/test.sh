#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, linters, type checks, then every test layer
# (unit, stand-in and simulator contracts, integration on real PostgreSQL, acceptance through
# the real wrapper). Arguments go to pytest, e.g. ./scripts/test.sh tests/unit -k due
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
./scripts/bootstrap.sh

# Tests must not pick up a developer's .env or a production log.
export PUBLISHER_ENV_FILE=none

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
