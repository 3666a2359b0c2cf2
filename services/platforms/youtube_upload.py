"""One resumable upload (videos.insert) of a post's video: session, chunks, resume, expiry.

Facts and sources: docs/platforms/youtube.md ("Upload" and "Resume rules").

Exactly once: a chunk PUT that fails without an answer may still have completed the video, so
the upload never starts over blindly. It asks the session how many bytes it holds (the resume
query) and continues from there, or takes the finished video from the answer. Only a session
that answers 404 or 410 (expired, so it never made a video) is replaced by a new one. The next
attempt of the same post does the same with the remembered `upload_url` before anything else.

Memory stays bounded by the chunk size: the media is streamed from its host (through
`services.safe_media.open_media`, the only way media is fetched) chunk by chunk, and after a
break it is downloaded again and skipped up to the offset the platform holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx

from services.errors import AmbiguousError, PermanentError, PlatformError, RetryableError
from services.platforms.base import AdapterContext, PublishJob, json_object, send, url_name
from services.platforms.oauth import OAuthToken
from services.platforms.youtube_errors import PLATFORM, google_reason
from services.safe_media import open_media

MAX_RESUMES = 3  # resume queries per attempt before leaving the rest to the next attempt
EXPIRED_SESSION = (404, 410)  # an upload session YouTube no longer has: it never made a video

_RANGE = re.compile(r"bytes=0-(\d+)")


def bearer(token: OAuthToken) -> dict[str, str]:
    """The Authorization header with the current token (a token never goes into a URL)."""
    return {"Authorization": f"Bearer {token.token}"}


def refresh_cures(response: httpx.Response) -> bool:
    """A 401 that a new token can cure (a missing channel is not cured by any token)."""
    return response.status_code == 401 and google_reason(response)[0] != "youtubeSignupRequired"


@dataclass(frozen=True)
class _SessionState:
    """What YouTube said about an upload session."""

    received: int = 0  # bytes it holds, when the upload is incomplete
    video: dict[str, Any] | None = None  # the video resource, when the upload is complete
    expired: bool = False  # 404 or 410: the session is gone, and it never produced a video


class _Interrupted(Exception):  # noqa: N818 (a signal inside this module, not an error class)
    """An upload PUT or resume query failed without telling us the session's state."""

    def __init__(self, sent_last_byte: bool | None, detail: str) -> None:
        super().__init__(detail)
        # True/False: whether the failed PUT may have delivered the last byte; None: a query failed.
        self.sent_last_byte = sent_last_byte
        self.detail = detail


class Upload:
    """One attempt at getting the post's video onto YouTube."""

    def __init__(
        self,
        job: PublishJob,
        metadata: dict[str, Any],
        token: OAuthToken,
        ctx: AdapterContext,
        classify_reply: Callable[[httpx.Response], PlatformError],
    ) -> None:
        self.job = job
        self.metadata = metadata  # the video resource sent with the session start
        self.token = token
        self.ctx = ctx
        self.classify = classify_reply
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
        response = self.token.authorized(
            lambda: send(
                self.ctx,
                PLATFORM,
                "POST",
                f"{settings.youtube_upload_url}/videos?uploadType=resumable&part=snippet,status",
                publishes=False,
                what="YouTube",
                json=self.metadata,
                headers={
                    **bearer(self.token),
                    "Content-Type": "application/json; charset=UTF-8",
                    "X-Upload-Content-Length": str(size),
                    "X-Upload-Content-Type": self.media.content_type,
                },
            ),
            curable=refresh_cures,
        )
        if response.status_code != 200:
            raise self.classify(response)
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
                        **bearer(self.token),
                        "Content-Type": self.media.content_type,
                        "Content-Length": str(len(chunk)),
                        "Content-Range": content_range,
                    },
                )
            except AmbiguousError as exc:
                raise _Interrupted(is_last, f"upload PUT: {exc.detail}") from None
            except RetryableError as exc:  # the request never left
                raise _Interrupted(False, f"upload PUT: {exc.detail}") from None

        response = self.token.authorized(attempt, curable=refresh_cures)
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
                    headers={**bearer(self.token), "Content-Range": f"bytes */{total}"},
                )
            except RetryableError as exc:
                raise _Interrupted(None, f"resume query: {exc.detail}") from None

        response = self.token.authorized(attempt, curable=refresh_cures)
        if response.status_code >= 500:
            raise _Interrupted(None, f"resume query HTTP {response.status_code}")
        return self._state(response)

    def _state(self, response: httpx.Response) -> _SessionState:
        """Read a session's state from a PUT's answer; raise the typed error for a refusal."""
        status = response.status_code
        if status in (200, 201):
            video = json_object(response)
            if not video.get("id"):
                raise _Interrupted(True, f"HTTP {status} without a video id")
            return _SessionState(video=video)
        if status == 308:
            match = _RANGE.fullmatch(response.headers.get("Range", ""))
            # No Range means YouTube holds nothing; starting from 0 is always safe.
            return _SessionState(received=int(match.group(1)) + 1 if match else 0)
        if status in EXPIRED_SESSION:
            return _SessionState(expired=True)
        raise self.classify(response)


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
        self._unread: tuple[ExitStack, httpx.Response] | None = None  # opened by size(), not read yet

    def size(self) -> int:
        """Open the stream and return its Content-Length (the first chunks() reuses the stream)."""
        if self._size is None:
            self._unread, self._size = self._open()
        return self._size

    def chunks(self, offset: int, chunk_bytes: int) -> Generator[bytes, None, None]:
        """The file from `offset` on, in pieces of exactly `chunk_bytes` (the last may be shorter)."""
        (opened, response), self._unread = (self._unread or self._open()[0]), None
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
            opened.close()

    def close(self) -> None:
        if self._unread is not None:
            self._unread[0].close()
            self._unread = None

    def _open(self) -> tuple[tuple[ExitStack, httpx.Response], int]:
        opened = ExitStack()
        response = opened.enter_context(open_media(self.ctx, self.url, platform=PLATFORM))
        try:
            size = self._checked_size(response)
        except PlatformError:
            opened.close()
            raise
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        self.content_type = content_type if content_type.startswith("video/") else "video/*"
        return (opened, response), size

    def _checked_size(self, response: httpx.Response) -> int:
        """The video's size in bytes, which the resumable upload must declare before sending."""
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            # Content-Length is then the compressed size, not the video's (see the docs file).
            self._no_size("was served compressed", f"media Content-Encoding {encoding}")
        length = response.headers.get("Content-Length", "")
        if not length.isdigit():
            self._no_size("was served without a Content-Length", "media without Content-Length")
        size = int(length)
        if size == 0:
            raise PermanentError(PLATFORM, f"The video file {self.name} is empty.", detail="media 0 bytes")
        if self._size is not None and size != self._size:
            raise RetryableError(
                PLATFORM,
                f"The video {self.name} changed during the upload; the next attempt starts it again.",
                detail=f"{size} bytes now, {self._size} before",
            )
        return size

    def _no_size(self, why: str, detail: str) -> NoReturn:
        raise PermanentError(
            PLATFORM, f"The video size could not be determined: {self.name} {why}.", detail=detail
        )
