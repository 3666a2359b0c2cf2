"""Rows of both post tables as one `Post`, and the text and media the app means. Pure: no I/O.

The two tables describe the same thing differently (see README "What the publisher writes");
everything that differs between them is resolved here, so the rest of the program sees one
shape. A row is user data: whatever it holds, `post_from_row` never raises and `build_job`
raises only InvalidPostError with a sentence for the user (docs/rows.md lists the rules).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from services.platforms.base import (
    BLOG,
    CAROUSEL,
    DOCUMENT,
    IMAGE,
    LINK,
    MEDIA_DOCUMENT,
    MEDIA_IMAGE,
    MEDIA_VIDEO,
    PRIVACY_VALUES,
    REEL,
    STORY,
    TEXT,
    VIDEO,
    PublishJob,
)

CREATED_CONTENT = "created_content"
CONTENT_POSTS = "content_posts"
TABLES = (CREATED_CONTENT, CONTENT_POSTS)

REEL_KINDS = frozenset({"reel", "short_video", "short_video or reel"})
VIDEO_KINDS = frozenset({"video", "long_video"}) | REEL_KINDS
VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".wmv", ".flv", ".3gp")
DOCUMENT_EXTENSIONS = (".pdf", ".ppt", ".pptx", ".doc", ".docx")
# Kinds no adapter publishes (the app sends them by other means): kept by name for the error.
_OTHER_KINDS = {"email": "email", "message": "message"}

# Keys the publisher keeps in a post's metadata besides the app's (docs/data-model.md).
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


def without_nul(text: str) -> str:
    """`text` without NUL characters: PostgreSQL text cannot hold them and platforms reject them,
    so one can only be an accident, and dropping it changes nothing a reader would see."""
    return text.replace("\x00", "")


def _string_list(value: Any, what: str, *, single: bool = False) -> list[str]:
    """A text[] (or text, when `single`) value as a list of non-empty strings; anything else is
    the user's error, named with the value."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if single:
        raise InvalidPostError(f"The post's {what} is not a text: {_shown(value)}.")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidPostError(f"The post's {what} are not a list of texts: {_shown(value)}.")
    return [item.strip() for item in value if item.strip()]


def normalise_hashtags(value: Any) -> tuple[str, ...]:
    """Hashtags without their leading '#', whether stored as a list or one string.

    A tag repeated in another spelling (`#Bread`, `bread`) is kept once, with its first spelling:
    platforms treat hashtags case-insensitively, and repeats count against hashtag limits.
    """
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", without_nul(value)) if part]
    tags = (without_nul(tag).lstrip("#").strip() for tag in _string_list(value, "hashtags"))
    return _first_spellings(tag for tag in tags if tag)


def _first_spellings(tags: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    kept: list[str] = []
    for tag in tags:
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            kept.append(tag)
    return tuple(kept)


def build_text(title: str, content: str, hashtags: tuple[str, ...]) -> str:
    """The text as the app builds it: title, blank line, content, blank line, hashtags."""
    parts = [part for part in (title.strip(), content.strip()) if part]
    if hashtags:
        parts.append(" ".join(f"#{tag}" for tag in hashtags))
    return "\n\n".join(parts)


def _url_path(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0].lower()


def _is_video_url(url: str) -> bool:
    return _url_path(url).endswith(VIDEO_EXTENSIONS)


def media_kind_of(url: str, media_type: str = "") -> str:
    """What one media URL holds: by its extension, else by metadata.media_type, else an image."""
    path = _url_path(url)
    if path.endswith(VIDEO_EXTENSIONS):
        return MEDIA_VIDEO
    if path.endswith(DOCUMENT_EXTENSIONS):
        return MEDIA_DOCUMENT
    if media_type in (MEDIA_VIDEO, MEDIA_DOCUMENT):
        return media_type
    return MEDIA_IMAGE


def resolve_media(post: Post) -> tuple[str, tuple[str, ...]]:
    """The post kind (one of services.platforms.base.KINDS, or an unsupported one) and its media URLs."""
    meta = post.metadata
    cols = post.media_columns
    carousel = _string_list(meta.get("carousel_images"), "carousel images")
    if post.table == CREATED_CONTENT:
        images = _string_list(cols.get("images"), "images")
        if not carousel:
            carousel = _string_list(cols.get("carousel_images"), "carousel images")
        if not carousel and post.kind == "carousel":
            carousel = images
        single = _string_list(cols.get("media_url"), "media URL", single=True) or images[:1]
    else:
        single = _string_list(cols.get("primary_image_url"), "image URL", single=True)
    video_url = _string_list(meta.get("video_url"), "video URL", single=True)
    media_type = _media_type(meta)
    if post.kind in _OTHER_KINDS:
        return _OTHER_KINDS[post.kind], tuple(carousel or single)
    if post.kind == "story":
        return STORY, tuple((video_url or single or carousel)[:1])
    if post.kind == "blog":
        return BLOG, tuple((single or carousel)[:1])
    is_video = (
        post.kind in VIDEO_KINDS
        or media_type == MEDIA_VIDEO
        or any(_is_video_url(url) for url in (video_url or single[:1]))
    )
    if is_video:
        return REEL if post.kind in REEL_KINDS else VIDEO, tuple((video_url or single or carousel)[:1])
    if post.kind == "carousel" or len(carousel) >= 2:
        return CAROUSEL, tuple(carousel)
    media = (carousel or single)[:1]
    if media and media_kind_of(media[0], media_type) == MEDIA_DOCUMENT:
        return DOCUMENT, tuple(media)
    if media:
        return IMAGE, tuple(media)
    if meta.get("link") not in (None, ""):
        return LINK, ()
    return TEXT, ()


def _media_type(meta: Mapping[str, Any]) -> str:
    """metadata.media_type, lower-case ('' when absent); a value that is not text is an error."""
    value = meta.get("media_type")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidPostError(
            f"The post's media_type ({_shown(value)}) must be a word such as image or video."
        )
    return value.strip().lower()


def is_web_address(value: str) -> bool:
    """An http(s) URL with a host that the HTTP client can parse (media, link, thumbnail)."""
    if not re.match(r"^https?://[^\s/?#]+", value, re.IGNORECASE):
        return False
    try:
        url = httpx.URL(value)
        host = url.raw_host.decode("ascii")
    except (httpx.InvalidURL, ValueError):
        return False
    # httpx percent-encodes what a host cannot hold (a space) instead of refusing it.
    return bool(host) and "%" not in host and (url.port is None or 0 < url.port < 65536)


def _not_a_web_address(what: str, value: Any) -> InvalidPostError:
    return InvalidPostError(
        f"The post's {what} ({_shown(value)}) is not a web address starting with http:// or https://."
    )


def _url_option(meta: Mapping[str, Any], key: str) -> str | None:
    value = meta.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not is_web_address(value.strip()):
        raise _not_a_web_address(key, value)
    return value.strip()


def _flag_option(meta: Mapping[str, Any], key: str) -> bool | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidPostError(f"The post's {key} setting ({_shown(value)}) must be true or false.")


def _privacy_option(meta: Mapping[str, Any]) -> str | None:
    value = meta.get("privacy")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().lower() in PRIVACY_VALUES:
        return value.strip().lower()
    raise InvalidPostError(
        f"The post's privacy ({_shown(value)}) must be one of {', '.join(PRIVACY_VALUES)}."
    )


def _category_option(meta: Mapping[str, Any]) -> str | None:
    value = meta.get("category")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise InvalidPostError(f"The post's category ({_shown(value)}) must be a YouTube category number.")
    return text


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def build_job(post: Post) -> PublishJob:
    """The adapter's view of a post: text, kind and media as the app means them."""
    if not isinstance(post.content, str):
        raise InvalidPostError("The post has no text content.")
    if not isinstance(post.title, str):
        raise InvalidPostError(f"The post's title is not text: {_shown(post.title)}.")
    title, content = without_nul(post.title), without_nul(post.content)
    hashtags = normalise_hashtags(post.hashtags)
    kind, media = resolve_media(post)
    for url in media:
        if not is_web_address(url):
            raise _not_a_web_address("media file address", url)
    text = build_text(title, content, hashtags)
    if not text:
        raise InvalidPostError("The post is empty: it has no title, text or hashtags.")
    remote = post.metadata.get(REMOTE_KEY)
    meta = post.metadata
    media_type = _media_type(meta)
    sending = meta.get(SENDING_KEY)
    return PublishJob(
        ref=post.ref,
        kind=kind,
        title=title.strip(),
        text=text,
        body=build_text("", content, hashtags),
        hashtags=hashtags,
        media_urls=media,
        resume=dict(remote) if isinstance(remote, dict) else {},
        sending_started=bool(sending),
        sending_at=_timestamp_or_none(sending),
        media_kinds=tuple(media_kind_of(url, media_type if len(media) == 1 else "") for url in media),
        link=_url_option(meta, "link"),
        thumbnail=_url_option(meta, "thumbnail"),
        privacy=_privacy_option(meta),
        category=_category_option(meta),
        made_for_kids=_flag_option(meta, "made_for_kids"),
        share_to_feed=_flag_option(meta, "share_to_feed"),
    )


def _timestamp_or_none(value: Any) -> datetime | None:
    """Our own timestamp key read back; garbage there reads as unknown, never as an error."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
