"""The command line of scripts/run_content_publisher.py: parse, configure, run, exit code.

Commands:
- (none)       one publishing run; `--dry-run` shows what it would do instead;
- `status`     counts per table and platform (`--json` for machines);
- `check`      is this server ready: configuration, database, migration, tokens, platforms.

Exit codes: 0 the run completed (a post that failed is an outcome, not a run failure);
1 the run itself failed (database unreachable, wrong ENCRYPTION_KEY, a bug), or `check` found a
problem; 2 usage or configuration error (nothing was done).
"""

from __future__ import annotations

import argparse
import functools
import logging
import socket
import ssl
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import httpx

from services import heartbeat
from services.candidates import RunOptions, read_candidates
from services.config import VARIABLES, Config, load_config, read_environment, secret_values
from services.content_publisher import ContentPublisher
from services.decisions import Action, to_settle
from services.errors import ConfigError, EncryptionKeyError, StoreError
from services.ledger import Ledger
from services.logs import setup_logging
from services.policy import RetryRules
from services.posts import TABLES
from services.redaction import register_secret, scrub
from services.runner import Runner, RunSettings, Summary
from services.store import Scope, Store, make_client
from services.tokens import TokenCipher
from services.vault import Vault

log = logging.getLogger("publisher")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _environment_help() -> str:
    width = max(len(name) for name in VARIABLES)
    lines = ["environment variables (also read from .env in the project root):"]
    for name, (default, description) in VARIABLES.items():
        suffix = f" [default: {default}]" if default else ""
        lines.append(f"  {name.ljust(width)}  {description}{suffix}")
    return "\n".join(lines)


_EPILOG_COMMANDS = """\
examples:
  run_content_publisher.sh                       one publishing run (what cron does every minute)
  run_content_publisher.sh --dry-run             what is due and what would be sent; changes nothing
  run_content_publisher.sh --post-id UUID        publish that one post now, if it is scheduled
  run_content_publisher.sh --user-id UUID        test mode: only that user's posts and connections
  run_content_publisher.sh status [--json]       counts per table and platform
  run_content_publisher.sh check                 configuration, database, migration, tokens, platforms

exit codes: 0 run completed (failed posts are outcomes); 1 the run failed, or check found a
problem; 2 usage or configuration error (nothing was done).
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; `--help` documents every option and environment variable."""
    parser = argparse.ArgumentParser(
        prog="run_content_publisher",
        description="Publish every scheduled post that is due, exactly once. Run it from cron every minute.",
        epilog=_EPILOG_COMMANDS + "\n" + _environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="show what is due and what would be sent, post by post; no writes, no platform calls",
    )
    parser.add_argument(
        "--post-id",
        action="append",
        default=[],
        metavar="ID",
        help="publish this post now if it is scheduled, due or not (repeatable)",
    )
    parser.add_argument("--table", choices=TABLES, help="only this table (also for status)")
    parser.add_argument("--limit", type=int, metavar="N", help="settle at most N posts this run")
    parser.add_argument(
        "--user-id",
        metavar="UUID",
        help="test mode: only this user's posts and connections (as TEST_USER_ID; also for status)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands (default: one run)")
    status_parser = commands.add_parser(
        "status",
        help="posts scheduled, due, overdue, claimed, published/failed in 24 h, per table and platform",
        description="What is scheduled, due, overdue and held, and what was published, failed or "
        "expired in the last 24 hours, per table and platform. Reads only.",
    )
    status_parser.add_argument("--json", action="store_true", help="one JSON object, for machines")
    # Also accepted after `status`; SUPPRESS keeps a value given before `status` from being reset.
    status_parser.add_argument("--table", choices=TABLES, default=argparse.SUPPRESS, help="only this table")
    status_parser.add_argument(
        "--user-id", metavar="UUID", default=argparse.SUPPRESS, help="only this user's posts"
    )
    commands.add_parser(
        "check",
        help="is this server ready: configuration, database, migration, tokens, platform settings",
        description="Check the configuration, the database and its key, the migration, that "
        "ENCRYPTION_KEY decrypts every active connection's tokens, and the platform URLs and "
        "versions. Prints each problem with its fix; exits 1 when anything is wrong. Changes nothing.",
    )
    return parser


def make_run_id() -> str:
    """A run id that says which server ran it."""
    return f"{socket.gethostname().split('.')[0]}-{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Parts:
    """The run's parts, wired together."""

    runner: Runner
    store: Store
    publisher: ContentPublisher


def build_parts(config: Config, run_id: str, http: httpx.Client, user_id: str | None = None) -> Parts:
    """Wire the run's parts together (the composition root)."""
    store = Store(make_client(config, _database_http(config)))
    ledger = Ledger(store, run_id=run_id, lease=config.claim_lease, now=_now, user_id=user_id)
    vault = Vault(store, TokenCipher(config.encryption_key), holder=run_id, now=_now)
    publisher = ContentPublisher(
        store,
        ledger,
        vault,
        config.platforms,
        http,
        rules=RetryRules(config.max_attempts, config.retry_delay, config.rate_limit_delay),
        now=_now,
        sleep=time.sleep,
    )
    settings = RunSettings(
        max_lateness=config.max_lateness,
        claim_lease=config.claim_lease,
        budget=config.run_budget,
        batch_size=config.batch_size,
        concurrency=config.concurrency,
        caps=config.concurrency_caps,
        rescan_interval=config.rescan_interval,
    )
    runner = Runner(store, ledger, publisher, settings, now=_now)
    return Parts(runner, store, publisher)


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client of the run: loading the CA store costs about 12 ms each time."""
    return httpx.create_ssl_context()


def _database_http(config: Config) -> httpx.Client:
    """The database API's HTTP client: a connection for every lane, and the lease keeper."""
    timeout = httpx.Timeout(config.supabase_timeout_s, connect=min(5.0, config.supabase_timeout_s))
    pool = config.concurrency + 4
    return httpx.Client(
        timeout=timeout,
        limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        verify=_tls(),
    )


def _refuse_network(request: httpx.Request) -> httpx.Response:
    raise RuntimeError(f"a dry run, status or check must not call a platform ({request.url.host})")


def _offline_http() -> httpx.Client:
    """An HTTP client for platforms that refuses every request (the store has its own client)."""
    return httpx.Client(transport=httpx.MockTransport(_refuse_network))


def _platform_timeout(config: Config) -> httpx.Timeout:
    return httpx.Timeout(config.platforms.http_timeout_s, connect=min(10.0, config.platforms.http_timeout_s))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    args = build_parser().parse_args(argv)
    env = read_environment()
    register_secret(*secret_values(env))
    try:
        config = load_config(env, test_user_id=args.user_id)
    except ConfigError as exc:
        if args.command == "check":
            return _report_config_error(exc)
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
    register_secret(*config.secrets(), config.heartbeat_url)
    options = RunOptions(
        tables=(args.table,) if args.table else TABLES,
        post_ids=post_ids,
        limit=args.limit,
        user_id=config.test_user_id,
    )
    if args.command or args.dry_run:
        # Commands a person runs from a shell: warnings to stderr, never into the cron log.
        setup_logging(replace(config.log, file=None), console=True)
        try:
            if args.command == "status":
                return _status(config, options, as_json=args.json)
            if args.command == "check":
                return _check(config)
            return _dry_run(config, options)
        except (StoreError, EncryptionKeyError) as exc:
            print(f"Failed: {scrub(str(exc))}", file=sys.stderr)
            return EXIT_FAILED
    setup_logging(config.log)
    code = _publish(config, options)
    heartbeat.ping(config.heartbeat_url, failed=code != EXIT_OK)
    return code


def _publish(config: Config, options: RunOptions) -> int:
    """One publishing run, logged from its first line (TEST MODE or not) to its summary."""
    run_id = make_run_id()
    if config.test_user_id:
        log.info("run %s started in TEST MODE: only user %s", run_id, config.test_user_id)
    else:
        log.info("run %s started", run_id)
    pool = config.concurrency + 4
    limits = httpx.Limits(max_connections=pool * 2, max_keepalive_connections=pool)
    # Redirects are followed only where an adapter asks for it: media URLs come from users and
    # services.safe_media checks every hop itself.
    with httpx.Client(timeout=_platform_timeout(config), limits=limits, verify=_tls()) as http:
        try:
            parts = build_parts(config, run_id, http, options.user_id)
            summary = parts.runner.run(options)
        except (StoreError, EncryptionKeyError) as exc:
            log.error("run %s failed: %s", run_id, scrub(str(exc)))
            return EXIT_FAILED
        except Exception:
            log.exception("run %s failed with an unexpected error", run_id)
            return EXIT_FAILED
    log.info(summary.line())
    if options.post_ids:
        return _report_post_ids(parts.store, options, summary)
    return EXIT_OK


def _report_post_ids(store: Store, options: RunOptions, summary: Summary) -> int:
    """One line per --post-id the run did not act on; exit 1 when it acted on none of them."""
    from services.operator_reads import OperatorReads  # noqa: PLC0415 (only --post-id needs it)

    states: dict[str, tuple[str, str]] = {}
    try:
        for table in options.tables:
            for post_id, status in OperatorReads(store).post_states(table, options.post_ids).items():
                states[post_id] = (table, status)
    except StoreError as exc:
        log.error("could not read the requested posts' status: %s", scrub(str(exc)))
    acted = 0
    for post_id in options.post_ids:
        found = states.get(post_id)
        if found and f"{found[0]}/{post_id}" in summary.settled_refs:
            acted += 1
            continue
        print(_not_acted_on(post_id, found, options), file=sys.stderr)
    return EXIT_OK if acted else EXIT_FAILED


def _not_acted_on(post_id: str, found: tuple[str, str] | None, options: RunOptions) -> str:
    if found is None:
        where = " or ".join(options.tables)
        scope = f" of user {options.user_id}" if options.user_id else ""
        return f"post {post_id}: not found in {where}{scope}; check the id (nothing was done)"
    table, status = found
    if status == "scheduled":
        return (
            f"post {post_id} ({table}): scheduled, but another run holds it right now; "
            "see `status` for the claim, and try again after that run"
        )
    if status == "published":
        return f"post {post_id} ({table}): already published; nothing was sent again"
    return (
        f"post {post_id} ({table}): its status is {status!r}, and only scheduled posts are published: "
        "schedule it in the app, then run --post-id again"
    )


# The operator commands' modules are imported by the commands themselves: cron's publishing run,
# every minute, never pays for loading them.


def _dry_run(config: Config, options: RunOptions) -> int:
    """Print what a run would do now; claim, write and send nothing."""
    from services import dry_run  # noqa: PLC0415 (see above)

    with _offline_http() as http:
        parts = build_parts(config, "dry-run", http)
        now = _now()
        candidates = read_candidates(parts.store, options, now, config.max_lateness)
        # What the run would settle (its selection and order), then what waits for a retry.
        acting = to_settle(candidates, options.limit) + [
            c for c in candidates if c.action is Action.RETRY_WAIT
        ]
        stop = dry_run.key_problem(parts.publisher, acting)
        previews = [dry_run.preview(c, parts.publisher, now, stop=stop) for c in acting]
    print(scrub(dry_run.render(previews, now=now, test_user=config.test_user_id)))
    return EXIT_OK


def _status(config: Config, options: RunOptions, *, as_json: bool) -> int:
    """Print the counts per table and platform."""
    from services import status  # noqa: PLC0415 (operator command, imported on use)
    from services.operator_reads import OperatorReads  # noqa: PLC0415

    store = Store(make_client(config))  # status reads only: no run, no platform client
    now = _now()
    report = status.collect(
        OperatorReads(store),
        read_candidates(store, options, now, config.max_lateness, quiet=True),
        tables=options.tables,
        scope=Scope(user_id=options.user_id),
        now=now,
        max_lateness=config.max_lateness,
        claim_lease=config.claim_lease,
    )
    print(scrub(status.as_json(report) if as_json else status.as_text(report)))
    return EXIT_OK


def _check(config: Config) -> int:
    """Print every check with its fix; exit 1 when any found a problem."""
    from services import check  # noqa: PLC0415 (operator command, imported on use)
    from services.operator_reads import OperatorReads  # noqa: PLC0415

    findings = check.run_checks(config, OperatorReads(Store(make_client(config))), _now())
    print(scrub(check.render(findings)))
    return EXIT_FAILED if any(f.level == check.PROBLEM for f in findings) else EXIT_OK


def _report_config_error(exc: ConfigError) -> int:
    """`check` with an incomplete configuration: each problem with its fix."""
    from services import check  # noqa: PLC0415 (operator command, imported on use)

    findings = [
        check.Finding(
            check.PROBLEM,
            line,
            "set it in .env in the project root (every variable is described in .env.example and "
            "in --help), then run check again",
        )
        for line in str(exc).splitlines()
        if line.strip()
    ]
    print(scrub(check.render(findings)))
    return EXIT_USAGE
