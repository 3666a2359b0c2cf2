"""Instagram's entry in the adapter matrix: the Graph simulators, a media host and an IG account.

Kinds ending in "@login" run on an account connected with Instagram Login (graph.instagram.com,
an `IGAA…` token): asking for such a job switches the running harness's connection and counted
simulator to that flavour, so the one matrix entry covers both ways of connecting.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace

from services.platforms.base import CAROUSEL, IMAGE, REEL, STORY, VIDEO, Connection, PublishJob
from services.platforms.instagram import InstagramAdapter
from tests.adapters.harness import Running
from tests.adapters.harness_facebook import GraphRunning, media_of, serve_graph, split_kind

IG_USER_ID = "17841405822304914"
# Instagram via Facebook Login publishes with a Page token.
IG_TOKEN = "EAAGm0PX4ZCpsBAInstagramTokenForTests01234"
# Instagram Login: the account id graph.instagram.com's /me gives, and an Instagram User token.
IG_LOGIN_USER_ID = "17841499999999999"
IG_LOGIN_TOKEN = "IGAAGm0PX4ZCpsBAInstagramLoginTokenForTests0123"
LOGIN = "@login"


def login_connection(running: Running) -> Connection:
    """The harness account as connected with Instagram Login."""
    return replace(
        running.connection, id="conn-instagram-login", page_id=IG_LOGIN_USER_ID, access_token=IG_LOGIN_TOKEN
    )


class InstagramHarness:
    """Instagram posts through the Graph simulators (video containers take 2 polls)."""

    platform = "instagram"
    kinds = (
        IMAGE,
        CAROUSEL,
        "carousel:mixed",
        VIDEO,
        REEL,
        STORY,
        "story:video",
        IMAGE + LOGIN,
        "carousel:mixed" + LOGIN,
        REEL + LOGIN,
        "story:video" + LOGIN,
    )

    def start(self) -> AbstractContextManager[GraphRunning]:
        connection = Connection(
            id="conn-instagram",
            user_id="user-1",
            platform="instagram",
            page_id=IG_USER_ID,
            page_name="harness.account",
            access_token=IG_TOKEN,
        )
        return serve_graph(connection, InstagramAdapter())

    def job(self, running: Running, kind: str) -> PublishJob:
        label = kind.removesuffix(LOGIN)
        if kind.endswith(LOGIN):
            assert isinstance(running, GraphRunning)
            running.simulator = running.instagram_graph
            running.connection = login_connection(running)
        post_kind, variant = split_kind(label)
        tag = post_kind + variant
        text = f"Matrix {kind} post for Instagram\n\n#matrix #{tag}"
        urls, kinds = media_of(running, label)
        return PublishJob(
            ref=f"created_content/instagram-{tag}",
            kind=post_kind,
            title="",
            text=text,
            body=text,
            hashtags=("matrix", tag),
            media_urls=urls,
            media_kinds=kinds,
            thumbnail=f"{urls[0].rsplit('/', 1)[0]}/cover.jpg" if post_kind == REEL else None,
            share_to_feed=False if post_kind == REEL else None,
        )

    def publish_step(self, kind: str) -> str:  # noqa: ARG002 (the protocol's signature; one step for all)
        return "media_publish"


HARNESS = InstagramHarness()
