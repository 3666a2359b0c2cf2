"""LinkedIn's entry in the shared adapter matrix (protocol in tests/adapters/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from devstack.server import serve
from devstack.simulators.linkedin import TOKEN_PATH, LinkedInSimulator
from devstack.simulators.media import MediaHost
from services.platforms.base import CAROUSEL, IMAGE, TEXT, Connection, PlatformSettings, PublishJob
from services.platforms.linkedin import LinkedInAdapter
from tests.adapters.harness import CLIENT_TIMEOUT_S, Running

# Every reserved character of LinkedIn's little text format, so the matrix also checks escaping.
TEXT_BODY = "Matrix check: C# vs F#, a\\b | {x} @team [1] (2) <3> *bold* _under_ ~tilde~"


@dataclass
class LinkedInRunning(Running):
    """`Running` plus where the media host is, for the jobs' image URLs."""

    media_url: str = ""


class LinkedInHarness:
    """Serves a LinkedIn simulator and a media host; the connection posts as a member."""

    platform = "linkedin"
    kinds = (TEXT, IMAGE, CAROUSEL)

    @contextmanager
    def start(self) -> Iterator[Running]:
        """Serve the simulator and media host for one test; stop them afterwards."""
        simulator = LinkedInSimulator()
        with serve(simulator) as linkedin, serve(MediaHost()) as media:
            settings = PlatformSettings(
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
        """A valid job of `kind`; image URLs point at the running media host."""
        assert isinstance(running, LinkedInRunning)
        images = {TEXT: 0, IMAGE: 1, CAROUSEL: 3}[kind]
        urls = tuple(f"{running.media_url}/media/{kind}-{n}.jpg?bytes=150000" for n in range(images))
        text = f"{TEXT_BODY}\n\n#{kind} #matrix"
        return PublishJob(
            ref=f"created_content/matrix-{kind}",
            kind=kind,
            title="",
            text=text,
            body=text,
            hashtags=(kind, "matrix"),
            media_urls=urls,
        )

    def publish_step(self, kind: str) -> str:  # noqa: ARG002 (the protocol's signature; one answer for all)
        """Every kind is made public by POST /rest/posts."""
        return "posts"


HARNESS = LinkedInHarness()
