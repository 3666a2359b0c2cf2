#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian 12 machine, idempotently:
#   ./scripts/bootstrap.sh          development: PostgreSQL 15 (for tests and the sandbox),
#                                   the virtualenv with runtime + test requirements
#   ./scripts/bootstrap.sh --prod   production server: the virtualenv with runtime requirements only
# Re-running is cheap: each step is skipped when already done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE="${1:-dev}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

say() { printf '[bootstrap] %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        say "need root to run: $* (run this script as root or install sudo)"; exit 1
    fi
}

if [ "$MODE" != "--prod" ]; then
    if [ ! -x "$PG_BIN/initdb" ] || ! command -v runuser >/dev/null || ! command -v flock >/dev/null; then
        say "installing PostgreSQL 15 from Debian's packages"
        export DEBIAN_FRONTEND=noninteractive
        as_root apt-get update -qq
        as_root apt-get install -y -qq --no-install-recommends postgresql-15 util-linux >/dev/null
    fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    say "creating the virtualenv in .venv"
    "$PYTHON" -m venv .venv || {
        say "python3 -m venv failed: install Debian's python3-venv (apt-get install python3-venv)"; exit 1; }
fi

REQS=requirements-dev.txt
[ "$MODE" = "--prod" ] && REQS=requirements.txt
STAMP=".venv/.installed-$(basename "$REQS" .txt)"
WANT="$(cat requirements.txt "$REQS" | sha256sum | cut -c1-16)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    say "installing $REQS"
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$REQS"
    echo "$WANT" >"$STAMP"
fi
mkdir -p logs
say "ready"
