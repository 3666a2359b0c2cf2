"""WordPress's entry in the shared adapter matrix (protocol in tests/adapters/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from devstack.server import serve
from devstack.simulators.media import MediaHost
from devstack.simulators.wordpress import WordPressSimulator
from services.platforms.base import BLOG, IMAGE, TEXT, Connection, PlatformSettings, PublishJob
from services.platforms.wordpress import WordPressAdapter
from tests.adapters.harness import CLIENT_TIMEOUT_S, Running

PASSWORD = "abcd EFGH 1234 ijkl MNOP 5678"  # the simulator's /blog administrator, as WordPress shows it
# Markup and entities, so the matrix also checks that the body is escaped, never run as HTML.
CONTENT = "Matrix check: <b>bold?</b> Fish & chips, 5 > 3.\nSecond line."


@dataclass
class WordPressRunning(Running):
    """`Running` plus where the media host is, for the jobs' image URLs."""

    media_url: str = ""


class WordPressHarness:
    """Serves the WordPress simulator and a media host; the connection is /blog's administrator."""

    platform = "wordpress"
    kinds = (TEXT, IMAGE, BLOG)

    @contextmanager
    def start(self) -> Iterator[Running]:
        """Serve the simulator and media host for one test; stop them afterwards."""
        simulator = WordPressSimulator()
        with serve(simulator) as wordpress, serve(MediaHost()) as media:
            settings = PlatformSettings(http_timeout_s=CLIENT_TIMEOUT_S, media_allowed_hosts=("127.0.0.1",))
            connection = Connection(
                id="conn-wordpress",
                user_id="user-1",
                platform="wordpress",
                page_id=None,
                page_name="Sandbox Blog",
                access_token="",
                wordpress_site_url=f"{wordpress.url}/blog",
                wordpress_username="ada",
                wordpress_app_password=PASSWORD,
            )
            yield WordPressRunning(
                simulator=simulator,
                settings=settings,
                connection=connection,
                adapter=WordPressAdapter(),
                media_url=media.url,
            )

    def job(self, running: Running, kind: str) -> PublishJob:
        """A valid job of `kind`; the image URL points at the running media host."""
        assert isinstance(running, WordPressRunning)
        title = "Matrix blog entry" if kind == BLOG else ""
        images = () if kind == TEXT else (f"{running.media_url}/media/{kind}-cover.jpg?bytes=150000",)
        body = f"{CONTENT}\n\n#{kind} #matrix"
        return PublishJob(
            ref=f"created_content/matrix-{kind}",
            kind=kind,
            title=title,
            text=f"{title}\n\n{body}" if title else body,
            body=body,
            hashtags=(kind, "matrix"),
            media_urls=images,
        )

    def publish_step(self, kind: str) -> str:  # noqa: ARG002 (the protocol's signature; one answer for all)
        """Every kind is made public by POST /wp/v2/posts."""
        return "posts"


HARNESS = WordPressHarness()
