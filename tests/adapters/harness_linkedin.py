"""LinkedIn's entry in the shared adapter matrix (protocol in tests/adapters/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from devstack.server import serve
from devstack.simulators.linkedin import TOKEN_PATH, LinkedInSimulator
from devstack.simulators.media import MediaHost
from services.platforms.base import (
    CAROUSEL,
    DOCUMENT,
    IMAGE,
    LINK,
    MEDIA_DOCUMENT,
    MEDIA_VIDEO,
    REEL,
    TEXT,
    VIDEO,
    Connection,
    PlatformSettings,
    PublishJob,
)
from services.platforms.linkedin import LinkedInAdapter
from tests.adapters.harness import CLIENT_TIMEOUT_S, Running

# A video of two parts (one full 4 MiB part and a short one), so resuming a part is exercised.
VIDEO_BYTES = 4 * 1024 * 1024 + 300_000
# Every reserved character of LinkedIn's little text format, so the matrix also checks escaping.
TEXT_BODY = "Matrix check: C# vs F#, a\\b | {x} @team [1] (2) <3> *bold* _under_ ~tilde~"


@dataclass
class LinkedInRunning(Running):
    """`Running` plus where the media host is, for the jobs' image URLs."""

    media_url: str = ""


class LinkedInHarness:
    """Serves a LinkedIn simulator and a media host; the connection posts as a member."""

    platform = "linkedin"
    kinds = (TEXT, IMAGE, CAROUSEL, VIDEO, REEL, DOCUMENT, LINK)

    @contextmanager
    def start(self) -> Iterator[Running]:
        """Serve the simulator and media host for one test; stop them afterwards."""
        simulator = LinkedInSimulator()
        with serve(simulator) as linkedin, serve(MediaHost()) as media:
            settings = PlatformSettings(
                media_allowed_hosts=("127.0.0.1",),  # the simulators and media host are on loopback
                linkedin_api_url=linkedin.url,
                linkedin_oauth_url=linkedin.url + TOKEN_PATH,
                http_timeout_s=CLIENT_TIMEOUT_S,
            )
            connection = Connection(
                id="conn-linkedin",
                user_id="user-1",
                platform="linkedin",
                page_id="abc123",
                page_name="Ada Lovelace",
                access_token="AQV-matrix-token",
                linkedin_id="abc123",
            )
            yield LinkedInRunning(
                simulator=simulator,
                settings=settings,
                connection=connection,
                adapter=LinkedInAdapter(),
                media_url=media.url,
            )

    def job(self, running: Running, kind: str) -> PublishJob:
        """A valid job of `kind`; media URLs point at the running media host."""
        assert isinstance(running, LinkedInRunning)
        media = f"{running.media_url}/media"
        urls: tuple[str, ...] = {
            TEXT: (),
            IMAGE: (f"{media}/image-0.jpg?bytes=150000",),
            CAROUSEL: tuple(f"{media}/carousel-{n}.jpg?bytes=150000" for n in range(3)),
            VIDEO: (f"{media}/{kind}.mp4?bytes={VIDEO_BYTES}",),
            REEL: (f"{media}/{kind}.mov?bytes={VIDEO_BYTES}",),
            DOCUMENT: (f"{media}/deck.pdf?bytes=200000",),
            LINK: (),
        }[kind]
        media_kind = {VIDEO: MEDIA_VIDEO, REEL: MEDIA_VIDEO, DOCUMENT: MEDIA_DOCUMENT}.get(kind)
        text = f"{TEXT_BODY}\n\n#{kind} #matrix"
        return PublishJob(
            ref=f"created_content/matrix-{kind}",
            kind=kind,
            title="Matrix check" if kind == VIDEO else "",
            text=text,
            body=text,
            hashtags=(kind, "matrix"),
            media_urls=urls,
            media_kinds=(media_kind,) * len(urls) if media_kind else (),
            link="https://example.com/articles/matrix" if kind == LINK else None,
            thumbnail=f"{media}/link-card.png?bytes=50000" if kind == LINK else None,
        )

    def publish_step(self, kind: str) -> str:  # noqa: ARG002 (the protocol's signature; one answer for all)
        """Every kind is made public by POST /rest/posts."""
        return "posts"


HARNESS = LinkedInHarness()
