"""LinkedIn: text, image, multi-image, video, document and article (link) posts.

What is sent per kind, the limits, the error classes and the sources are in
docs/platforms/linkedin.md. Flow for one post:
1. media, each remembered (`progress.remember`) the moment LinkedIn names it:
   - images (and an article's thumbnail): `POST /rest/images?action=initializeUpload` →
     stream the file into `PUT uploadUrl` → poll `GET /rest/images/{urn}` until AVAILABLE;
   - a document: the same through `/rest/documents`;
   - a video: `POST /rest/videos?action=initializeUpload` with its size → one `PUT` per 4 MiB
     part, keeping each part's etag → `finalizeUpload` with the etags in order → poll
     `GET /rest/videos/{urn}` until AVAILABLE;
2. `progress.sending()`, then `POST /rest/posts` with the text in LinkedIn's "little text"
   format and the content (`media`, `multiImage` or `article`).

At most once: LinkedIn refuses an identical post from the same author with 422 DUPLICATE_POST
naming the first one's urn. So when the publishing call fails ambiguously (5xx, timeout,
dropped connection) the same body is sent once more: 201 means the first never landed,
DUPLICATE_POST means it did and names it. The same rule covers a run that crashed mid-send
(`job.sending_started`). A DUPLICATE_POST on a post we never sent before is a real duplicate
and fails the post.

Resume keys (written with `progress.remember`, read back from `job.resume`):
- `images` / `image_urls`: the image urns created so far and the URL each was made from;
- `documents` / `document_urls`: the same for a document;
- `video`, `video_url`, `video_upload`: the video urn, its media URL, and the upload plan
  (size, upload token, expiry, and per part its URL, byte range and etag once uploaded).
An earlier urn is reused only for the same media URL, and only while LinkedIn still has it;
a video whose upload broke off re-sends only the parts without an etag.

Tokens: a 401 that a refresh can cure is refreshed once (services.platforms.oauth) and the call
repeated. A token LinkedIn has only just issued can be refused as revoked (65601) for a few
seconds; after a refresh such answers are waited out for up to GRACE_S seconds.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from services.errors import (
    AmbiguousError,
    AuthError,
    PermanentError,
    PlatformConfigError,
    PlatformError,
    RateLimitedError,
    RetryableError,
)
from services.platforms.base import (
    CAROUSEL,
    DOCUMENT,
    IMAGE,
    LINK,
    REEL,
    TEXT,
    VIDEO,
    Adapter,
    AdapterContext,
    Connection,
    Limits,
    PublishJob,
    PublishResult,
    TokenUpdate,
    json_object,
    platform_text,
    send,
    url_name,
)
from services.platforms.oauth import OAuthToken
from services.safe_media import open_media

PLATFORM = "linkedin"
RECONNECT = "Reconnect your LinkedIn account in the app, then reschedule this post."
POST_URL = "https://www.linkedin.com/feed/update/{urn}"

IMAGE_POLLS = 10  # status checks per image or document before the post waits for a later run
IMAGE_POLL_INTERVAL_S = 2.0
VIDEO_POLLS = 6  # videos take longer; the rest of the wait happens in a later run
VIDEO_POLL_INTERVAL_S = 5.0
UPLOAD_BLOCK_BYTES = 64 * 1024  # what is in memory at once while a file streams through
# LinkedIn's documented file-size limits (docs/platforms/linkedin.md, "Limits").
VIDEO_MAX_BYTES = 500 * 1024 * 1024
VIDEO_REQUIREMENT = "an MP4 video of 3 seconds to 30 minutes and at most 500 MB"
DOCUMENT_MAX_BYTES = 100 * 1024 * 1024
# After a refresh, how long a new token refused as revoked is given to become valid, and the
# first wait (doubling: 1 + 2 + 4 + 8 = 15 s).
GRACE_S = 15.0
GRACE_FIRST_WAIT_S = 1.0
# Uploads URLs this close to their expiry are not resumed: a fresh upload is started instead.
UPLOAD_URL_MARGIN = timedelta(minutes=10)

_RESERVED = re.compile(r"[\\|{}@\[\]()<>#*_~]")
# A '#' that starts a hashtag, by the same rule as `count_hashtags`: not inside a word.
_HASHTAG_START = re.compile(r"(?<![\w#])#(?=\w)")
_SHARE_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")


def little_text(text: str) -> str:
    """`text` in LinkedIn's little text format: every reserved character backslash-escaped.

    LinkedIn silently cuts a post at the first unescaped reserved character. The one exception
    is a `#` starting a hashtag, left as is so the hashtag stays a hashtag.
    """

    def escape(match: re.Match[str]) -> str:
        if _HASHTAG_START.match(text, match.start()):
            return match.group()
        return "\\" + match.group()

    return _RESERVED.sub(escape, text)


def author_urn(connection: Connection) -> str:
    """Who posts: the connection's company page when it has one, else the member."""
    if connection.organization_id:
        return _urn("organization", connection.organization_id)
    member = connection.linkedin_id or connection.page_id
    if member:
        return _urn("person", member)
    raise PermanentError(PLATFORM, f"This LinkedIn connection has no account id. {RECONNECT}")


def _urn(kind: str, value: str) -> str:
    return value if value.startswith("urn:li:") else f"urn:li:{kind}:{value}"


def post_body(author: str, commentary: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `POST /rest/posts` body; `content` is the media, multiImage or article part."""
    body: dict[str, Any] = {
        "author": author,
        "commentary": commentary,
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    if content:
        body["content"] = content
    return body


def images_content(images: list[str]) -> dict[str, Any] | None:
    """`content` for one image (media) or several (multiImage); None without images."""
    if len(images) == 1:
        return {"media": {"id": images[0]}}
    if images:
        return {"multiImage": {"images": [{"id": urn} for urn in images]}}
    return None


def media_content(urn: str, title: str) -> dict[str, Any]:
    """`content` for a video or document; LinkedIn shows the title on it (documents need one)."""
    media: dict[str, Any] = {"id": urn}
    if title:
        media["title"] = title
    return {"media": media}


def article_content(source: str, title: str, thumbnail: str | None) -> dict[str, Any]:
    """`content` for a link post: LinkedIn does not read the page, so title and image come from us."""
    article: dict[str, Any] = {"source": source, "title": title}
    if thumbnail:
        article["thumbnail"] = thumbnail
    return {"article": article}


def sent_title(job: PublishJob) -> str:
    """The title LinkedIn gets: the post's own, else for a document its file name and for a
    link post the link's host name (both need one; docs/platforms/linkedin.md says why)."""
    if job.title.strip():
        return job.title.strip()
    if job.kind == DOCUMENT and job.media_urls:
        return unquote(url_name(job.media_urls[0]))
    if job.kind == LINK and job.link:
        host = urlsplit(job.link).hostname or job.link
        return host.removeprefix("www.")
    return ""


def duplicate_of(response: httpx.Response) -> str | None:
    """The urn a 422 DUPLICATE_POST names, or None when the response is something else."""
    if response.status_code != 422:
        return None
    data = json_object(response)
    details = data.get("errorDetails")
    errors = details.get("inputErrors") if isinstance(details, dict) else None
    codes = [e.get("code") for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    if "DUPLICATE_POST" not in codes:
        return None
    found = _SHARE_URN.search(str(data.get("message", "")))
    return found.group() if found else None


def next_midnight_utc(now: datetime) -> datetime:
    """LinkedIn's daily limits reset at midnight UTC: the first one after `now`."""
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def is_revoked(response: httpx.Response) -> bool:
    """A 401 saying the token was revoked (REVOKED_ACCESS_TOKEN, serviceErrorCode 65601)."""
    if response.status_code != 401:
        return False
    data = json_object(response)
    return data.get("code") == "REVOKED_ACCESS_TOKEN" or data.get("serviceErrorCode") == 65601


def refresh_cures(response: httpx.Response) -> bool:
    """A 401 a new token can cure: any but a revoked one (only reconnecting in the app helps)."""
    return response.status_code == 401 and not is_revoked(response)


def upload_parts(instructions: object, size: int) -> list[dict[str, Any]] | None:
    """The parts of a video upload plan from LinkedIn's uploadInstructions, or None if unusable.

    The parts are read off one stream in order, so their byte ranges must tile the file exactly.
    """
    if not isinstance(instructions, list):
        return None
    parts: list[dict[str, Any]] = []
    expected_first = 0
    for item in instructions:
        url = item.get("uploadUrl") if isinstance(item, dict) else None
        first = item.get("firstByte") if isinstance(item, dict) else None
        last = item.get("lastByte") if isinstance(item, dict) else None
        if not isinstance(url, str) or first != expected_first or not isinstance(last, int) or last < first:
            return None
        parts.append({"url": url, "first": first, "last": last, "etag": None})
        expected_first = last + 1
    return parts if parts and expected_first == size else None


def _result(urn: str) -> PublishResult:
    return PublishResult(post_id=urn, url=POST_URL.format(urn=urn))


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MB"


@dataclass(frozen=True)
class _Asset:
    """A kind of file uploaded with one PUT (images, documents): its API and resume keys."""

    noun: str  # for messages
    path: str  # "/rest/images"
    field: str  # the urn's key in initializeUpload's value
    urns_key: str  # resume keys
    urls_key: str
    requirement: str  # what LinkedIn accepts, said when processing fails
    max_bytes: int | None = None


IMAGE_ASSET = _Asset(
    "image", "/rest/images", "image", "images", "image_urls", "a JPG, PNG or GIF of at most 36 million pixels"
)
DOCUMENT_ASSET = _Asset(
    "document",
    "/rest/documents",
    "document",
    "documents",
    "document_urls",
    "a PDF, PPT, PPTX, DOC or DOCX file of at most 100 MB and 300 pages",
    DOCUMENT_MAX_BYTES,
)


class LinkedInAdapter(Adapter):
    """Publishes text, image, multi-image, video, document and link posts to a member or a page."""

    platform = PLATFORM
    display_name = "LinkedIn"
    limits = Limits(
        kinds=frozenset({TEXT, IMAGE, CAROUSEL, VIDEO, REEL, DOCUMENT, LINK}),
        text_max_chars=3000,
        images_min=2,
        images_max=20,
    )

    def as_sent(self, job: PublishJob) -> PublishJob:
        """The job with the title LinkedIn will show (see `sent_title`)."""
        return replace(job, title=sent_title(job))

    def publish(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> PublishResult:
        """Upload the media, then publish the post (see the module docstring)."""
        return _Publication(job, connection, ctx).run()


class _Parts:
    """The bytes of a stream handed out part by part, never more than one block in memory."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._rest = b""

    def take(self, size: int) -> Iterator[bytes]:
        """The next `size` bytes, block by block (an error if the stream ends first)."""
        left = size
        while left > 0:
            block = self._rest or next(self._blocks, b"")
            if not block:
                raise RetryableError(PLATFORM, "The video file ended early while it was being uploaded.")
            piece, self._rest = block[:left], block[left:]
            left -= len(piece)
            yield piece

    def skip(self, size: int) -> None:
        """Read past `size` bytes (a part an earlier attempt already uploaded)."""
        for _ in self.take(size):
            pass


class _Publication:
    """One attempt at one post; it holds the access token, which a refresh may replace mid-way."""

    def __init__(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> None:
        self.job = job
        self.ctx = ctx
        self.api = ctx.settings.linkedin_api_url.rstrip("/")
        self.author = author_urn(connection)
        self.auth = OAuthToken(connection, ctx, exchange=self.exchange, refreshable=self.refreshable)
        self.grace_left = GRACE_S

    def run(self) -> PublishResult:
        kind, title = self.job.kind, sent_title(self.job)
        content: dict[str, Any] | None = None
        if kind in (IMAGE, CAROUSEL):
            content = images_content(self.prepare_assets(IMAGE_ASSET, self.job.media_urls))
        elif kind in (VIDEO, REEL):
            content = media_content(self.prepare_video(self.job.media_urls[0]), title)
        elif kind == DOCUMENT:
            [document] = self.prepare_assets(DOCUMENT_ASSET, self.job.media_urls[:1])
            content = media_content(document, title)
        elif kind == LINK and self.job.link:
            thumbnail = self.job.thumbnail
            images = self.prepare_assets(IMAGE_ASSET, (thumbnail,)) if thumbnail else []
            content = article_content(self.job.link, title, images[0] if images else None)
        return self.create_post(post_body(self.author, little_text(self.job.text), content))

    # ---- the publishing call ---------------------------------------------------------------
    def create_post(self, body: dict[str, Any]) -> PublishResult:
        self.ctx.progress.sending()
        try:
            response = self.send_post(body)
        except AmbiguousError as exc:
            return self.resend(body, first_failure=exc.detail)
        if response.status_code >= 500:
            return self.resend(body, first_failure=f"HTTP {response.status_code}")
        return self.outcome(response, retrying_own_post=self.job.sending_started)

    def send_post(self, body: dict[str, Any]) -> httpx.Response:
        return self.rest("POST", "/rest/posts", publishes=True, json=body)

    def resend(self, body: dict[str, Any], *, first_failure: str) -> PublishResult:
        """The first POST may or may not have published: send it again to find out.

        Only two answers settle it: 201 (the first never landed) and DUPLICATE_POST (it did,
        and the message names it). Anything else leaves the question open.
        """
        try:
            response = self.send_post(body)
        except PlatformError as exc:
            raise self.ambiguous(f"{first_failure}, then {exc.detail or exc.kind}") from None
        if response.status_code == 201 or duplicate_of(response):
            return self.outcome(response, retrying_own_post=True)
        raise self.ambiguous(f"{first_failure}, then HTTP {response.status_code}")

    def outcome(self, response: httpx.Response, *, retrying_own_post: bool) -> PublishResult:
        if response.status_code == 201:
            urn = response.headers.get("x-restli-id")
            if not urn:
                raise AmbiguousError(
                    PLATFORM,
                    "LinkedIn accepted the post but did not say which post it created.",
                    detail="HTTP 201 without x-restli-id",
                )
            return _result(urn)
        duplicate = duplicate_of(response)
        if duplicate and retrying_own_post:
            return _result(duplicate)
        raise self.failure(response, doing="publishing the post")

    def ambiguous(self, detail: str) -> AmbiguousError:
        return AmbiguousError(
            PLATFORM,
            "LinkedIn failed while publishing and again when asked a second time, so the post may "
            "or may not have been published.",
            detail=detail,
        )

    # ---- images and documents ----------------------------------------------------------------
    def prepare_assets(self, asset: _Asset, media_urls: tuple[str, ...]) -> list[str]:
        """The urn of every file, uploaded (or reused from an earlier attempt) and AVAILABLE."""
        urns: list[str] = []
        for media_url, earlier in zip(media_urls, self.resumed(asset, media_urls), strict=True):
            status = self.status(asset.path, earlier, asset.noun) if earlier else None
            if earlier and status in ("AVAILABLE", "PROCESSING"):
                urns.append(earlier)
            else:
                urns.append(self.upload(asset, media_url, media_urls, urns))
                status = None
            if status != "AVAILABLE":
                self.wait_until_available(
                    asset.path, urns[-1], asset.noun, url_name(media_url), asset.requirement
                )
        return urns

    def resumed(self, asset: _Asset, media_urls: tuple[str, ...]) -> list[str | None]:
        """Per media URL, the urn an earlier attempt made from that same URL, if any."""
        urns = self.job.resume.get(asset.urns_key)
        urls = self.job.resume.get(asset.urls_key)
        urns, urls = (urns if isinstance(urns, list) else []), (urls if isinstance(urls, list) else [])
        found: list[str | None] = []
        for position, media_url in enumerate(media_urls):
            same = position < min(len(urns), len(urls)) and urls[position] == media_url
            urn = urns[position] if same else None
            found.append(urn if isinstance(urn, str) else None)
        return found

    def upload(
        self, asset: _Asset, media_url: str, media_urls: tuple[str, ...], urns_so_far: list[str]
    ) -> str:
        name = url_name(media_url)
        owner = {"initializeUploadRequest": {"owner": self.author}}
        response = self.rest("POST", f"{asset.path}?action=initializeUpload", json=owner)
        if response.status_code != 200:
            raise self.failure(response, doing=f"preparing the upload of {name}")
        value = json_object(response).get("value")
        upload_url = value.get("uploadUrl") if isinstance(value, dict) else None
        urn = value.get(asset.field) if isinstance(value, dict) else None
        if not isinstance(upload_url, str) or not isinstance(urn, str):
            raise RetryableError(
                PLATFORM, f"LinkedIn did not return an upload address for {name}; nothing was published."
            )
        urns = [*urns_so_far, urn]
        self.ctx.progress.remember(**{asset.urns_key: urns, asset.urls_key: list(media_urls[: len(urns)])})
        response = self.authorized(lambda: self.stream_file(asset, media_url, upload_url))
        if response.status_code not in (200, 201):
            raise self.failure(response, doing=f"uploading {name}")
        return urn

    def stream_file(self, asset: _Asset, media_url: str, upload_url: str) -> httpx.Response:
        """PUT the file at `media_url` to `upload_url` block by block: never whole in memory."""
        with open_media(self.ctx, media_url, platform=PLATFORM) as media:
            length = media.headers.get("content-length")
            if asset.max_bytes and length and length.isdigit() and int(length) > asset.max_bytes:
                raise PermanentError(
                    PLATFORM,
                    f"LinkedIn accepts {asset.noun}s of at most {_megabytes(asset.max_bytes)}; "
                    f"{url_name(media_url)} has {_megabytes(int(length))}.",
                )
            headers = {
                "Authorization": f"Bearer {self.auth.token}",
                "Content-Type": media.headers.get("content-type", "application/octet-stream"),
            }
            if length:
                # With a length httpx sends the body as is rather than chunked, as uploads expect.
                headers["Content-Length"] = length
            return send(
                self.ctx,
                PLATFORM,
                "PUT",
                upload_url,
                publishes=False,
                what=f"LinkedIn's {asset.noun} upload",
                headers=headers,
                content=media.iter_bytes(UPLOAD_BLOCK_BYTES),
            )

    # ---- videos ------------------------------------------------------------------------------
    def prepare_video(self, media_url: str) -> str:
        """The video's urn once AVAILABLE: reused, its upload resumed, or uploaded afresh."""
        name = url_name(media_url)
        earlier = self.job.resume.get("video") if self.job.resume.get("video_url") == media_url else None
        if isinstance(earlier, str):
            status = self.status("/rest/videos", earlier, "video")
            if status == "AVAILABLE":
                return earlier
            if status in ("PROCESSING", "PROCESSING_FAILED"):
                self.wait_until_available(
                    "/rest/videos", earlier, "video", name, VIDEO_REQUIREMENT, VIDEO_POLLS
                )
                return earlier
            plan = self.usable_plan(self.job.resume.get("video_upload"))
            if status == "WAITING_UPLOAD" and plan is not None:
                self.finish_upload(earlier, media_url, plan)
                self.wait_until_available(
                    "/rest/videos", earlier, "video", name, VIDEO_REQUIREMENT, VIDEO_POLLS
                )
                return earlier
        urn = self.upload_new_video(media_url)
        self.wait_until_available("/rest/videos", urn, "video", name, VIDEO_REQUIREMENT, VIDEO_POLLS)
        return urn

    def upload_new_video(self, media_url: str) -> str:
        """One read of the media: its size for initializeUpload, then its parts off the same stream."""
        with open_media(self.ctx, media_url, platform=PLATFORM) as media:
            urn, plan = self.start_video(media_url, self.video_size(media, url_name(media_url)))
            first = self.send_parts(media, plan, url_name(media_url))
        self.finish_upload(urn, media_url, plan, first_try=first)
        return urn

    def usable_plan(self, plan: object) -> dict[str, Any] | None:
        """An earlier upload plan, if still usable: well formed, its URLs not (nearly) expired."""
        if not isinstance(plan, dict) or not isinstance(plan.get("parts"), list) or not plan["parts"]:
            return None
        expires = plan.get("expires_at_ms")
        if not isinstance(expires, int):
            return None
        deadline = datetime.fromtimestamp(expires / 1000, UTC)
        # A copy: etags are filled in as parts go, and the job's resume notes stay as read.
        return copy.deepcopy(plan) if deadline - UPLOAD_URL_MARGIN > self.ctx.now() else None

    def start_video(self, media_url: str, size: int) -> tuple[str, dict[str, Any]]:
        """initializeUpload with the file's size; the urn and plan are remembered at once."""
        name = url_name(media_url)
        ask = {
            "initializeUploadRequest": {
                "owner": self.author,
                "fileSizeBytes": size,
                "uploadCaptions": False,
                "uploadThumbnail": False,
            }
        }
        response = self.rest("POST", "/rest/videos?action=initializeUpload", json=ask)
        if response.status_code != 200:
            raise self.failure(response, doing=f"preparing the upload of {name}")
        value = json_object(response).get("value")
        value = value if isinstance(value, dict) else {}
        urn = value.get("video")
        parts = upload_parts(value.get("uploadInstructions"), size)
        if not isinstance(urn, str) or parts is None:
            raise RetryableError(
                PLATFORM, f"LinkedIn did not return upload addresses for {name}; nothing was published."
            )
        expires = value.get("uploadUrlsExpireAt")
        plan = {
            "size": size,
            "token": str(value.get("uploadToken") or ""),
            "expires_at_ms": expires if isinstance(expires, int) else 0,
            "parts": parts,
        }
        self.ctx.progress.remember(video=urn, video_url=media_url, video_upload=copy.deepcopy(plan))
        return urn, plan

    @staticmethod
    def video_size(media: httpx.Response, name: str) -> int:
        """The video's size in bytes, from the media host, checked against LinkedIn's limit."""
        length = media.headers.get("content-length", "")
        if not length.isdigit() or int(length) == 0:
            raise PermanentError(
                PLATFORM,
                f"The video file {name} does not say how large it is, which LinkedIn needs before an "
                "upload; store it where downloads state their size.",
            )
        size = int(length)
        if size > VIDEO_MAX_BYTES:
            raise PermanentError(
                PLATFORM,
                f"LinkedIn accepts videos of at most {_megabytes(VIDEO_MAX_BYTES)}; "
                f"{name} has {_megabytes(size)}.",
            )
        return size

    def finish_upload(
        self, urn: str, media_url: str, plan: dict[str, Any], *, first_try: httpx.Response | None = None
    ) -> None:
        """PUT the parts without an etag, then finalizeUpload with every etag in part order.

        `first_try` is the answer of parts already sent off an open stream: it goes through the
        same refresh rule as a call, and any repeat re-opens the media for the missing parts.
        """
        name = url_name(media_url)
        if first_try is not None or any(part.get("etag") is None for part in plan["parts"]):
            pending = [first_try] if first_try is not None else []
            response = self.authorized(
                lambda: pending.pop() if pending else self.put_missing_parts(media_url, plan)
            )
            if response.status_code not in (200, 201):
                raise self.failure(response, doing=f"uploading {name}")
        finalize = {
            "finalizeUploadRequest": {
                "video": urn,
                "uploadToken": plan["token"],
                "uploadedPartIds": [part["etag"] for part in plan["parts"]],
            }
        }
        response = self.rest("POST", "/rest/videos?action=finalizeUpload", json=finalize)
        if response.status_code not in (200, 201, 204):
            raise self.failure(response, doing=f"finishing the upload of {name}")

    def put_missing_parts(self, media_url: str, plan: dict[str, Any]) -> httpx.Response:
        """Open the video again and PUT the parts still missing (a resumed or repeated upload)."""
        name = url_name(media_url)
        with open_media(self.ctx, media_url, platform=PLATFORM) as media:
            if media.headers.get("content-length") != str(plan["size"]):
                raise RetryableError(
                    PLATFORM,
                    f"The video file {name} changed while it was being uploaded; nothing was published.",
                )
            return self.send_parts(media, plan, name)

    def send_parts(self, media: httpx.Response, plan: dict[str, Any], name: str) -> httpx.Response:
        """Read the video off `media`, PUT each part still missing, remember each etag as it comes.

        Returns the first refused part's response, else the last part's.
        """
        last: httpx.Response | None = None
        stream = _Parts(media.iter_bytes(UPLOAD_BLOCK_BYTES))
        for part in plan["parts"]:
            length = part["last"] - part["first"] + 1
            if part.get("etag") is not None:
                stream.skip(length)
                continue
            last = send(
                self.ctx,
                PLATFORM,
                "PUT",
                part["url"],
                publishes=False,
                what="LinkedIn's video upload",
                headers={
                    "Authorization": f"Bearer {self.auth.token}",
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(length),
                },
                content=stream.take(length),
            )
            if last.status_code not in (200, 201):
                return last
            etag = last.headers.get("etag")
            if not etag:
                raise RetryableError(
                    PLATFORM,
                    f"LinkedIn did not confirm a part of {name}; nothing was published.",
                    detail="part PUT without an etag",
                )
            part["etag"] = etag
            self.ctx.progress.remember(video_upload=copy.deepcopy(plan))
        if last is None:
            raise RuntimeError("send_parts called without a missing part")
        return last

    # ---- processing status -------------------------------------------------------------------
    def status(self, path: str, urn: str, noun: str) -> str | None:
        """The file's processing status, or None when LinkedIn no longer knows the urn."""
        response = self.rest("GET", f"{path}/{quote(urn, safe='')}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self.failure(response, doing=f"checking an uploaded {noun}")
        return str(json_object(response).get("status", ""))

    def wait_until_available(
        self, path: str, urn: str, noun: str, name: str, requirement: str, polls: int = IMAGE_POLLS
    ) -> None:
        """Poll until AVAILABLE; still processing after `polls` checks waits for a later run."""
        what = f"{noun} {name}"
        interval = VIDEO_POLL_INTERVAL_S if path == "/rest/videos" else IMAGE_POLL_INTERVAL_S
        status: str | None = None
        for poll in range(polls):
            if poll:
                self.ctx.sleep(interval)
            status = self.status(path, urn, noun)
            if status == "AVAILABLE":
                return
            if status == "PROCESSING_FAILED":
                raise PermanentError(
                    PLATFORM, f"LinkedIn could not process the {what}; it must be {requirement}."
                )
            if status is None:
                raise RetryableError(PLATFORM, f"LinkedIn lost the uploaded {what}; nothing was published.")
        raise RetryableError(
            PLATFORM,
            f"LinkedIn is still processing the {what}; the post will be tried again.",
            detail=f"{urn} still {status} after {polls} checks",
            counts_as_attempt=False,
        )

    # ---- tokens ----------------------------------------------------------------------------
    def rest(self, method: str, path: str, *, publishes: bool = False, **kwargs: Any) -> httpx.Response:
        """A call to LinkedIn's /rest/ API, with its required headers and the refresh-once rule."""
        return self.authorized(
            lambda: send(
                self.ctx,
                PLATFORM,
                method,
                self.api + path,
                publishes=publishes,
                what="LinkedIn",
                headers=self.rest_headers(),
                **kwargs,
            )
        )

    def rest_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.auth.token}",
            "LinkedIn-Version": self.ctx.settings.linkedin_api_version,
            "X-Restli-Protocol-Version": "2.0.0",
            "Content-Type": "application/json",
        }

    def authorized(self, call: Callable[[], httpx.Response]) -> httpx.Response:
        """Make `call` with the refresh-once rule, then wait out a new token's false "revoked".

        LinkedIn has been seen refusing a token it issued seconds before as revoked (65601).
        After this attempt refreshed, such a refusal is repeated after waits of 1, 2, 4 and 8 s
        (GRACE_S in all) before it is believed. A 401 means LinkedIn did nothing with the
        request, so repeating even the publishing call is safe. `call` reads the token each time.
        """
        response = self.auth.authorized(call, curable=refresh_cures)
        wait = GRACE_FIRST_WAIT_S
        while self.auth.refreshed and is_revoked(response) and self.grace_left > 0:
            wait = min(wait, self.grace_left)
            self.ctx.sleep(wait)
            self.grace_left -= wait
            wait *= 2
            response = call()
        return response

    def refreshable(self, connection: Connection) -> bool:
        settings = self.ctx.settings
        return bool(
            connection.refresh_token and settings.linkedin_client_id and settings.linkedin_client_secret
        )

    def exchange(self, connection: Connection) -> TokenUpdate:
        """Trade the refresh token for a new access token (the OAuth refresh_token grant)."""
        settings = self.ctx.settings
        response = send(
            self.ctx,
            PLATFORM,
            "POST",
            settings.linkedin_oauth_url,
            publishes=False,
            what="LinkedIn's sign-in service",
            data={
                "grant_type": "refresh_token",
                "refresh_token": connection.refresh_token,
                "client_id": settings.linkedin_client_id,
                "client_secret": settings.linkedin_client_secret,
            },
        )
        data = json_object(response)
        token = data.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            raise self.refresh_failure(response, data)
        new_refresh = data.get("refresh_token")
        expires_in = data.get("expires_in")
        return TokenUpdate(
            access_token=token,
            # LinkedIn does not rotate refresh tokens; keep the old one when none comes back.
            refresh_token=new_refresh
            if isinstance(new_refresh, str) and new_refresh
            else connection.refresh_token,
            expires_at=self.ctx.now() + timedelta(seconds=expires_in)
            if isinstance(expires_in, int)
            else None,
        )

    def refresh_failure(self, response: httpx.Response, data: dict[str, Any]) -> PlatformError:
        status = response.status_code
        error = str(data.get("error") or "")
        said = platform_text(data.get("error_description") or error or response.reason_phrase)
        detail = f"token refresh: HTTP {status} {error}: {said}"
        if status >= 500 or status == 200:
            return RetryableError(
                PLATFORM, "LinkedIn's sign-in service failed; nothing was published.", detail=detail
            )
        if status == 429:
            return RateLimitedError(
                PLATFORM, "LinkedIn's sign-in service is busy; the post waits.", detail=detail
            )
        if error == "invalid_grant":
            lowered = said.lower()
            revoked = "revoked" in lowered and "expired" not in lowered
            return AuthError(
                PLATFORM, RECONNECT, detail=detail, connection_status="revoked" if revoked else "expired"
            )
        # Anything else means our own request or client credentials are wrong: no user can fix it.
        return PlatformConfigError(
            PLATFORM,
            f"LinkedIn refused to refresh a token ({said}); check the LinkedIn client id and secret.",
            detail=detail,
        )

    # ---- errors ----------------------------------------------------------------------------
    def failure(self, response: httpx.Response, *, doing: str) -> PlatformError:
        """The error for a LinkedIn reply that is not a success (classes: docs/platforms/linkedin.md)."""
        status = response.status_code
        data = json_object(response)
        code = str(data.get("code") or "")
        service = data.get("serviceErrorCode")
        said = platform_text(data.get("message") or response.text or response.reason_phrase)
        detail = " ".join(
            part
            for part in (f"HTTP {status}", code, f"serviceErrorCode {service}" if service else "")
            if part
        )
        detail = f"{detail} while {doing}: {said}"
        if status == 401:
            revoked = is_revoked(response)
            if revoked and self.auth.refreshed:
                detail += f" (still refused {GRACE_S - self.grace_left:.0f} s after a refresh)"
            return AuthError(
                PLATFORM, RECONNECT, detail=detail, connection_status="revoked" if revoked else "expired"
            )
        if status == 403:
            return AuthError(
                PLATFORM,
                f"LinkedIn says this account may not post here ({said}). {RECONNECT}",
                detail=detail,
                connection_status="revoked",
            )
        if status == 426:
            return PlatformConfigError(
                PLATFORM,
                f"LinkedIn no longer accepts API version {self.ctx.settings.linkedin_api_version}; "
                "set LINKEDIN_API_VERSION to a current one (YYYYMM).",
                detail=detail,
            )
        if status == 429:
            return RateLimitedError(
                PLATFORM,
                "LinkedIn's daily limit for this account is reached; the post waits until midnight UTC.",
                detail=detail,
                not_before=next_midnight_utc(self.ctx.now()),
            )
        if status >= 500:
            return RetryableError(
                PLATFORM, f"LinkedIn failed while {doing}; nothing was published.", detail=detail
            )
        return PermanentError(PLATFORM, f"LinkedIn refused the post: {said}", detail=detail)
