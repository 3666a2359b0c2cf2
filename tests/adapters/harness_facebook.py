"""Facebook's entry in the adapter matrix: the Graph simulator, a media host and a Page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from devstack.server import serve
from devstack.simulators.graph import GraphSimulator
from devstack.simulators.media import MediaHost
from services.platforms.base import (
    CAROUSEL,
    IMAGE,
    TEXT,
    VIDEO,
    Adapter,
    Connection,
    PlatformSettings,
    PublishJob,
)
from services.platforms.facebook import FacebookAdapter
from tests.adapters.harness import CLIENT_TIMEOUT_S, Running

PAGE_ID = "104958162837461"
# Shaped like a real Page token so that redaction tests see what production would log.
PAGE_TOKEN = "EAAGm0PX4ZCpsBAPageTokenForTests0123456789"


@dataclass
class GraphRunning(Running):
    """A running Graph simulator plus the media host whose URLs jobs point at."""

    media_url: str


@contextmanager
def serve_graph(connection: Connection, adapter: Adapter) -> Iterator[GraphRunning]:
    """Serve a GraphSimulator and a MediaHost on loopback for one test."""
    simulator = GraphSimulator(video_polls=2)
    with serve(simulator) as graph, serve(MediaHost()) as media:
        settings = PlatformSettings(
            meta_graph_url=f"{graph.url}/v27.0",
            meta_graph_video_url=f"{graph.url}/v27.0",
            http_timeout_s=CLIENT_TIMEOUT_S,
            instagram_poll_interval_s=0.0,
            instagram_poll_max=5,
        )
        yield GraphRunning(
            simulator=simulator,
            settings=settings,
            connection=connection,
            adapter=adapter,
            media_url=media.url,
        )


def media_urls(running: Running, kind: str, image_ext: str = ".jpg") -> tuple[str, ...]:
    """Media on the running host for a job of `kind` (none for text)."""
    assert isinstance(running, GraphRunning)
    base = f"{running.media_url}/media"
    if kind == IMAGE:
        return (f"{base}/photo{image_ext}",)
    if kind == CAROUSEL:
        return tuple(f"{base}/slide{i}{image_ext}" for i in range(1, 4))
    if kind == VIDEO:
        return (f"{base}/clip.mp4",)
    return ()


class FacebookHarness:
    """Facebook Page posts through the Graph simulator."""

    platform = "facebook"
    kinds = (TEXT, IMAGE, CAROUSEL, VIDEO)

    def start(self) -> AbstractContextManager[GraphRunning]:
        connection = Connection(
            id="conn-facebook",
            user_id="user-1",
            platform="facebook",
            page_id=PAGE_ID,
            page_name="Harness Page",
            access_token=PAGE_TOKEN,
        )
        return serve_graph(connection, FacebookAdapter())

    def job(self, running: Running, kind: str) -> PublishJob:
        text = f"Matrix {kind} post for Facebook: see https://example.com/news\n\n#matrix #{kind}"
        return PublishJob(
            ref=f"created_content/facebook-{kind}",
            kind=kind,
            title="",
            text=text,
            body=text,
            hashtags=("matrix", kind),
            media_urls=media_urls(running, kind),
        )

    def publish_step(self, kind: str) -> str:
        return {TEXT: "feed", IMAGE: "photos", CAROUSEL: "feed", VIDEO: "videos"}[kind]


HARNESS = FacebookHarness()
