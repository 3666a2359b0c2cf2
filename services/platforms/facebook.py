"""Facebook Pages: text, link, photo, several photos, video, reel and story posts.

docs/platforms/facebook.md describes every call, limit and error class; in short:

| kind     | calls                                                                            |
|----------|----------------------------------------------------------------------------------|
| text     | POST /{page}/feed message (links stay in the message; Facebook previews them)     |
| link     | POST /{page}/feed message, link                                                   |
| image    | POST /{page}/photos url, caption → keep `post_id`                                 |
| carousel | per image POST /{page}/photos url, published=false; then POST /{page}/feed        |
|          | message + attached_media[i]={"media_fbid": …}                                     |
| video    | POST {graph-video}/{page}/videos file_url, description                            |
| reel     | video_reels start → upload_url (file_url) → finish PUBLISHED → status polls       |
| story    | photo: POST /photos published=false → photo_stories; video: video_stories        |
|          | start → upload_url → finish (`services.platforms.facebook_video`)                 |

Then GET /{id}?fields=permalink_url for the URL (falling back to facebook.com/{id}).

Facebook's create calls are not idempotent: a timeout or a code-2 reply can hide a post that
exists, and blind retries have published the same photo seven times. So after an ambiguous
failure, or when an earlier attempt crashed mid-send (`job.sending_started`), the adapter looks
for the post on the Page (GET /{page}/published_posts, or /{page}/videos) before anything else.
Not finding it once is not proof that nothing was published (the post may show up late): the
attempt ends ambiguous and the next attempt looks again before it sends anything.

Resume keys (`ctx.progress.remember`, read back from `job.resume`):
- `photo_ids`: ids of the unpublished photos uploaded so far, in `media_urls` order;
- `sent_after`: unix time a little before the first publishing call; reconciliation looks for
  posts created since then (or since the sending mark, whichever is earlier);
- reels and stories: see `services.platforms.facebook_video`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from services.errors import AmbiguousError, AuthError, LimitError, PlatformError
from services.platforms.base import (
    CAROUSEL,
    IMAGE,
    LINK,
    MEDIA_DOCUMENT,
    REEL,
    STORY,
    TEXT,
    VIDEO,
    Adapter,
    AdapterContext,
    Connection,
    Limits,
    PublishJob,
    PublishResult,
    check_limits,
)
from services.platforms.facebook_video import (
    FACEBOOK_URL,
    PLATFORM,
    RECONCILE_DELAY_S,
    RECONCILE_LIMIT,
    publish_reel,
    publish_story,
    reconcile_read,
    reconcile_since,
    upload_unpublished_photo,
)
from services.platforms.graph_errors import GraphClient, classify, created_at, same_text, unix

# Facebook's own cap on a post's text.
TEXT_MAX_CHARS = 63_206
# Reels published through the API per Page per rolling 24 h. Facebook counts them; we cannot
# (other tools post too), so this is documentation, not a local check.
REELS_PER_PAGE_PER_DAY = 30


@dataclass(frozen=True)
class MediaRule:
    """How many media files a kind takes (no upper bound: None), what it cannot show, if it needs a link."""

    min_count: int
    max_count: int | None
    forbidden_media: frozenset[str] = frozenset()
    needs_link: bool = False


# Per kind, checked by `check()` with the generic limits; see docs/platforms/facebook.md.
MEDIA_RULES: dict[str, MediaRule] = {
    TEXT: MediaRule(0, 0),
    LINK: MediaRule(0, 0, needs_link=True),
    IMAGE: MediaRule(1, 1),
    CAROUSEL: MediaRule(1, None),
    VIDEO: MediaRule(1, 1),
    REEL: MediaRule(1, 1),
    STORY: MediaRule(1, 1, forbidden_media=frozenset({MEDIA_DOCUMENT})),
}


def _created_before(created_time: object, since: int) -> bool:
    """Whether a Graph `created_time` ("2026-11-28T12:00:00+0000") is before `since`.

    Checked here as well because not every list edge honours `since`; an unreadable time counts
    as recent, leaving the decision to the text match.
    """
    created = created_at(created_time)
    return created is not None and unix(created) < since


class FacebookAdapter(Adapter):
    """Publishes to a Facebook Page with the connection's Page access token."""

    platform: ClassVar[str] = PLATFORM
    display_name: ClassVar[str] = "Facebook"
    limits: ClassVar[Limits] = Limits(
        kinds=frozenset({TEXT, IMAGE, CAROUSEL, VIDEO, REEL, STORY, LINK}), text_max_chars=TEXT_MAX_CHARS
    )

    def as_sent(self, job: PublishJob) -> PublishJob:
        """Stories carry no text: Facebook has no caption for them."""
        return replace(job, text="", body="", hashtags=()) if job.kind == STORY else job

    def check(self, job: PublishJob) -> None:
        """The generic limits and the media each kind takes; no network call."""
        sent = self.as_sent(job)
        problems = check_limits(self.display_name, self.limits, sent)
        rule = MEDIA_RULES.get(sent.kind)
        if rule is not None and job.kind in self.limits.kinds:
            problems += _media_problems(sent, rule)
        if problems:
            raise LimitError(self.platform, " ".join(problems))

    def check_connection(self, connection: Connection) -> None:
        """A connection without a Page cannot publish anything: reconnecting is the fix."""
        self._page(connection)

    def _page(self, connection: Connection) -> str:
        if not connection.page_id:
            raise AuthError(
                self.platform,
                "This Facebook connection has no Page. Reconnect your Facebook account in the app, "
                "then reschedule this post.",
                connection_status="revoked",
            )
        return connection.page_id

    def publish(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> PublishResult:
        """Publish `job` on the connection's Page, reconciling first after an interrupted send."""
        page_id = self._page(connection)
        graph = GraphClient(
            ctx,
            platform=self.platform,
            display_name=self.display_name,
            token=connection.access_token,
            classify=classify,
        )
        if job.kind == REEL:
            return publish_reel(job, page_id, graph, ctx)
        if job.kind == STORY:
            return publish_story(job, page_id, graph, ctx)
        post = _PagePost(job, page_id, graph, ctx)
        if job.sending_started:
            found = post.find_published()
            if found:
                return permalink_result(graph, ctx, found)
        return permalink_result(graph, ctx, post.send())


def _media_problems(job: PublishJob, rule: MediaRule) -> list[str]:
    problems = []
    count = len(job.media_urls)
    if count and count < rule.min_count:
        problems.append(
            f"Facebook {job.kind} posts need at least {rule.min_count} media files; this one has {count}."
        )
    if rule.max_count is not None and count > rule.max_count:
        if rule.max_count == 0:
            problems.append(f"Facebook {job.kind} posts take no media files; this one has {count}.")
        else:
            problems.append(
                f"Facebook {job.kind} posts take {rule.max_count} media file"
                f"{'s' if rule.max_count > 1 else ''}; this one has {count}."
            )
    for index in range(count):
        if job.media_kind(index) in rule.forbidden_media:
            problems.append(f"Facebook {job.kind} posts cannot show a {job.media_kind(index)} file.")
    if rule.needs_link and not job.link:
        problems.append("This link post has no link to share.")
    return problems


class _PagePost:
    """One feed-kind job (text, link, image, carousel, video) being published on one Page."""

    def __init__(self, job: PublishJob, page_id: str, graph: GraphClient, ctx: AdapterContext) -> None:
        self.job = job
        self.page = page_id
        self.graph = graph
        self.ctx = ctx
        self.base = ctx.settings.meta_graph_url.rstrip("/")
        self.since = reconcile_since(job, ctx.now())

    def send(self) -> str:
        """Make the calls of the job's kind; the id of the published post."""
        job, page = self.job, self.page
        if job.kind == TEXT:
            return self._publish(f"{self.base}/{page}/feed", {"message": job.text}, id_key="id")
        if job.kind == LINK:
            data = {"message": job.text, "link": job.link or ""}
            return self._publish(f"{self.base}/{page}/feed", data, id_key="id")
        if job.kind == IMAGE:
            data = {"url": job.media_urls[0], "caption": job.text}
            return self._publish(f"{self.base}/{page}/photos", data, id_key="post_id")
        if job.kind == CAROUSEL:
            data = {"message": job.text}
            for i, photo_id in enumerate(self._upload_photos()):
                data[f"attached_media[{i}]"] = json.dumps({"media_fbid": photo_id})
            return self._publish(f"{self.base}/{page}/feed", data, id_key="id")
        if job.kind == VIDEO:
            video_base = self.ctx.settings.meta_graph_video_url.rstrip("/")
            data = {"file_url": job.media_urls[0], "description": job.text}
            return self._publish(f"{video_base}/{page}/videos", data, id_key="id")
        raise ValueError(f"unsupported post kind {job.kind!r}")  # check() rejects it first

    def _upload_photos(self) -> list[str]:
        """Upload the images as unpublished photos, keeping those an earlier attempt uploaded."""
        photo_ids = [str(i) for i in self.job.resume.get("photo_ids") or []][: len(self.job.media_urls)]
        for url in self.job.media_urls[len(photo_ids) :]:
            photo_ids.append(upload_unpublished_photo(self.graph, self.base, self.page, url))
            self.ctx.progress.remember(photo_ids=list(photo_ids))
        return photo_ids

    def _publish(self, url: str, data: dict[str, str], *, id_key: str) -> str:
        """The one call that makes the post public; reconcile instead of guessing when it fails."""
        if "sent_after" not in self.job.resume:
            self.ctx.progress.sending(sent_after=self.since)
        else:
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
        raise AmbiguousError(
            PLATFORM,
            "Facebook failed while the post was being sent, and the post has not appeared on the Page "
            "yet, so it may or may not have been published. The Page is checked again before anything "
            "is sent again.",
        )

    def find_published(self) -> str | None:
        """The id of our post if it is on the Page since `since`, else None."""
        if self.job.kind == VIDEO:
            url, text_field = f"{self.base}/{self.page}/videos", "description"
        else:
            url, text_field = f"{self.base}/{self.page}/published_posts", "message"
        body = reconcile_read(
            self.graph,
            url,
            fields=f"id,{text_field},created_time",
            since=str(self.since),
            limit=RECONCILE_LIMIT,
        )
        for item in body.get("data") or []:
            if (
                isinstance(item, dict)
                and item.get("id")
                and same_text(item.get(text_field), self.job.text)
                and not _created_before(item.get("created_time"), self.since)
            ):
                return str(item["id"])
        return None


def permalink_result(graph: GraphClient, ctx: AdapterContext, post_id: str) -> PublishResult:
    """The published post with its permalink; a failed permalink read never fails the post."""
    base = ctx.settings.meta_graph_url.rstrip("/")
    try:
        body = graph.get(f"{base}/{post_id}", fields="permalink_url")
    except PlatformError:
        return PublishResult(post_id=post_id, url=f"{FACEBOOK_URL}/{post_id}")
    url = str(body.get("permalink_url") or "")
    if url.startswith("/"):
        url = FACEBOOK_URL + url  # video permalinks come relative to facebook.com
    return PublishResult(post_id=post_id, url=url or f"{FACEBOOK_URL}/{post_id}")
