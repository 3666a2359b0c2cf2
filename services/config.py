"""Configuration: the only module that reads the environment.

`.env` in the project root is loaded first (python-dotenv, never overriding variables that are
already set, so cron or the shell wins). Every problem is collected before failing, so one run
of `check` lists them all; messages name the variable, never its value.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from dotenv import dotenv_values

from services.errors import ConfigError
from services.platforms.base import PlatformSettings
from services.platforms.youtube_categories import CATEGORIES as YOUTUBE_CATEGORIES

ROOT = Path(__file__).resolve().parent.parent

# Every variable the program reads, with its default ("" = unset) and a one-line description.
# .env.example and `--help` are generated from / checked against this table.
VARIABLES: dict[str, tuple[str, str]] = {
    "SUPABASE_URL": ("", "Project URL, e.g. https://abcd.supabase.co (required)"),
    "SUPABASE_SERVICE_ROLE_KEY": (
        "",
        "Service-role key: bypasses RLS, needed for the Auth admin API (required)",
    ),
    "ENCRYPTION_KEY": ("", "Fernet key the app encrypts platform tokens with, 44 characters (required)"),
    "TEST_USER_ID": ("", "When set, a run reads, claims and writes only this user's posts (test mode)"),
    "TEST_USER_EMAIL": ("", "Email find_test_user.py looks up by default"),
    "PUBLISH_MAX_LATENESS": ("24h", "A post more overdue than this is marked expired, never published stale"),
    "PUBLISH_CLAIM_LEASE": (
        "15m",
        "A claim not renewed for this long was left by a crashed run (at least 4x "
        "SUPABASE_TIMEOUT_SECONDS and longer than PUBLISH_RUN_BUDGET; a run renews its claims while it "
        "works)",
    ),
    "PUBLISH_RUN_BUDGET": (
        "50s",
        "Posts a run read but could not start within this long are left for the next run",
    ),
    "PUBLISH_RESCAN_INTERVAL": (
        "1m",
        "While long work is still going, a run reads newly due posts this often",
    ),
    "PUBLISH_CONCURRENCY": (
        "16",
        "Posts in flight at once in one run (each account's posts go one at a time)",
    ),
    "PUBLISH_CONCURRENCY_FACEBOOK": ("", "Cap on Facebook posts in flight (default: PUBLISH_CONCURRENCY)"),
    "PUBLISH_CONCURRENCY_INSTAGRAM": ("", "Cap on Instagram posts in flight (default: PUBLISH_CONCURRENCY)"),
    "PUBLISH_CONCURRENCY_LINKEDIN": ("", "Cap on LinkedIn posts in flight (default: PUBLISH_CONCURRENCY)"),
    "PUBLISH_CONCURRENCY_YOUTUBE": ("2", "Cap on YouTube uploads in flight"),
    "PUBLISH_CONCURRENCY_TWITTER": ("", "Cap on X posts in flight (default: PUBLISH_CONCURRENCY)"),
    "PUBLISH_CONCURRENCY_WORDPRESS": ("", "Cap on WordPress posts in flight (default: PUBLISH_CONCURRENCY)"),
    "PUBLISH_MAX_ATTEMPTS": ("3", "Transient failures per post before it goes back to draft"),
    "PUBLISH_RETRY_DELAY": ("2m", "Wait after the first transient failure; doubles after each (max 1h)"),
    "PUBLISH_RATE_LIMIT_DELAY": ("30m", "Wait after a rate limit when the platform gives no time"),
    "PUBLISH_BATCH_SIZE": ("25", "Posts claimed per claim statement (whole accounts at a time)"),
    "SUPABASE_TIMEOUT_SECONDS": ("10", "Timeout of each database API call"),
    "HTTP_TIMEOUT_SECONDS": ("30", "Timeout of each platform API call"),
    "META_GRAPH_URL": ("https://graph.facebook.com/v27.0", "Graph API base (Facebook and Instagram)"),
    "META_GRAPH_VIDEO_URL": ("https://graph-video.facebook.com/v27.0", "Graph API base for video uploads"),
    "INSTAGRAM_GRAPH_URL": (
        "https://graph.instagram.com/v27.0",
        "API base for Instagram accounts connected with Instagram Login",
    ),
    "LINKEDIN_API_URL": ("https://api.linkedin.com", "LinkedIn REST API base"),
    "LINKEDIN_API_VERSION": ("202607", "LinkedIn-Version header (YYYYMM, keep under 12 months old)"),
    "LINKEDIN_OAUTH_URL": ("https://www.linkedin.com/oauth/v2/accessToken", "LinkedIn token endpoint"),
    "LINKEDIN_CLIENT_ID": ("", "LinkedIn app client id (enables token refresh)"),
    "LINKEDIN_CLIENT_SECRET": ("", "LinkedIn app client secret (enables token refresh)"),
    "YOUTUBE_UPLOAD_URL": ("https://www.googleapis.com/upload/youtube/v3", "YouTube upload API base"),
    "GOOGLE_OAUTH_TOKEN_URL": ("https://oauth2.googleapis.com/token", "Google token endpoint"),
    "GOOGLE_CLIENT_ID": ("", "Google OAuth client id (needed to refresh YouTube tokens)"),
    "GOOGLE_CLIENT_SECRET": ("", "Google OAuth client secret (needed to refresh YouTube tokens)"),
    "YOUTUBE_PRIVACY_STATUS": ("public", "public, unlisted or private, unless the post's metadata says"),
    "YOUTUBE_CATEGORY_ID": (
        "22",
        "YouTube category of uploaded videos unless the post's metadata says (22 = People & Blogs; "
        "the ids allowed are listed in docs/platforms/youtube.md)",
    ),
    "YOUTUBE_CHUNK_BYTES": ("2097152", "Upload chunk size, a multiple of 262144"),
    "YOUTUBE_MADE_FOR_KIDS": (
        "false",
        "true or false: whether videos are declared made for kids unless the post says",
    ),
    "X_API_URL": ("https://api.x.com", "X API base"),
    "X_OAUTH_TOKEN_URL": ("https://api.x.com/2/oauth2/token", "X OAuth 2.0 token endpoint"),
    "X_CLIENT_ID": ("", "X app OAuth 2.0 client id (needed to refresh X tokens)"),
    "X_CLIENT_SECRET": ("", "X app OAuth 2.0 client secret (empty for a public client)"),
    "INSTAGRAM_POLL_INTERVAL_SECONDS": ("5", "Wait between Instagram container status checks"),
    "INSTAGRAM_POLL_MAX": ("6", "Status checks per run before a processing video is left for the next run"),
    "MEDIA_ALLOWED_HOSTS": (
        "",
        "Comma-separated hosts or networks (CIDR) whose media, and WordPress sites, may be fetched "
        "although private or loopback; development only, empty in production",
    ),
    "MEDIA_MAX_BYTES": ("2147483648", "Largest media file the publisher downloads (bytes)"),
    "LOG_LEVEL": ("INFO", "DEBUG, INFO, WARNING or ERROR"),
    "LOG_FORMAT": ("text", "text, or json for one JSON object per line"),
    "LOG_FILE": ("logs/content_publisher.log", "Log file (relative to the project root); - = stderr only"),
    "LOG_MAX_BYTES": ("10485760", "The log file rotates at this size"),
    "LOG_BACKUP_COUNT": ("5", "Rotated log files kept"),
    "HEARTBEAT_URL": ("", "Pinged after each run (…/fail on a failed run); empty = off"),
}

_SECRET_VARIABLES = (
    "SUPABASE_SERVICE_ROLE_KEY",
    "ENCRYPTION_KEY",
    "LINKEDIN_CLIENT_SECRET",
    "GOOGLE_CLIENT_SECRET",
    "X_CLIENT_SECRET",
)
_CAP_PREFIX = "PUBLISH_CONCURRENCY_"
# A lease must survive a renewal that takes the whole database timeout, twice over.
RENEWAL_MARGIN = 4
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class LogSettings:
    """Where and how the run logs."""

    level: str = "INFO"
    format: str = "text"
    file: Path | None = None
    max_bytes: int = 10 * 1024 * 1024
    backup_count: int = 5


@dataclass(frozen=True)
class Config:
    """Everything a run needs to know, validated."""

    supabase_url: str
    supabase_key: str = field(repr=False)
    encryption_key: str = field(repr=False)
    test_user_id: str | None = None
    test_user_email: str | None = None
    max_lateness: timedelta = timedelta(hours=24)
    claim_lease: timedelta = timedelta(minutes=15)
    run_budget: timedelta = timedelta(seconds=50)
    rescan_interval: timedelta = timedelta(minutes=1)
    concurrency: int = 16
    concurrency_caps: dict[str, int] = field(default_factory=dict)  # from PUBLISH_CONCURRENCY_<PLATFORM>
    max_attempts: int = 3
    retry_delay: timedelta = timedelta(minutes=2)
    rate_limit_delay: timedelta = timedelta(minutes=30)
    batch_size: int = 25
    supabase_timeout_s: float = 10.0
    platforms: PlatformSettings = field(default_factory=PlatformSettings)
    log: LogSettings = field(default_factory=LogSettings)
    heartbeat_url: str | None = field(default=None, repr=False)

    def secrets(self) -> list[str]:
        """Every secret value in the configuration, for the log redactor."""
        return [
            self.supabase_key,
            self.encryption_key,
            self.platforms.linkedin_client_secret,
            self.platforms.google_client_secret,
            self.platforms.x_client_secret,
        ]


def read_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment over `.env` (PUBLISHER_ENV_FILE overrides its path; 'none' skips it)."""
    if env is not None:
        return dict(env)
    merged: dict[str, str] = {}
    env_file = os.environ.get("PUBLISHER_ENV_FILE", str(ROOT / ".env"))
    if env_file.lower() != "none" and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return merged


def secret_values(env: Mapping[str, str]) -> list[str]:
    """The values of secret variables, for masking even when the configuration is invalid."""
    return [env[name] for name in _SECRET_VARIABLES if env.get(name)]


class _Reader:
    """Reads typed values and collects every problem instead of stopping at the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str) -> str:
        return self.env.get(name, "").strip() or VARIABLES[name][0]

    def required(self, name: str) -> str:
        value = self.env.get(name, "").strip()
        if not value:
            self.problems.append(f"{name} is not set: {VARIABLES[name][1]}.")
        return value

    def integer(self, name: str, minimum: int = 0) -> int:
        raw = self.text(name)
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name} must be a whole number.")
            return int(VARIABLES[name][0])
        if value < minimum:
            self.problems.append(f"{name} must be at least {minimum}.")
        return value

    def number(self, name: str, minimum: float = 0.0) -> float:
        raw = self.text(name)
        try:
            value = float(raw)
        except ValueError:
            self.problems.append(f"{name} must be a number of seconds.")
            return float(VARIABLES[name][0])
        if value <= minimum:
            self.problems.append(f"{name} must be more than {minimum:g}.")
        return value

    def duration(self, name: str) -> timedelta:
        try:
            return parse_duration(self.text(name))
        except ValueError:
            self.problems.append(f"{name} must be a duration such as 90s, 15m, 24h or 2d.")
            return parse_duration(VARIABLES[name][0])

    def url(self, name: str, *, required: bool = False) -> str:
        value = self.required(name) if required else self.text(name)
        if value and not re.match(r"^https?://[^\s/]+", value):
            self.problems.append(f"{name} must be an http(s) URL.")
        return value.rstrip("/")

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        value = self.text(name)
        if value not in choices:
            self.problems.append(f"{name} must be one of {', '.join(choices)}.")
        return value


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '24h', '2d' or plain seconds as a timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def load_config(env: Mapping[str, str] | None = None, *, test_user_id: str | None = None) -> Config:
    """Read and validate the configuration; raise ConfigError listing every problem."""
    values = read_environment(env)
    r = _Reader(values)
    supabase_url = r.url("SUPABASE_URL", required=True)
    supabase_key = r.required("SUPABASE_SERVICE_ROLE_KEY")
    encryption_key = r.required("ENCRYPTION_KEY")
    if encryption_key:
        try:
            Fernet(encryption_key.encode())
        except (ValueError, TypeError):
            r.problems.append(
                "ENCRYPTION_KEY is malformed: it must be the app's Fernet key "
                "(url-safe base64 of 32 bytes, 44 characters)."
            )
    user = (test_user_id or r.text("TEST_USER_ID")).strip() or None
    if user:
        try:
            user = str(uuid.UUID(user))
        except ValueError:
            r.problems.append("TEST_USER_ID must be a user id (a UUID); find it with find_test_user.py.")
    chunk = r.integer("YOUTUBE_CHUNK_BYTES", minimum=256 * 1024)
    if chunk % (256 * 1024):
        r.problems.append("YOUTUBE_CHUNK_BYTES must be a multiple of 262144 (256 KiB).")
    version = r.text("LINKEDIN_API_VERSION")
    if not re.fullmatch(r"20\d{4}", version):
        r.problems.append("LINKEDIN_API_VERSION must look like YYYYMM, e.g. 202607.")
    log_file = r.text("LOG_FILE")
    platforms = PlatformSettings(
        meta_graph_url=r.url("META_GRAPH_URL"),
        meta_graph_video_url=r.url("META_GRAPH_VIDEO_URL"),
        linkedin_api_url=r.url("LINKEDIN_API_URL"),
        linkedin_api_version=version,
        linkedin_oauth_url=r.url("LINKEDIN_OAUTH_URL"),
        linkedin_client_id=r.text("LINKEDIN_CLIENT_ID"),
        linkedin_client_secret=r.text("LINKEDIN_CLIENT_SECRET"),
        youtube_upload_url=r.url("YOUTUBE_UPLOAD_URL"),
        google_oauth_token_url=r.url("GOOGLE_OAUTH_TOKEN_URL"),
        google_client_id=r.text("GOOGLE_CLIENT_ID"),
        google_client_secret=r.text("GOOGLE_CLIENT_SECRET"),
        youtube_privacy_status=r.choice("YOUTUBE_PRIVACY_STATUS", ("public", "unlisted", "private")),
        youtube_category_id=r.choice("YOUTUBE_CATEGORY_ID", tuple(YOUTUBE_CATEGORIES)),
        youtube_chunk_bytes=chunk,
        instagram_poll_interval_s=r.number("INSTAGRAM_POLL_INTERVAL_SECONDS", minimum=-1),
        instagram_poll_max=r.integer("INSTAGRAM_POLL_MAX", minimum=1),
        http_timeout_s=r.number("HTTP_TIMEOUT_SECONDS"),
        media_allowed_hosts=tuple(
            part.strip() for part in r.text("MEDIA_ALLOWED_HOSTS").split(",") if part.strip()
        ),
        media_max_bytes=r.integer("MEDIA_MAX_BYTES", minimum=1024),
        youtube_made_for_kids=r.choice("YOUTUBE_MADE_FOR_KIDS", ("true", "false")) == "true",
        x_api_url=r.url("X_API_URL"),
        x_oauth_token_url=r.url("X_OAUTH_TOKEN_URL"),
        x_client_id=r.text("X_CLIENT_ID"),
        x_client_secret=r.text("X_CLIENT_SECRET"),
        instagram_graph_url=r.url("INSTAGRAM_GRAPH_URL"),
    )
    lease, budget = r.duration("PUBLISH_CLAIM_LEASE"), r.duration("PUBLISH_RUN_BUDGET")
    database_timeout = r.number("SUPABASE_TIMEOUT_SECONDS")
    floor = timedelta(seconds=RENEWAL_MARGIN * database_timeout)
    if lease < floor:
        r.problems.append(
            f"PUBLISH_CLAIM_LEASE must be at least {RENEWAL_MARGIN} times SUPABASE_TIMEOUT_SECONDS "
            f"({floor.total_seconds():g}s): a run renews its claims every quarter lease, and a shorter "
            "lease can run out while a renewal waits on the database, letting another server send a "
            "post this one is sending."
        )
    elif lease <= budget:
        r.problems.append(
            "PUBLISH_CLAIM_LEASE must be longer than PUBLISH_RUN_BUDGET: a claimed post may wait that "
            "long before it starts, and its claim must outlive the wait."
        )
    if budget <= timedelta(0):
        r.problems.append("PUBLISH_RUN_BUDGET must be more than 0s.")
    caps = {}
    for name in VARIABLES:
        if name.startswith(_CAP_PREFIX) and r.text(name):
            caps[name[len(_CAP_PREFIX) :].lower()] = r.integer(name, minimum=1)
    config = Config(
        supabase_url=supabase_url,
        supabase_key=supabase_key,
        encryption_key=encryption_key,
        test_user_id=user,
        test_user_email=r.text("TEST_USER_EMAIL") or None,
        max_lateness=r.duration("PUBLISH_MAX_LATENESS"),
        claim_lease=lease,
        run_budget=budget,
        rescan_interval=r.duration("PUBLISH_RESCAN_INTERVAL"),
        concurrency=r.integer("PUBLISH_CONCURRENCY", minimum=1),
        concurrency_caps=caps,
        max_attempts=r.integer("PUBLISH_MAX_ATTEMPTS", minimum=1),
        retry_delay=r.duration("PUBLISH_RETRY_DELAY"),
        rate_limit_delay=r.duration("PUBLISH_RATE_LIMIT_DELAY"),
        batch_size=r.integer("PUBLISH_BATCH_SIZE", minimum=1),
        supabase_timeout_s=database_timeout,
        platforms=platforms,
        log=LogSettings(
            level=r.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR")),
            format=r.choice("LOG_FORMAT", ("text", "json")),
            file=None if log_file == "-" else ROOT / log_file,
            max_bytes=r.integer("LOG_MAX_BYTES", minimum=1024),
            backup_count=r.integer("LOG_BACKUP_COUNT", minimum=1),
        ),
        heartbeat_url=r.url("HEARTBEAT_URL") or None,
    )
    if r.problems:
        raise ConfigError("\n".join(r.problems))
    return config
