"""The command line of scripts/run_content_publisher.py: parse, configure, run, exit code.

Exit codes: 0 the run completed (a post that failed is an outcome, not a run failure);
1 the run itself failed (database unreachable, wrong ENCRYPTION_KEY, a bug);
2 usage or configuration error (nothing was done).
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx

from services.config import VARIABLES, Config, load_config, read_environment, secret_values
from services.content_publisher import ContentPublisher
from services.errors import ConfigError, EncryptionKeyError, StoreError
from services.logs import setup_logging
from services.policy import RetryRules
from services.posts import TABLES
from services.redaction import register_secret, scrub
from services.runner import Runner, RunOptions, RunSettings, Summary
from services.store import Store, make_client
from services.tokens import TokenCipher

log = logging.getLogger("publisher")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _environment_help() -> str:
    width = max(len(name) for name in VARIABLES)
    lines = ["environment variables (also read from .env in the project root):"]
    for name, (default, description) in VARIABLES.items():
        suffix = f" [default: {default}]" if default else ""
        lines.append(f"  {name.ljust(width)}  {description}{suffix}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; `--help` documents every option and environment variable."""
    parser = argparse.ArgumentParser(
        prog="run_content_publisher",
        description="Publish every scheduled post that is due, exactly once. Run it from cron every minute.",
        epilog=_environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="show what is due and what would be sent; no writes, no platform calls",
    )
    parser.add_argument(
        "--post-id",
        action="append",
        default=[],
        metavar="ID",
        help="publish this post now if it is scheduled, due or not (repeatable)",
    )
    parser.add_argument("--table", choices=TABLES, help="only this table")
    parser.add_argument("--limit", type=int, metavar="N", help="settle at most N posts this run")
    parser.add_argument(
        "--user-id", metavar="UUID", help="test mode: only this user's posts (as TEST_USER_ID)"
    )
    return parser


def make_run_id() -> str:
    """A run id that says which server ran it."""
    return f"{socket.gethostname().split('.')[0]}-{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(UTC)


def build_runner(config: Config, run_id: str, http: httpx.Client) -> tuple[Runner, Store]:
    """Wire the run's parts together (the composition root)."""
    store = Store(make_client(config))
    publisher = ContentPublisher(
        store,
        TokenCipher(config.encryption_key),
        config.platforms,
        http,
        run_id=run_id,
        rules=RetryRules(config.max_attempts, config.retry_delay, config.rate_limit_delay),
        now=_now,
        sleep=time.sleep,
    )
    settings = RunSettings(config.max_lateness, config.claim_lease, config.run_budget, config.batch_size)
    return Runner(store, publisher, settings, run_id=run_id, now=_now), store


def summary_line(summary: Summary) -> str:
    """The one closing line of a run."""
    return (
        f"run {summary.run_id} finished: claimed={summary.claimed} published={summary.published} "
        f"failed={summary.failed} expired={summary.expired} deferred={summary.deferred} "
        f"released={summary.released} duration={summary.seconds:.2f}s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    env = read_environment()
    register_secret(*secret_values(env))
    try:
        config = load_config(env, test_user_id=args.user_id)
    except ConfigError as exc:
        print(f"Configuration error (nothing was done):\n{exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.limit is not None and args.limit < 1:
        print("--limit must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        post_ids = tuple(str(uuid.UUID(value)) for value in args.post_id)
    except ValueError:
        print("--post-id takes a post id (a UUID)", file=sys.stderr)
        return EXIT_USAGE
    register_secret(*config.secrets())
    setup_logging(config.log)
    run_id = make_run_id()
    options = RunOptions(
        tables=(args.table,) if args.table else TABLES,
        post_ids=post_ids,
        limit=args.limit,
        user_id=config.test_user_id,
    )
    if config.test_user_id:
        log.info("run %s started in TEST MODE: only user %s", run_id, config.test_user_id)
    else:
        log.info("run %s started", run_id)
    timeout = httpx.Timeout(
        config.platforms.http_timeout_s, connect=min(10.0, config.platforms.http_timeout_s)
    )
    with httpx.Client(timeout=timeout, follow_redirects=True) as http:
        try:
            runner, _ = build_runner(config, run_id, http)
            summary = runner.run(options)
        except (StoreError, EncryptionKeyError) as exc:
            log.error("run %s failed: %s", run_id, scrub(str(exc)))
            return EXIT_FAILED
        except Exception:
            log.exception("run %s failed with an unexpected error", run_id)
            return EXIT_FAILED
    log.info(summary_line(summary))
    return EXIT_OK
