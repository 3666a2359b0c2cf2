"""LinkedIn: text posts and posts with one or several images (contract §3, §5, §6).

Flow for one post:
1. for each image: `POST /rest/images?action=initializeUpload` → remember the image urn →
   stream the file from its media URL into `PUT uploadUrl` → poll `GET /rest/images/{urn}`
   until AVAILABLE;
2. `progress.sending()`, then `POST /rest/posts` with the text in LinkedIn's "little text"
   format and `content.media` (one image) or `content.multiImage` (several).

At most once: LinkedIn refuses an identical post from the same author with 422 DUPLICATE_POST
naming the first one's urn (§0.2). So when the publishing call fails ambiguously (5xx, timeout,
dropped connection) the same body is sent once more: 201 means the first never landed,
DUPLICATE_POST means it did and names it. The same rule covers a run that crashed mid-send
(`job.sending_started`). A DUPLICATE_POST on a post we never sent before is a real duplicate
and fails the post.

Resume keys (written with `progress.remember`, read back from `job.resume`):
- `images`: the image urns created so far, in media order;
- `image_urls`: the media URL each of those urns was made from.
An earlier urn is reused only for the same media URL at the same position, and only while
LinkedIn still has it as AVAILABLE or PROCESSING; otherwise the image is uploaded again.

Tokens: on a 401 that a refresh can cure, the token is refreshed once through the OAuth
endpoint, stored with `ctx.save_token`, and the call repeated. Tokens never appear in messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

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
    IMAGE,
    TEXT,
    Adapter,
    AdapterContext,
    Connection,
    Limits,
    PublishJob,
    PublishResult,
    TokenUpdate,
    platform_text,
    send,
    url_name,
)
from services.redaction import register_secret

PLATFORM = "linkedin"
RECONNECT = "Reconnect your LinkedIn account in the app, then reschedule this post."
POST_URL = "https://www.linkedin.com/feed/update/{urn}"

IMAGE_POLLS = 10  # status checks per image before the post waits for a later run
IMAGE_POLL_INTERVAL_S = 2.0
UPLOAD_BLOCK_BYTES = 64 * 1024  # what is in memory at once while an image streams through

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


def post_body(author: str, commentary: str, images: list[str]) -> dict[str, Any]:
    """The `POST /rest/posts` body (contract §3.2, §3.4)."""
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
    if len(images) == 1:
        body["content"] = {"media": {"id": images[0]}}
    elif images:
        body["content"] = {"multiImage": {"images": [{"id": urn} for urn in images]}}
    return body


def duplicate_of(response: httpx.Response) -> str | None:
    """The urn a 422 DUPLICATE_POST names, or None when the response is something else."""
    if response.status_code != 422:
        return None
    data = _json(response)
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


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:  # not JSON, or not UTF-8
        return {}
    return data if isinstance(data, dict) else {}


def _result(urn: str) -> PublishResult:
    return PublishResult(post_id=urn, url=POST_URL.format(urn=urn))


class LinkedInAdapter(Adapter):
    """Publishes text, single-image and multi-image posts to a member or a company page."""

    platform = PLATFORM
    display_name = "LinkedIn"
    limits = Limits(
        kinds=frozenset({TEXT, IMAGE, CAROUSEL}), text_max_chars=3000, images_min=2, images_max=20
    )

    def publish(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> PublishResult:
        """Upload the images, then publish the post (see the module docstring)."""
        return _Publication(job, connection, ctx).run()


class _Publication:
    """One attempt at one post; it holds the access token, which a refresh may replace mid-way."""

    def __init__(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> None:
        self.job = job
        self.connection = connection
        self.ctx = ctx
        self.api = ctx.settings.linkedin_api_url.rstrip("/")
        self.author = author_urn(connection)
        self.token = connection.access_token
        self.refreshed = False

    def run(self) -> PublishResult:
        images = self.prepare_images() if self.job.kind in (IMAGE, CAROUSEL) else []
        return self.create_post(post_body(self.author, little_text(self.job.text), images))

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
        """The first POST may or may not have published: send it again to find out (§0.2).

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

    # ---- images ----------------------------------------------------------------------------
    def prepare_images(self) -> list[str]:
        """The urn of every image, uploaded (or reused from an earlier attempt) and AVAILABLE."""
        urns: list[str] = []
        for media_url, earlier in zip(self.job.media_urls, self.resumed_images(), strict=True):
            status = self.image_status(earlier) if earlier else None
            if earlier and status in ("AVAILABLE", "PROCESSING"):
                urns.append(earlier)
            else:
                urns.append(self.upload(media_url, urns))
                status = None
            if status != "AVAILABLE":
                self.wait_until_available(urns[-1], media_url)
        return urns

    def resumed_images(self) -> list[str | None]:
        """Per media URL, the urn an earlier attempt made from that same URL, if any."""
        urns = list(self.job.resume.get("images") or [])
        urls = list(self.job.resume.get("image_urls") or [])
        found: list[str | None] = []
        for position, media_url in enumerate(self.job.media_urls):
            same = position < min(len(urns), len(urls)) and urls[position] == media_url
            urn = urns[position] if same else None
            found.append(urn if isinstance(urn, str) else None)
        return found

    def upload(self, media_url: str, urns_so_far: list[str]) -> str:
        name = url_name(media_url)
        owner = {"initializeUploadRequest": {"owner": self.author}}
        response = self.rest("POST", "/rest/images?action=initializeUpload", json=owner)
        if response.status_code != 200:
            raise self.failure(response, doing=f"preparing the upload of {name}")
        value = _json(response).get("value")
        upload_url = value.get("uploadUrl") if isinstance(value, dict) else None
        urn = value.get("image") if isinstance(value, dict) else None
        if not isinstance(upload_url, str) or not isinstance(urn, str):
            raise RetryableError(
                PLATFORM, f"LinkedIn did not return an upload address for {name}; nothing was published."
            )
        urns = [*urns_so_far, urn]
        self.ctx.progress.remember(images=urns, image_urls=list(self.job.media_urls[: len(urns)]))
        response = self.authorized(lambda: self.stream_media(media_url, upload_url))
        if response.status_code not in (200, 201):
            raise self.failure(response, doing=f"uploading {name}")
        return urn

    def stream_media(self, media_url: str, upload_url: str) -> httpx.Response:
        """PUT the file at `media_url` to `upload_url` block by block: never whole in memory."""
        name = url_name(media_url)
        try:
            with self.ctx.http.stream("GET", media_url) as media:
                if media.status_code != 200:
                    error = RetryableError if media.status_code >= 500 else PermanentError
                    raise error(
                        PLATFORM,
                        f"The image {name} could not be downloaded from storage (HTTP {media.status_code}).",
                    )
                headers = {
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": media.headers.get("content-type", "application/octet-stream"),
                }
                if "content-length" in media.headers:
                    # With a length httpx sends the body as is rather than chunked, as uploads expect.
                    headers["Content-Length"] = media.headers["content-length"]
                return send(
                    self.ctx,
                    PLATFORM,
                    "PUT",
                    upload_url,
                    publishes=False,
                    what="LinkedIn's image upload",
                    headers=headers,
                    content=media.iter_bytes(UPLOAD_BLOCK_BYTES),
                )
        except httpx.TransportError as exc:  # the media host's only: send() already typed LinkedIn's
            raise RetryableError(
                PLATFORM, f"The image {name} could not be downloaded from storage.", detail=type(exc).__name__
            ) from None

    def image_status(self, urn: str) -> str | None:
        """The image's processing status, or None when LinkedIn no longer knows the urn."""
        response = self.rest("GET", f"/rest/images/{quote(urn, safe='')}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self.failure(response, doing="checking an uploaded image")
        return str(_json(response).get("status", ""))

    def wait_until_available(self, urn: str, media_url: str) -> None:
        name = url_name(media_url)
        for poll in range(IMAGE_POLLS):
            if poll:
                self.ctx.sleep(IMAGE_POLL_INTERVAL_S)
            status = self.image_status(urn)
            if status == "AVAILABLE":
                return
            if status == "PROCESSING_FAILED":
                raise PermanentError(
                    PLATFORM,
                    f"LinkedIn could not process the image {name}; it must be a JPG, PNG or GIF of at "
                    "most 36 million pixels.",
                )
            if status is None:
                raise RetryableError(
                    PLATFORM, f"LinkedIn lost the uploaded image {name}; nothing was published."
                )
        raise RetryableError(
            PLATFORM,
            f"LinkedIn is still processing the image {name}; the post will be tried again.",
            detail=f"{urn} still {status} after {IMAGE_POLLS} checks",
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
            "Authorization": f"Bearer {self.token}",
            "LinkedIn-Version": self.ctx.settings.linkedin_api_version,
            "X-Restli-Protocol-Version": "2.0.0",
            "Content-Type": "application/json",
        }

    def authorized(self, call: Callable[[], httpx.Response]) -> httpx.Response:
        """Make `call`; after a 401 that a refresh can cure, refresh the token and make it again.

        A 401 means LinkedIn did nothing with the request, so repeating even the publishing
        call is safe. `call` must read `self.token` when it runs.
        """
        response = call()
        if response.status_code == 401 and self.can_refresh(response):
            self.refresh()
            response = call()
        return response

    def can_refresh(self, response: httpx.Response) -> bool:
        data = _json(response)
        # A token the member revoked stays revoked: only reconnecting in the app helps.
        revoked = data.get("code") == "REVOKED_ACCESS_TOKEN" or data.get("serviceErrorCode") == 65601
        settings = self.ctx.settings
        return (
            not self.refreshed
            and not revoked
            and bool(self.connection.refresh_token)
            and bool(settings.linkedin_client_id and settings.linkedin_client_secret)
        )

    def refresh(self) -> None:
        """Trade the refresh token for a new access token and store it (contract §5)."""
        self.refreshed = True
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
                "refresh_token": self.connection.refresh_token,
                "client_id": settings.linkedin_client_id,
                "client_secret": settings.linkedin_client_secret,
            },
        )
        data = _json(response)
        token = data.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            raise self.refresh_failure(response, data)
        new_refresh = data.get("refresh_token")
        refresh_token = (
            new_refresh if isinstance(new_refresh, str) and new_refresh else self.connection.refresh_token
        )
        register_secret(token, refresh_token)
        expires_in = data.get("expires_in")
        expires_at = self.ctx.now() + timedelta(seconds=expires_in) if isinstance(expires_in, int) else None
        self.ctx.save_token(
            self.connection,
            TokenUpdate(access_token=token, refresh_token=refresh_token, expires_at=expires_at),
        )
        self.token = token

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
        """The error for a LinkedIn reply that is not a success (contract §3.7)."""
        status = response.status_code
        data = _json(response)
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
            revoked = code == "REVOKED_ACCESS_TOKEN" or service == 65601
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
