"""X (stored by the app as platform `twitter`): text, link, image, multi-image and video posts.

What is sent, and why, is in docs/platforms/x.md. Flow for one post:
1. when an earlier attempt reached the publishing call (`job.sending_started`), look for the
   post among the account's posts since that attempt's sending mark first;
2. images: one `POST /2/media/upload` (multipart) each; a video: `initialize` → `append`
   segments streamed from the media URL → `finalize` → `STATUS` polls until `succeeded`;
   every media id is remembered the moment it exists and reused while it has not expired;
3. `progress.sending()`, then `POST /2/tweets` (201).

At most once: X refuses a second post with the same text (403 "duplicate content"). After an
ambiguous publishing call (5xx, timeout, dropped connection) the account's posts since the
sending mark are searched for the exact text; when it is not there the same post is sent once
more: 201 means the first never landed, the duplicate refusal means it did (and the search is
repeated to name it). A duplicate refusal on a post never sent before is a real duplicate and
fails the post.

Resume key (written with `progress.remember`, read back from `job.resume`): `media`, one entry
per media URL in order: `url`, `id`, `expires_at` (ISO time), `stage` (`uploading`,
`finalized` or `ready`). An entry is reused only for the same URL at the same position, only
when at least finalized and not about to expire.

Tokens: OAuth 2.0 user tokens, refreshed once on a 401 through `services.platforms.oauth`. X
rotates refresh tokens, so the exchange returns the new pair and the vault stores it before the
new access token is used.
"""

from __future__ import annotations

import base64
import html
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.errors import (
    AmbiguousError,
    AuthError,
    LimitError,
    PermanentError,
    PlatformConfigError,
    PlatformError,
    RateLimitedError,
    RetryableError,
)
from services.platforms.base import (
    CAROUSEL,
    IMAGE,
    LINK,
    MEDIA_IMAGE,
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
    check_limits,
    json_object,
    platform_text,
    send,
    url_name,
)
from services.platforms.oauth import OAuthToken
from services.platforms.x_text import MAX_WEIGHTED_LENGTH, url_spans, weighted_length, with_link
from services.redaction import register_secret
from services.safe_media import open_media

PLATFORM = "twitter"
RECONNECT = "Reconnect your X account in the app, then reschedule this post."
IMAGE_MAX_BYTES = 5 * 1024 * 1024
VIDEO_MAX_BYTES = 512 * 1024 * 1024
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
MEDIA_POLLS = 10  # STATUS checks per run before a processing video waits for a later run
MEDIA_POLL_MAX_WAIT_S = 10.0  # X's check_after_secs, capped so one post cannot hold a lane
MEDIA_EXPIRY_MARGIN = timedelta(minutes=10)  # a media id this close to expiring is uploaded again
TIMELINE_PAGES = 5  # 5 × 100 posts since the sending mark: far more than one account posts
READ_BLOCK_BYTES = 64 * 1024
DUPLICATE_TEXT = "duplicate content"


def post_url(post_id: str, username: str | None) -> str:
    """The public address of a post."""
    return (
        f"https://x.com/{username}/status/{post_id}" if username else f"https://x.com/i/web/status/{post_id}"
    )


def comparable(text: str) -> str:
    """A post's text reduced to what survives X's rewriting: URLs dropped, entities and spaces folded.

    X shows a post back with every URL replaced by a t.co link, `&`, `<`, `>` HTML-escaped and,
    for media posts, a t.co link to the media appended, so the exact text is compared without
    its URLs.
    """
    text = unicodedata.normalize("NFC", html.unescape(text))
    for start, end in reversed(url_spans(text)):
        text = text[:start] + " " + text[end:]
    return " ".join(text.split())


def is_duplicate(response: httpx.Response) -> bool:
    """Whether X refused a post because the account already has one with the same text."""
    if response.status_code != 403:
        return False
    data = json_object(response)
    said = " ".join(str(data.get(key, "")) for key in ("detail", "title"))
    errors = data.get("errors")
    if isinstance(errors, list):
        said += " ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
    return DUPLICATE_TEXT in said.lower()


def rate_limit_reset(response: httpx.Response) -> datetime | None:
    """When X says the exhausted limit resets: the per-window reset, or a daily one that is used up."""
    resets: list[int] = []
    headers = response.headers
    for prefix in ("x-user-limit-24hour", "x-app-limit-24hour"):
        if headers.get(f"{prefix}-remaining") == "0" and headers.get(f"{prefix}-reset", "").isdigit():
            resets.append(int(headers[f"{prefix}-reset"]))
    if not resets and headers.get("x-rate-limit-reset", "").isdigit():
        resets.append(int(headers["x-rate-limit-reset"]))
    return datetime.fromtimestamp(max(resets), UTC) if resets else None


def _data(response: httpx.Response) -> dict[str, Any]:
    data = json_object(response).get("data")
    return data if isinstance(data, dict) else {}


class XAdapter(Adapter):
    """Publishes text, link, image (1–4) and video posts to the connected X account."""

    platform = PLATFORM
    display_name = "X"
    limits = Limits(
        kinds=frozenset({TEXT, LINK, IMAGE, CAROUSEL, VIDEO, REEL}),
        images_min=2,
        images_max=4,
        # "" lets through storage URLs without an extension; the file's type is checked on download.
        image_extensions=(".jpg", ".jpeg", ".png", ".webp", ""),
        image_format_name="JPEG, PNG or WebP",
    )
    max_weighted_length = MAX_WEIGHTED_LENGTH

    def as_sent(self, job: PublishJob) -> PublishJob:
        """A link post carries its link in the text (X shows a preview card for it)."""
        if job.kind == LINK:
            return replace(job, text=with_link(job.text, job.link))
        return job

    def check(self, job: PublishJob) -> None:
        """Raise LimitError naming every limit the job as sent breaks; no network call."""
        sent = self.as_sent(job)
        problems = check_limits(self.display_name, self.limits, sent)
        if problems and sent.kind not in self.limits.kinds:
            raise LimitError(self.platform, " ".join(problems))
        length = weighted_length(sent.text)
        if length > self.max_weighted_length:
            problems.append(
                f"X posts are limited to {self.max_weighted_length} characters as X counts them (a link "
                "counts 23, an emoji or a Chinese, Japanese or Korean character 2); "
                f"this one counts {length}."
            )
        if sent.kind in (IMAGE, CAROUSEL) and any(
            sent.media_kind(i) != MEDIA_IMAGE for i in range(len(sent.media_urls))
        ):
            problems.append("X posts carry up to 4 images or one video, not a mix of both.")
        if sent.kind in (VIDEO, REEL) and len(sent.media_urls) > 1:
            problems.append(f"X posts carry only one video; this one has {len(sent.media_urls)} files.")
        if problems:
            raise LimitError(self.platform, " ".join(problems))

    def publish(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> PublishResult:
        """Reconcile, upload the media, then publish the post (see the module docstring)."""
        return _Publication(self.as_sent(job), connection, ctx).run()


class _Publication:
    """One attempt at one post; its token may be refreshed (and rotated) mid-way."""

    def __init__(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> None:
        self.job = job
        self.ctx = ctx
        self.api = ctx.settings.x_api_url.rstrip("/")
        self.token = OAuthToken(connection, ctx, exchange=self.exchange, refreshable=self.refreshable)
        self.media: list[dict[str, Any]] = []  # the resume entries of this attempt, in media order
        self._account: tuple[str, str | None] | None = None

    def run(self) -> PublishResult:
        if self.job.sending_started:
            found = self.find_own(self.job.sending_at)
            if found is not None:
                return found
        media_ids = self.prepare_media()
        return self.create(media_ids)

    # ---- the publishing call ---------------------------------------------------------------
    def create(self, media_ids: list[str]) -> PublishResult:
        body: dict[str, Any] = {"text": self.job.text}
        if media_ids:
            body["media"] = {"media_ids": media_ids}
        mark = self.ctx.now()
        self.ctx.progress.sending()
        try:
            response = self.send_post(body)
        except AmbiguousError as exc:
            return self.settle(body, mark, first_failure=exc.detail)
        if response.status_code >= 500:
            return self.settle(body, mark, first_failure=f"HTTP {response.status_code}")
        if response.status_code in (200, 201):
            return self.published(response)
        if is_duplicate(response):
            if not self.job.sending_started:
                raise PermanentError(
                    PLATFORM,
                    "X refused the post because this account already has a post with exactly this text.",
                    detail="HTTP 403 duplicate content on a first send",
                )
            found = self.find_own(self.job.sending_at)
            if found is not None:
                return found
            raise self.ambiguous(
                "an earlier attempt's send, then a duplicate refusal; not found on the account"
            )
        raise self.failure(response, doing="publishing the post")

    def send_post(self, body: dict[str, Any]) -> httpx.Response:
        return self.call("POST", "/2/tweets", publishes=True, json=body)

    def settle(self, body: dict[str, Any], mark: datetime, *, first_failure: str) -> PublishResult:
        """The first send may or may not have published: look for it, else send again to find out.

        Sending again is safe because X refuses the same text twice: 201 means the first never
        landed, the duplicate refusal means it did.
        """
        found = self.find_own(mark)
        if found is not None:
            return found
        try:
            response = self.send_post(body)
        except PlatformError as exc:
            raise self.ambiguous(f"{first_failure}, then {exc.detail or exc.kind}") from None
        if response.status_code in (200, 201):
            return self.published(response)
        if is_duplicate(response):
            found = self.find_own(mark)
            if found is not None:
                return found
            raise self.ambiguous(f"{first_failure}, then a duplicate refusal; not found on the account yet")
        raise self.ambiguous(f"{first_failure}, then HTTP {response.status_code}")

    def published(self, response: httpx.Response) -> PublishResult:
        post_id = _data(response).get("id")
        if not isinstance(post_id, str) or not post_id:
            raise AmbiguousError(
                PLATFORM,
                "X accepted the post but did not say which post it created.",
                detail=f"HTTP {response.status_code} without data.id",
            )
        return self.result(post_id)

    def result(self, post_id: str) -> PublishResult:
        """The published post; a failure to learn the username only costs the nicer URL."""
        try:
            _, username = self.account()
        except PlatformError:
            username = None
        return PublishResult(post_id=post_id, url=post_url(post_id, username))

    def ambiguous(self, detail: str) -> AmbiguousError:
        return AmbiguousError(
            PLATFORM,
            "X failed while publishing and could not confirm afterwards whether the post went out, so "
            "it may or may not have been published.",
            detail=detail,
        )

    # ---- reconciliation --------------------------------------------------------------------
    def account(self) -> tuple[str, str | None]:
        """(user id, username) of the connected account: from the connection, else GET /2/users/me."""
        if self._account is None:
            connection = self.token.connection
            user_id = connection.page_id if connection.page_id and connection.page_id.isdigit() else None
            username = connection.page_username or None
            if user_id is None or username is None:
                response = self.call("GET", "/2/users/me")
                if response.status_code != 200:
                    raise self.failure(response, doing="reading the account")
                me = _data(response)
                user_id = user_id or str(me.get("id") or "") or None
                username = username or str(me.get("username") or "") or None
            if user_id is None:
                raise RetryableError(PLATFORM, "X did not say which account this is; nothing was published.")
            self._account = (user_id, username)
        return self._account

    def find_own(self, since: datetime | None) -> PublishResult | None:
        """Our post among the account's posts created since `since` (None: the latest ones), if there.

        A failure to ask leaves the question open: it is ambiguous, not "nothing was published",
        except for rate limits, auth and configuration, which say when or how to ask again.
        """
        try:
            return self._search_timeline(since)
        except (RateLimitedError, AuthError, PlatformConfigError, AmbiguousError):
            raise
        except PlatformError as exc:
            raise AmbiguousError(
                PLATFORM,
                "X could not be asked whether an earlier attempt published this post; it will be checked "
                "again before anything is sent.",
                detail=f"reconciling: {exc.detail or exc.message}",
            ) from None

    def _search_timeline(self, since: datetime | None) -> PublishResult | None:
        user_id, _ = self.account()
        wanted = comparable(self.job.text)
        params: dict[str, str] = {"max_results": "100", "tweet.fields": "created_at"}
        if since is not None:
            # Second granularity, inclusive: truncating keeps a post from the same second.
            params["start_time"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for _ in range(TIMELINE_PAGES):
            response = self.call("GET", f"/2/users/{user_id}/tweets", params=params)
            if response.status_code != 200:
                raise self.failure(response, doing="looking for the post on the account")
            data = json_object(response)
            posts = data.get("data")
            for post in posts if isinstance(posts, list) else []:
                if isinstance(post, dict) and comparable(str(post.get("text", ""))) == wanted:
                    return self.result(str(post["id"]))
            meta = data.get("meta")
            next_token = meta.get("next_token") if isinstance(meta, dict) else None
            if not isinstance(next_token, str) or not next_token:
                return None
            params["pagination_token"] = next_token
        return None

    # ---- media -----------------------------------------------------------------------------
    def prepare_media(self) -> list[str]:
        """The media id of every image or the video, uploaded (or reused) and ready to attach."""
        if self.job.kind in (IMAGE, CAROUSEL):
            return [self.image(position, url) for position, url in enumerate(self.job.media_urls)]
        if self.job.kind in (VIDEO, REEL):
            return [self.video(self.job.media_urls[0])]
        return []

    def resumed(self, position: int, url: str) -> dict[str, Any] | None:
        """The earlier attempt's entry for this URL at this position, when still worth reusing."""
        entries = self.job.resume.get("media")
        entry = entries[position] if isinstance(entries, list) and position < len(entries) else None
        if not isinstance(entry, dict) or entry.get("url") != url or not isinstance(entry.get("id"), str):
            return None
        if entry.get("stage") not in ("finalized", "ready"):
            return None  # an unfinished chunked upload cannot be resumed: which segments landed is unknown
        try:
            expires = datetime.fromisoformat(str(entry.get("expires_at")))
        except ValueError:
            return None
        if expires.tzinfo is None or expires - MEDIA_EXPIRY_MARGIN <= self.ctx.now():
            return None
        return entry

    def note(self, position: int, **entry: Any) -> None:
        """Remember this media entry at once (the list so far, as the resume key)."""
        if position < len(self.media):
            updated = {**self.media[position], **entry}
            if updated == self.media[position]:
                return  # nothing new: spare the database a write
            self.media[position] = updated
        else:
            self.media.append(entry)
        self.ctx.progress.remember(media=[dict(e) for e in self.media])

    def expires_at(self, data: dict[str, Any]) -> str:
        seconds = data.get("expires_after_secs")
        seconds = seconds if isinstance(seconds, int) and seconds > 0 else 86400
        return (self.ctx.now() + timedelta(seconds=seconds)).isoformat()

    def image(self, position: int, url: str) -> str:
        earlier = self.resumed(position, url)
        if earlier is not None:
            self.note(position, **earlier)
            return str(earlier["id"])
        name = url_name(url)
        content, media_type = self.download_image(url)
        files = {"media": (name, content, media_type)}
        form = {"media_category": "tweet_image", "media_type": media_type}
        response = self.call("POST", "/2/media/upload", files=files, data=form)
        if response.status_code not in (200, 201):
            raise self.failure(response, doing=f"uploading the image {name}")
        data = _data(response)
        media_id = data.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise RetryableError(
                PLATFORM, f"X did not return an id for the image {name}; nothing was published."
            )
        info = data.get("processing_info")
        info = info if isinstance(info, dict) else None
        ready = info is None or info.get("state") == "succeeded"
        stage = "ready" if ready else "finalized"
        self.note(position, url=url, id=media_id, expires_at=self.expires_at(data), stage=stage)
        self.wait_ready(position, media_id, info, name)
        return media_id

    def download_image(self, url: str) -> tuple[bytes, str]:
        """The image's bytes (at most X's 5 MB: bounded memory) and its type."""
        name = url_name(url)
        with open_media(self.ctx, url, platform=PLATFORM) as media:
            declared = media.headers.get("content-type", "").split(";")[0].strip().lower()
            content = bytearray()
            for block in media.iter_bytes(READ_BLOCK_BYTES):
                content += block
                if len(content) > IMAGE_MAX_BYTES:
                    raise PermanentError(PLATFORM, f"The image {name} is larger than X's limit of 5 MB.")
        if declared and declared not in IMAGE_TYPES:
            raise PermanentError(
                PLATFORM, f"X accepts only JPEG, PNG or WebP images here; {name} is {declared}."
            )
        return bytes(content), declared or _image_type(url)

    def video(self, url: str) -> str:
        name = url_name(url)
        earlier = self.resumed(0, url)
        if earlier is not None:
            exists, info = self.media_status(str(earlier["id"]))
            state = info.get("state") if info else "succeeded"
            if exists and state != "failed":
                self.note(0, **earlier)
                self.wait_ready(0, str(earlier["id"]), info, name)
                return str(earlier["id"])
        media_id, info = self.upload_video(url)
        self.wait_ready(0, media_id, info, name)
        return media_id

    def upload_video(self, url: str) -> tuple[str, dict[str, Any] | None]:
        """initialize → append segments streamed from `url` → finalize; the finalize processing_info."""
        name = url_name(url)
        segment_bytes = self.ctx.settings.x_segment_bytes
        with open_media(self.ctx, url, platform=PLATFORM) as media:
            length = media.headers.get("content-length", "")
            if not length.isdigit():
                raise PermanentError(
                    PLATFORM,
                    f"The server holding the video {name} does not say how large it is, which X needs "
                    "before the upload.",
                )
            total = int(length)
            if total > VIDEO_MAX_BYTES:
                raise PermanentError(PLATFORM, f"The video {name} is larger than X's limit of 512 MB.")
            declared = media.headers.get("content-type", "").split(";")[0].strip().lower()
            media_type = declared if declared.startswith("video/") else "video/mp4"
            init = {"media_type": media_type, "total_bytes": total, "media_category": "tweet_video"}
            response = self.call("POST", "/2/media/upload/initialize", json=init)
            if response.status_code not in (200, 201, 202):
                raise self.failure(response, doing=f"preparing the upload of the video {name}")
            data = _data(response)
            media_id = data.get("id")
            if not isinstance(media_id, str) or not media_id:
                raise RetryableError(
                    PLATFORM, f"X did not return an upload id for the video {name}; nothing was published."
                )
            self.note(0, url=url, id=media_id, expires_at=self.expires_at(data), stage="uploading")
            sent, index, pending = 0, 0, bytearray()
            for block in media.iter_bytes(READ_BLOCK_BYTES):
                pending += block
                while len(pending) >= segment_bytes:
                    self.append(media_id, index, bytes(pending[:segment_bytes]), name)
                    sent, index = sent + segment_bytes, index + 1
                    del pending[:segment_bytes]
            if pending:
                self.append(media_id, index, bytes(pending), name)
                sent += len(pending)
        if sent != total:
            raise RetryableError(
                PLATFORM,
                f"The video {name} could not be downloaded completely; nothing was published.",
                detail=f"{sent} of {total} bytes",
            )
        response = self.call("POST", f"/2/media/upload/{media_id}/finalize")
        if response.status_code not in (200, 201, 202):
            raise self.failure(response, doing=f"finishing the upload of the video {name}")
        self.note(0, stage="finalized")
        info = _data(response).get("processing_info")
        return media_id, info if isinstance(info, dict) else None

    def append(self, media_id: str, index: int, segment: bytes, name: str) -> None:
        files = {"media": ("segment", segment, "application/octet-stream")}
        response = self.call(
            "POST", f"/2/media/upload/{media_id}/append", files=files, data={"segment_index": str(index)}
        )
        if not 200 <= response.status_code < 300:
            raise self.failure(response, doing=f"uploading the video {name}")

    def media_status(self, media_id: str) -> tuple[bool, dict[str, Any] | None]:
        """(whether X still has the media, its processing_info or None when there is none)."""
        response = self.call("GET", "/2/media/upload", params={"command": "STATUS", "media_id": media_id})
        if response.status_code in (400, 404):
            return False, None
        if response.status_code != 200:
            raise self.failure(response, doing="checking an uploaded video")
        info = _data(response).get("processing_info")
        return True, info if isinstance(info, dict) else None

    def wait_ready(self, position: int, media_id: str, info: dict[str, Any] | None, name: str) -> None:
        """Poll STATUS until X has processed the media; a run's polls end with a wait, not a failure."""
        for _ in range(MEDIA_POLLS):
            state = info.get("state") if info else "succeeded"
            if state == "succeeded":
                self.note(position, stage="ready")
                return
            if state == "failed":
                error = info.get("error") if info else None
                said = platform_text(error.get("message", "")) if isinstance(error, dict) else ""
                raise PermanentError(
                    PLATFORM, f"X could not process {name}{': ' + said if said else ''}.", detail=str(error)
                )
            wait = info.get("check_after_secs") if info else None
            self.ctx.sleep(min(float(wait) if isinstance(wait, int | float) else 1.0, MEDIA_POLL_MAX_WAIT_S))
            exists, info = self.media_status(media_id)
            if not exists:
                raise RetryableError(PLATFORM, f"X lost the uploaded file {name}; nothing was published.")
        raise RetryableError(
            PLATFORM,
            f"X is still processing {name}; the post will be tried again.",
            detail=f"media {media_id} still {info.get('state') if info else '?'} after {MEDIA_POLLS} checks",
            counts_as_attempt=False,
        )

    # ---- HTTP and tokens -------------------------------------------------------------------
    def call(self, method: str, path: str, *, publishes: bool = False, **kwargs: Any) -> httpx.Response:
        """A call to X's API with the user's token and the refresh-once rule."""
        return self.token.authorized(
            lambda: send(
                self.ctx,
                PLATFORM,
                method,
                self.api + path,
                publishes=publishes,
                what="X",
                headers={"Authorization": f"Bearer {self.token.token}"},
                **kwargs,
            )
        )

    def refreshable(self, connection: Connection) -> bool:
        return bool(connection.refresh_token) and bool(self.ctx.settings.x_client_id)

    def exchange(self, connection: Connection) -> TokenUpdate:
        """Trade the refresh token for a new pair; X spends the old refresh token in doing so."""
        settings = self.ctx.settings
        form = {"grant_type": "refresh_token", "refresh_token": connection.refresh_token or ""}
        headers: dict[str, str] = {}
        if settings.x_client_secret:  # a confidential client authenticates with Basic
            pair = f"{settings.x_client_id}:{settings.x_client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:  # a public client names itself in the form
            form["client_id"] = settings.x_client_id
        response = send(
            self.ctx,
            PLATFORM,
            "POST",
            settings.x_oauth_token_url,
            publishes=False,
            what="X's sign-in service",
            data=form,
            headers=headers,
        )
        data = json_object(response)
        access_token, refresh_token = data.get("access_token"), data.get("refresh_token")
        if response.status_code != 200 or not isinstance(access_token, str) or not access_token:
            raise self.refresh_failure(response, data)
        new_refresh = refresh_token if isinstance(refresh_token, str) and refresh_token else None
        register_secret(access_token, new_refresh)
        expires_in = data.get("expires_in")
        expires_at = self.ctx.now() + timedelta(seconds=expires_in) if isinstance(expires_in, int) else None
        return TokenUpdate(access_token=access_token, refresh_token=new_refresh, expires_at=expires_at)

    def refresh_failure(self, response: httpx.Response, data: dict[str, Any]) -> PlatformError:
        status = response.status_code
        error = str(data.get("error") or "")
        said = platform_text(data.get("error_description") or error or response.reason_phrase)
        detail = f"token refresh: HTTP {status} {error}: {said}"
        if status == 429:
            return RateLimitedError(
                PLATFORM,
                "X's sign-in service is busy; the post waits.",
                detail=detail,
                not_before=rate_limit_reset(response),
            )
        if status == 400 and error in ("invalid_request", "invalid_grant"):
            # The refresh token is spent or revoked; the vault re-reads the row before believing it.
            return AuthError(PLATFORM, RECONNECT, detail=detail)
        if status == 401 or error in ("unauthorized_client", "invalid_client"):
            return PlatformConfigError(
                PLATFORM,
                f"X refused our app's credentials while refreshing a token ({said}); check X_CLIENT_ID "
                "and X_CLIENT_SECRET.",
                detail=detail,
            )
        return RetryableError(PLATFORM, "X's sign-in service failed; nothing was published.", detail=detail)

    # ---- errors ----------------------------------------------------------------------------
    def failure(self, response: httpx.Response, *, doing: str) -> PlatformError:
        """The error for an X reply that is not a success (docs/platforms/x.md, "Error classes")."""
        status = response.status_code
        data = json_object(response)
        kind = str(data.get("type") or "")
        errors = data.get("errors")
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        said = platform_text(
            first.get("message")
            or data.get("detail")
            or data.get("title")
            or response.text
            or response.reason_phrase
        )
        detail = " ".join(part for part in (f"HTTP {status}", kind, f"while {doing}: {said}") if part)
        if status == 401:
            return AuthError(PLATFORM, RECONNECT, detail=detail)
        # The plan's cap or credits (observed as 429 usage-capped, also 402 and 403): no post of
        # the platform can go out until the operator acts, so it is configuration, not a wait.
        if status == 402 or "usage-capped" in kind or (status == 403 and "client-forbidden" in kind):
            return PlatformConfigError(
                PLATFORM,
                f"X refused the request because of the X app's plan or usage cap ({said}); check the "
                "app's plan and credits in the X developer console.",
                detail=detail,
            )
        if status == 429:
            return RateLimitedError(
                PLATFORM,
                "X's limit for this account or app is reached; the post waits until it resets.",
                detail=detail,
                not_before=rate_limit_reset(response),
            )
        if status == 403 and "unsupported-authentication" in kind:
            return AuthError(PLATFORM, RECONNECT, detail=detail, connection_status="revoked")
        if status >= 500:
            return RetryableError(PLATFORM, f"X failed while {doing}; nothing was published.", detail=detail)
        if "too long" in said.lower():
            return PermanentError(PLATFORM, f"X says the text is too long: {said}", detail=detail)
        return PermanentError(PLATFORM, f"X refused the post while {doing}: {said}", detail=detail)


def _image_type(url: str) -> str:
    name = url_name(url).lower()
    if name.endswith(".png"):
        return "image/png"
    if name.endswith(".webp"):
        return "image/webp"
    return "image/jpeg"
