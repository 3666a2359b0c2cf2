"""Instagram's entry in the adapter matrix: the Graph simulator, a media host and an IG account."""

from __future__ import annotations

from contextlib import AbstractContextManager

from services.platforms.base import CAROUSEL, IMAGE, VIDEO, Connection, PublishJob
from services.platforms.instagram import InstagramAdapter
from tests.adapters.harness import Running
from tests.adapters.harness_facebook import GraphRunning, media_urls, serve_graph

IG_USER_ID = "17841405822304914"
# Instagram via Facebook Login publishes with a Page token (contract §2.1).
IG_TOKEN = "EAAGm0PX4ZCpsBAInstagramTokenForTests01234"


class InstagramHarness:
    """Instagram posts through the Graph simulator (video containers take 2 polls)."""

    platform = "instagram"
    kinds = (IMAGE, CAROUSEL, VIDEO)

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
        text = f"Matrix {kind} post for Instagram\n\n#matrix #{kind}"
        return PublishJob(
            ref=f"created_content/instagram-{kind}",
            kind=kind,
            title="",
            text=text,
            body=text,
            hashtags=("matrix", kind),
            media_urls=media_urls(running, kind),
        )

    def publish_step(self, kind: str) -> str:  # noqa: ARG002 (the protocol's signature; one step for all)
        return "media_publish"


HARNESS = InstagramHarness()
