"""Instagram professional accounts: image, carousel and video (reel) posts (contract §2).

Publishing is two-phase: create a media container (Meta downloads the media from its public
URL), wait until its status_code is FINISHED, then `media_publish` it. In order:

1. GET /{ig-user}/content_publishing_limit: a full quota defers the post (class R);
2. POST /{ig-user}/media: image_url + caption; or media_type=REELS + video_url (every feed
   video is a reel); or one is_carousel_item=true child per image, then media_type=CAROUSEL
   with children=id1,id2,…;
3. GET /{container}?fields=status_code,status until FINISHED, sleeping
   `instagram_poll_interval_s` between reads, at most `instagram_poll_max` times per run;
4. POST /{ig-user}/media_publish creation_id=<container>;
5. GET /{media}?fields=permalink (the URL is never built from the id).

A container is the unit of at-most-once: Instagram never publishes one twice, and its status
says PUBLISHED once it is live. So after a failed or interrupted publish the adapter asks the
container, never guesses.

Resume keys (`ctx.progress.remember`, read back from `job.resume`):
- `children`: carousel item containers created so far, in `media_urls` order;
- `container_id`: the container to publish (with `children` for a carousel);
- `media_id`: the published media, remembered as soon as media_publish answers.
"""

from __future__ import annotations

from typing import Any, ClassVar

from services.errors import (
    AmbiguousError,
    AuthError,
    PermanentError,
    PlatformError,
    RateLimitedError,
    RetryableError,
)
from services.platforms.base import (
    CAROUSEL,
    IMAGE,
    REEL,
    VIDEO,
    Adapter,
    AdapterContext,
    Connection,
    Limits,
    PublishJob,
    PublishResult,
    platform_text,
)
from services.platforms.graph_errors import (
    GraphClient,
    GraphError,
    NotReadyError,
    Verdict,
    classify,
    same_text,
)

PLATFORM = "instagram"
# How many of the account's newest media to search for a post published without us seeing its id.
RECENT_MEDIA = "25"
# Subcodes that mean "this container or upload failed, nothing was published" (§2.7).
_NEW_CONTAINER_SUBCODES = (2207003, 2207006, 2207008, 2207020, 2207032, 2207053)


def classify_instagram_error(error: GraphError, *, publishes: bool) -> Verdict:
    """Instagram's subcodes (contract §2.7) first, then Facebook's table for the shared codes."""
    subcode = error.subcode
    if subcode == 2207027:
        return Verdict.NOT_READY
    if subcode == 2207051:  # code 4 here is a spam block on this post, not a rate limit
        return Verdict.PERMANENT
    if subcode == 2207042:
        return Verdict.RATE_LIMITED
    if error.code == 25 or subcode == 2207050:
        return Verdict.REVOKED
    if error.code == -1:
        return Verdict.AMBIGUOUS if publishes else Verdict.RETRY
    if error.code in (-2, 24) or subcode in _NEW_CONTAINER_SUBCODES:
        return Verdict.RETRY
    return classify(error, publishes=publishes)


class InstagramAdapter(Adapter):
    """Publishes to an Instagram professional account through the Graph API (Facebook Login)."""

    platform: ClassVar[str] = PLATFORM
    display_name: ClassVar[str] = "Instagram"
    limits: ClassVar[Limits] = Limits(
        kinds=frozenset({IMAGE, CAROUSEL, VIDEO, REEL}),
        text_noun="captions",
        text_max_chars=2200,
        hashtags_max=30,
        images_min=2,
        images_max=10,
        image_extensions=(".jpg", ".jpeg"),
        image_format_name="JPEG",
    )

    def publish(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> PublishResult:
        """Publish `job` on the connection's account, resuming an earlier attempt's container."""
        ig_user = connection.page_id or connection.instagram_id
        if not ig_user:
            raise AuthError(
                PLATFORM,
                "This Instagram connection has no account id. Reconnect your Instagram account in the "
                "app, then reschedule this post.",
                connection_status="revoked",
            )
        graph = GraphClient(
            ctx,
            platform=PLATFORM,
            display_name=self.display_name,
            token=connection.access_token,
            classify=classify_instagram_error,
        )
        return _InstagramPost(job, ig_user, graph, ctx).publish()


class _InstagramPost:
    """One job being published on one Instagram account."""

    def __init__(self, job: PublishJob, ig_user: str, graph: GraphClient, ctx: AdapterContext) -> None:
        self.job = job
        self.ig_user = ig_user
        self.graph = graph
        self.ctx = ctx
        self.base = ctx.settings.meta_graph_url.rstrip("/")
        self.polls_left = ctx.settings.instagram_poll_max  # one budget for the whole run

    def publish(self) -> PublishResult:
        """Resume what an earlier attempt left, else start; publish one container at most once."""
        resume = self.job.resume
        if resume.get("media_id"):
            return self.result(str(resume["media_id"]))
        container = str(resume.get("container_id") or "") or None
        state = self.remembered_state(container) if container else ""
        if state == "PUBLISHED":
            return self.published_without_id()
        if state not in ("FINISHED", "IN_PROGRESS"):
            container = None  # none yet, or EXPIRED, ERROR or gone: a new one is needed
            if self.job.sending_started:
                # A publish was attempted with a container we can no longer ask: look for the post.
                found = self.find_published()
                if found:
                    return found
        self.check_quota()
        for _ in range(2):  # a container that expires while we wait is replaced once
            container = container or self.create_container()
            state = self.wait_until_ready(container)
            if state == "PUBLISHED":
                return self.published_without_id()
            if state == "FINISHED":
                return self.publish_container(container)
            container = None
        raise RetryableError(PLATFORM, "Instagram let the media expire before it could be published.")

    # ---- steps -----------------------------------------------------------------------------
    def check_quota(self) -> None:
        """Defer (class R) when the account has used its publishing quota for the last 24 h."""
        body = self.graph.get(
            f"{self.base}/{self.ig_user}/content_publishing_limit", fields="quota_usage,config"
        )
        entry = (body.get("data") or [{}])[0]
        if not isinstance(entry, dict):
            return
        usage = entry.get("quota_usage")
        total = (entry.get("config") or {}).get("quota_total")
        if isinstance(usage, int) and isinstance(total, int) and usage >= total:
            raise RateLimitedError(
                PLATFORM,
                f"This Instagram account has used its {total} API posts for the last 24 hours; the post "
                "will be tried again later.",
                detail=f"quota_usage {usage} of {total}",
            )

    def create_container(self) -> str:
        """Create the container to publish and remember it at once."""
        job = self.job
        data = {"caption": job.text}
        children: list[str] = []
        if job.kind == IMAGE:
            data["image_url"] = job.media_urls[0]
        elif job.kind in (VIDEO, REEL):
            data.update(media_type="REELS", video_url=job.media_urls[0])
        elif job.kind == CAROUSEL:
            children = self.create_children()
            data.update(media_type="CAROUSEL", children=",".join(children))
        else:
            raise ValueError(f"unsupported post kind {job.kind!r}")  # check() rejects it first
        container = self._create(data)
        if job.kind == CAROUSEL:
            self.ctx.progress.remember(container_id=container, children=children)
        else:
            self.ctx.progress.remember(container_id=container)
        return container

    def create_children(self) -> list[str]:
        """One FINISHED item container per image, reusing those of an attempt that had no parent yet."""
        resume = self.job.resume
        # Items already given to a parent container cannot join a new one.
        reusable = [] if resume.get("container_id") else [str(c) for c in resume.get("children") or []]
        children: list[str] = []
        for index, url in enumerate(self.job.media_urls):
            child = reusable[index] if index < len(reusable) else None
            if child is None or self.wait_until_ready(child) != "FINISHED":
                child = self._create({"image_url": url, "is_carousel_item": "true"})
                self.wait_until_ready(child)
            children.append(child)
            self.ctx.progress.remember(children=list(children))
        return children

    def _create(self, data: dict[str, str]) -> str:
        body = self.graph.post(f"{self.base}/{self.ig_user}/media", data, publishes=False)
        if not body.get("id"):
            raise RetryableError(
                PLATFORM, "Instagram accepted the media but sent no id back; nothing was published."
            )
        return str(body["id"])

    def remembered_state(self, container: str) -> str:
        """The status_code of an earlier attempt's container; "" when Instagram no longer knows it."""
        try:
            return self.status(container)[0]
        except PermanentError:
            return ""  # 100/33: the id does not exist (any more)

    def status(self, container: str) -> tuple[str, str]:
        """The container's status_code and status text."""
        body = self.graph.get(f"{self.base}/{container}", fields="status_code,status")
        return str(body.get("status_code") or ""), str(body.get("status") or "")

    def wait_until_ready(self, container: str) -> str:
        """Poll until the container leaves IN_PROGRESS: FINISHED, EXPIRED or PUBLISHED.

        ERROR fails the post with Instagram's status text; a container still processing when
        the run's poll budget ends waits for a later run without using up an attempt.
        """
        state, text = self.status(container)
        while state == "IN_PROGRESS":
            if self.polls_left <= 0:
                raise RetryableError(
                    PLATFORM,
                    "Instagram is still processing the media; the post will be published by a later run.",
                    detail=f"container {container} IN_PROGRESS",
                    counts_as_attempt=False,
                )
            self.polls_left -= 1
            self.ctx.sleep(self.ctx.settings.instagram_poll_interval_s)
            state, text = self.status(container)
        if state == "ERROR":
            raise PermanentError(
                PLATFORM, f"Instagram could not process the media: {platform_text(text or 'no reason given')}"
            )
        if state not in ("FINISHED", "EXPIRED", "PUBLISHED"):
            raise RetryableError(
                PLATFORM, f"Instagram reported an unknown media status {platform_text(state, 40)!r}."
            )
        return state

    def publish_container(self, container: str) -> PublishResult:
        """media_publish the FINISHED container; after a failure, its status decides what happened."""
        published_again = False
        self.ctx.progress.sending()
        while True:
            try:
                body: dict[str, Any] = self.graph.post(
                    f"{self.base}/{self.ig_user}/media_publish", {"creation_id": container}, publishes=True
                )
            except NotReadyError:
                # FINISHED can still be answered with "not ready" for a moment: poll, then publish.
                self.polls_left -= 1
                if self.polls_left < 0:
                    raise
                self.ctx.sleep(self.ctx.settings.instagram_poll_interval_s)
                if self.wait_until_ready(container) != "FINISHED":
                    raise
                continue
            except AmbiguousError:
                body = {}
            if body.get("id"):
                media_id = str(body["id"])
                self.ctx.progress.remember(media_id=media_id)
                return self.result(media_id)
            state = self.status_after_failure(container)
            if state == "PUBLISHED":
                return self.published_without_id()
            if state != "FINISHED":
                raise AmbiguousError(
                    PLATFORM,
                    f"Publishing to Instagram failed and the media now reports {platform_text(state, 40)!r}, "
                    "so it may or may not have been published.",
                )
            if published_again:
                raise RetryableError(
                    PLATFORM,
                    "Instagram failed to publish the post twice; nothing was published.",
                    detail=f"container {container} still FINISHED",
                )
            published_again = True  # FINISHED: the failed call did not publish it; once more is safe

    def status_after_failure(self, container: str) -> str:
        """The container's status after a failed publish; if that read fails too, nobody knows."""
        try:
            return self.status(container)[0]
        except AuthError:
            raise
        except PlatformError as exc:
            raise AmbiguousError(
                PLATFORM,
                "Publishing to Instagram failed and checking the media's status failed too, so it may or "
                "may not have been published.",
                detail=exc.detail or exc.message,
            ) from None

    def published_without_id(self) -> PublishResult:
        """The container is PUBLISHED but its media id was lost: find the post, never publish again."""
        found = self.find_published()
        if found is None:
            raise AmbiguousError(
                PLATFORM,
                "Instagram reports the post as published, but it was not found among the account's "
                "recent posts.",
            )
        return found

    def find_published(self) -> PublishResult | None:
        """Our post among the account's newest media, matched by caption."""
        try:
            body = self.graph.get(
                f"{self.base}/{self.ig_user}/media",
                fields="id,caption,permalink,timestamp",
                limit=RECENT_MEDIA,
            )
        except AuthError:
            raise
        except PlatformError as exc:
            raise AmbiguousError(
                PLATFORM,
                "An earlier attempt to publish on Instagram was interrupted and the account's posts could "
                "not be read, so it may or may not have been published.",
                detail=exc.detail or exc.message,
            ) from None
        for item in body.get("data") or []:
            if isinstance(item, dict) and item.get("id") and same_text(item.get("caption"), self.job.text):
                media_id = str(item["id"])
                self.ctx.progress.remember(media_id=media_id)
                return PublishResult(post_id=media_id, url=str(item.get("permalink") or "") or None)
        return None

    def result(self, media_id: str) -> PublishResult:
        """The published media with its permalink; a failed read leaves the URL empty."""
        try:
            body = self.graph.get(f"{self.base}/{media_id}", fields="permalink")
        except PlatformError:
            return PublishResult(post_id=media_id, url=None)
        return PublishResult(post_id=media_id, url=str(body.get("permalink") or "") or None)
