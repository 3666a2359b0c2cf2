"""Local stand-ins for YouTube's resumable upload (videos.insert), thumbnails.set and Google's
OAuth token endpoint, as described in docs/platforms/youtube.md.

Two simulators, because they are two hosts in production (www.googleapis.com/upload and
oauth2.googleapis.com) and the client configures their URLs separately:

`YouTubeSimulator` (serve it and set `youtube_upload_url` to `<url>/upload/youtube/v3`), steps:

- "session": POST /upload/youtube/v3/videos?uploadType=resumable&part=snippet,status → 200,
  empty body, `Location` = the same URL plus `&upload_id=…`, pointing back here;
- "upload": PUT {Location} carrying bytes with `Content-Range: bytes a-b/N` → 308 with
  `Range: bytes=0-M` while bytes are missing, 201 with the video resource when the last one arrives;
- "resume_query": PUT {Location}, empty body, `Content-Range: bytes */N` → 308 (with `Range`
  only once some bytes arrived), or 200 with the video when the upload is complete.

- "thumbnail": POST /upload/youtube/v3/thumbnails/set?videoId=…&uploadType=media with a JPEG or
  PNG body of at most 2 MB → 200 thumbnailSetResponse; only for videos this simulator created
  (404 videoNotFound otherwise), 403 forbidden while `channel_verified` is False.

An unknown `upload_id` answers 404; `expire()` makes sessions answer 404 or 410. Access tokens:
any bearer token works except `expired-…` (401 authError) and `ratelimited-…` (403
quotaExceeded); no token is 401 `required`. Quotas are plain attributes a test may lower:
`insert_quota` (videos.insert calls left today, 403 quotaExceeded), `channel_upload_limit`
(videos the channel may create, 400 uploadLimitExceeded), `uploads_per_day` (the hidden daily
cap, 429 rateLimitExceeded); `throttle()` makes the next session starts short-term throttles
(429 rateLimitExceeded with `Retry-After`, or 403 userRateLimitExceeded). `unverified_project`
locks every new video to private, as YouTube does for unaudited API projects.
`keep_per_put` makes every PUT persist only its first N bytes, as Google may when a chunk is
cut short; the 308 `Range` then tells the client where to continue.

Received bytes are hashed as they arrive and then dropped, also from `requests`, so that a
multi-MiB video never piles up in memory (chunk sizes stay in `headers["content-length"]`).
Each created video is recorded in `created` with its id, title, size, sha256, tags, category,
made-for-kids flag and privacy; each thumbnail set in `thumbnails` by video id (sha256 of the
image, its type and size).

`GoogleOAuthSimulator` (set `google_oauth_token_url` to `<url>/token`), step "token":
POST /token with `grant_type=refresh_token` answers a fresh `ya29.…` access token, like Google
without a new refresh token. Refresh token `revoked-…` or `expired-…` → 400 invalid_grant;
a client id or secret other than the configured ones → 401 invalid_client.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devstack.simulators.base import Reply, Request, Simulator, bearer_token

UPLOAD_PATH = "/upload/youtube/v3/videos"
THUMBNAIL_PATH = "/upload/youtube/v3/thumbnails/set"
THUMBNAIL_MAX_BYTES = 2 * 1024 * 1024
THUMBNAIL_TYPES = ("image/jpeg", "image/png", "application/octet-stream")
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
TAGS_MAX_CHARS = 500
CHUNK_UNIT = 256 * 1024  # chunks other than the last must be multiples of this
UPLOAD_SCOPE = "https://www.googleapis.com/auth/youtube.upload"

# Categories YouTube lets uploads use (videoCategories.list, region US, assignable=true).
ASSIGNABLE_CATEGORIES = frozenset(
    {"1", "2", "10", "15", "17", "19", "20", "22", "23", "24", "25", "26", "27", "28", "29"}
)
PRIVACY_STATUSES = ("public", "unlisted", "private")

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    410: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_CHUNK_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_QUERY_RANGE = re.compile(r"bytes \*/(\d+|\*)")


def google_error(
    code: int, reason: str, message: str, *, domain: str = "global", location: str | None = None
) -> dict[str, Any]:
    """The standard Google error body, `status` included as newer replies do."""
    item: dict[str, Any] = {"message": message, "domain": domain, "reason": reason}
    if location is not None:
        item["location"] = location
        item["locationType"] = "header" if location == "Authorization" else "parameter"
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [item],
            "status": _STATUS_NAMES.get(code, "UNKNOWN"),
        }
    }


def _error(code: int, reason: str, message: str, **kwargs: Any) -> Reply:
    return Reply(code, google_error(code, reason, message, **kwargs))


def _bad_request(message: str) -> Reply:
    return _error(400, "badRequest", message)


def _not_found() -> Reply:
    return _error(404, "notFound", "Not Found")


_AUTH_ERROR = (401, "authError", "Invalid Credentials")
_QUOTA_EXCEEDED = (
    403,
    "quotaExceeded",
    "The request cannot be completed because you have exceeded your quota.",
)


@dataclass
class UploadSession:
    """One resumable upload: the metadata it was started with and the bytes received so far."""

    id: str
    metadata: dict[str, Any]
    total: int | None  # X-Upload-Content-Length, or learnt from the last chunk
    content_type: str
    received: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    video: dict[str, Any] | None = None  # set once the last byte arrived


class YouTubeSimulator(Simulator):
    """YouTube Data API v3 resumable uploads; see the module docstring for steps and tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: dict[str, UploadSession] = {}
        self.insert_quota = 100  # today's videos.insert bucket
        self.channel_upload_limit: int | None = None
        self.uploads_per_day: int | None = None
        self.keep_per_put: int | None = None  # keep only this many bytes of each PUT, as Google may
        self.unverified_project = False  # every new video private, whatever was asked
        self.channel_verified = True  # False: thumbnails.set answers 403 forbidden
        self.thumbnails: dict[str, dict[str, Any]] = {}  # video id → the image last set
        self._gone: dict[str, int] = {}  # expired upload ids → the status they answer
        self._throttles: list[tuple[str, int | None]] = []  # (reason, Retry-After) per next start
        self._byte_faults: list[tuple[str, int, float]] = []

    # ---- test controls -------------------------------------------------------------------
    def inject_at_byte(self, fault: str, offset: int, *, delay: float = 2.0) -> None:
        """Make the first upload PUT whose range starts at or after `offset` fail with `fault`.

        `inject(step="upload")` always hits the next chunk; this reaches one in the middle.
        """
        with self.lock:
            self._byte_faults.append((fault, offset, delay))

    def expire(self, upload_id: str | None = None, *, status: int = 404) -> None:
        """End one upload session (every session if None) as if it had timed out.

        Its URL then answers `status`: 404 as the upload guide documents, or 410 Gone.
        """
        if status not in (404, 410):
            raise ValueError("an expired session answers 404 or 410")
        with self.lock:
            ids = list(self.sessions) if upload_id is None else [upload_id]
            for gone in ids:
                self.sessions.pop(gone, None)
                self._gone[gone] = status

    def throttle(
        self, *, times: int = 1, retry_after: int | None = 120, reason: str = "rateLimitExceeded"
    ) -> None:
        """Make the next `times` session starts short-term throttles.

        `rateLimitExceeded` answers 429 (with `Retry-After: <seconds>` unless None);
        `userRateLimitExceeded` answers 403 in domain usageLimits.
        """
        if reason not in ("rateLimitExceeded", "userRateLimitExceeded"):
            raise ValueError(f"not a short-term throttle: {reason}")
        with self.lock:
            self._throttles.extend([(reason, retry_after)] * times)

    # ---- Simulator -----------------------------------------------------------------------
    def step_of(self, request: Request) -> str:
        """Name the request's step: session, upload, resume_query or thumbnail."""
        if request.method == "POST":
            return "thumbnail" if request.path == THUMBNAIL_PATH else "session"
        if request.method == "PUT":
            is_query = not request.body and request.headers.get("content-range", "").startswith("bytes */")
            return "resume_query" if is_query else "upload"
        return "other"

    def dispatch(self, request: Request) -> Reply:
        """Arm a byte-offset fault when its chunk arrives, then dispatch as usual."""
        if self._byte_faults and self.step_of(request) == "upload":
            match = _CHUNK_RANGE.fullmatch(request.headers.get("content-range", ""))
            start = int(match.group(1)) if match else 0
            with self.lock:
                for armed in self._byte_faults:
                    fault, offset, delay = armed
                    if start >= offset:
                        self._byte_faults.remove(armed)
                        self.inject(fault, step="upload", delay=delay)
                        break
        return super().dispatch(request)

    def fault_reply(self, fault: str, request: Request, step: str) -> Reply:
        """Class P, A, R and transient replies as YouTube sends them (thumbnails have their own)."""
        if step == "thumbnail" and fault == "permanent":
            return _error(
                400, "invalidImage", "The provided image content is invalid.", domain="youtube.thumbnail"
            )
        if step == "thumbnail" and fault == "rate_limit":
            return _error(
                429,
                "uploadRateLimitExceeded",
                "Thumbnail upload rate limit exceeded.",
                domain="youtube.thumbnail",
            )
        if fault == "permanent":
            return _error(
                400, "invalidVideoMetadata", "The request metadata is invalid.", domain="youtube.video"
            )
        if fault == "auth":
            return _error(*_AUTH_ERROR, location="Authorization")
        if fault == "rate_limit":
            return _error(*_QUOTA_EXCEEDED, domain="youtube.quota")
        return _error(503, "backendError", "Backend Error")

    def handle(self, request: Request) -> Reply:
        """Route to session start, a PUT on a session or thumbnails.set; check the token first."""
        if request.path not in (UPLOAD_PATH, THUMBNAIL_PATH):
            return _not_found()
        denied = self._check_token(request)
        if denied is not None:
            return denied
        if request.path == THUMBNAIL_PATH:
            if request.method != "POST":
                return _error(405, "methodNotAllowed", "Method Not Allowed")
            reply = self._set_thumbnail(request)
            request.body = b""  # hashed already, like upload bytes
            return reply
        if request.method == "POST" and "upload_id" not in request.query:
            return self._start_session(request)
        if request.method == "PUT":
            with self.lock:
                upload_id = request.query.get("upload_id", "")
                session = self.sessions.get(upload_id)
                if session is None:
                    if self._gone.get(upload_id) == 410:
                        return _error(410, "gone", "The upload session has expired.")
                    return _not_found()
                if self.step_of(request) == "resume_query":
                    return self._resume_query(request, session)
                reply = self._receive(request, session)
                # Keep the record, not the bytes: they are hashed already.
                request.body = b""
                return reply
        return _error(405, "methodNotAllowed", "Method Not Allowed")

    # ---- steps ---------------------------------------------------------------------------
    def _check_token(self, request: Request) -> Reply | None:
        token = bearer_token(request)
        if token is None:
            return _error(
                401,
                "required",
                "Request is missing required authentication credential.",
                location="Authorization",
            )
        if token.startswith("expired-"):
            return _error(*_AUTH_ERROR, location="Authorization")
        if token.startswith("ratelimited-"):
            return _error(*_QUOTA_EXCEEDED, domain="youtube.quota")
        return None

    def _start_session(self, request: Request) -> Reply:
        if request.query.get("uploadType") != "resumable":
            return _bad_request("This simulator supports uploadType=resumable only.")
        if not request.query.get("part"):
            return _error(400, "required", "Required parameter: part", location="part")
        declared = request.headers.get("x-upload-content-length")
        if declared is not None and not declared.isdigit():
            return _bad_request("X-Upload-Content-Length must be a number of bytes.")
        content_type = request.headers.get("x-upload-content-type", "video/*")
        if not content_type.startswith("video/") and content_type != "application/octet-stream":
            return _bad_request(f"Unsupported content with type: {content_type}")
        metadata = request.json if isinstance(request.json, dict) else {}
        invalid = _invalid_metadata(metadata)
        if invalid is not None:
            return invalid
        with self.lock:
            if self._throttles:
                reason, retry_after = self._throttles.pop(0)
                if reason == "userRateLimitExceeded":
                    return _error(403, reason, "User Rate Limit Exceeded", domain="usageLimits")
                reply = _error(429, reason, "Too many requests; try again later.")
                if retry_after is not None:
                    reply.headers["Retry-After"] = str(retry_after)
                return reply
            if self.insert_quota <= 0:
                return _error(*_QUOTA_EXCEEDED, domain="youtube.quota")
            if self.channel_upload_limit is not None and len(self.created) >= self.channel_upload_limit:
                return _error(
                    400,
                    "uploadLimitExceeded",
                    "The user has exceeded the number of videos they may upload.",
                    domain="youtube.video",
                )
            if self.uploads_per_day is not None and len(self.created) >= self.uploads_per_day:
                return _error(429, "rateLimitExceeded", "Video Uploads per day limit exceeded.")
            self.insert_quota -= 1
            session = UploadSession(
                id=secrets.token_urlsafe(18),
                metadata=metadata,
                total=int(declared) if declared is not None else None,
                content_type=content_type,
            )
            self.sessions[session.id] = session
        query = "&".join(f"{name}={value}" for name, value in request.query.items())
        location = f"{request.base_url}{UPLOAD_PATH}?{query}&upload_id={session.id}"
        return Reply(200, headers={"Location": location})

    def _resume_query(self, request: Request, session: UploadSession) -> Reply:
        match = _QUERY_RANGE.fullmatch(request.headers.get("content-range", ""))
        if match is None:
            return _bad_request("Failed to parse Content-Range header.")
        total = match.group(1)
        if total != "*" and session.total is not None and int(total) != session.total:
            return _bad_request(
                f"Content-Range total {total} differs from the upload's {session.total} bytes."
            )
        if session.video is not None:
            return Reply(200, session.video)
        return _incomplete(session)

    def _receive(self, request: Request, session: UploadSession) -> Reply:
        if session.video is not None:
            return Reply(200, session.video)  # a late copy of a chunk: the video exists already
        parsed = _chunk_range(request, session)
        if isinstance(parsed, Reply):
            return parsed
        start, end, total = parsed
        is_last = total is not None and end + 1 == total
        if not is_last and (end - start + 1) % CHUNK_UNIT:
            return _bad_request(
                f"Chunk size must be a multiple of {CHUNK_UNIT} bytes, except for the final chunk."
            )
        if start > session.received:
            return _bad_request(
                f"Content-Range starts at byte {start}, but only {session.received} bytes were received."
            )
        if self.keep_per_put is not None:
            end = min(end, start + self.keep_per_put - 1)
        # Bytes already held are ignored, as Google does when a client resends a chunk.
        session.digest.update(request.body[session.received - start : end - start + 1])
        session.received = max(session.received, end + 1)
        session.total = total if total is not None else session.total
        if session.total is not None and session.received == session.total:
            session.video = self._create_video(session)
            return Reply(201, session.video)
        return _incomplete(session)

    def _create_video(self, session: UploadSession) -> dict[str, Any]:
        snippet = session.metadata.get("snippet") or {}
        status = session.metadata.get("status") or {}
        video_id = secrets.token_urlsafe(8)  # 11 URL-safe characters, like real ids
        privacy = "private" if self.unverified_project else status.get("privacyStatus", "public")
        video_status: dict[str, Any] = {
            "uploadStatus": "uploaded",
            "privacyStatus": privacy,
            "license": "youtube",
            "embeddable": True,
            "publicStatsViewable": True,
            "selfDeclaredMadeForKids": bool(status.get("selfDeclaredMadeForKids", False)),
        }
        if status.get("publishAt"):
            video_status["publishAt"] = status["publishAt"]
        tags = list(snippet.get("tags") or [])
        category_id = str(snippet.get("categoryId", "22"))
        video = {
            "kind": "youtube#video",
            "etag": secrets.token_urlsafe(20),
            "id": video_id,
            "snippet": {
                "publishedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "channelId": "UCsimulatedchannel000000",
                "title": snippet.get("title", ""),
                "description": snippet.get("description", ""),
                "tags": tags,
                "categoryId": category_id,
            },
            "status": video_status,
        }
        self.record_created(
            id=video_id,
            title=snippet.get("title", ""),
            size=session.received,
            sha256=session.digest.hexdigest(),
            upload_id=session.id,
            tags=tags,
            category_id=category_id,
            made_for_kids=video_status["selfDeclaredMadeForKids"],
            privacy=privacy,
        )
        return video

    def _set_thumbnail(self, request: Request) -> Reply:
        if request.query.get("uploadType", "media") != "media":
            return _bad_request("This simulator supports uploadType=media only.")
        video_id = request.query.get("videoId")
        if not video_id:
            return _error(400, "required", "Required parameter: videoId", location="videoId")
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        image = request.body
        if not image:
            return _error(
                400,
                "mediaBodyRequired",
                "The request does not include the image content.",
                domain="youtube.thumbnail",
            )
        if len(image) > THUMBNAIL_MAX_BYTES:
            return _error(413, "uploadTooLarge", f"Media larger than: {THUMBNAIL_MAX_BYTES}")
        if content_type not in THUMBNAIL_TYPES or not image.startswith(_IMAGE_MAGIC):
            return _error(
                400, "invalidImage", "The provided image content is invalid.", domain="youtube.thumbnail"
            )
        with self.lock:
            if not any(video["id"] == video_id for video in self.created):
                return _error(
                    404,
                    "videoNotFound",
                    "The video that you are trying to set a thumbnail for cannot be found.",
                    domain="youtube.video",
                )
            if not self.channel_verified:
                return _error(
                    403,
                    "forbidden",
                    "The authenticated user doesn't have permissions to upload and set custom video "
                    "thumbnails.",
                    domain="youtube.thumbnail",
                    location="Authorization",
                )
            self.thumbnails[video_id] = {
                "sha256": hashlib.sha256(image).hexdigest(),
                "content_type": content_type,
                "size": len(image),
            }
        base = f"https://i.ytimg.com/vi/{video_id}"
        sizes = {"default": (120, 90), "medium": (320, 180), "high": (480, 360)}
        item = {
            name: {"url": f"{base}/{name}.jpg", "width": width, "height": height}
            for name, (width, height) in sizes.items()
        }
        return Reply(
            200,
            {"kind": "youtube#thumbnailSetResponse", "etag": secrets.token_urlsafe(20), "items": [item]},
        )


def _incomplete(session: UploadSession) -> Reply:
    """308 Resume Incomplete, with Range only once some bytes arrived (as Google does)."""
    headers = {"Range": f"bytes=0-{session.received - 1}"} if session.received else {}
    return Reply(308, headers=headers)


def _chunk_range(request: Request, session: UploadSession) -> tuple[int, int, int | None] | Reply:
    """(first byte, last byte, total or None) of a data PUT, or the 400 that rejects it."""
    header = request.headers.get("content-range")
    size = len(request.body)
    total: int | None
    if header is None:
        if not size:
            return _error(
                400,
                "mediaBodyRequired",
                "The request does not include the video content.",
                domain="youtube.video",
            )
        start, end, total = 0, size - 1, size  # one PUT with the whole file
    else:
        match = _CHUNK_RANGE.fullmatch(header)
        if match is None:
            return _bad_request("Failed to parse Content-Range header.")
        start, end = int(match.group(1)), int(match.group(2))
        total = None if match.group(3) == "*" else int(match.group(3))
    if end < start or end - start + 1 != size:
        return _bad_request(f"Content-Range {start}-{end} does not match the {size} bytes sent.")
    if total is not None and session.total is not None and total != session.total:
        return _bad_request(f"Content-Range total {total} differs from the upload's {session.total} bytes.")
    known_total = total if total is not None else session.total
    if known_total is not None and end >= known_total:
        return _bad_request(f"Content-Range ends at byte {end}, past the upload's {known_total} bytes.")
    return start, end, total


def _invalid_metadata(metadata: dict[str, Any]) -> Reply | None:
    """The 400 YouTube answers for metadata it rejects, or None."""
    snippet = metadata.get("snippet") or {}
    status = metadata.get("status") or {}
    title = snippet.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 100 or _has_angle(title):
        return _error(
            400,
            "invalidTitle",
            "The request metadata specifies an invalid or empty video title.",
            domain="youtube.video",
        )
    description = snippet.get("description", "")
    if not isinstance(description, str) or len(description.encode()) > 5000 or _has_angle(description):
        return _error(
            400,
            "invalidDescription",
            "The request metadata specifies an invalid video description.",
            domain="youtube.video",
        )
    tags = snippet.get("tags") or []
    if not _valid_tags(tags):
        return _error(
            400,
            "invalidTags",
            "The request metadata specifies invalid video keywords.",
            domain="youtube.video",
        )
    if str(snippet.get("categoryId", "22")) not in ASSIGNABLE_CATEGORIES:
        return _error(
            400,
            "invalidCategoryId",
            "The snippet.categoryId property specifies an invalid category ID.",
            domain="youtube.video",
        )
    privacy = status.get("privacyStatus", "public")
    made_for_kids = status.get("selfDeclaredMadeForKids")
    made_for_kids = False if made_for_kids is None else made_for_kids  # JSON null reads as unset
    if privacy not in PRIVACY_STATUSES or not isinstance(made_for_kids, bool):
        return _error(400, "invalidVideoMetadata", "The request metadata is invalid.", domain="youtube.video")
    publish_at = status.get("publishAt")
    if publish_at is not None and (privacy != "private" or not _is_timestamp(publish_at)):
        return _error(
            400,
            "invalidPublishAt",
            "The request metadata specifies an invalid scheduled publishing time.",
            domain="youtube.video",
        )
    return None


def _has_angle(text: str) -> bool:
    return "<" in text or ">" in text


def _valid_tags(tags: object) -> bool:
    """Strings without < or >, at most 500 characters counted as YouTube counts them.

    Commas between tags count, and a tag containing a space counts the quotes around it.
    """
    if not isinstance(tags, list) or not all(isinstance(tag, str) and not _has_angle(tag) for tag in tags):
        return False
    counted = sum(len(tag) + (2 if " " in tag else 0) for tag in tags) + max(len(tags) - 1, 0)
    return counted <= TAGS_MAX_CHARS


def _is_timestamp(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


SIM_CLIENT_ID = "sim-client-id.apps.googleusercontent.com"
SIM_CLIENT_SECRET = "GOCSPX-sim-client-secret"


class GoogleOAuthSimulator(Simulator):
    """Google's token endpoint for the refresh-token grant; see the module docstring."""

    def __init__(self, client_id: str = SIM_CLIENT_ID, client_secret: str = SIM_CLIENT_SECRET) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.issued: list[str] = []  # access tokens handed out, in order

    def step_of(self, request: Request) -> str:
        """Every request here is the "token" step."""
        return "token"

    def fault_reply(self, fault: str, request: Request, step: str) -> Reply:
        """The OAuth error bodies Google sends for each class."""
        if fault == "permanent":
            return _oauth_error(400, "invalid_request", "Bad Request")
        if fault == "auth":
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        if fault == "rate_limit":
            return _oauth_error(429, "rate_limit_exceeded", "Rate limit exceeded.")
        return _oauth_error(503, "internal_failure", "Backend Error")

    def handle(self, request: Request) -> Reply:
        """Exchange a refresh token for a new access token."""
        if request.method != "POST" or request.path != "/token":
            return Reply(404, raw=b"Not Found", headers={"Content-Type": "text/plain"})
        if request.param("grant_type") != "refresh_token":
            return _oauth_error(
                400, "unsupported_grant_type", "Invalid grant_type: " + str(request.param("grant_type"))
            )
        if request.param("client_id") != self.client_id:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if request.param("client_secret") != self.client_secret:
            return _oauth_error(401, "invalid_client", "Unauthorized")
        refresh_token = request.param("refresh_token")
        if not refresh_token:
            return _oauth_error(400, "invalid_request", "Missing required parameter: refresh_token")
        if refresh_token.startswith(("revoked-", "expired-")):
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        access_token = "ya29.sim-" + secrets.token_urlsafe(24)
        with self.lock:
            self.issued.append(access_token)
        return Reply(
            200,
            {"access_token": access_token, "expires_in": 3599, "scope": UPLOAD_SCOPE, "token_type": "Bearer"},
        )


def _oauth_error(code: int, error: str, description: str) -> Reply:
    return Reply(code, {"error": error, "error_description": description})
