"""YouTube: one video (or Short) per post, uploaded with the Data API v3 resumable upload.

What is sent, the limits, error classes, waits and resume rules, with their public sources:
docs/platforms/youtube.md. The flow: refresh the Google token if it is (nearly) expired →
upload the video (services.platforms.youtube_upload: session, chunks, resume) → read back the
privacy YouTube actually gave it → set the custom thumbnail when the post has one
(services.platforms.youtube_thumbnail; never fails the published post).

A Short is the same upload: YouTube makes a vertical or square video of at most three minutes
a Short by itself, so a REEL post differs only in its URL. `#Shorts` is not added to the text
(YouTube no longer needs it; the user's own hashtags are sent as they are).

What the publisher should record besides the id and URL is in `PublishResult.notes`:
`youtube_privacy` (the privacy YouTube reports), `youtube_privacy_requested` (only when YouTube
chose another, as it does for unverified Google projects) and `youtube_thumbnail` ("set" or
"refused: <why>"). The two surprises are also logged as WARNING lines on the "publisher" log.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

from services.errors import AuthError, LimitError, PlatformConfigError, RetryableError
from services.platforms.base import (
    REEL,
    VIDEO,
    Adapter,
    AdapterContext,
    Connection,
    Limits,
    PlatformSettings,
    PublishJob,
    PublishResult,
    TokenUpdate,
    check_limits,
    json_object,
    send,
)
from services.platforms.oauth import Exchange, OAuthToken
from services.platforms.youtube_categories import CATEGORIES
from services.platforms.youtube_errors import (
    PLATFORM,
    ThrottledError,
    classify,
    retry_after,
    throttled,
)
from services.platforms.youtube_thumbnail import SET, set_thumbnail
from services.platforms.youtube_upload import Upload
from services.redaction import register_secret

log = logging.getLogger("publisher")

REFRESH_MARGIN = timedelta(minutes=5)
TAGS_MAX_CHARS = 500
THROTTLES_KEY = "throttles"  # resume key: short-term throttles this post met so far


class YouTubeAdapter(Adapter):
    """Uploads a post's video with its title, description, tags, category, audience and privacy."""

    platform = PLATFORM
    display_name = "YouTube"
    # title_required holds for the title actually sent: a post without a title uses the first
    # line of its text (as_sent), so only a post with neither fails.
    limits = Limits(
        kinds=frozenset({VIDEO, REEL}),
        text_noun="descriptions",
        text_max_bytes=5000,
        title_max_chars=100,
        forbidden_chars="<>",
        title_required=True,
    )

    def as_sent(self, job: PublishJob) -> PublishJob:
        """The title YouTube gets (the post's, else its first line) and the description as text."""
        return replace(job, title=video_title(job), text=job.body)

    def check(self, job: PublishJob) -> None:
        """Raise LimitError naming every limit broken, the post's category included; no network call."""
        problems = check_limits(self.display_name, self.limits, self.as_sent(job))
        if job.category is not None and job.category not in CATEGORIES:
            problems.append(
                f"YouTube has no video category {job.category}; use one of "
                + ", ".join(f"{number} ({name})" for number, name in CATEGORIES.items())
                + "."
            )
        if problems:
            raise LimitError(self.platform, " ".join(problems))

    def publish(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> PublishResult:
        """Upload the video (resuming an earlier attempt's session if there is one), then its extras."""
        throttles = job.resume.get(THROTTLES_KEY)
        earlier = throttles if isinstance(throttles, int) and throttles >= 0 else 0
        token = OAuthToken(
            connection,
            ctx,
            exchange=google_exchange(ctx, earlier),
            refreshable=lambda c: bool(
                c.refresh_token and ctx.settings.google_client_id and ctx.settings.google_client_secret
            ),
        )
        metadata = video_resource(job, ctx.settings)
        try:
            expires = token.connection.token_expires_at
            if token.can_refresh() and (expires is None or expires - ctx.now() <= REFRESH_MARGIN):
                token.refresh()
            video = Upload(
                job, metadata, token, ctx, lambda reply: classify(reply, ctx.now(), earlier_throttles=earlier)
            ).run()
        except ThrottledError:
            ctx.progress.remember(**{THROTTLES_KEY: earlier + 1})  # the next wait is longer
            raise
        video_id = str(video["id"])  # Upload accepts only a video resource with an id
        notes = privacy_notes(job, video_id, metadata, video)
        if job.thumbnail:
            outcome = set_thumbnail(job.thumbnail, video_id, token, ctx)
            notes["youtube_thumbnail"] = outcome
            if outcome != SET:
                log.warning("youtube thumbnail not set post=%s video=%s: %s", job.ref, video_id, outcome)
        return PublishResult(post_id=video_id, url=video_url(job.kind, video_id), notes=notes)


def video_url(kind: str, video_id: str) -> str:
    """The public address: a Short's own page for REEL posts, the watch page otherwise."""
    if kind == REEL:
        return f"https://www.youtube.com/shorts/{video_id}"
    return f"https://www.youtube.com/watch?v={video_id}"


def video_title(job: PublishJob) -> str:
    """The title sent to YouTube: the post's title, else the first non-blank line of its text."""
    if job.title.strip():
        return job.title.strip()
    return next((line.strip() for line in job.text.splitlines() if line.strip()), "")


def tags_length(tags: list[str]) -> int:
    """The length YouTube counts for tags: commas between them, quotes around one with a space."""
    return sum(len(tag) + (2 if " " in tag else 0) for tag in tags) + max(len(tags) - 1, 0)


def video_tags(hashtags: tuple[str, ...]) -> list[str]:
    """The hashtags as tags, in order, each once, stopping where YouTube's 500-character total ends.

    A hashtag YouTube would refuse as a tag (with '<', '>' or a comma) is left out rather than
    failing a video whose description carries it anyway.
    """
    tags: list[str] = []
    seen: set[str] = set()
    for raw in hashtags:
        tag = raw.strip()
        if not tag or any(char in tag for char in "<>,") or tag.casefold() in seen:
            continue
        if tags_length([*tags, tag]) > TAGS_MAX_CHARS:
            break
        tags.append(tag)
        seen.add(tag.casefold())
    return tags


def video_resource(job: PublishJob, settings: PlatformSettings) -> dict[str, Any]:
    """The video resource sent with the upload: the post's choices, else the configured defaults."""
    made_for_kids = job.made_for_kids if job.made_for_kids is not None else settings.youtube_made_for_kids
    return {
        "snippet": {
            "title": video_title(job),
            "description": job.body,
            "tags": video_tags(job.hashtags),
            "categoryId": job.category or settings.youtube_category_id,
        },
        "status": {
            "privacyStatus": job.privacy or settings.youtube_privacy_status,
            "selfDeclaredMadeForKids": made_for_kids,
        },
    }


def privacy_notes(
    job: PublishJob, video_id: str, metadata: dict[str, Any], video: dict[str, Any]
) -> dict[str, Any]:
    """The privacy YouTube gave the video, and a WARNING when it is not what was asked.

    Uploads through a Google project that has not passed YouTube's audit are locked to private
    whatever was asked; the post is published all the same, with the truth recorded.
    """
    asked = metadata["status"]["privacyStatus"]
    status = video.get("status")
    actual = status.get("privacyStatus") if isinstance(status, dict) else None
    if not isinstance(actual, str):
        return {}
    notes: dict[str, Any] = {"youtube_privacy": actual}
    if actual != asked:
        notes["youtube_privacy_requested"] = asked
        log.warning(
            "youtube video is %s although %s was asked post=%s video=%s: uploads through a Google "
            "project that has not passed YouTube's API audit are locked to private",
            actual,
            asked,
            job.ref,
            video_id,
        )
    return notes


def google_exchange(ctx: AdapterContext, earlier_throttles: int) -> Exchange:
    """Google's refresh-token grant as an OAuthToken exchange, its failures as typed errors."""

    def exchange(connection: Connection) -> TokenUpdate:
        settings = ctx.settings
        form = {
            "grant_type": "refresh_token",
            "refresh_token": connection.refresh_token or "",
            "client_id": settings.google_client_id,
            "client_secret": settings.google_client_secret,
        }
        # A refresh publishes nothing, so its transport failures are safe to retry.
        response = send(
            ctx,
            PLATFORM,
            "POST",
            settings.google_oauth_token_url,
            publishes=False,
            what="Google's token endpoint",
            data=form,
        )
        body = json_object(response)
        error = str(body.get("error", ""))
        detail = f"token endpoint HTTP {response.status_code} {error}".strip()
        if response.status_code == 200 and body.get("access_token"):
            token = str(body["access_token"])
            register_secret(token)
            expires_in = body.get("expires_in")
            return TokenUpdate(
                access_token=token,
                # Google rarely sends a new refresh token; the old one stays valid then.
                refresh_token=str(body.get("refresh_token") or connection.refresh_token),
                expires_at=ctx.now() + timedelta(seconds=int(expires_in))
                if isinstance(expires_in, int | float)
                else None,
            )
        if error == "invalid_grant":
            raise AuthError(
                PLATFORM,
                "Google says the YouTube authorisation has expired or was revoked; please reconnect YouTube.",
                detail=detail,
                connection_status="revoked",
            )
        if response.status_code == 429:
            raise throttled(
                "Google's token endpoint is limiting requests from this app",
                detail,
                ctx.now(),
                earlier_throttles=earlier_throttles,
                asked=retry_after(response, ctx.now()),
            )
        if response.status_code >= 500:
            raise RetryableError(
                PLATFORM,
                "Google's token endpoint had a temporary problem; nothing was published.",
                detail=detail,
            )
        # invalid_client, unauthorized_client, invalid_request, …: our OAuth client is wrong.
        raise PlatformConfigError(
            PLATFORM,
            "Google refused this app's OAuth client when refreshing the YouTube token; "
            "check GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET.",
            detail=detail,
        )

    return exchange
