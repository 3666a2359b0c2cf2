"""YouTube's entry in the shared adapter matrix (protocol in tests/adapters/harness.py).

The video is smaller than one chunk, so the single "upload" PUT is the call that creates it:
a fault scripted on that step hits exactly the publishing call. A REEL (a Short) is the same
upload; the VIDEO job also carries a thumbnail, so every fault runs through thumbnails.set too
(faults on thumbnails.set itself are in tests/unit/test_youtube_adapter.py). The connection has
no refresh token, so an "auth" fault is AuthError at once (as on the platforms without
refresh), and the OAuth simulator is served only so that every configured URL points at loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from devstack.server import serve
from devstack.simulators.media import MediaHost
from devstack.simulators.youtube import (
    SIM_CLIENT_ID,
    SIM_CLIENT_SECRET,
    GoogleOAuthSimulator,
    YouTubeSimulator,
)
from services.platforms.base import REEL, VIDEO, Connection, PlatformSettings, PublishJob
from services.platforms.youtube import YouTubeAdapter
from tests.adapters.harness import CLIENT_TIMEOUT_S, Running

CHUNK = 256 * 1024
VIDEO_BYTES = 200 * 1024  # under one chunk: one PUT carries every byte


@dataclass
class YouTubeRunning(Running):
    """`Running` plus where the media host is, for the job's video URL."""

    media_url: str = ""


class YouTubeHarness:
    """Serves the YouTube and Google OAuth simulators and a media host."""

    platform = "youtube"
    kinds = (VIDEO, REEL)

    @contextmanager
    def start(self) -> Iterator[Running]:
        """Serve the simulators and media host for one test; stop them afterwards."""
        simulator = YouTubeSimulator()
        with serve(simulator) as youtube, serve(GoogleOAuthSimulator()) as oauth, serve(MediaHost()) as media:
            settings = PlatformSettings(
                media_allowed_hosts=("127.0.0.1",),  # the simulators and media host are on loopback
                youtube_upload_url=f"{youtube.url}/upload/youtube/v3",
                google_oauth_token_url=f"{oauth.url}/token",
                google_client_id=SIM_CLIENT_ID,
                google_client_secret=SIM_CLIENT_SECRET,
                youtube_chunk_bytes=CHUNK,
                http_timeout_s=CLIENT_TIMEOUT_S,
            )
            connection = Connection(
                id="conn-youtube",
                user_id="user-1",
                platform="youtube",
                page_id="UCsimulatedchannel000000",
                page_name="Matrix channel",
                access_token="ya29.matrix-access-token",
            )
            yield YouTubeRunning(
                simulator=simulator,
                settings=settings,
                connection=connection,
                adapter=YouTubeAdapter(),
                media_url=media.url,
            )

    def job(self, running: Running, kind: str) -> PublishJob:
        """A valid video job (with a thumbnail) or Short whose URLs point at the running media host."""
        assert isinstance(running, YouTubeRunning)
        thumbnail = f"{running.media_url}/media/matrix-cover.jpg?bytes=20000" if kind == VIDEO else None
        return PublishJob(
            ref=f"created_content/matrix-{kind}",
            kind=kind,
            title="Matrix check",
            text="Matrix check\n\nA video for the adapter matrix.\n\n#matrix #video",
            body="A video for the adapter matrix.\n\n#matrix #video",
            hashtags=("matrix", "video"),
            media_urls=(f"{running.media_url}/media/matrix.mp4?bytes={VIDEO_BYTES}",),
            thumbnail=thumbnail,
            category="27",
        )

    def publish_step(self, kind: str) -> str:  # noqa: ARG002 (the protocol's signature; one answer for all)
        """The PUT carrying the last byte creates the video."""
        return "upload"


HARNESS = YouTubeHarness()
