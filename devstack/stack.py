"""The whole local stack in one object: PostgreSQL with the app's schema and our migration, the
PostgREST stand-in, every platform simulator and a media host, all on loopback.

Tests and `./scripts/sandbox.sh` both use it, so what the sandbox shows is what the tests prove.
`Stack.env()` is the environment under which the real publisher talks only to this stack.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet

from devstack.latency import Latency, LatencyApp
from devstack.postgres import Cluster
from devstack.postgrest import PostgrestStandIn
from devstack.server import RunningServer, WSGIApp, serve
from devstack.simulators.graph import GraphSimulator
from devstack.simulators.linkedin import LinkedInSimulator
from devstack.simulators.media import MediaHost
from devstack.simulators.wordpress import WordPressSimulator
from devstack.simulators.x import TOKEN_PATH as X_TOKEN_PATH
from devstack.simulators.x import XSimulator
from devstack.simulators.youtube import GoogleOAuthSimulator, YouTubeSimulator

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "publisher_template"
LINKEDIN_CLIENT = ("sandbox-linkedin-client", "sandbox-linkedin-secret-value")
GOOGLE_CLIENT = ("sandbox-google-client", "sandbox-google-secret-value")
X_CLIENT = ("sandbox-x-client", "sandbox-x-secret-value")


def schema_sql() -> str:
    """The app's tables (tests and sandbox only) followed by our migration."""
    return (ROOT / "sql" / "schema.sql").read_text() + "\n" + (ROOT / "sql" / "migration.sql").read_text()


def create_template(cluster: Cluster) -> None:
    """Build the template database once per cluster: every test database is a cheap copy of it."""
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)).fetchone()
        if exists:
            return
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    with psycopg.connect(cluster.dsn_for(TEMPLATE), autocommit=True) as conn:
        conn.execute(schema_sql())


def create_database(cluster: Cluster, name: str | None = None) -> str:
    """A fresh database with schema and migration applied; returns its name."""
    create_template(cluster)
    name = name or f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    return name


@dataclass
class Stack:
    """A running stack: the database, the API stand-in, the simulators and their URLs."""

    cluster: Cluster
    database: str
    service_key: str
    encryption_key: str
    api: PostgrestStandIn
    graph: GraphSimulator
    instagram_graph: GraphSimulator  # graph.instagram.com: Instagram accounts with Instagram Login
    linkedin: LinkedInSimulator
    youtube: YouTubeSimulator
    google: GoogleOAuthSimulator
    media: MediaHost
    x: XSimulator
    wordpress: WordPressSimulator
    urls: dict[str, str]
    _servers: list[RunningServer] = field(default_factory=list)
    meters: dict[str, LatencyApp] = field(default_factory=dict)  # per app name: latency, counters

    @property
    def inflight_max(self) -> dict[str, int]:
        """The most requests each app had in flight at once (since start or `reset_meters`)."""
        return {name: meter.inflight_max for name, meter in self.meters.items()}

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests each app received (since start or `reset_meters`)."""
        return {name: meter.requests for name, meter in self.meters.items()}

    def reset_meters(self) -> None:
        """Zero every app's counters."""
        for meter in self.meters.values():
            meter.reset()

    @property
    def dsn(self) -> str:
        return self.cluster.dsn_for(self.database)

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        """A direct autocommit connection to the stack's database (for seeding and asserting)."""
        return psycopg.connect(self.dsn, autocommit=True)

    def media_url(self, name: str, size: int | None = None) -> str:
        """A public URL of a generated media file on the media host."""
        suffix = f"?bytes={size}" if size else ""
        return f"{self.urls['media']}/media/{name}{suffix}"

    def wordpress_site(self, prefix: str = "/blog") -> str:
        """The address of one simulated WordPress site, as a user types it in the app."""
        return f"{self.urls['wordpress']}{prefix}"

    def env(self) -> dict[str, str]:
        """The publisher's environment for this stack (no .env file, log to stderr)."""
        return {
            "PUBLISHER_ENV_FILE": "none",
            "SUPABASE_URL": self.urls["api"],
            "SUPABASE_SERVICE_ROLE_KEY": self.service_key,
            "ENCRYPTION_KEY": self.encryption_key,
            "META_GRAPH_URL": f"{self.urls['graph']}/v27.0",
            "META_GRAPH_VIDEO_URL": f"{self.urls['graph']}/v27.0",
            "INSTAGRAM_GRAPH_URL": f"{self.urls['instagram_graph']}/v27.0",
            "LINKEDIN_API_URL": self.urls["linkedin"],
            "LINKEDIN_OAUTH_URL": f"{self.urls['linkedin']}/oauth/v2/accessToken",
            "LINKEDIN_CLIENT_ID": LINKEDIN_CLIENT[0],
            "LINKEDIN_CLIENT_SECRET": LINKEDIN_CLIENT[1],
            "YOUTUBE_UPLOAD_URL": f"{self.urls['youtube']}/upload/youtube/v3",
            "GOOGLE_OAUTH_TOKEN_URL": f"{self.urls['google']}/token",
            "GOOGLE_CLIENT_ID": GOOGLE_CLIENT[0],
            "GOOGLE_CLIENT_SECRET": GOOGLE_CLIENT[1],
            "X_API_URL": self.urls["x"],
            "X_OAUTH_TOKEN_URL": self.urls["x"] + X_TOKEN_PATH,
            "X_CLIENT_ID": X_CLIENT[0],
            "X_CLIENT_SECRET": X_CLIENT[1],
            "YOUTUBE_CHUNK_BYTES": str(256 * 1024),
            "INSTAGRAM_POLL_INTERVAL_SECONDS": "0.05",
            "INSTAGRAM_POLL_MAX": "10",
            "HTTP_TIMEOUT_SECONDS": "10",
            "PUBLISH_RETRY_DELAY": "1m",
            # Every simulator, the media host and the WordPress sites live on loopback, which
            # production refuses (WordPress site addresses come from connections, not from here).
            "MEDIA_ALLOWED_HOSTS": "127.0.0.1",
        }

    def close(self) -> None:
        """Stop every server (the cluster belongs to whoever started it)."""
        for server in reversed(self._servers):
            server.close()
        self._servers.clear()
        self.api.close()  # its pooled connections would otherwise stay open until garbage collection


def start_stack(
    cluster: Cluster,
    database: str | None = None,
    *,
    service_key: str | None = None,
    latency: Mapping[str, Latency] | None = None,
) -> Stack:
    """Serve the API stand-in and every simulator over a fresh database of `cluster`.

    `latency` slows apps down by name ("api", "graph", "linkedin", "youtube", "google", "media");
    every app is metered either way (`Stack.meters`).
    """
    database = database or create_database(cluster)
    service_key = service_key or f"sb-service-{secrets.token_hex(16)}"
    api = PostgrestStandIn(cluster.dsn_for(database), service_key)
    graph = GraphSimulator(video_polls=2)
    instagram_graph = GraphSimulator(video_polls=2, instagram_login=True)
    linkedin = LinkedInSimulator(client_id=LINKEDIN_CLIENT[0], client_secret=LINKEDIN_CLIENT[1])
    youtube = YouTubeSimulator()
    google = GoogleOAuthSimulator(*GOOGLE_CLIENT)
    media = MediaHost()
    # Processing advice of 0 s: the real wrapper sleeps as told, and runs should stay quick.
    x = XSimulator(client_id=X_CLIENT[0], client_secret=X_CLIENT[1], check_after_s=0)
    wordpress = WordPressSimulator()
    apps: dict[str, WSGIApp] = {
        "api": api,
        "graph": graph,
        "instagram_graph": instagram_graph,
        "linkedin": linkedin,
        "youtube": youtube,
        "google": google,
        "media": media,
        "x": x,
        "wordpress": wordpress,
    }
    unknown = set(latency or {}) - set(apps)
    if unknown:
        raise ValueError(f"latency for unknown apps: {', '.join(sorted(unknown))}")
    meters = {name: LatencyApp(app, (latency or {}).get(name)) for name, app in apps.items()}
    servers: list[RunningServer] = []
    try:
        for meter in meters.values():
            servers.append(serve(meter))
    except Exception:
        for server in servers:
            server.close()
        raise
    return Stack(
        cluster=cluster,
        database=database,
        service_key=service_key,
        encryption_key=Fernet.generate_key().decode(),
        api=api,
        graph=graph,
        instagram_graph=instagram_graph,
        linkedin=linkedin,
        youtube=youtube,
        google=google,
        media=media,
        x=x,
        wordpress=wordpress,
        urls={name: server.url for name, server in zip(apps, servers, strict=True)},
        _servers=servers,
        meters=meters,
    )


@contextlib.contextmanager
def running_stack(cluster: Cluster, **kwargs: Any) -> Iterator[Stack]:
    """A stack for the duration of a `with` block."""
    stack = start_stack(cluster, **kwargs)
    try:
        yield stack
    finally:
        stack.close()
