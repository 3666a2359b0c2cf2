"""YouTube: one video per post, sent with the Data API v3 resumable upload (contract §4).

The flow: refresh the Google token if it is (nearly) expired → open the video on the media
host as a stream, to learn its size → start an upload session (its URL is remembered at once)
→ PUT the file in chunks of `youtube_chunk_bytes` → 201 with the video resource.

Exactly once: a chunk PUT that fails without an answer may still have completed the video, so
the adapter never starts over blindly. It asks the session how many bytes it holds (the resume
query, §0.2) and continues from there, or takes the finished video from the answer. Only a 404
session (expired, so it never made a video) is replaced by a new one. The next attempt of the
same post does the same with the remembered `upload_url` before anything else.

Memory stays bounded by the chunk size: the media is streamed from the host chunk by chunk,
and after a break it is downloaded again and skipped up to the offset the platform holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytz

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
    REEL,
    VIDEO,
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

PLATFORM = "youtube"
MAX_RESUMES = 3  # resume queries per attempt before leaving the rest to the next attempt
REFRESH_MARGIN = timedelta(minutes=5)
TAGS_MAX_CHARS = 500
PACIFIC = pytz.timezone("America/Los_Angeles")  # YouTube quotas reset at midnight Pacific time

_RANGE = re.compile(r"bytes=0-(\d+)")

# errors[].reason values, by class (contract §4.4).
_AUTH_REASONS = {
    "authError": "expired",
    "required": "expired",
    "youtubeSignupRequired": "revoked",
    "forbidden": "revoked",
    "insufficientPermissions": "revoked",
    "authenticatedUserAccountSuspended": "revoked",
    "authenticatedUserAccountClosed": "revoked",
}
_DAILY_LIMIT_REASONS = {"uploadLimitExceeded", "rateLimitExceeded", "userRateLimitExceeded"}


class YouTubeAdapter(Adapter):
    """Uploads a post's video with its title, description and hashtags as tags."""

    platform = PLATFORM
    display_name = "YouTube"
    # needs_title is False because a post without a title uses the first line of its text;
    # check() below applies these limits to the title and description actually sent.
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

    def publish(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> PublishResult:
        """Upload the video (resuming an earlier attempt's session if there is one)."""
        auth = _GoogleAuth(connection, ctx)
        auth.refresh_if_due()
        video = _Upload(job, auth, ctx).run()
        video_id = str(video["id"])  # _Upload accepts only a video resource with an id
        return PublishResult(post_id=video_id, url=f"https://www.youtube.com/watch?v={video_id}")


def video_title(job: PublishJob) -> str:
    """The title sent to YouTube: the post's title, else the first non-blank line of its text."""
    if job.title.strip():
        return job.title.strip()
    return next((line.strip() for line in job.text.splitlines() if line.strip()), "")


def video_tags(hashtags: tuple[str, ...]) -> list[str]:
    """The hashtags as tags, cut where YouTube's 500-character total (commas included) ends."""
    tags: list[str] = []
    used = 0
    for tag in hashtags:
        cost = len(tag) + (1 if tags else 0)
        if used + cost > TAGS_MAX_CHARS:
            break
        tags.append(tag)
        used += cost
    return tags


def next_pacific_midnight(now: datetime) -> datetime:
    """The next midnight in America/Los_Angeles after `now`, in UTC (when YouTube quotas reset)."""
    local = now.astimezone(PACIFIC)
    midnight = PACIFIC.localize(datetime.combine(local.date() + timedelta(days=1), time.min))
    return midnight.astimezone(UTC)


def classify(response: httpx.Response, now: datetime) -> PlatformError:
    """The typed error for a YouTube error reply, by HTTP status and errors[].reason (§4.4).

    Callers deal first with what depends on the call: a 401 worth one token refresh, a 404
    upload session, a 5xx on an upload PUT.
    """
    status = response.status_code
    reason, message = _google_reason(response)
    detail = f"HTTP {status} {reason}".strip()
    shown = platform_text(message or f"HTTP {status}")
    if status == 403 and reason == "quotaExceeded":
        return RateLimitedError(
            PLATFORM,
            "YouTube's daily upload quota for this app is used up; the video is uploaded after it resets.",
            detail=detail,
            not_before=next_pacific_midnight(now),
        )
    if status == 429 or reason in _DAILY_LIMIT_REASONS:
        return RateLimitedError(
            PLATFORM,
            f"YouTube is not accepting more uploads from this channel today: {shown}",
            detail=detail,
            not_before=now + timedelta(hours=24),
        )
    if status == 401 or reason in _AUTH_REASONS:
        return AuthError(
            PLATFORM,
            f"YouTube refused the channel's authorisation; please reconnect YouTube. ({shown})",
            detail=detail,
            connection_status=_AUTH_REASONS.get(reason, "expired"),
        )
    if status >= 500:
        return RetryableError(PLATFORM, f"YouTube had a temporary problem: {shown}", detail=detail)
    return PermanentError(PLATFORM, f"YouTube rejected the video: {shown}", detail=detail)


def _google_reason(response: httpx.Response) -> tuple[str, str]:
    """(errors[0].reason, error.message) of a Google error body; empty strings if it is not one."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return "", response.text[:200]
    if not isinstance(error, dict):
        return "", ""
    items = error.get("errors")
    first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    return str(first.get("reason", "")), str(error.get("message") or first.get("message") or "")


class _GoogleAuth:
    """The connection's access token, refreshed at most once per attempt."""

    def __init__(self, connection: Connection, ctx: AdapterContext) -> None:
        self.connection = connection
        self.ctx = ctx
        self.token = connection.access_token
        self.refreshed = False

    def can_refresh(self) -> bool:
        settings = self.ctx.settings
        return bool(
            self.connection.refresh_token
            and settings.google_client_id
            and settings.google_client_secret
            and not self.refreshed
        )

    def refresh_if_due(self) -> None:
        """Refresh when the token has no known expiry or expires within five minutes."""
        expires = self.connection.token_expires_at
        if self.can_refresh() and (expires is None or expires - self.ctx.now() <= REFRESH_MARGIN):
            self.refresh()

    def refresh(self) -> None:
        """Trade the refresh token for a new access token and have it stored (§5)."""
        settings = self.ctx.settings
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self.connection.refresh_token or "",
            "client_id": settings.google_client_id,
            "client_secret": settings.google_client_secret,
        }
        # A refresh publishes nothing, so its transport failures are safe to retry.
        response = send(
            self.ctx,
            PLATFORM,
            "POST",
            settings.google_oauth_token_url,
            publishes=False,
            what="Google's token endpoint",
            data=form,
        )
        body = _json_object(response)
        error = str(body.get("error", ""))
        detail = f"token endpoint HTTP {response.status_code} {error}".strip()
        if response.status_code == 200 and body.get("access_token"):
            token = str(body["access_token"])
            register_secret(token)
            expires_in = body.get("expires_in")
            self.ctx.save_token(
                self.connection,
                TokenUpdate(
                    access_token=token,
                    # Google rarely sends a new refresh token; the old one stays valid then.
                    refresh_token=str(body.get("refresh_token") or self.connection.refresh_token),
                    expires_at=self.ctx.now() + timedelta(seconds=int(expires_in))
                    if isinstance(expires_in, int | float)
                    else None,
                ),
            )
            self.token = token
            self.refreshed = True
            return
        if error == "invalid_grant":
            raise AuthError(
                PLATFORM,
                "Google says the YouTube authorisation has expired or was revoked; please reconnect YouTube.",
                detail=detail,
                connection_status="revoked",
            )
        if response.status_code == 429:
            raise RateLimitedError(PLATFORM, "Google's token endpoint is throttling requests.", detail=detail)
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

    def header(self) -> dict[str, str]:
        """The Authorization header with the current token (never put in a URL)."""
        return {"Authorization": f"Bearer {self.token}"}

    def with_refresh(self, attempt: Callable[[], httpx.Response]) -> httpx.Response:
        """Make a call; on a 401, refresh the token once and make it again.

        Making it again is safe: a 401 means YouTube refused the request without acting on it.
        `attempt` must read `header()` each time, so the second try carries the new token.
        """
        response = attempt()
        if response.status_code == 401 and self.can_refresh():
            reason, _ = _google_reason(response)
            if reason != "youtubeSignupRequired":  # a new token does not create a channel
                self.refresh()
                response = attempt()
        return response


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@dataclass(frozen=True)
class _SessionState:
    """What YouTube said about an upload session."""

    received: int = 0  # bytes it holds, when the upload is incomplete
    video: dict[str, Any] | None = None  # the video resource, when the upload is complete
    expired: bool = False  # 404: the session is gone, and it never produced a video


class _Interrupted(Exception):  # noqa: N818 (a signal inside this module, not an error class)
    """An upload PUT or resume query failed without telling us the session's state."""

    def __init__(self, sent_last_byte: bool | None, detail: str) -> None:
        super().__init__(detail)
        # True/False: whether the failed PUT may have delivered the last byte; None: a query failed.
        self.sent_last_byte = sent_last_byte
        self.detail = detail


class _Upload:
    """One attempt at getting the post's video onto YouTube."""

    def __init__(self, job: PublishJob, auth: _GoogleAuth, ctx: AdapterContext) -> None:
        self.job = job
        self.auth = auth
        self.ctx = ctx
        self.media = _Media(ctx, job.media_urls[0])
        self.chunk_bytes = ctx.settings.youtube_chunk_bytes

    def run(self) -> dict[str, Any]:
        """The video resource, once YouTube holds every byte."""
        try:
            return self._run()
        finally:
            self.media.close()

    def _run(self) -> dict[str, Any]:
        url = self.job.resume.get("upload_url")
        state = _SessionState()
        if url:
            # An earlier attempt started this session and may even have finished it: ask first.
            remembered_size = self.job.resume.get("upload_size")
            try:
                state = self._query(url, remembered_size)
            except _Interrupted as exc:
                raise RetryableError(
                    PLATFORM,
                    "Could not check the earlier, unfinished upload on YouTube; "
                    "it is checked again next time.",
                    detail=exc.detail,
                ) from None
            if state.video is not None:
                return state.video
            if state.expired:
                url = None
        size = self.media.size()
        if url and size != self.job.resume.get("upload_size"):
            url = None  # the file changed; the incomplete session cannot be finished and makes no video
        if not url:
            url = self._start(size)
            state = _SessionState()
        self.ctx.progress.sending()
        return self._upload(url, size, state)

    def _upload(self, url: str, size: int, state: _SessionState | None) -> dict[str, Any]:
        """Send the file from where YouTube stands until it has it all, resuming after breaks.

        `state` None means "unknown": the resume query finds out before anything is sent.
        """
        breaks = 0
        maybe_complete = False  # the last byte may have arrived though no answer said so
        while True:
            try:
                if state is None:
                    state = self._query(url, size)
                if state.video is not None:
                    return state.video
                if state.expired:
                    url = self._start(size)
                    state = _SessionState()
                state = self._send_from(url, size, state.received)
            except _Interrupted as exc:
                if exc.sent_last_byte is not None:
                    maybe_complete = exc.sent_last_byte
                breaks += 1
                if breaks > MAX_RESUMES:
                    raise _gave_up(maybe_complete, exc.detail) from None
                state = None

    def _start(self, size: int) -> str:
        """Start an upload session and remember its URL before any byte is sent."""
        settings = self.ctx.settings
        metadata = {
            "snippet": {
                "title": video_title(self.job),
                "description": self.job.body,
                "tags": video_tags(self.job.hashtags),
                "categoryId": settings.youtube_category_id,
            },
            "status": {"privacyStatus": settings.youtube_privacy_status, "selfDeclaredMadeForKids": False},
        }
        response = self.auth.with_refresh(
            lambda: send(
                self.ctx,
                PLATFORM,
                "POST",
                f"{settings.youtube_upload_url}/videos?uploadType=resumable&part=snippet,status",
                publishes=False,
                what="YouTube",
                json=metadata,
                headers={
                    **self.auth.header(),
                    "Content-Type": "application/json; charset=UTF-8",
                    "X-Upload-Content-Length": str(size),
                    "X-Upload-Content-Type": self.media.content_type,
                },
            )
        )
        if response.status_code != 200:
            raise classify(response, self.ctx.now())
        location = response.headers.get("Location")
        if not location:
            raise RetryableError(
                PLATFORM,
                "YouTube did not return an upload address; nothing was published.",
                detail="session start without Location",
            )
        url = str(response.url.join(location))
        self.ctx.progress.remember(upload_url=url, upload_size=size)
        return url

    def _send_from(self, url: str, size: int, offset: int) -> _SessionState:
        """PUT the file from `offset` chunk by chunk; the state YouTube reports when it stops.

        It stops when the video is complete, the session is gone, or YouTube holds other than
        what was sent (it may keep only part of a chunk); the caller continues from there.
        """
        start = offset
        with closing(self.media.chunks(offset, self.chunk_bytes)) as chunks:
            for chunk in chunks:
                last = offset + len(chunk) - 1
                state = self._put(url, chunk, f"bytes {offset}-{last}/{size}", is_last=last == size - 1)
                if state.video is not None or state.expired:
                    return state
                if state.received <= start:
                    # Counted as a break, or a server that keeps nothing would be fed forever.
                    raise _Interrupted(False, f"YouTube kept no bytes past {start}")
                if state.received != last + 1:
                    return state
                offset = last + 1
        raise _Interrupted(True, "YouTube holds every byte but did not return the video")

    def _put(self, url: str, chunk: bytes, content_range: str, *, is_last: bool) -> _SessionState:
        def attempt() -> httpx.Response:
            try:
                return send(
                    self.ctx,
                    PLATFORM,
                    "PUT",
                    url,
                    publishes=True,
                    what="YouTube",
                    # Not content=chunk: httpx keeps a request's bytes on it, and a response sits
                    # in a reference cycle with its request until the garbage collector runs, so
                    # every chunk sent would linger. A spent iterator lets the chunk go at once.
                    content=iter([chunk]),
                    headers={
                        **self.auth.header(),
                        "Content-Type": self.media.content_type,
                        "Content-Length": str(len(chunk)),
                        "Content-Range": content_range,
                    },
                )
            except AmbiguousError as exc:
                raise _Interrupted(is_last, f"upload PUT: {exc.detail}") from None
            except RetryableError as exc:  # the request never left
                raise _Interrupted(False, f"upload PUT: {exc.detail}") from None

        response = self.auth.with_refresh(attempt)
        if response.status_code >= 500:
            raise _Interrupted(is_last, f"upload PUT HTTP {response.status_code}")
        return self._state(response)

    def _query(self, url: str, size: object) -> _SessionState:
        """The resume query: PUT with no body, asking how much of the upload YouTube holds."""
        total = size if isinstance(size, int) else "*"

        def attempt() -> httpx.Response:
            try:
                # publishes=False: an empty PUT cannot create a video.
                return send(
                    self.ctx,
                    PLATFORM,
                    "PUT",
                    url,
                    publishes=False,
                    what="YouTube",
                    headers={**self.auth.header(), "Content-Range": f"bytes */{total}"},
                )
            except RetryableError as exc:
                raise _Interrupted(None, f"resume query: {exc.detail}") from None

        response = self.auth.with_refresh(attempt)
        if response.status_code >= 500:
            raise _Interrupted(None, f"resume query HTTP {response.status_code}")
        return self._state(response)

    def _state(self, response: httpx.Response) -> _SessionState:
        """Read a session's state from a PUT's answer; raise the typed error for a refusal."""
        status = response.status_code
        if status in (200, 201):
            video = _json_object(response)
            if not video.get("id"):
                raise _Interrupted(True, f"HTTP {status} without a video id")
            return _SessionState(video=video)
        if status == 308:
            match = _RANGE.fullmatch(response.headers.get("Range", ""))
            # No Range means YouTube holds nothing; starting from 0 is always safe.
            return _SessionState(received=int(match.group(1)) + 1 if match else 0)
        if status == 404:
            return _SessionState(expired=True)
        raise classify(response, self.ctx.now())


def _gave_up(maybe_complete: bool, detail: str) -> PlatformError:
    if maybe_complete:
        return AmbiguousError(
            PLATFORM,
            "The upload to YouTube was interrupted after its last part was sent, and YouTube did not "
            "confirm whether the video was created.",
            detail=detail,
        )
    return RetryableError(
        PLATFORM,
        "The upload to YouTube was interrupted repeatedly; the next attempt continues where it stopped.",
        detail=detail,
    )


class _Media:
    """The post's video on the media host, read as a stream so memory stays bounded."""

    def __init__(self, ctx: AdapterContext, url: str) -> None:
        self.ctx = ctx
        self.url = url
        self.name = url_name(url)
        self.content_type = "video/*"
        self._size: int | None = None
        self._unread: httpx.Response | None = None  # opened by size(), not read yet

    def size(self) -> int:
        """Open the stream and return its Content-Length (the first chunks() reuses the stream)."""
        if self._size is None:
            self._unread, self._size = self._open()
        return self._size

    def chunks(self, offset: int, chunk_bytes: int) -> Generator[bytes, None, None]:
        """The file from `offset` on, in pieces of exactly `chunk_bytes` (the last may be shorter)."""
        response, self._unread = (self._unread or self._open()[0]), None
        try:
            position = 0
            pending = bytearray()
            for block in response.iter_bytes():
                if position < offset:  # skipping what YouTube already holds
                    skip = min(len(block), offset - position)
                    position += skip
                    block = block[skip:]  # noqa: PLW2901 (the rest of this block is still wanted)
                position += len(block)
                pending += block
                while len(pending) >= chunk_bytes:
                    yield bytes(pending[:chunk_bytes])
                    del pending[:chunk_bytes]
            if position != self._size:
                raise RetryableError(
                    PLATFORM,
                    f"The download of the video {self.name} ended early; the upload continues next time.",
                    detail=f"{position} of {self._size} bytes",
                )
            if pending:
                yield bytes(pending)
        except httpx.TransportError as exc:
            raise RetryableError(
                PLATFORM,
                f"The download of the video {self.name} failed; the upload continues next time.",
                detail=type(exc).__name__,
            ) from None
        finally:
            response.close()

    def close(self) -> None:
        if self._unread is not None:
            self._unread.close()
            self._unread = None

    def _open(self) -> tuple[httpx.Response, int]:
        # send() reads whole bodies; a video must be streamed, so this GET maps errors itself.
        # identity: with compression, Content-Length would not be the size of the video.
        request = self.ctx.http.build_request("GET", self.url, headers={"Accept-Encoding": "identity"})
        try:
            response = self.ctx.http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise RetryableError(
                PLATFORM,
                f"Could not download the video {self.name}; nothing was published.",
                detail=type(exc).__name__,
            ) from None
        problem = self._problem(response)
        if problem is not None:
            response.close()
            raise problem
        size = int(response.headers["Content-Length"])
        if self._size is not None and size != self._size:
            response.close()
            raise RetryableError(
                PLATFORM,
                f"The video {self.name} changed during the upload; the next attempt starts it again.",
                detail=f"{size} bytes now, {self._size} before",
            )
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        self.content_type = content_type if content_type.startswith("video/") else "video/*"
        return response, size

    def _problem(self, response: httpx.Response) -> PlatformError | None:
        status = response.status_code
        if status >= 500:
            return RetryableError(
                PLATFORM,
                f"The media host failed to serve the video {self.name} (HTTP {status}).",
                detail=f"media HTTP {status}",
            )
        if status != 200:
            return PermanentError(
                PLATFORM,
                f"The video file {self.name} could not be downloaded (HTTP {status}).",
                detail=f"media HTTP {status}",
            )
        length = response.headers.get("Content-Length", "")
        if not length.isdigit():
            return PermanentError(
                PLATFORM,
                f"The video size could not be determined: {self.name} was served without a Content-Length.",
                detail="media without Content-Length",
            )
        if int(length) == 0:
            return PermanentError(PLATFORM, f"The video file {self.name} is empty.", detail="media 0 bytes")
        return None
