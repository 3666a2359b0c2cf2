"""Facebook's entry in the adapter matrix: the Graph simulator, a media host and a Page.

Also what Instagram's harness and both adapters' unit tests share: serving the Graph
simulators (`serve_graph`: graph.facebook.com and graph.instagram.com) and a recorded
AdapterContext around them (`graph_stack`).

Matrix kinds are post kinds with an optional variant after a colon: "story:video" is a story
whose one media file is a video, "carousel:mixed" a carousel of images and videos.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from devstack.server import serve
from devstack.simulators.graph import GraphSimulator
from devstack.simulators.media import MediaHost
from services.platforms.base import (
    CAROUSEL,
    IMAGE,
    LINK,
    MEDIA_IMAGE,
    MEDIA_VIDEO,
    REEL,
    STORY,
    TEXT,
    VIDEO,
    Adapter,
    AdapterContext,
    Connection,
    PlatformSettings,
    PublishJob,
    PublishResult,
)
from services.platforms.facebook import FacebookAdapter
from tests.adapters.harness import CLIENT_TIMEOUT_S, Harness, ProgressRecorder, Running

PAGE_ID = "104958162837461"
# Shaped like a real Page token so that redaction tests see what production would log.
PAGE_TOKEN = "EAAGm0PX4ZCpsBAPageTokenForTests0123456789"


@dataclass
class GraphRunning(Running):
    """The running Graph simulators (Facebook's and Instagram Login's) and the media host."""

    media_url: str
    facebook_graph: GraphSimulator  # graph.facebook.com (also Instagram with Facebook Login)
    instagram_graph: GraphSimulator  # graph.instagram.com (Instagram Login)


@contextmanager
def serve_graph(connection: Connection, adapter: Adapter) -> Iterator[GraphRunning]:
    """Serve both Graph simulators and a MediaHost on loopback for one test."""
    simulator = GraphSimulator(video_polls=2)
    login = GraphSimulator(video_polls=2, instagram_login=True)
    with serve(simulator) as graph, serve(login) as instagram, serve(MediaHost()) as media:
        settings = PlatformSettings(
            meta_graph_url=f"{graph.url}/v27.0",
            meta_graph_video_url=f"{graph.url}/v27.0",
            instagram_graph_url=f"{instagram.url}/v27.0",
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
            facebook_graph=simulator,
            instagram_graph=login,
        )


def split_kind(label: str) -> tuple[str, str]:
    """A matrix kind label as (post kind, variant): "story:video" → ("story", "video")."""
    kind, _, variant = label.partition(":")
    return kind, variant


def media_of(
    running: Running, label: str, image_ext: str = ".jpg"
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Media URLs on the running host for a job of kind `label`, and what each one holds."""
    assert isinstance(running, GraphRunning)
    base = f"{running.media_url}/media"
    kind, variant = split_kind(label)
    if kind == IMAGE or (kind == STORY and variant != "video"):
        return (f"{base}/photo{image_ext}",), (MEDIA_IMAGE,)
    if kind == CAROUSEL and variant == "mixed":
        urls = (f"{base}/slide1{image_ext}", f"{base}/clip1.mp4", f"{base}/clip2.mp4")
        return urls, (MEDIA_IMAGE, MEDIA_VIDEO, MEDIA_VIDEO)
    if kind == CAROUSEL:
        return tuple(f"{base}/slide{i}{image_ext}" for i in range(1, 4)), (MEDIA_IMAGE,) * 3
    if kind in (VIDEO, REEL, STORY):
        return (f"{base}/clip.mp4",), (MEDIA_VIDEO,)
    return (), ()


def media_urls(running: Running, kind: str, image_ext: str = ".jpg") -> tuple[str, ...]:
    """Media on the running host for a job of `kind` (none for text)."""
    return media_of(running, kind, image_ext)[0]


class FacebookHarness:
    """Facebook Page posts through the Graph simulator."""

    platform = "facebook"
    kinds = (TEXT, LINK, IMAGE, CAROUSEL, VIDEO, REEL, STORY, "story:video")

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
        post_kind, variant = split_kind(kind)
        tag = post_kind + variant
        text = f"Matrix {kind} post for Facebook: see https://example.com/news\n\n#matrix #{tag}"
        urls, kinds = media_of(running, kind)
        return PublishJob(
            ref=f"created_content/facebook-{tag}",
            kind=post_kind,
            title="",
            text=text,
            body=text,
            hashtags=("matrix", tag),
            media_urls=urls,
            media_kinds=kinds,
            link="https://example.com/news" if post_kind == LINK else None,
        )

    def publish_step(self, kind: str) -> str:
        return {
            TEXT: "feed",
            LINK: "feed",
            IMAGE: "photos",
            CAROUSEL: "feed",
            VIDEO: "videos",
            REEL: "reels_finish",
            STORY: "photo_stories",
            "story:video": "video_stories_finish",
        }[kind]


HARNESS = FacebookHarness()


# ---- for the adapters' unit tests ------------------------------------------------------------

# Building a TLS context costs ~50 ms; sharing one keeps each test's client cheap.
TLS = ssl.create_default_context()


@dataclass
class GraphStack:
    """A running harness, the adapter's context and what the adapter recorded."""

    harness: Harness
    running: GraphRunning
    recorder: ProgressRecorder
    ctx: AdapterContext

    @property
    def sim(self) -> GraphSimulator:
        assert isinstance(self.running.simulator, GraphSimulator)
        return self.running.simulator

    def job(self, kind: str, **changes: Any) -> PublishJob:
        """The harness's job of `kind`, with fields replaced."""
        return replace(self.harness.job(self.running, kind), **changes)

    def publish(self, job: PublishJob, connection: Connection | None = None) -> PublishResult:
        """Run the adapter on the harness's connection (or `connection`)."""
        return self.running.adapter.publish(job, connection or self.running.connection, self.ctx)

    def calls(self, step: str) -> list[Any]:
        """The simulator's requests of one step, in order."""
        return [r for r in self.sim.requests if self.sim.step_of(r) == step]


@contextmanager
def graph_stack(harness: Harness) -> Iterator[GraphStack]:
    """Start `harness` and build the AdapterContext the way the matrix does, with recorders."""
    with harness.start() as running:
        assert isinstance(running, GraphRunning)
        recorder = ProgressRecorder(counter=lambda: len(running.simulator.requests))
        with httpx.Client(timeout=running.settings.http_timeout_s, verify=TLS) as http:
            ctx = AdapterContext(
                http=http,
                settings=running.settings,
                progress=recorder,
                now=lambda: datetime.now(UTC),
                sleep=recorder.sleep,
                save_token=recorder.save_token,
            )
            yield GraphStack(harness, running, recorder, ctx)
