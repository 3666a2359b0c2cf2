"""`check`: is this server ready to publish? Every problem is printed with its fix.

Checks, in order (a database that cannot be reached skips the checks that need it):
1. the configuration is complete (done by the command line before this module runs);
2. the database answers with the configured key, and the key is the service-role key;
3. the migration is installed: every column and function the run uses exists;
4. ENCRYPTION_KEY decrypts every active connection's tokens (the failing connections are named,
   a token never is);
   the API's effective "Max rows" setting (measured; the run pages correctly under any value);
5. platform URLs and versions: https, a Graph API version, a LinkedIn version less than 12
   months old, client credentials where connections need refreshing;
6. the log file can be written;
7. YouTube videos published in the last week that YouTube made private against the request
   (an unverified Google project).
A PROBLEM makes the command exit non-zero; a WARNING is printed but does not.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from services.config import Config
from services.errors import StoreError
from services.operator_reads import MIGRATION_MARK, OperatorReads
from services.store import PAGE_SIZE, Scope
from services.tokens import DamagedTokenError, ForeignTokenError, TokenCipher

OK, WARNING, PROBLEM = "ok", "WARNING", "PROBLEM"
MIGRATION_FIX = (
    "apply sql/migration.sql (it is safe to run again): paste it into the Supabase SQL editor, or "
    'psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f sql/migration.sql'
)
LINKEDIN_VERSION_LIFETIME_MONTHS = 12  # LinkedIn retires each monthly version after about a year
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Finding:
    """One line of the report: a level, what was found, and how to fix it."""

    level: str
    what: str
    fix: str = ""


def run_checks(config: Config, store: OperatorReads, now: datetime) -> list[Finding]:
    """Every check after the configuration one (which passed, or this would not run), in order."""
    today = now.date()
    findings = [Finding(OK, "configuration complete: every required variable is set and valid")]
    database = _database(config, store)
    findings.append(database)
    platforms: Counter[str] | None = None
    if database.level == OK:
        findings += _migration(store)
        findings += _max_rows(store)
        findings += _youtube_privacy(store, now)
        try:
            connections = store.active_connections()
        except StoreError as exc:
            findings.append(Finding(PROBLEM, f"could not read platform_connections: {exc}", MIGRATION_FIX))
        else:
            findings += _tokens(config, connections)
            platforms = Counter(str(row.get("platform")) for row in connections)
    findings += _platforms(config, platforms, today)
    findings += _log_file(config)
    return findings


def _database(config: Config, store: OperatorReads) -> Finding:
    try:
        store.verify_admin_access()
    except StoreError as exc:
        return Finding(
            PROBLEM,
            f"the database API at {config.supabase_url} did not accept the service key: {exc}",
            "check SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (Supabase dashboard > Project Settings > "
            "API: the service_role secret, not the anon key), and that this server reaches the URL: "
            f"curl -sSI {config.supabase_url}/rest/v1/",
        )
    return Finding(OK, f"database API at {config.supabase_url} answers, with the service-role key")


def _max_rows(store: OperatorReads) -> list[Finding]:
    cap = store.max_rows()
    if cap is None:
        return []  # the migration check names the missing probe
    if cap < PAGE_SIZE:
        return [
            Finding(
                WARNING,
                f'the database API returns at most {cap} rows per request (Supabase "Max rows" is set '
                f"below {PAGE_SIZE}): the publisher still reads everything, in more requests",
                f"raise Max rows to {PAGE_SIZE} (Project Settings > API) to save requests, or leave it",
            )
        ]
    return [Finding(OK, f"the database API returns up to {cap} rows per request")]


def _youtube_privacy(store: OperatorReads, now: datetime) -> list[Finding]:
    try:
        forced = store.youtube_private_uploads(now - timedelta(days=7), Scope())
    except StoreError:
        return []
    if not forced:
        return []
    return [
        Finding(
            WARNING,
            f"{len(forced)} YouTube video(s) published in the last 7 days were made PRIVATE by YouTube "
            "although public was asked: the Google project is not verified for public uploads",
            "have the Google Cloud project audited (YouTube API Services audit) so uploads may be public; "
            "until then publish those videos by hand in YouTube Studio",
        )
    ]


def _migration(store: OperatorReads) -> list[Finding]:
    try:
        missing = store.missing_columns() + store.missing_functions()
    except StoreError as exc:
        return [Finding(PROBLEM, f"could not inspect the migration: {exc}", MIGRATION_FIX)]
    version = store.migration_version()
    if version != MIGRATION_MARK:
        missing.append(
            f"the database has {version or 'no version mark'}; this publisher needs {MIGRATION_MARK}"
        )
    if not missing:
        return [
            Finding(
                OK, f"migration installed ({MIGRATION_MARK}): every column and function the run uses exists"
            )
        ]
    return [Finding(PROBLEM, f"migration missing or outdated: {item}", MIGRATION_FIX) for item in missing]


def _tokens(config: Config, connections: list[dict[str, Any]]) -> list[Finding]:
    cipher = TokenCipher(config.encryption_key)
    wrong_key: list[str] = []
    damaged: list[str] = []
    for row in connections:
        name = (
            f"connection {row.get('id')} ({row.get('platform')}, {row.get('page_name') or 'no name'}, "
            f"user {row.get('user_id')})"
        )
        try:
            access = cipher.decrypt(row.get("access_token_encrypted"))
            cipher.decrypt(row.get("refresh_token_encrypted"))
            secret = cipher.decrypt(row.get("wordpress_app_password_encrypted"))
        except ForeignTokenError:
            wrong_key.append(name)
            continue
        except DamagedTokenError:
            damaged.append(f"{name}: its saved token is damaged")
            continue
        if not access and not secret:
            damaged.append(f"{name}: it has no access token")
    findings: list[Finding] = []
    if wrong_key and len(wrong_key) == len(connections):
        findings.append(
            Finding(
                PROBLEM,
                f"ENCRYPTION_KEY decrypts none of the {len(connections)} active connections' tokens",
                "set ENCRYPTION_KEY to the key the content app encrypts tokens with (the app's own "
                "ENCRYPTION_KEY setting); every run fails until then, and no post is touched",
            )
        )
    else:
        findings += [
            Finding(
                PROBLEM,
                f"ENCRYPTION_KEY cannot decrypt the tokens of {name}",
                "the token was saved with another key or is damaged: ask the user to reconnect the account "
                "in the app (until then this connection's posts fail with that advice; other posts go on)",
            )
            for name in wrong_key
        ]
    findings += [
        Finding(PROBLEM, name, "ask the user to reconnect the account in the app; its posts fail until then")
        for name in damaged
    ]
    if not findings:
        findings.append(
            Finding(OK, f"ENCRYPTION_KEY decrypts the tokens of all {len(connections)} active connections")
        )
    return findings


def _platforms(config: Config, platforms: Counter[str] | None, today: date) -> list[Finding]:
    """URLs and versions; `platforms` counts active connections (None: the database was not read)."""
    settings = config.platforms
    findings: list[Finding] = []
    urls = {
        "META_GRAPH_URL": settings.meta_graph_url,
        "META_GRAPH_VIDEO_URL": settings.meta_graph_video_url,
        "LINKEDIN_API_URL": settings.linkedin_api_url,
        "LINKEDIN_OAUTH_URL": settings.linkedin_oauth_url,
        "YOUTUBE_UPLOAD_URL": settings.youtube_upload_url,
        "GOOGLE_OAUTH_TOKEN_URL": settings.google_oauth_token_url,
        "INSTAGRAM_GRAPH_URL": settings.instagram_graph_url,
        "X_API_URL": settings.x_api_url,
        "X_OAUTH_TOKEN_URL": settings.x_oauth_token_url,
    }
    for name, url in urls.items():
        parts = urlsplit(url)
        if parts.scheme != "https" and parts.hostname not in _LOOPBACK:
            findings.append(
                Finding(
                    PROBLEM,
                    f"{name} is not https: tokens would travel unencrypted",
                    f"set {name} to its https URL",
                )
            )
    for name in ("META_GRAPH_URL", "META_GRAPH_VIDEO_URL", "INSTAGRAM_GRAPH_URL"):
        if not re.search(r"/v\d+\.\d+$", urls[name]):
            findings.append(
                Finding(
                    WARNING,
                    f"{name} names no Graph API version, so Meta uses the app's default version",
                    f"end {name} with the version the adapters were tested with, e.g. /v27.0",
                )
            )
    findings += _linkedin_version(settings.linkedin_api_version, today)
    findings += _client_credentials(config, platforms)
    if not any(f.level != OK for f in findings):
        findings.append(
            Finding(
                OK,
                f"platform URLs set; LinkedIn version {settings.linkedin_api_version}; Graph API "
                f"{settings.meta_graph_url.rsplit('/', 1)[-1]}",
            )
        )
    return findings


def _linkedin_version(version: str, today: date) -> list[Finding]:
    year, month = int(version[:4]), int(version[4:])
    age = (today.year * 12 + today.month) - (year * 12 + month)
    recent = today.year * 12 + today.month - 1 - 2  # two months back: surely released by now
    fix = (
        f"set LINKEDIN_API_VERSION to a recent month, e.g. {recent // 12}{recent % 12 + 1:02d}, then "
        "run check and a --dry-run"
    )
    if age >= LINKEDIN_VERSION_LIFETIME_MONTHS:
        return [
            Finding(
                WARNING,
                f"LINKEDIN_API_VERSION {version} is {age} months old: LinkedIn retires versions after about "
                "12 months and then refuses every call (HTTP 426), which defers all LinkedIn posts",
                fix,
            )
        ]
    if age < 0:
        return [
            Finding(WARNING, f"LINKEDIN_API_VERSION {version} is in the future: LinkedIn refuses it", fix)
        ]
    return []


def _client_credentials(config: Config, platforms: Counter[str] | None) -> list[Finding]:
    """Refresh credentials are optional in general, but needed by the connections that exist."""
    if platforms is None:
        return []
    settings = config.platforms
    findings = []
    if platforms["linkedin"] and not (settings.linkedin_client_id and settings.linkedin_client_secret):
        findings.append(
            Finding(
                WARNING,
                f"{platforms['linkedin']} LinkedIn connection(s) but no LINKEDIN_CLIENT_ID/SECRET: expired "
                "LinkedIn tokens cannot be refreshed, their users must reconnect",
                "set LINKEDIN_CLIENT_ID and LINKEDIN_CLIENT_SECRET to the app's LinkedIn credentials",
            )
        )
    if platforms["twitter"] and not settings.x_client_id:
        findings.append(
            Finding(
                WARNING,
                f"{platforms['twitter']} X connection(s) but no X_CLIENT_ID: X access tokens last two hours "
                "and cannot be refreshed without it, so X posts will fail",
                "set X_CLIENT_ID (and X_CLIENT_SECRET for a confidential client) to the app's X OAuth 2.0 "
                "client",
            )
        )
    if platforms["youtube"] and not (settings.google_client_id and settings.google_client_secret):
        findings.append(
            Finding(
                WARNING,
                f"{platforms['youtube']} YouTube connection(s) but no GOOGLE_CLIENT_ID/SECRET: Google access "
                "tokens last one hour and cannot be refreshed, so YouTube posts will fail",
                "set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET to the app's Google OAuth credentials",
            )
        )
    return findings


def _log_file(config: Config) -> list[Finding]:
    path = config.log.file
    if path is None:
        return [Finding(OK, "logging to stderr only (LOG_FILE=-)")]
    directory = _existing_parent(path)
    target = path if path.exists() else directory
    if not os.access(target, os.W_OK):
        return [
            Finding(
                PROBLEM,
                f"the log file {path} cannot be written by this user",
                f"run cron as the user that owns {directory}, or set LOG_FILE to a writable path",
            )
        ]
    return [Finding(OK, f"log file {path} is writable")]


def _existing_parent(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path("/")


def render(findings: list[Finding]) -> str:
    """The report: one line per finding, its fix indented below, then a verdict."""
    lines = []
    for finding in findings:
        lines.append(f"{finding.level:<8} {finding.what}")
        if finding.fix:
            lines.append(f"{'':<8} fix: {finding.fix}")
    problems = sum(f.level == PROBLEM for f in findings)
    warnings = sum(f.level == WARNING for f in findings)
    if problems:
        lines.append(f"{problems} problem(s), {warnings} warning(s): the publisher is NOT ready.")
    else:
        lines.append(f"No problems ({warnings} warning(s)): the publisher is ready.")
    return "\n".join(lines)
