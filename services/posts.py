"""Rows of both post tables as one `Post`, and the text and media the app means. Pure: no I/O.

The two tables describe the same thing differently (see the data-model contract); everything
that differs between them is resolved here, so the rest of the program sees one shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.platforms.base import CAROUSEL, IMAGE, TEXT, VIDEO, PublishJob

CREATED_CONTENT = "created_content"
CONTENT_POSTS = "content_posts"
TABLES = (CREATED_CONTENT, CONTENT_POSTS)

VIDEO_KINDS = frozenset({"video", "reel", "short_video", "long_video", "short_video or reel"})
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".wmv", ".flv", ".3gp")
_OTHER_KINDS = {"story": "story", "blog": "blog", "email": "email", "message": "message"}

# Keys the publisher keeps in a post's metadata besides the contract's (documented in README).
REMOTE_KEY = "_publish_remote"  # ids an adapter remembered (container, upload session, ...)
SENDING_KEY = "_publish_sending_at"  # set right before the first call that can publish
ATTEMPTS_KEY = "_publish_attempts"  # transient failures so far
NEXT_ATTEMPT_KEY = "_publish_next_attempt_at"  # deferred until (ISO 8601 UTC)


class InvalidPostError(ValueError):
    """A post whose content cannot be published as stored; the message is for the user."""


@dataclass(frozen=True)
class Post:
    """One row of either table, with its owner resolved."""

    table: str
    id: str
    owner_id: str | None
    platform: str
    kind: str  # the app's content_type / post_type, lower-case
    status: str
    title: str
    content: Any
    hashtags: Any
    metadata: Mapping[str, Any]
    schedule: tuple[Any, Any, Any]  # scheduled_at (None for content_posts), scheduled_date, time
    owner_timezone: Any = None
    media_columns: Mapping[str, Any] = field(default_factory=dict)  # table-specific media fields

    @property
    def ref(self) -> str:
        """`table/id`, as log lines name a post."""
        return f"{self.table}/{self.id}"


def metadata_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row's metadata as a dict; NULL or a non-object value (garbage) reads as empty."""
    value = row.get("metadata")
    return dict(value) if isinstance(value, dict) else {}


def post_from_row(table: str, row: Mapping[str, Any], owner_timezone: Any = None) -> Post:
    """A Post from a row as PostgREST returns it (content_posts rows embed their campaign)."""
    if table == CREATED_CONTENT:
        owner = row.get("user_id")
        kind = row.get("content_type")
        schedule = (row.get("scheduled_at"), row.get("scheduled_date"), row.get("scheduled_time"))
        media = {k: row.get(k) for k in ("images", "carousel_images", "media_url")}
    elif table == CONTENT_POSTS:
        campaign = row.get("content_campaigns")
        owner = campaign.get("user_id") if isinstance(campaign, dict) else None
        kind = row.get("post_type")
        schedule = (None, row.get("scheduled_date"), row.get("scheduled_time"))
        media = {"primary_image_url": row.get("primary_image_url")}
    else:
        raise ValueError(f"unknown table {table!r}")
    return Post(
        table=table,
        id=str(row["id"]),
        owner_id=str(owner) if owner else None,
        platform=str(row.get("platform") or "").strip().lower(),
        kind=str(kind or "").strip().lower(),
        status=str(row.get("status") or ""),
        title=row.get("title") or "",
        content=row.get("content"),
        hashtags=row.get("hashtags"),
        metadata=metadata_of(row),
        schedule=schedule,
        owner_timezone=owner_timezone,
        media_columns=media,
    )


def _string_list(value: Any, what: str) -> list[str]:
    """A text[] value as a list of non-empty strings; anything else is the user's error."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidPostError(f"The post's {what} are not a list of texts.")
    return [item.strip() for item in value if item.strip()]


def normalise_hashtags(value: Any) -> tuple[str, ...]:
    """Hashtags without their leading '#', whether stored as a list or one string."""
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    tags = _string_list(value, "hashtags")
    return tuple(tag.lstrip("#").strip() for tag in tags if tag.lstrip("#").strip())


def build_text(title: str, content: str, hashtags: tuple[str, ...]) -> str:
    """The text as the app builds it: title, blank line, content, blank line, hashtags."""
    parts = [part for part in (title.strip(), content.strip()) if part]
    if hashtags:
        parts.append(" ".join(f"#{tag}" for tag in hashtags))
    return "\n\n".join(parts)


def _is_video_url(url: str) -> bool:
    path = url.split("?", 1)[0].split("#", 1)[0].lower()
    return path.endswith(VIDEO_EXTENSIONS)


def resolve_media(post: Post) -> tuple[str, tuple[str, ...]]:
    """The post kind (text, image, carousel, video, or an unsupported one) and its media URLs."""
    meta = post.metadata
    cols = post.media_columns
    carousel = _string_list(meta.get("carousel_images"), "carousel images")
    if post.table == CREATED_CONTENT:
        images = _string_list(cols.get("images"), "images")
        if not carousel:
            carousel = _string_list(cols.get("carousel_images"), "carousel images")
        if not carousel and post.kind == "carousel":
            carousel = images
        single = _string_list(cols.get("media_url"), "media URL") or images[:1]
    else:
        single = _string_list(cols.get("primary_image_url"), "image URL")
    video_url = _string_list(meta.get("video_url"), "video URL")
    is_video = (
        post.kind in VIDEO_KINDS
        or str(meta.get("media_type") or "").lower() == "video"
        or any(_is_video_url(url) for url in (video_url or single[:1]))
    )
    if is_video:
        return VIDEO, tuple((video_url or single or carousel)[:1])
    if post.kind in _OTHER_KINDS:
        return _OTHER_KINDS[post.kind], tuple(carousel or single)
    if post.kind == "carousel" or len(carousel) >= 2:
        return CAROUSEL, tuple(carousel)
    if carousel or single:
        return IMAGE, tuple((carousel or single)[:1])
    return TEXT, ()


def build_job(post: Post) -> PublishJob:
    """The adapter's view of a post: text, kind and media as the app means them."""
    if not isinstance(post.content, str):
        raise InvalidPostError("The post has no text content.")
    if not isinstance(post.title, str):
        raise InvalidPostError("The post's title is not text.")
    hashtags = normalise_hashtags(post.hashtags)
    kind, media = resolve_media(post)
    text = build_text(post.title, post.content, hashtags)
    if not text:
        raise InvalidPostError("The post is empty: it has no title, text or hashtags.")
    remote = post.metadata.get(REMOTE_KEY)
    return PublishJob(
        ref=post.ref,
        kind=kind,
        title=post.title.strip(),
        text=text,
        body=build_text("", post.content, hashtags),
        hashtags=hashtags,
        media_urls=media,
        resume=dict(remote) if isinstance(remote, dict) else {},
        sending_started=bool(post.metadata.get(SENDING_KEY)),
    )
