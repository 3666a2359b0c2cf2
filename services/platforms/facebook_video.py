"""Facebook reels and stories, and the Page helpers every Facebook kind shares.

Reels and video stories go through an upload session (docs/platforms/facebook.md, "Reels"):
1. POST /{page}/video_reels (or video_stories) upload_phase=start → video_id, upload_url;
2. POST {upload_url} with `Authorization: OAuth <token>` and a `file_url` header: Facebook
   fetches the video from its public URL;
3. POST /{page}/video_reels upload_phase=finish, video_id, video_state=PUBLISHED, description
   → {"success": true} (video stories: upload_phase=finish, video_id → {"post_id"});
4. reels: GET /{video_id}?fields=status until publishing_phase is complete.
A photo story is an unpublished photo (POST /photos published=false) then POST /photo_stories
photo_id. Stories have no text.

At-most-once: start, upload and status reads publish nothing. The video id is remembered the
moment start answers, and no second start is ever made for the post: one video id can become
one reel or story only, so finishing it again can never duplicate the post. After an ambiguous
finish, a reel's own status says whether the finish was taken; a story is looked for on the
Page's stories by its media id (the photo or video id), and not finding it once leaves the
attempt ambiguous for the next one to look again.

Resume keys: `video_id`, `upload_url`, `uploaded` (reels, video stories); `story_photo_id`
(photo stories).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from services.errors import (
    AmbiguousError,
    AuthError,
    PermanentError,
    PlatformError,
    RetryableError,
)
from services.platforms.base import (
    MEDIA_VIDEO,
    AdapterContext,
    PublishJob,
    PublishResult,
    platform_text,
)
from services.platforms.graph_errors import GraphClient, created_at, unix

PLATFORM = "facebook"
FACEBOOK_URL = "https://www.facebook.com"
# How far before the sending mark reconciliation looks: covers clock skew with Facebook.
SEND_MARGIN = timedelta(minutes=5)
# When an earlier attempt crashed before noting its send time, look back this far instead.
UNKNOWN_SEND_LOOKBACK = timedelta(days=7)
# Stories and posts can take a moment to show up on the Page after the call failed.
RECONCILE_DELAY_S = 5.0
RECONCILE_LIMIT = "100"

# What a reel's status says about its finish call.
PUBLISHED, PROCESSING, NOT_FINISHED = "published", "processing", "not finished"


def reconcile_since(job: PublishJob, now: datetime) -> int:
    """The unix time from which something on the Page may be ours.

    The earliest send this post may have had: the time remembered before the first publishing
    call, or the sending mark less a margin for clock skew. With neither (a crash before any
    note), a week back; for a first attempt, just before now.
    """
    bounds = []
    remembered = job.resume.get("sent_after")
    if isinstance(remembered, int | float | str) and str(remembered).isdigit():
        bounds.append(int(remembered))
    if job.sending_at is not None:
        bounds.append(unix(job.sending_at - SEND_MARGIN))
    if bounds:
        return min(bounds)
    if job.sending_started:
        return unix(now - UNKNOWN_SEND_LOOKBACK)
    return unix(now - SEND_MARGIN)


def reconcile_read(graph: GraphClient, url: str, **params: str) -> dict[str, Any]:
    """A read that decides whether a post exists: when it fails, nobody knows (ambiguous)."""
    try:
        return graph.get(url, **params)
    except AuthError:
        raise
    except PlatformError as exc:
        raise AmbiguousError(
            PLATFORM,
            "Facebook failed while the post was being sent, and checking the Page for it failed too, so "
            "it may or may not have been published.",
            detail=exc.detail or exc.message,
        ) from None


def upload_unpublished_photo(graph: GraphClient, base: str, page: str, url: str) -> str:
    """Upload one image as an unpublished photo (publishes nothing); its photo id."""
    body = graph.post(f"{base}/{page}/photos", {"url": url, "published": "false"}, publishes=False)
    if not body.get("id"):
        raise RetryableError(
            PLATFORM, "Facebook accepted a photo but sent no id back; nothing was published."
        )
    return str(body["id"])


def publish_reel(job: PublishJob, page: str, graph: GraphClient, ctx: AdapterContext) -> PublishResult:
    """Publish a reel, resuming the video an earlier attempt started."""
    return _VideoPost(job, page, graph, ctx).reel()


def publish_story(job: PublishJob, page: str, graph: GraphClient, ctx: AdapterContext) -> PublishResult:
    """Publish a photo or video story (by the kind of its one media file)."""
    post = _VideoPost(job, page, graph, ctx)
    return post.video_story() if job.media_kind(0) == MEDIA_VIDEO else post.photo_story()


class _VideoPost:
    """One reel or story being published on one Page."""

    def __init__(self, job: PublishJob, page: str, graph: GraphClient, ctx: AdapterContext) -> None:
        self.job = job
        self.page = page
        self.graph = graph
        self.ctx = ctx
        self.base = ctx.settings.meta_graph_url.rstrip("/")
        self.resume: dict[str, Any] = dict(job.resume)
        self.polls_left = ctx.settings.instagram_poll_max  # one budget for the whole attempt
        self.since = reconcile_since(job, ctx.now())  # before any call of this attempt

    def _remember(self, **ids: Any) -> None:
        self.resume.update(ids)
        self.ctx.progress.remember(**ids)

    # ---- upload session (reels, video stories) --------------------------------------------
    def uploaded_video(self, edge: str) -> str:
        """The post's video id, started and uploaded once: never a second start for the post."""
        video_id = str(self.resume.get("video_id") or "")
        if not video_id:
            body = self.graph.post(
                f"{self.base}/{self.page}/{edge}", {"upload_phase": "start"}, publishes=False
            )
            video_id, upload_url = str(body.get("video_id") or ""), str(body.get("upload_url") or "")
            if not video_id or not upload_url:
                raise RetryableError(
                    PLATFORM, "Facebook did not open an upload for the video; nothing was published."
                )
            self._remember(video_id=video_id, upload_url=upload_url)
        if not self.resume.get("uploaded"):
            upload_url = str(self.resume.get("upload_url") or "")
            if not upload_url:
                raise PermanentError(
                    PLATFORM,
                    "An earlier attempt lost the address to upload the video to; reschedule the post.",
                    detail=f"video {video_id} has no upload_url in the resume notes",
                )
            if not self.trusted_upload_url(upload_url):
                raise RetryableError(
                    PLATFORM,
                    "Facebook gave an upload address that is not secure, so the video was not sent; nothing "
                    "was published.",
                    detail=f"video {video_id}: upload_url is neither https nor the Graph API's own host",
                )
            self.graph.upload(upload_url, self.job.media_urls[0])
            self._remember(uploaded=True)
        return video_id

    def trusted_upload_url(self, url: str) -> bool:
        """Whether the Page token may go to this upload URL: https, or the configured Graph host itself.

        The token travels in the upload's Authorization header, so a plain-http address (from a
        broken reply or edited notes) must never get it; the local simulators serve plain http
        on the Graph host they are configured as.
        """
        try:
            target, graph = httpx.URL(url), httpx.URL(self.base)
        except httpx.InvalidURL:
            return False
        return target.scheme == "https" or (target.scheme, target.host, target.port) == (
            graph.scheme,
            graph.host,
            graph.port,
        )

    # ---- reels -----------------------------------------------------------------------------
    def reel(self) -> PublishResult:
        video_id = str(self.resume.get("video_id") or "")
        if video_id and self.job.sending_started:
            state = self.reel_state(video_id)
            if state == PUBLISHED:
                return self.reel_result(video_id)
            if state == PROCESSING:
                return self.wait_for_reel(video_id)
        video_id = self.uploaded_video("video_reels")
        self.ctx.progress.sending()
        data = {
            "upload_phase": "finish",
            "video_id": video_id,
            "video_state": "PUBLISHED",
            "description": self.job.text,
        }
        for tried_before in (self.job.sending_started, True):
            try:
                self.graph.post(f"{self.base}/{self.page}/video_reels", data, publishes=True)
                return self.wait_for_reel(video_id)
            except AmbiguousError:
                state = self.reel_state(video_id)
            except PermanentError:
                # A finish refused after an earlier one failed may only mean that one was taken.
                if not tried_before:
                    raise
                state = self.reel_state(video_id)
                if state == NOT_FINISHED:
                    raise
            if state == PUBLISHED:
                return self.reel_result(video_id)
            if state == PROCESSING:
                return self.wait_for_reel(video_id)
            # Not taken: finishing the same video again cannot make a second reel.
        raise AmbiguousError(
            PLATFORM,
            "Facebook failed twice while the reel was being published, so it may or may not have been "
            "published. Its status is checked again before anything is sent again.",
            detail=f"video {video_id}",
        )

    def reel_state(self, video_id: str) -> str:
        """What the video's status says: published, processing (finish taken) or not finished."""
        body = reconcile_read(self.graph, f"{self.base}/{video_id}", fields="status")
        raw = body.get("status")
        status: dict[str, Any] = raw if isinstance(raw, dict) else {}
        phases = {name: status.get(f"{name}_phase") for name in ("uploading", "processing", "publishing")}
        for phase in phases.values():
            errors = phase.get("errors") if isinstance(phase, dict) else None
            if errors:
                first = errors[0] if isinstance(errors, list) and isinstance(errors[0], dict) else {}
                raise PermanentError(
                    PLATFORM,
                    "Facebook could not process the video: "
                    f"{platform_text(first.get('message') or 'no reason given')}",
                    detail=f"video {video_id}: {platform_text(errors)}",
                )
        if status.get("video_status") == "error":
            raise PermanentError(
                PLATFORM, "Facebook could not process the video.", detail=f"video {video_id}"
            )
        publishing = _phase_status(phases["publishing"])
        processing = _phase_status(phases["processing"])
        if publishing == "complete":
            return PUBLISHED
        if publishing == "in_progress" or processing == "in_progress":
            return PROCESSING
        return NOT_FINISHED

    def wait_for_reel(self, video_id: str) -> PublishResult:
        """Poll the status until the reel is published; a long wait is left to a later run."""
        while self.reel_state(video_id) != PUBLISHED:
            if self.polls_left <= 0:
                raise RetryableError(
                    PLATFORM,
                    "Facebook is still processing the reel; a later run confirms it is published.",
                    detail=f"video {video_id} not published yet",
                    counts_as_attempt=False,
                )
            self.polls_left -= 1
            self.ctx.sleep(self.ctx.settings.instagram_poll_interval_s)
        return self.reel_result(video_id)

    @staticmethod
    def reel_result(video_id: str) -> PublishResult:
        return PublishResult(post_id=video_id, url=f"{FACEBOOK_URL}/reel/{video_id}")

    # ---- stories ---------------------------------------------------------------------------
    def video_story(self) -> PublishResult:
        video_id = str(self.resume.get("video_id") or "")
        if video_id and self.job.sending_started:
            found = self.find_story(video_id)
            if found:
                return found
        video_id = self.uploaded_video("video_stories")
        data = {"upload_phase": "finish", "video_id": video_id}
        return self.publish_story(f"{self.base}/{self.page}/video_stories", data, video_id)

    def photo_story(self) -> PublishResult:
        photo_id = str(self.resume.get("story_photo_id") or "")
        if photo_id and self.job.sending_started:
            found = self.find_story(photo_id)
            if found:
                return found
        if not photo_id:
            photo_id = upload_unpublished_photo(self.graph, self.base, self.page, self.job.media_urls[0])
            self._remember(story_photo_id=photo_id)
        return self.publish_story(f"{self.base}/{self.page}/photo_stories", {"photo_id": photo_id}, photo_id)

    def publish_story(self, url: str, data: dict[str, str], media_id: str) -> PublishResult:
        """The call that makes the story public; after a failure, the Page's stories decide."""
        self.ctx.progress.sending()
        try:
            body: dict[str, Any] = self.graph.post(url, data, publishes=True)
        except AmbiguousError:
            body = {}
        except PermanentError:
            # Refused after an earlier attempt failed: the media may already be the story.
            found = self.find_story(media_id) if self.job.sending_started else None
            if found:
                return found
            raise
        if body.get("post_id"):
            return PublishResult(post_id=str(body["post_id"]), url=self.story_url(media_id))
        self.ctx.sleep(RECONCILE_DELAY_S)
        found = self.find_story(media_id)
        if found:
            return found
        raise AmbiguousError(
            PLATFORM,
            "Facebook failed while the story was being published, and it has not appeared on the Page "
            "yet, so it may or may not have been published. The Page is checked again before anything "
            "is sent again.",
            detail=f"media {media_id}",
        )

    def story_url(self, media_id: str) -> str | None:
        """The story's public address from the Page's story list; a failed read never fails the post."""
        try:
            found = self.find_story(media_id)
        except PlatformError:
            return None
        return found.url if found else None

    def find_story(self, media_id: str) -> PublishResult | None:
        """Our story among the Page's stories, by the photo or video id it was made from."""
        since = self.since
        body = reconcile_read(
            self.graph,
            f"{self.base}/{self.page}/stories",
            fields="post_id,media_id,creation_time,url",
            since=str(since),
            limit=RECONCILE_LIMIT,
        )
        for item in body.get("data") or []:
            if isinstance(item, dict) and str(item.get("media_id") or "") == media_id and item.get("post_id"):
                created = created_at(item.get("creation_time"))
                if created is not None and unix(created) < since:
                    continue
                return PublishResult(post_id=str(item["post_id"]), url=str(item.get("url") or "") or None)
        return None


def _phase_status(phase: object) -> str:
    return str(phase.get("status") or "") if isinstance(phase, dict) else ""
