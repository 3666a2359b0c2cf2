#!/usr/bin/env bash
# Cron entry point: `* * * * * /path/to/project/scripts/run_content_publisher.sh`
#
# Works from any directory and from cron's bare environment; uses the project's virtualenv;
# lets only one run at a time on this host (a second one logs one line and exits 0); appends
# everything to the log file exactly once, even when the crontab line redirects there too;
# passes its arguments to scripts/run_content_publisher.py and returns its exit code.
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
export LANG="${LANG:-C.UTF-8}" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

PYTHON="${PUBLISHER_PYTHON:-$ROOT/.venv/bin/python}"
# The same file the Python side logs to (LOG_FILE, relative to the project root; "-" = stderr),
# taken from the environment or else from the env file, as the Python side reads it.
ENV_FILE="${PUBLISHER_ENV_FILE:-$ROOT/.env}"
if [ -z "${LOG_FILE:-}" ] && [ -f "$ENV_FILE" ]; then
    LOG_FILE="$(sed -n 's/^[[:space:]]*\(export[[:space:]]\+\)\?LOG_FILE[[:space:]]*=[[:space:]]*//p' "$ENV_FILE" \
        | tail -n 1 | tr -d "\"'\r")"
fi
LOG_FILE="${LOG_FILE:-logs/content_publisher.log}"
case "$LOG_FILE" in
    -) LOG_FILE=/dev/stderr ;;
    /*) ;;
    *) LOG_FILE="$ROOT/$LOG_FILE" ;;
esac
LOCK_FILE="${PUBLISHER_LOCK_FILE:-$ROOT/logs/content_publisher.lock}"
mkdir -p "$(dirname "$LOG_FILE")" "$(dirname "$LOCK_FILE")"

log_line() {
    printf '%s %s wrapper: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" "$1" "$2" >>"$LOG_FILE"
    # A person at a terminal sees it too; cron's redirect would only duplicate it.
    [ -t 2 ] && printf '%s\n' "$2" >&2
    return 0
}

if [ ! -x "$PYTHON" ]; then
    log_line ERROR "no virtualenv at $ROOT/.venv: run ./scripts/bootstrap.sh first"
    exit 1
fi

# One run per host. flock releases the lock when this process ends, however it ends, so a
# killed run never leaves a stale lock behind.
exec 9>>"$LOCK_FILE"
if ! flock -n 9; then
    log_line INFO "a publisher run is still active on this host; skipping this one"
    exit 0
fi

# Python writes its log lines to the log file itself (rotating it). What it prints outside the
# log (a crash before logging starts) is appended here, unless our output already goes there.
if [ -t 1 ] || [ /dev/stdout -ef "$LOG_FILE" ]; then
    "$PYTHON" "$ROOT/scripts/run_content_publisher.py" "$@"
else
    "$PYTHON" "$ROOT/scripts/run_content_publisher.py" "$@" >>"$LOG_FILE" 2>&1
fi
exit $?
