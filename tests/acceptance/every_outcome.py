"""One user whose due posts make a single run meet every kind of outcome, plus the dumps that
prove what a run did or did not touch. Shared by the test-mode and secrets tests.

Outcomes: published (both tables), a permanent platform error, an auth error (the connection is
disconnected), a Page rate limit (deferred), a bad schedule, an unsupported platform, a broken limit,
a missing connection, a LinkedIn token refreshed mid-run, a YouTube token refreshed before the
upload, and an Instagram photo. Every token carries a random suffix, so a test can tell whose
connection a platform request used, and search output for it.
"""

from __future__ import annotations

import io
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

import pytz

from devstack import seed
from devstack.stack import GOOGLE_CLIENT, LINKEDIN_CLIENT, Stack

TIMEZONE = "Asia/Kolkata"
ECHO_PREFIX = "echo-"  # tokens a Graph stand-in (echo_graph) quotes back in its error text


# The status each post of the matrix has after one run (with inject_faults); the rate-limited
# post stays scheduled with a next attempt time.
EXPECTED_STATUS = {
    "published": "published",
    "published_campaign": "published",
    "linkedin_refresh": "published",
    "youtube_refresh": "published",
    "instagram": "published",
    "auth": "draft",
    "permanent": "draft",
    "bad_schedule": "draft",
    "unsupported": "draft",
    "limit": "draft",
    "missing_connection": "draft",
    "echoed": "draft",
    "rate_limit": "scheduled",
}


@dataclass
class Matrix:
    """What was seeded for one user."""

    user_id: str
    tokens: list[str] = field(default_factory=list)  # every plaintext token stored for the user
    posts: dict[str, tuple[str, str]] = field(default_factory=dict)  # outcome → (table, post id)
    connections: dict[str, str] = field(default_factory=dict)  # name → connection id


def seed_matrix(stack: Stack, email: str, *, echo: bool = False) -> Matrix:
    """Seed one user with a post for every outcome (and one a Graph stand-in echoes, if `echo`)."""
    tag = secrets.token_hex(6)  # in names and page ids
    key = secrets.token_hex(8)  # in tokens only, so a token is never a substring of a page id
    now = datetime.now(UTC)
    due = now - timedelta(minutes=2)
    local = due.astimezone(pytz.timezone(TIMEZONE))
    with stack.connect() as conn:
        user = seed.user(conn, email, TIMEZONE)
        matrix = Matrix(user)

        def connect(name: str, platform: str, access: str, refresh: str = "", **columns: Any) -> None:
            matrix.tokens += [t for t in (access, refresh) if t]
            matrix.connections[name] = seed.connection(
                conn,
                stack.encryption_key,
                user,
                platform,
                access_token=access,
                refresh_token=refresh,
                page_name=f"{name} page",
                **columns,
            )

        def post(outcome: str, **columns: Any) -> None:
            columns.setdefault("scheduled_at", due)
            matrix.posts[outcome] = ("created_content", seed.created_content(conn, user, **columns))

        connect("expired", "facebook", f"expired-{key}", page_id=f"expired-{tag}")
        connect("throttled", "facebook", f"fb-throttled-{key}", page_id=f"throttled-{tag}")
        connect(
            "linkedin",
            "linkedin",
            f"expired-li-{key}",
            f"li-refresh-{key}",
            page_id=f"li{tag}",
            linkedin_id=f"li{tag}",
            account_type="personal",
        )
        connect("youtube", "youtube", f"ya29.old-{key}", f"1//yt-refresh-{key}", page_id=f"UC{tag}")
        connect("instagram", "instagram", f"ig-page-token-{key}", page_id=f"1784{tag}")
        if echo:
            connect("echo", "facebook", f"{ECHO_PREFIX}{key}", page_id=f"echo-{tag}")
            post("echoed", content="The platform quotes our token back", metadata={"page_id": f"echo-{tag}"})
        # Connected last, so that posts naming no page use it. Legacy rows hold a plaintext Meta
        # token (the app's rule: it starts with EAA).
        connect(
            "main", "facebook", f"EAAGm0PX4ZCpsBA{key}legacy0123456789", page_id=f"fb-{tag}", plaintext=True
        )

        post("published", content=f"Published post {tag}")
        post("auth", content=f"Expired token {tag}", metadata={"page_id": f"expired-{tag}"})
        # Due first, so that it makes the run's first Graph feed call (see inject_faults).
        post(
            "rate_limit",
            content=f"Throttled {tag}",
            metadata={"page_id": f"throttled-{tag}"},
            scheduled_at=due - timedelta(minutes=1),
        )
        post("bad_schedule", scheduled_at=None)
        post("unsupported", platform="tiktok")
        post("limit", content="x" * 70_000)
        post("missing_connection", metadata={"page_id": f"gone-{tag}"})
        post("linkedin_refresh", platform="linkedin", content=f"LinkedIn after a refresh {tag}")
        post(
            "youtube_refresh",
            platform="youtube",
            content_type="video",
            title=f"Clip {tag}",
            content="A short clip",
            media_url=stack.media_url(f"clip-{tag}.mp4", 300_000),
        )
        post(
            "instagram",
            platform="instagram",
            content_type="static_post",
            content=f"Instagram photo {tag}",
            media_url=stack.media_url(f"ig-{tag}.jpg"),
        )
        campaign = seed.campaign(conn, user)
        for outcome, columns in (
            ("published_campaign", {"content": f"Campaign post {tag}"}),
            # The only photo post: a test injects a permanent error on the Graph "photos" step.
            ("permanent", {"post_type": "image", "primary_image_url": stack.media_url(f"p-{tag}.jpg")}),
        ):
            matrix.posts[outcome] = (
                "content_posts",
                seed.content_post(
                    conn, campaign, scheduled_date=local.date(), scheduled_time=local.time(), **columns
                ),
            )
    return matrix


def inject_faults(stack: Stack) -> None:
    """The Graph faults the matrix relies on: a Page rate limit on the first feed call (the
    rate_limit post, due first) and a permanent error on the only photo post."""
    stack.graph.inject("rate_limit", step="feed")
    stack.graph.inject("permanent", step="photos")


def statuses(stack: Stack, matrix: Matrix) -> dict[str, str]:
    """The status of each of the matrix's posts now."""
    with stack.connect() as conn:
        return {
            outcome: seed.row(conn, table, pid)["status"] for outcome, (table, pid) in matrix.posts.items()
        }


def known_secrets(stack: Stack, *matrices: Matrix) -> list[str]:
    """Every secret a run against `stack` knows: keys, client secrets, stored and issued tokens."""
    found = [stack.service_key, stack.encryption_key, LINKEDIN_CLIENT[1], GOOGLE_CLIENT[1]]
    for matrix in matrices:
        found += matrix.tokens
    found += stack.linkedin.issued_tokens + stack.google.issued
    return found


def _tables(conn: Any) -> list[str]:
    rows = conn.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema IN ('public', 'auth') AND table_type = 'BASE TABLE' ORDER BY 1"
    ).fetchall()
    return [str(row[0]) for row in rows]


# For each table, the SQL condition that a row belongs to the user %(user)s.
_OWNER = {
    "auth.users": "t.id = %(user)s",
    "public.profiles": "t.id = %(user)s",
    "public.created_content": "t.user_id = %(user)s",
    "public.content_campaigns": "t.user_id = %(user)s",
    "public.platform_connections": "t.user_id = %(user)s",
    "public.content_posts": (
        "EXISTS (SELECT 1 FROM public.content_campaigns c "
        "WHERE c.id = t.campaign_id AND c.user_id = %(user)s)"
    ),
}


def dump(stack: Stack, *, except_user: str | None = None) -> dict[str, list[str]]:
    """Every row of every table as text, in a stable order; optionally without one user's rows."""
    result: dict[str, list[str]] = {}
    with stack.connect() as conn:
        for table in _tables(conn):
            where = ""
            if except_user is not None and table in _OWNER:
                where = f"WHERE NOT ({_OWNER[table]})"
            query = f"SELECT to_jsonb(t)::text FROM {table} AS t {where} ORDER BY 1"  # noqa: S608 (names from the catalog)
            result[table] = [str(row[0]) for row in conn.execute(query, {"user": except_user}).fetchall()]
    return result


def dump_text(stack: Stack) -> str:
    """The whole database as one text, for searching."""
    return json.dumps(dump(stack))


def requests_text(stack: Stack) -> str:
    """Everything every platform simulator received, as one text (URL-decoded too)."""
    parts: list[str] = []
    for sim in (stack.graph, stack.linkedin, stack.youtube, stack.google):
        with sim.lock:
            for request in sim.requests:
                parts += [request.path, json.dumps(request.query), json.dumps(request.headers)]
                parts.append(request.body.decode("utf-8", "replace"))
    text = "\n".join(parts)
    return text + "\n" + unquote(text)


def occurrences(text: str, needles: Iterable[str]) -> dict[str, int]:
    """How often each needle (or its URL-encoded form) occurs in `text`; zero counts omitted."""
    counts = {
        n: text.count(n) + (text.count(quote(n, safe="")) if quote(n, safe="") != n else 0) for n in needles
    }
    return {n: c for n, c in counts.items() if c}


def echo_graph(graph: Callable[..., Any]) -> Callable[..., Any]:
    """The Graph simulator, except that a request with an `echo-` token gets an error quoting it.

    Platforms do quote request parameters back in error messages; this makes one do it with the
    token, plain and URL-encoded, in both the message and the user-facing text.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        seen = unquote(
            f"{environ.get('QUERY_STRING', '')} {environ.get('HTTP_AUTHORIZATION', '')} {body.decode()}"
        )
        match = re.search(rf"{ECHO_PREFIX}[0-9a-f]+", seen)
        if match is None:
            return graph(environ, start_response)  # type: ignore[no-any-return]
        token = match.group(0)
        error = {
            "message": f"(#100) Invalid parameter access_token={token} ({quote(token)}) for this page",
            "type": "OAuthException",
            "code": 100,
            "error_user_title": "Bad token",
            "error_user_msg": f"The token {token} cannot post here",
            "fbtrace_id": "AbCdEf",
        }
        payload = json.dumps({"error": error}).encode()
        start_response(
            "400 Bad Request", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        )
        return [payload]

    return app
