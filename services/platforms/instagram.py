"""Instagram professional accounts: image, carousel, video, reel and story posts.

docs/platforms/instagram.md describes every call, limit and error class. Publishing is
two-phase: create a media container (Meta downloads the media from its public URL), wait until
its status_code is FINISHED, then `media_publish` it. In order:

1. GET /{ig-user}/content_publishing_limit: a full quota defers the post (class R);
2. POST /{ig-user}/media: image_url + caption; or media_type=REELS + video_url (every feed
   video is a reel; optional cover_url, share_to_feed); or media_type=STORIES + image_url or
   video_url (no caption); or one is_carousel_item=true child per item (video items with
   media_type=VIDEO + video_url), each FINISHED, then media_type=CAROUSEL with children=…;
3. GET /{container}?fields=status_code,status until FINISHED, sleeping
   `instagram_poll_interval_s` between reads, at most `instagram_poll_max` times per run;
4. POST /{ig-user}/media_publish creation_id=<container>;
5. GET /{media}?fields=permalink (the URL is never built from the id).

Two flavours of connection, told apart by the connection's own token (`services.platforms.
instagram_login`): Facebook Login (graph.facebook.com, Page or user token `EAA…`) and Instagram
Login (graph.instagram.com, token `IG…`, refreshed once after a 190).

A container is the unit of at-most-once: Instagram never publishes one twice, and its status
says PUBLISHED once it is live. So after a failed or interrupted publish the adapter asks the
container, never guesses. When the media id itself is lost, the account's media are searched,
counting only media created after the post's sending mark.

Resume keys (`ctx.progress.remember`, read back from `job.resume`):
- `children`: carousel item containers created so far, in `media_urls` order;
- `container_id`: the container to publish (with `children` for a carousel);
- `sent_after`: unix time a little before the first media_publish call;
- `media_id`: the published media, remembered as soon as media_publish answers.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar

from services.errors import (
    AmbiguousError,
    AuthError,
    LimitError,
    PermanentError,
    PlatformError,
    RateLimitedError,
    RetryableError,
)
from services.platforms.base import (
    CAROUSEL,
    IMAGE,
    MEDIA_VIDEO,
    REEL,
    STORY,
    VIDEO,
    Adapter,
    AdapterContext,
    Connection,
    Limits,
    PublishJob,
    PublishResult,
    check_limits,
    platform_text,
    url_extension,
    url_name,
)
from services.platforms.graph_errors import (
    GraphClient,
    GraphError,
    NotReadyError,
    Verdict,
    classify,
    created_at,
    same_text,
    unix,
)
from services.platforms.instagram_login import instagram_graph

PLATFORM = "instagram"
# How many of the account's newest media to search for a post published without us seeing its id.
RECENT_MEDIA = "25"
# How far before the sending mark a media may be ours: covers clock skew with Instagram.
SEND_MARGIN = timedelta(minutes=5)
# Subcodes that mean "this container or upload failed, nothing was published".
_NEW_CONTAINER_SUBCODES = (2207003, 2207006, 2207008, 2207020, 2207032, 2207053)
# Reel covers are fetched by Instagram like images: JPEG only.
COVER_EXTENSIONS = (".jpg", ".jpeg")
_REELS = (VIDEO, REEL)


def classify_instagram_error(error: GraphError, *, publishes: bool) -> Verdict:
    """Instagram's subcodes first, then Facebook's table for the shared codes."""
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
    """Publishes to an Instagram professional account (Facebook Login or Instagram Login)."""

    platform: ClassVar[str] = PLATFORM
    display_name: ClassVar[str] = "Instagram"
    limits: ClassVar[Limits] = Limits(
        kinds=frozenset({IMAGE, CAROUSEL, VIDEO, REEL, STORY}),
        text_noun="captions",
        text_max_chars=2200,
        hashtags_max=30,
        images_min=2,
        images_max=10,
        image_extensions=(".jpg", ".jpeg"),
        image_format_name="JPEG",
    )

    def as_sent(self, job: PublishJob) -> PublishJob:
        """Stories carry no caption: Instagram does not take one."""
        return replace(job, text="", body="", hashtags=()) if job.kind == STORY else job

    def check(self, job: PublishJob) -> None:
        """The generic limits, plus: one media file per story, and JPEG reel covers."""
        sent = self.as_sent(job)
        problems = check_limits(self.display_name, self.limits, sent)
        if job.kind in self.limits.kinds:
            if sent.kind == STORY and len(sent.media_urls) > 1:
                problems.append(
                    f"Instagram stories show one image or video; this one has {len(sent.media_urls)}."
                )
            if (
                sent.kind in _REELS
                and sent.thumbnail
                and url_extension(sent.thumbnail) not in COVER_EXTENSIONS
            ):
                problems.append(
                    f"Instagram reel covers must be JPEG images; {url_name(sent.thumbnail)} is not one."
                )
        if problems:
            raise LimitError(self.platform, " ".join(problems))

    def publish(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> PublishResult:
        """Publish `job` on the connection's account, resuming an earlier attempt's container."""
        graph, base, ig_user = instagram_graph(connection, ctx, classify=classify_instagram_error)
        return _InstagramPost(job, ig_user, graph, ctx, base).publish()


class _InstagramPost:
    """One job being published on one Instagram account."""

    def __init__(
        self, job: PublishJob, ig_user: str, graph: GraphClient, ctx: AdapterContext, base: str
    ) -> None:
        self.job = job
        self.ig_user = ig_user
        self.graph = graph
        self.ctx = ctx
        self.base = base.rstrip("/")
        self.polls_left = ctx.settings.instagram_poll_max  # one budget for the whole run
        self.sent_after: int | None = None  # noted in this attempt, before media_publish

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
                if self.since() is None:
                    raise AmbiguousError(
                        PLATFORM,
                        "An earlier attempt to publish on Instagram was interrupted at an unknown time, "
                        "so it cannot be told whether it was published.",
                    )
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
        elif job.kind in _REELS:
            data.update(media_type="REELS", video_url=job.media_urls[0])
            if job.thumbnail:
                data["cover_url"] = job.thumbnail
            if job.share_to_feed is not None:
                data["share_to_feed"] = "true" if job.share_to_feed else "false"
        elif job.kind == STORY:
            media = "video_url" if job.media_kind(0) == MEDIA_VIDEO else "image_url"
            data = {"media_type": "STORIES", media: job.media_urls[0]}
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
        """One FINISHED item container per item, reusing those of an attempt that had no parent yet.

        Every missing item is created first, so that Instagram processes the videos side by
        side; then each is polled until FINISHED (a parent with an unfinished child is refused).
        """
        resume = self.job.resume
        # Items already given to a parent container cannot join a new one.
        reusable = [] if resume.get("container_id") else [str(c) for c in resume.get("children") or []]
        children: list[str | None] = [
            reusable[i] if i < len(reusable) else None for i in range(len(self.job.media_urls))
        ]
        for index, child in enumerate(children):
            if child is not None and self.wait_until_ready(child, wait=False) in ("FINISHED", "IN_PROGRESS"):
                continue
            children[index] = self._create(self.child_data(index))
            self.ctx.progress.remember(children=[c for c in children if c is not None])
        ready = [c for c in children if c is not None]
        for child in ready:
            if self.wait_until_ready(child) != "FINISHED":
                raise RetryableError(
                    PLATFORM, "Instagram let a carousel item expire before it could be published."
                )
        return ready

    def child_data(self, index: int) -> dict[str, str]:
        url = self.job.media_urls[index]
        if self.job.media_kind(index) == MEDIA_VIDEO:
            return {"media_type": "VIDEO", "video_url": url, "is_carousel_item": "true"}
        return {"image_url": url, "is_carousel_item": "true"}

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

    def wait_until_ready(self, container: str, *, wait: bool = True) -> str:
        """Poll until the container leaves IN_PROGRESS: FINISHED, EXPIRED or PUBLISHED.

        ERROR fails the post with Instagram's status text; a container still processing when
        the run's poll budget ends waits for a later run without using up an attempt.
        `wait=False` reads the status once (IN_PROGRESS is then an answer, not a wait).
        """
        state, text = self.status(container)
        while state == "IN_PROGRESS" and wait:
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
        if state not in ("FINISHED", "EXPIRED", "PUBLISHED", "IN_PROGRESS"):
            raise RetryableError(
                PLATFORM, f"Instagram reported an unknown media status {platform_text(state, 40)!r}."
            )
        return state

    def note_send_time(self) -> None:
        """Mark the post as sending and remember, in the same write, from when a media of ours can exist."""
        remembered = self.job.resume.get("sent_after")
        if isinstance(remembered, int):
            self.sent_after = remembered
            self.ctx.progress.sending()
            return
        self.sent_after = unix(self.ctx.now() - SEND_MARGIN)
        self.ctx.progress.sending(sent_after=self.sent_after)

    def publish_container(self, container: str) -> PublishResult:
        """media_publish the FINISHED container; after a failure, its status decides what happened."""
        published_again = False
        self.note_send_time()
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
                # No note of the media id: the outcome write that follows records it, and if that
                # fails the container reads PUBLISHED, which the next attempt settles from.
                return self.result(str(body["id"]))
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

    def since(self) -> int | None:
        """The unix time from which a media may be ours: the earliest send we know of, or None."""
        bounds = [b for b in (self.sent_after,) if b is not None]
        remembered = self.job.resume.get("sent_after")
        if isinstance(remembered, int):
            bounds.append(remembered)
        if self.job.sending_at is not None:
            bounds.append(unix(self.job.sending_at - SEND_MARGIN))
        return min(bounds) if bounds else None

    def find_published(self) -> PublishResult | None:
        """Our post among the account's newest media created after the sending mark.

        Feed posts match by caption; stories have none and live on their own edge, so the
        newest story of the same media type created after the mark is taken. A media older
        than the mark is never ours, however alike (recurring captions).
        """
        since = self.since()
        if since is None:
            return None
        story = self.job.kind == STORY
        edge = "stories" if story else "media"
        try:
            body = self.graph.get(
                f"{self.base}/{self.ig_user}/{edge}",
                fields="id,caption,media_type,permalink,timestamp",
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
        media_type = "VIDEO" if self.job.media_kind(0) == MEDIA_VIDEO else "IMAGE"
        for item in body.get("data") or []:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            created = created_at(item.get("timestamp"))
            if created is None or unix(created) < since:
                continue
            if (story and item.get("media_type") == media_type) or (
                not story and same_text(item.get("caption"), self.job.text)
            ):
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
