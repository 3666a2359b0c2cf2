"""Facebook Pages: text, single photo, several photos and video posts (contract §1).

| kind     | calls                                                                            |
|----------|----------------------------------------------------------------------------------|
| text     | POST /{page}/feed message (links stay in the message; Facebook previews them)     |
| image    | POST /{page}/photos url, caption → keep `post_id`                                 |
| carousel | per image POST /{page}/photos url, published=false; then POST /{page}/feed        |
|          | message + attached_media[i]={"media_fbid": …}                                     |
| video    | POST {graph-video}/{page}/videos file_url, description                            |

Then GET /{id}?fields=permalink_url for the URL (falling back to facebook.com/{id}).

Facebook's create calls are not idempotent: a timeout or a code-2 reply can hide a post that
exists, and blind retries have published the same photo seven times. So after an ambiguous
failure, or when an earlier attempt crashed mid-send (`job.sending_started`), the adapter looks
for the post on the Page (GET /{page}/published_posts, or /{page}/videos) before anything else.

Resume keys (`ctx.progress.remember`, read back from `job.resume`):
- `photo_ids`: ids of the unpublished photos uploaded so far, in `media_urls` order;
- `sent_after`: unix time a little before the first publishing call; reconciliation looks for
  posts created since then.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from services.errors import AmbiguousError, AuthError, PlatformError, RetryableError
from services.platforms.base import (
    CAROUSEL,
    IMAGE,
    REEL,
    TEXT,
    VIDEO,
    Adapter,
    AdapterContext,
    Connection,
    Limits,
    PublishJob,
    PublishResult,
)
from services.platforms.graph_errors import GraphClient, classify, same_text

PLATFORM = "facebook"
FACEBOOK_URL = "https://www.facebook.com"
# Facebook's own cap on a post's text.
TEXT_MAX_CHARS = 63_206
# Posts can take a moment to show up in published_posts after the create call failed.
RECONCILE_DELAY_S = 5.0
# How far before the create call reconciliation looks: covers clock skew with Facebook.
SEND_MARGIN = timedelta(minutes=5)
# When an earlier attempt crashed before noting its send time, look back this far instead.
UNKNOWN_SEND_LOOKBACK = timedelta(days=7)
# One page of recent posts is enough: reconciliation only looks at the last few minutes.
RECONCILE_LIMIT = "100"


def _unix(moment: datetime) -> int:
    # A naive datetime from a test clock means UTC, not the machine's local time.
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _created_before(created_time: object, since: int) -> bool:
    """Whether a Graph `created_time` ("2026-11-28T12:00:00+0000") is before `since`.

    Checked here as well because not every list edge honours `since`; an unreadable time counts
    as recent, leaving the decision to the text match.
    """
    try:
        created = datetime.strptime(str(created_time), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return False
    return _unix(created) < since


class FacebookAdapter(Adapter):
    """Publishes to a Facebook Page with the connection's Page access token."""

    platform: ClassVar[str] = PLATFORM
    display_name: ClassVar[str] = "Facebook"
    limits: ClassVar[Limits] = Limits(
        kinds=frozenset({TEXT, IMAGE, CAROUSEL, VIDEO, REEL}), text_max_chars=TEXT_MAX_CHARS
    )

    def publish(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> PublishResult:
        """Publish `job` on the connection's Page, reconciling first after an interrupted send."""
        if not connection.page_id:
            raise AuthError(
                self.platform,
                "This Facebook connection has no Page. Reconnect your Facebook account in the app, "
                "then reschedule this post.",
                connection_status="revoked",
            )
        graph = GraphClient(
            ctx,
            platform=self.platform,
            display_name=self.display_name,
            token=connection.access_token,
            classify=classify,
        )
        post = _PagePost(job, connection.page_id, graph, ctx)
        if job.sending_started:
            found = post.find_published()
            if found:
                return post.result(found)
        return post.result(post.send())


class _PagePost:
    """One job being published on one Page."""

    def __init__(self, job: PublishJob, page_id: str, graph: GraphClient, ctx: AdapterContext) -> None:
        self.job = job
        self.page = page_id
        self.graph = graph
        self.ctx = ctx
        self.base = ctx.settings.meta_graph_url.rstrip("/")
        remembered = job.resume.get("sent_after")
        if remembered:
            self.since = int(remembered)
        elif job.sending_started:
            self.since = _unix(ctx.now() - UNKNOWN_SEND_LOOKBACK)
        else:
            self.since = _unix(ctx.now() - SEND_MARGIN)

    def send(self) -> str:
        """Make the calls of the job's kind; the id of the published post."""
        job, page = self.job, self.page
        if job.kind == TEXT:
            return self._publish(f"{self.base}/{page}/feed", {"message": job.text}, id_key="id")
        if job.kind == IMAGE:
            data = {"url": job.media_urls[0], "caption": job.text}
            return self._publish(f"{self.base}/{page}/photos", data, id_key="post_id")
        if job.kind == CAROUSEL:
            data = {"message": job.text}
            for i, photo_id in enumerate(self._upload_photos()):
                data[f"attached_media[{i}]"] = json.dumps({"media_fbid": photo_id})
            return self._publish(f"{self.base}/{page}/feed", data, id_key="id")
        if job.kind in (VIDEO, REEL):
            video_base = self.ctx.settings.meta_graph_video_url.rstrip("/")
            data = {"file_url": job.media_urls[0], "description": job.text}
            return self._publish(f"{video_base}/{page}/videos", data, id_key="id")
        raise ValueError(f"unsupported post kind {job.kind!r}")  # check() rejects it first

    def _upload_photos(self) -> list[str]:
        """Upload the images as unpublished photos, keeping those an earlier attempt uploaded."""
        photo_ids = [str(i) for i in self.job.resume.get("photo_ids") or []][: len(self.job.media_urls)]
        for url in self.job.media_urls[len(photo_ids) :]:
            body = self.graph.post(
                f"{self.base}/{self.page}/photos", {"url": url, "published": "false"}, publishes=False
            )
            if not body.get("id"):
                raise RetryableError(
                    PLATFORM, "Facebook accepted a photo but sent no id back; nothing was published."
                )
            photo_ids.append(str(body["id"]))
            self.ctx.progress.remember(photo_ids=list(photo_ids))
        return photo_ids

    def _publish(self, url: str, data: dict[str, str], *, id_key: str) -> str:
        """The one call that makes the post public; reconcile instead of guessing when it fails."""
        if "sent_after" not in self.job.resume:
            self.ctx.progress.remember(sent_after=self.since)
        self.ctx.progress.sending()
        try:
            body: dict[str, Any] = self.graph.post(url, data, publishes=True)
        except AmbiguousError:
            body = {}
        post_id = str(body.get(id_key) or body.get("id") or "")
        if post_id:
            return post_id
        # The call failed in a way that may have published the post, or answered without an id.
        self.ctx.sleep(RECONCILE_DELAY_S)
        found = self.find_published()
        if found:
            return found
        raise RetryableError(
            PLATFORM,
            "Facebook failed while the post was being sent, and the post has not appeared on the Page, "
            "so nothing was published. It will be tried again.",
        )

    def find_published(self) -> str | None:
        """The id of our post if it is on the Page since `since`, else None."""
        if self.job.kind in (VIDEO, REEL):
            url, text_field = f"{self.base}/{self.page}/videos", "description"
        else:
            url, text_field = f"{self.base}/{self.page}/published_posts", "message"
        try:
            body = self.graph.get(
                url, fields=f"id,{text_field},created_time", since=str(self.since), limit=RECONCILE_LIMIT
            )
        except AuthError:
            raise
        except PlatformError as exc:
            raise AmbiguousError(
                PLATFORM,
                "Facebook failed while the post was being sent, and checking the Page for it failed "
                "too, so it may or may not have been published.",
                detail=exc.detail or exc.message,
            ) from None
        for item in body.get("data") or []:
            if (
                isinstance(item, dict)
                and item.get("id")
                and same_text(item.get(text_field), self.job.text)
                and not _created_before(item.get("created_time"), self.since)
            ):
                return str(item["id"])
        return None

    def result(self, post_id: str) -> PublishResult:
        """The published post with its permalink; a failed permalink read never fails the post."""
        try:
            body = self.graph.get(f"{self.base}/{post_id}", fields="permalink_url")
        except PlatformError:
            return PublishResult(post_id=post_id, url=f"{FACEBOOK_URL}/{post_id}")
        url = str(body.get("permalink_url") or "")
        if url.startswith("/"):
            url = FACEBOOK_URL + url  # video permalinks come relative to facebook.com
        return PublishResult(post_id=post_id, url=url or f"{FACEBOOK_URL}/{post_id}")
