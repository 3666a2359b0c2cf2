"""X's entry in the shared adapter matrix (protocol in tests/adapters/harness.py).

The connection has a refresh token and the client id is configured, so an "auth" fault goes
through one real (rotating) refresh before it ends as AuthError. Videos are split into several
small segments, so the chunked upload runs every step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from devstack.server import serve
from devstack.simulators.media import MediaHost
from devstack.simulators.x import TOKEN_PATH, XSimulator
from services.platforms.base import (
    CAROUSEL,
    IMAGE,
    LINK,
    MEDIA_IMAGE,
    MEDIA_VIDEO,
    REEL,
    TEXT,
    VIDEO,
    Connection,
    PlatformSettings,
    PublishJob,
)
from services.platforms.x import XAdapter
from tests.adapters.harness import CLIENT_TIMEOUT_S, Running

SEGMENT = 64 * 1024
VIDEO_BYTES = 3 * SEGMENT + 1000  # four APPENDs, the last one short
# Characters X rewrites when it shows a post back (a URL, HTML-escaped ones), to check matching.
TEXT_BODY = "Matrix check: bread & butter <3, see https://example.com/menu?a=1&b=2 now"


@dataclass
class XRunning(Running):
    """`Running` plus where the media host is, for the jobs' media URLs."""

    media_url: str = ""


class XHarness:
    """Serves an X simulator and a media host; the connection names its account."""

    platform = "twitter"
    kinds = (TEXT, LINK, IMAGE, CAROUSEL, VIDEO, REEL)

    @contextmanager
    def start(self) -> Iterator[Running]:
        """Serve the simulator and media host for one test; stop them afterwards."""
        simulator = XSimulator()
        with serve(simulator) as x, serve(MediaHost()) as media:
            settings = PlatformSettings(
                media_allowed_hosts=("127.0.0.1",),  # the simulators and media host are on loopback
                x_api_url=x.url,
                x_oauth_token_url=x.url + TOKEN_PATH,
                x_client_id=simulator.client_id,
                x_segment_bytes=SEGMENT,
                http_timeout_s=CLIENT_TIMEOUT_S,
            )
            connection = Connection(
                id="conn-x",
                user_id="user-1",
                platform="twitter",
                page_id=simulator.user_id,
                page_name="Sim Bakery",
                page_username=simulator.username,
                access_token="x-matrix-access-token",
                refresh_token="x-matrix-refresh-token",
            )
            yield XRunning(
                simulator=simulator,
                settings=settings,
                connection=connection,
                adapter=XAdapter(),
                media_url=media.url,
            )

    def job(self, running: Running, kind: str) -> PublishJob:
        """A valid job of `kind`; media URLs point at the running media host."""
        assert isinstance(running, XRunning)
        base = running.media_url + "/media"
        media: tuple[str, ...] = {
            IMAGE: (f"{base}/{kind}-0.jpg?bytes=150000",),
            CAROUSEL: tuple(f"{base}/{kind}-{n}.png?bytes=90000" for n in range(3)),
            VIDEO: (f"{base}/{kind}.mp4?bytes={VIDEO_BYTES}",),
            REEL: (f"{base}/{kind}.mp4?bytes={VIDEO_BYTES}",),
        }.get(kind, ())
        text = f"{TEXT_BODY}\n\n#{kind} #matrix"
        return PublishJob(
            ref=f"created_content/matrix-{kind}",
            kind=kind,
            title="",
            text=text,
            body=text,
            hashtags=(kind, "matrix"),
            media_urls=media,
            media_kinds=tuple(MEDIA_VIDEO if kind in (VIDEO, REEL) else MEDIA_IMAGE for _ in media),
            link="https://example.com/matrix-link" if kind == LINK else None,
        )

    def publish_step(self, kind: str) -> str:  # noqa: ARG002 (the protocol's signature; one answer for all)
        """Every kind is made public by POST /2/tweets."""
        return "tweets"


HARNESS = XHarness()
