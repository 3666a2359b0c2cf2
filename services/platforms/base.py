"""The one interface every platform adapter implements, and what adapters share.

An adapter turns one `PublishJob` into one `PublishResult` or raises one typed error from
`services.errors`. It owns the platform's HTTP contract and error classification, nothing else:
no retries across runs, no database, no clock of its own (it uses `ctx.now`/`ctx.sleep`).

At-most-once rules every adapter follows:
- call `ctx.progress.remember(...)` the moment a remote id exists (container, upload session,
  image urn), so a later attempt resumes instead of creating it again;
- call `ctx.progress.sending()` right before the first call that can publish;
- when `job.resume` holds ids from an earlier attempt, reconcile with the platform before
  sending anything (e.g. Instagram container status, YouTube resume query).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

import httpx

from services.errors import AmbiguousError, LimitError, RetryableError
from services.redaction import scrub

# Post kinds the publisher understands, derived from the app's content_type/post_type values
# (services.posts.resolve_media says which row becomes which kind).
TEXT, IMAGE, CAROUSEL, VIDEO = "text", "image", "carousel", "video"
REEL = "reel"  # a short vertical video: Facebook/Instagram reel, YouTube Short
STORY = "story"  # one image or video that disappears after 24 h
LINK = "link"  # text with metadata.link to preview, no media
DOCUMENT = "document"  # a PDF (or PPT/DOC) shown as a document post
BLOG = "blog"  # a blog entry: title, body, optional featured image
KINDS = (TEXT, IMAGE, CAROUSEL, VIDEO, REEL, STORY, LINK, DOCUMENT, BLOG)
# What one media URL holds (PublishJob.media_kinds).
MEDIA_IMAGE, MEDIA_VIDEO, MEDIA_DOCUMENT = "image", "video", "document"
PRIVACY_VALUES = ("public", "unlisted", "private")


@dataclass(frozen=True)
class PublishJob:
    """Everything an adapter needs to know about one post, already normalised."""

    ref: str  # "created_content/<uuid>": for log lines only
    kind: str  # one of KINDS
    title: str  # "" when the post has none
    text: str  # title, blank line, content, blank line, hashtags: as the app builds it
    body: str  # the same without the title (YouTube description)
    hashtags: tuple[str, ...]  # without their leading '#'
    media_urls: tuple[str, ...]  # images (in order) or the one video
    resume: Mapping[str, Any] = field(default_factory=dict)  # ids an earlier attempt remembered
    sending_started: bool = False  # an earlier attempt reached a publishing call
    # When the earlier attempt's "sending" mark was set (reconciliation looks only after it).
    sending_at: datetime | None = None
    # Per media URL: MEDIA_IMAGE, MEDIA_VIDEO or MEDIA_DOCUMENT (empty: all images, as before).
    media_kinds: tuple[str, ...] = ()
    # The app's optional metadata keys, validated by services.posts (None: not set).
    link: str | None = None  # metadata.link: URL to preview
    thumbnail: str | None = None  # metadata.thumbnail: cover / thumbnail image URL
    privacy: str | None = None  # metadata.privacy: one of PRIVACY_VALUES
    category: str | None = None  # metadata.category: YouTube category id
    made_for_kids: bool | None = None  # metadata.made_for_kids
    share_to_feed: bool | None = None  # metadata.share_to_feed

    def media_kind(self, index: int) -> str:
        """What the media URL at `index` holds."""
        return self.media_kinds[index] if index < len(self.media_kinds) else MEDIA_IMAGE


@dataclass(frozen=True)
class Connection:
    """The owner's platform connection, with tokens already decrypted."""

    id: str
    user_id: str
    platform: str
    page_id: str | None
    page_name: str | None
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_expires_at: datetime | None = None
    linkedin_id: str | None = None
    organization_id: str | None = None
    instagram_id: str | None = None
    account_type: str | None = None
    page_username: str | None = None
    # WordPress connections: the site as the user typed it, the WordPress user and the
    # decrypted application password.
    wordpress_site_url: str | None = None
    wordpress_username: str | None = None
    wordpress_app_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PublishResult:
    """A published post: the platform's id and the public URL the app shows."""

    post_id: str
    url: str | None
    # Facts the publisher writes to the post's metadata as they are (keys named as written there),
    # e.g. {"youtube_privacy": "private", "youtube_thumbnail": "refused: ..."}.
    notes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenUpdate:
    """A refreshed token to store (encrypted) on the connection."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None


class TokenVault(Protocol):
    """The stored tokens of connections, shared by every lane of a run and every server."""

    def refresh(self, connection: Connection, exchange: Callable[[Connection], TokenUpdate]) -> Connection:
        """Refresh the connection's token: one refresh per connection at a time, across servers.

        Holding the connection's refresh lock, the vault re-reads the stored tokens. If they
        differ from `connection`'s (another lane or server refreshed meanwhile) it returns the
        stored connection without calling `exchange`. Otherwise it calls `exchange` with the
        stored connection and stores the new tokens *before* returning the connection holding
        them. When `exchange` raises an AuthError it re-reads once more, and returns the stored
        connection if it changed (someone else rotated the token), else lets the error through.
        """
        ...


class Progress(Protocol):
    """Durable notes about one post's attempt, written to its metadata before returning."""

    def remember(self, **remote_ids: Any) -> None:
        """Store remote ids (container, upload session, image urn) the moment they exist."""

    def sending(self, **remote_ids: Any) -> None:
        """Record that a call that can publish is about to be made (with `remote_ids` in the same write)."""


@dataclass(frozen=True)
class PlatformSettings:
    """Base URLs, API versions and client credentials for every platform (from config)."""

    meta_graph_url: str = "https://graph.facebook.com/v27.0"
    meta_graph_video_url: str = "https://graph-video.facebook.com/v27.0"
    linkedin_api_url: str = "https://api.linkedin.com"
    linkedin_api_version: str = "202607"
    linkedin_oauth_url: str = "https://www.linkedin.com/oauth/v2/accessToken"
    linkedin_client_id: str = ""
    linkedin_client_secret: str = field(default="", repr=False)
    youtube_upload_url: str = "https://www.googleapis.com/upload/youtube/v3"
    google_oauth_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL, not a secret)
    google_client_id: str = ""
    google_client_secret: str = field(default="", repr=False)
    youtube_privacy_status: str = "public"
    youtube_category_id: str = "22"
    youtube_chunk_bytes: int = 8 * 256 * 1024
    instagram_poll_interval_s: float = 5.0
    instagram_poll_max: int = 60
    http_timeout_s: float = 30.0
    # Media URLs come from users: hosts (or CIDR networks) that may be fetched although they
    # are private or loopback. Empty in production; the sandbox and tests allow loopback.
    media_allowed_hosts: tuple[str, ...] = ()
    media_max_bytes: int = 2 * 1024**3
    youtube_made_for_kids: bool = False  # status.selfDeclaredMadeForKids unless the post says
    x_api_url: str = "https://api.x.com"
    x_oauth_token_url: str = "https://api.x.com/2/oauth2/token"  # noqa: S105 (a URL, not a secret)
    x_client_id: str = ""
    x_client_secret: str = field(default="", repr=False)
    x_segment_bytes: int = 4 * 1024 * 1024  # video bytes per APPEND (what is in memory at once)
    # Instagram accounts connected with Instagram Login (tokens IG…) are served by this host.
    instagram_graph_url: str = "https://graph.instagram.com/v27.0"


@dataclass
class AdapterContext:
    """What an adapter may use besides its inputs: HTTP, settings, progress notes and time."""

    http: httpx.Client
    settings: PlatformSettings
    progress: Progress
    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    save_token: Callable[[Connection, TokenUpdate], object]
    # Serialised refreshes (services.platforms.oauth uses it); None: refresh and save_token
    # directly, as a single adapter test does.
    tokens: TokenVault | None = None


@dataclass(frozen=True)
class Limits:
    """A platform's limits as data, checked before any network call. None = no limit."""

    kinds: frozenset[str]
    text_noun: str = "posts"  # "Instagram captions are limited to ..."
    text_max_chars: int | None = None
    text_max_bytes: int | None = None
    hashtags_max: int | None = None
    images_min: int | None = None  # for CAROUSEL
    images_max: int | None = None
    image_extensions: tuple[str, ...] | None = None  # lower-case, with the dot
    image_format_name: str = ""  # "JPEG"
    title_max_chars: int | None = None
    forbidden_chars: str = ""  # in title and text
    title_required: bool = False


def _n(value: int) -> str:
    return f"{value:,}"


def check_limits(display_name: str, limits: Limits, job: PublishJob) -> list[str]:
    """Every limit `job` breaks, each as a sentence naming the limit and the actual value."""
    problems: list[str] = []
    if job.kind not in limits.kinds:
        kinds = ", ".join(k for k in KINDS if k in limits.kinds)
        problems.append(
            f"The scheduler cannot publish {job.kind} posts to {display_name} (it can publish: {kinds})."
        )
        return problems
    if job.kind in (IMAGE, CAROUSEL, VIDEO, REEL, STORY, DOCUMENT) and not job.media_urls:
        problems.append(f"This {job.kind} post has no media file attached.")
    text = job.text
    if limits.text_max_chars is not None and len(text) > limits.text_max_chars:
        problems.append(
            f"{display_name} {limits.text_noun} are limited to {_n(limits.text_max_chars)} characters; "
            f"this one has {_n(len(text))}."
        )
    size = len(text.encode("utf-8"))
    if limits.text_max_bytes is not None and size > limits.text_max_bytes:
        problems.append(
            f"{display_name} {limits.text_noun} are limited to {_n(limits.text_max_bytes)} bytes; "
            f"this one has {_n(size)}."
        )
    if limits.hashtags_max is not None:
        count = count_hashtags(job.text)
        if count > limits.hashtags_max:
            problems.append(
                f"{display_name} allows at most {limits.hashtags_max} hashtags; this post has {count}."
            )
    if job.kind == CAROUSEL:
        count = len(job.media_urls)
        if limits.images_min is not None and count < limits.images_min:
            problems.append(
                f"{display_name} carousels need at least {limits.images_min} images; this one has {count}."
            )
        if limits.images_max is not None and count > limits.images_max:
            problems.append(
                f"{display_name} carousels are limited to {limits.images_max} images; this one has {count}."
            )
    if limits.image_extensions and job.kind in (IMAGE, CAROUSEL, STORY):
        for index, url in enumerate(job.media_urls):
            if job.media_kind(index) != MEDIA_IMAGE:
                continue
            ext = url_extension(url)
            if ext not in limits.image_extensions:
                problems.append(
                    f"{display_name} accepts only {limits.image_format_name} images; "
                    f"{url_name(url)} is not one."
                )
    if limits.title_required and not job.title.strip():
        problems.append(f"{display_name} needs a title; this post has none.")
    if limits.title_max_chars is not None and len(job.title) > limits.title_max_chars:
        problems.append(
            f"{display_name} titles are limited to {_n(limits.title_max_chars)} characters; "
            f"this one has {_n(len(job.title))}."
        )
    for char in limits.forbidden_chars:
        if char in job.title or char in job.text:
            problems.append(f"{display_name} does not allow the character {char!r} in titles or text.")
    return problems


_HASHTAG = re.compile(r"(?<![\w#])#\w+")


def count_hashtags(text: str) -> int:
    """Count hashtags the way the platforms do: '#' followed by word characters."""
    return len(_HASHTAG.findall(text))


def url_extension(url: str) -> str:
    """The lower-case file extension of a URL's path ('' when none), ignoring the query."""
    path = httpx.URL(url).path if "://" in url else url
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def url_name(url: str) -> str:
    """The last path segment of a URL, for error messages."""
    path = httpx.URL(url).path if "://" in url else url
    return path.rsplit("/", 1)[-1] or url


class Adapter(ABC):
    """One platform. Subclasses set the class attributes and implement `publish`."""

    platform: ClassVar[str]  # the value in created_content.platform / platform_connections.platform
    display_name: ClassVar[str]  # for messages: "Facebook"
    limits: ClassVar[Limits]

    def as_sent(self, job: PublishJob) -> PublishJob:
        """The job as the platform will receive it (an adapter that derives a title overrides this)."""
        return job

    def check(self, job: PublishJob) -> None:
        """Raise LimitError naming every limit the job as sent breaks; no network call."""
        problems = check_limits(self.display_name, self.limits, self.as_sent(job))
        if problems:
            raise LimitError(self.platform, " ".join(problems))

    def check_connection(self, connection: Connection) -> None:  # noqa: ARG002 (subclasses read it)
        """Raise the typed error a connection that cannot publish at all gets (no network call).

        `publish` calls it first; `--dry-run` calls it too, so it foresees what the run will do.
        Most connections are judged only by the platform, so by default nothing is raised.
        """
        return

    @abstractmethod
    def publish(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> PublishResult:
        """Publish the job on the connection's account, or raise a typed PlatformError."""


def send(
    ctx: AdapterContext,
    platform: str,
    method: str,
    url: str,
    *,
    publishes: bool,
    what: str,
    **kwargs: Any,
) -> httpx.Response:
    """Make one HTTP call and turn transport failures into typed errors.

    A failure before the request could reach the platform (connect error or timeout, pool
    timeout) is always safe to retry. Anything after that on a call that can publish is
    ambiguous: the platform may have acted on it. HTTP statuses are left to the adapter.
    """
    try:
        return ctx.http.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise RetryableError(
            platform, f"Could not reach {what}; nothing was sent.", detail=type(exc).__name__
        ) from None
    except httpx.TransportError as exc:
        if publishes:
            raise AmbiguousError(
                platform,
                f"The connection to {what} failed after the post was sent, so it may or may not "
                "have been published.",
                detail=type(exc).__name__,
            ) from None
        raise RetryableError(
            platform, f"The connection to {what} failed; nothing was published.", detail=type(exc).__name__
        ) from None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """A reply's JSON object, or {} when the body is not one (an HTML error page, a list, garbage)."""
    try:
        body = response.json()
    except ValueError:  # not JSON, or not UTF-8
        return {}
    return body if isinstance(body, dict) else {}


def platform_text(text: object, limit: int = 300) -> str:
    """A platform's error text made safe to show: secrets masked, whitespace folded, bounded."""
    cleaned = " ".join(scrub(str(text)).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
