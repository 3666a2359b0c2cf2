"""A local X: posts, the account's timeline, media upload (one-shot and chunked) and OAuth 2.0
token refresh with rotating refresh tokens (docs/platforms/x.md).

Serve it with `devstack.server.serve` and point the client at it: `x_api_url` = the base URL,
`x_oauth_token_url` = `{base}/2/oauth2/token`. One simulated account (`user_id`, `username`)
owns every token.

Routes, and the step names faults are scripted with (`inject(fault, step=...)` or the header
`X-Fake-Scenario: <fault>:<step>`):

| step       | request                                           | success reply                        |
|------------|---------------------------------------------------|--------------------------------------|
| tweets     | POST /2/tweets                                    | 201 {"data":{id,text,edit_history…}} |
| me         | GET  /2/users/me                                  | 200 {"data":{id,name,username}}      |
| timeline   | GET  /2/users/{id}/tweets?start_time=…            | 200 {"data":[…],"meta":{…}}          |
| upload     | POST /2/media/upload (multipart media, category)  | 200 {"data":{id,media_key,size,…}}   |
| initialize | POST /2/media/upload/initialize (JSON)            | 200 {"data":{id,media_key,expires…}} |
| append     | POST /2/media/upload/{id}/append (multipart)      | 200 {"data":{"expires_at":…}}        |
| finalize   | POST /2/media/upload/{id}/finalize                | 200 {"data":{…,"processing_info"}}   |
| status     | GET  /2/media/upload?command=STATUS&media_id={id} | 200 {"data":{…,"processing_info"}}   |
| token      | POST /2/oauth2/token (refresh_token grant)        | 200 {"token_type","access_token",…}  |

The older spelling of the chunked upload, `POST /2/media/upload` with a `command` field of
INIT, APPEND or FINALIZE (same fields as above, `media_id` in the body), is served too and
counts as the same steps.

Request contract it enforces, so client bugs show up here rather than in production:
- every /2/ call needs `Authorization: Bearer` (401 otherwise);
- a post's text is at most 280 by X's weighted length (400 "Your Tweet text is too long");
  a post needs text or media; 1–4 media ids, at most one video and never a video with images;
  each id must exist, belong to the account, have `succeeded`, not be expired and not be
  attached to another post already (400);
- the same non-empty text as an earlier post of the account → 403 "You are not allowed to
  create a Tweet with duplicate content.";
- images: multipart `media` up to 5 MB with `media_category` tweet_image;
- chunked: `total_bytes` ≤ 512 MB for video, segment_index 0–999, each segment ≤ 5 MB, the
  appended bytes equal to `total_bytes` at finalize; STATUS advances one state per poll
  (pending → in_progress → succeeded, or `processing_outcome`), `processing_polls` polls.

What the stored post looks like, as the platform shows it back [observed, not documented]: URLs
replaced by `https://t.co/…` links, `&`, `<` and `>` HTML-escaped, and a post with media gets a
trailing t.co link to its media. `tweets` keeps the sent text and the shown one.

Test controls: `hide_from_timeline` keeps new posts out of the timeline (as when X's timeline
lags behind a create); `add_tweet` adds a post made some other way; `expire_media` ends a
media id's life.

Tokens: any non-empty access token works except `expired-…` (401), `ratelimited-…` (429 with
rate-limit headers), `capped-…` (429 usage-capped problem, as observed in xdevplatform/xdk#25) and
`nocredits-…` (402, the pay-per-use plan's credits used up [unv: status and wording]).

Refresh tokens rotate: each refresh answers a new access token and a new refresh token and
spends the one presented. Presenting a spent one → 400 invalid_request and it
is recorded in `reused_refresh_tokens` (X may revoke the whole family then [unv]; not modelled).
`revoked-…` refresh tokens → 400 invalid_request. Client authentication: the configured
`client_id` in the form (public client) or Basic `client_id:client_secret` (confidential client);
neither → 401 unauthorized_client.

Faults: permanent → 400 invalid-request problem; auth → 401 Unauthorized; rate_limit → 429 with
`x-rate-limit-reset` (epoch seconds, `reset_after_s` ahead); server_error → 503. On the token
step: permanent → 400 invalid_request, auth → 400 invalid_request (token invalid), rate_limit →
429, server_error → 503.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devstack.simulators.base import Reply, Request, Simulator, bearer_token
from services.platforms.x_text import MAX_WEIGHTED_LENGTH, url_spans, weighted_length

TOKEN_PATH = "/2/oauth2/token"
IMAGE_MAX_BYTES = 5 * 1024 * 1024
SEGMENT_MAX_BYTES = 5 * 1024 * 1024
VIDEO_MAX_BYTES = 512 * 1024 * 1024
MEDIA_EXPIRES_S = 86400
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
_START_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?Z")
_MEDIA_PATH = re.compile(r"/2/media/upload/(\d+)/(append|finalize)")
_TIMELINE_PATH = re.compile(r"/2/users/([^/]+)/tweets")


@dataclass
class SimMedia:
    """One uploaded (or uploading) media file."""

    id: str
    kind: str  # "image" or "video"
    category: str
    media_type: str
    total_bytes: int
    expires_at: float
    segments: dict[int, int] = field(default_factory=dict)  # segment_index → bytes
    sha256: str = ""
    digest: Any = field(default_factory=hashlib.sha256, repr=False)  # of the segments, as they arrive
    state: str = "uploading"  # then pending → in_progress → succeeded / failed; images: succeeded
    polls_left: int = 0
    used_by: str | None = None  # the post it is attached to

    @property
    def received(self) -> int:
        return sum(self.segments.values())


@dataclass
class SimTweet:
    """A post as stored: what was sent and what X shows back."""

    id: str
    text: str
    shown_text: str
    media_ids: list[str]
    created_at: float
    hidden: bool = False  # not (yet) in the account's timeline


def problem(status: int, title: str, detail: str, type_: str = "about:blank", **extra: Any) -> Reply:
    """X's problem-details error body."""
    return Reply(status, {"title": title, "detail": detail, "type": type_, "status": status, **extra})


def _invalid(detail: str) -> Reply:
    return Reply(
        400,
        {
            "errors": [{"message": detail}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
    )


def _unauthorized() -> Reply:
    return problem(401, "Unauthorized", "Unauthorized")


def _oauth_error(status: int, error: str, description: str) -> Reply:
    return Reply(status, {"error": error, "error_description": description})


def iso(seconds: float) -> str:
    """Epoch seconds as X writes times: 2026-11-30T12:00:00.000Z."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_multipart(request: Request) -> dict[str, bytes]:
    """The fields of a multipart/form-data body (file fields as their bytes)."""
    content_type = request.headers.get("content-type", "")
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if "multipart/form-data" not in content_type or not match:
        return {}
    fields: dict[str, bytes] = {}
    for part in request.body.split(b"--" + match.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, value = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        if name:
            fields[name.group(1).decode()] = value.removesuffix(b"\r\n")
    return fields


class XSimulator(Simulator):
    """X's post, timeline, media and token endpoints, in memory (see the module docstring)."""

    def __init__(
        self,
        *,
        user_id: str = "1500000000000000001",
        username: str = "sim_bakery",
        client_id: str = "sim-x-client",
        client_secret: str | None = None,
        processing_polls: int = 2,
        reset_after_s: int = 900,
        check_after_s: int = 1,
    ) -> None:
        super().__init__()
        self.user_id = user_id
        self.username = username
        self.client_id = client_id
        self.client_secret = client_secret
        self.processing_polls = processing_polls  # STATUS polls answering pending/in_progress
        self.processing_outcome = "succeeded"  # or "failed": what processing ends in
        self.reset_after_s = reset_after_s
        self.check_after_s = check_after_s  # processing_info.check_after_secs it advises
        # True: new posts stay out of the timeline, as when X's timeline lags behind a create.
        self.hide_from_timeline = False
        self.tweets: dict[str, SimTweet] = {}
        self.media: dict[str, SimMedia] = {}
        self.refreshes: list[tuple[str, str]] = []  # (refresh token spent, refresh token issued)
        self.issued_tokens: list[str] = []  # access tokens handed out, in order
        self.reused_refresh_tokens: list[str] = []
        self._spent_refresh_tokens: set[str] = set()
        self._serial = 0

    def _next(self) -> int:
        with self.lock:
            self._serial += 1
            return self._serial

    # ---- test controls -------------------------------------------------------------------
    def expire_media(self, media_id: str) -> None:
        """Make an uploaded media id expire now (as after `expires_after_secs`)."""
        with self.lock:
            self.media[media_id].expires_at = time.time() - 1

    def add_tweet(self, text: str, *, created_at: float | None = None) -> str:
        """A post the account made some other way (by hand, or long ago); returns its id."""
        with self.lock:
            tweet_id = str(1860000000000000000 + self._next())
            self.tweets[tweet_id] = SimTweet(
                tweet_id, text, self._shown(text, []), [], created_at or time.time()
            )
        return tweet_id

    # ---- routing ---------------------------------------------------------------------------
    def step_of(self, request: Request) -> str:
        """The step name of a request (see the module docstring)."""
        path = request.path
        if path == "/2/tweets":
            return "tweets"
        if path == "/2/users/me":
            return "me"
        if _TIMELINE_PATH.fullmatch(path):
            return "timeline"
        if path == TOKEN_PATH:
            return "token"
        if path == "/2/media/upload/initialize":
            return "initialize"
        found = _MEDIA_PATH.fullmatch(path)
        if found:
            return found.group(2)
        if path == "/2/media/upload":
            if request.method == "GET":
                return "status"
            command = (request.query.get("command") or self._field(request, "command") or "").upper()
            return {"INIT": "initialize", "APPEND": "append", "FINALIZE": "finalize"}.get(command, "upload")
        return "other"

    def handle(self, request: Request) -> Reply:
        """Check the request contract, then apply the request."""
        step = self.step_of(request)
        if step == "other":
            return problem(404, "Not Found Error", f"No resource at {request.path}")
        if step == "token":
            return self._token(request) if request.method == "POST" else problem(405, "Error", "Use POST")
        refused = self._check_token(request)
        if refused is not None:
            return refused
        routes: dict[tuple[str, str], Callable[[Request], Reply]] = {
            ("tweets", "POST"): self._create_tweet,
            ("me", "GET"): self._me,
            ("timeline", "GET"): self._timeline,
            ("upload", "POST"): self._upload_image,
            ("initialize", "POST"): self._initialize,
            ("append", "POST"): self._append,
            ("finalize", "POST"): self._finalize,
            ("status", "GET"): self._status,
        }
        route = routes.get((step, request.method))
        if route is None:
            return problem(405, "Method Not Allowed", f"{request.method} is not supported here")
        return route(request)

    def fault_reply(self, fault: str, request: Request, step: str) -> Reply:
        """X's reply for the shared permanent / auth / rate_limit / server_error faults."""
        if step == "token":
            token_replies = {
                "permanent": _oauth_error(400, "invalid_request", "Missing required parameter [grant_type]."),
                "auth": _oauth_error(400, "invalid_request", "Value passed for the token was invalid."),
                "rate_limit": _oauth_error(429, "too_many_requests", "Too Many Requests"),
            }
            return token_replies.get(fault, _oauth_error(503, "server_error", "Service Unavailable"))
        if fault == "permanent":
            return _invalid("The `text` field is invalid.")
        if fault == "auth":
            return _unauthorized()
        if fault == "rate_limit":
            return self._throttled()
        return problem(503, "Service Unavailable", "Service Unavailable")

    def _throttled(self) -> Reply:
        reply = problem(429, "Too Many Requests", "Too Many Requests")
        reply.headers.update(
            {
                "x-rate-limit-limit": "100",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(int(time.time()) + self.reset_after_s),
            }
        )
        return reply

    def _check_token(self, request: Request) -> Reply | None:
        token = bearer_token(request)
        if token is None or token.startswith("expired-"):
            return _unauthorized()
        if token.startswith("ratelimited-"):
            return self._throttled()
        if token.startswith("capped-"):
            reply = problem(
                429,
                "UsageCapExceeded",
                "Usage cap exceeded: Monthly product cap",
                "https://api.twitter.com/2/problems/usage-capped",
                period="Monthly",
                scope="Product",
            )
            # The per-window limit is fine: the cap is the plan's, not the 15-minute window's.
            reply.headers.update({"x-rate-limit-limit": "40000", "x-rate-limit-remaining": "39999"})
            return reply
        if token.startswith("nocredits-"):
            return problem(402, "Payment Required", "Your enrolled account does not have any credits left.")
        return None

    # ---- posts -----------------------------------------------------------------------------
    def _create_tweet(self, request: Request) -> Reply:
        body = request.json
        if not isinstance(body, dict):
            return _invalid("The request body is not a JSON object.")
        text = body.get("text", "")
        media = body.get("media")
        if not isinstance(text, str):
            return _invalid("The `text` field must be a string.")
        if weighted_length(text) > MAX_WEIGHTED_LENGTH:
            return problem(
                400,
                "Bad Request",
                "Your Tweet text is too long. For more information on how X counts text, see "
                "https://docs.x.com/fundamentals/counting-characters",
            )
        media_ids: list[str] = []
        if media is not None:
            ids = media.get("media_ids") if isinstance(media, dict) else None
            if not isinstance(ids, list) or not 1 <= len(ids) <= 4:
                return _invalid("`media.media_ids` must hold between 1 and 4 media ids.")
            media_ids = [str(i) for i in ids]
        if not text and not media_ids:
            return _invalid("A post needs `text` or `media`.")
        with self.lock:
            refused = self._check_media(media_ids)
            if refused is not None:
                return refused
            if text and any(t.text == text for t in self.tweets.values()):
                return problem(403, "Forbidden", DUPLICATE)
            tweet_id = str(1860000000000000000 + self._next())
            tweet = SimTweet(tweet_id, text, self._shown(text, media_ids), media_ids, time.time())
            tweet.hidden = self.hide_from_timeline
            self.tweets[tweet_id] = tweet
            for media_id in media_ids:
                self.media[media_id].used_by = tweet_id
            self.record_created(platform="twitter", id=tweet_id, text=text, media=media_ids)
        return Reply(
            201, {"data": {"id": tweet_id, "text": tweet.shown_text, "edit_history_tweet_ids": [tweet_id]}}
        )

    def _check_media(self, media_ids: list[str]) -> Reply | None:
        if len(set(media_ids)) != len(media_ids):
            return _invalid("The same media id appears twice in `media.media_ids`.")
        kinds = []
        for media_id in media_ids:
            item = self.media.get(media_id)
            if item is None:
                return _invalid(f"Your media IDs are invalid: {media_id} does not exist.")
            if item.expires_at < time.time():
                return _invalid(f"Your media IDs are invalid: {media_id} has expired.")
            if item.used_by is not None:
                return _invalid(f"Media {media_id} is already attached to post {item.used_by}.")
            if item.state != "succeeded":
                return _invalid(f"Media {media_id} is not ready: its processing state is {item.state}.")
            kinds.append(item.kind)
        if "video" in kinds and len(kinds) > 1:
            return _invalid("A post may carry up to 4 images or one video, not both.")
        return None

    def _shown(self, text: str, media_ids: list[str]) -> str:
        """The text as X shows it back: t.co links, HTML escapes, a trailing media link."""
        out, last = [], 0
        for start, end in url_spans(text):
            out += [
                html.escape(text[last:start], quote=False),
                f"https://t.co/{self._short(text[start:end])}",
            ]
            last = end
        out.append(html.escape(text[last:], quote=False))
        shown = "".join(out)
        if media_ids:
            shown = f"{shown} https://t.co/{self._short(','.join(media_ids))}".lstrip()
        return shown

    @staticmethod
    def _short(value: str) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()).decode()[:10]

    def _me(self, request: Request) -> Reply:
        return Reply(200, {"data": {"id": self.user_id, "name": "Sim Bakery", "username": self.username}})

    def _timeline(self, request: Request) -> Reply:
        found = _TIMELINE_PATH.fullmatch(request.path)
        user = found.group(1) if found else ""
        if user != self.user_id:
            return problem(
                404,
                "Not Found Error",
                f"Could not find user with id: [{user}].",
                "https://api.twitter.com/2/problems/resource-not-found",
            )
        start = request.query.get("start_time")
        since = 0.0
        if start is not None:
            if not _START_TIME.fullmatch(start):
                return _invalid(
                    f"Invalid 'start_time':'{start}'. 'start_time' must be a YYYY-MM-DDTHH:mm:ssZ."
                )
            since = datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()
        try:
            size = int(request.query.get("max_results", "10"))
            offset = int(request.query.get("pagination_token", "0"))
        except ValueError:
            return _invalid("max_results and pagination_token must be numbers.")
        if not 5 <= size <= 100:
            return _invalid(f"The `max_results` query parameter value [{size}] is not between 5 and 100")
        fields = set((request.query.get("tweet.fields") or "").split(","))
        with self.lock:
            matching = sorted(
                (t for t in self.tweets.values() if t.created_at >= since and not t.hidden),
                key=lambda t: t.created_at,
                reverse=True,
            )
        page = matching[offset : offset + size]
        if not page:
            return Reply(200, {"meta": {"result_count": 0}})
        data = []
        for tweet in page:
            item: dict[str, Any] = {
                "id": tweet.id,
                "text": tweet.shown_text,
                "edit_history_tweet_ids": [tweet.id],
            }
            if "created_at" in fields:
                item["created_at"] = iso(tweet.created_at)
            data.append(item)
        meta: dict[str, Any] = {"result_count": len(page), "newest_id": page[0].id, "oldest_id": page[-1].id}
        if offset + size < len(matching):
            meta["next_token"] = str(offset + size)
        return Reply(200, {"data": data, "meta": meta})

    # ---- media -----------------------------------------------------------------------------
    def _field(self, request: Request, name: str) -> str | None:
        """A form field from a JSON, urlencoded or multipart body."""
        if name in request.form:
            return request.form[name]
        value = parse_multipart(request).get(name)
        return value.decode("utf-8", "replace") if value is not None else None

    def _new_media(self, kind: str, category: str, media_type: str, total: int) -> SimMedia:
        media_id = str(1870000000000000000 + self._next())
        item = SimMedia(media_id, kind, category, media_type, total, time.time() + MEDIA_EXPIRES_S)
        with self.lock:
            self.media[media_id] = item
        return item

    def _media_reply(self, item: SimMedia, *, with_processing: bool) -> Reply:
        data: dict[str, Any] = {
            "id": item.id,
            "media_key": f"{'7' if item.kind == 'video' else '3'}_{item.id}",
            "size": item.received,
            "expires_after_secs": max(0, int(item.expires_at - time.time())),
        }
        if with_processing and item.kind == "video":
            info: dict[str, Any] = {"state": item.state}
            if item.state in ("pending", "in_progress"):
                info["check_after_secs"] = self.check_after_s
            if item.state == "in_progress":
                info["progress_percent"] = 50
            if item.state == "failed":
                info["error"] = {"code": 1, "name": "InvalidMedia", "message": "Unsupported video format"}
            data["processing_info"] = info
        return Reply(200, {"data": data})

    def _upload_image(self, request: Request) -> Reply:
        fields = parse_multipart(request)
        media = fields.get("media")
        category = fields.get("media_category", b"").decode()
        if media is None:
            return _invalid("The `media` field is required (multipart).")
        if category not in ("tweet_image", "dm_image", "subtitles"):
            return _invalid(f"`media_category` [{category}] is not one of tweet_image, dm_image, subtitles.")
        if not media or len(media) > IMAGE_MAX_BYTES:
            return _invalid(f"Images must be 1 byte to 5 MB; this one is {len(media)} bytes.")
        media_type = fields.get("media_type", b"").decode()
        item = self._new_media("image", category, media_type, len(media))
        request.body = b""  # the bytes are digested; keep the request record small
        with self.lock:
            item.segments[0] = len(media)
            item.sha256 = hashlib.sha256(media).hexdigest()
            item.state = "succeeded"
        return self._media_reply(item, with_processing=False)

    def _initialize(self, request: Request) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        fields = body or {k: v.decode() for k, v in parse_multipart(request).items()} or request.form
        try:
            total = int(fields.get("total_bytes", -1))
        except (TypeError, ValueError):
            total = -1
        media_type = str(fields.get("media_type") or "")
        category = str(fields.get("media_category") or "")
        if total <= 0:
            return _invalid("`total_bytes` must be a positive number of bytes.")
        kind = "video" if media_type.startswith("video/") else "image"
        if kind == "video" and total > VIDEO_MAX_BYTES:
            return _invalid(f"Videos are limited to {VIDEO_MAX_BYTES} bytes; total_bytes is {total}.")
        if kind == "video" and category not in ("tweet_video", "amplify_video"):
            return _invalid(f"`media_category` [{category}] does not fit a video.")
        item = self._new_media(kind, category, media_type, total)
        return Reply(
            200,
            {
                "data": {
                    "id": item.id,
                    "media_key": f"7_{item.id}",
                    "expires_after_secs": MEDIA_EXPIRES_S,
                }
            },
        )

    def _uploading(self, request: Request) -> tuple[SimMedia | None, Reply | None]:
        found = _MEDIA_PATH.fullmatch(request.path)
        media_id = found.group(1) if found else self._field(request, "media_id")
        item = self.media.get(media_id or "")
        if item is None:
            return None, _invalid(f"Media id {media_id} was not found; initialize the upload first.")
        if item.expires_at < time.time():
            return None, _invalid(f"The upload session of {media_id} has expired.")
        return item, None

    def _append(self, request: Request) -> Reply:
        item, refused = self._uploading(request)
        if item is None:
            return refused or _invalid("no media")
        fields = parse_multipart(request)
        request.body = b""  # the segment is counted; keep the request record small
        segment = fields.get("media")
        try:
            index = int(fields.get("segment_index", b"-1").decode())
        except ValueError:
            index = -1
        if not 0 <= index <= 999:
            return _invalid("`segment_index` must be a number from 0 to 999.")
        if segment is None or not segment:
            return _invalid("The `media` field is required and must not be empty.")
        if len(segment) > SEGMENT_MAX_BYTES:
            return _invalid(f"Segments are limited to {SEGMENT_MAX_BYTES} bytes; this one is {len(segment)}.")
        with self.lock:
            if item.state != "uploading":
                return _invalid(f"Media {item.id} is already finalized.")
            item.segments[index] = len(segment)
            item.digest.update(segment)
            if item.received > item.total_bytes:
                return _invalid(
                    f"More bytes appended ({item.received}) than total_bytes ({item.total_bytes})."
                )
        return Reply(200, {"data": {"expires_at": int(item.expires_at)}})

    def _finalize(self, request: Request) -> Reply:
        item, refused = self._uploading(request)
        if item is None:
            return refused or _invalid("no media")
        with self.lock:
            if item.state != "uploading":
                return self._media_reply(item, with_processing=True)
            indexes = sorted(item.segments)
            if indexes != list(range(len(indexes))):
                return _invalid(f"Segments are missing: got {indexes}.")
            if item.received != item.total_bytes:
                return _invalid(
                    f"File size mismatch: {item.received} bytes appended, total_bytes was {item.total_bytes}."
                )
            item.sha256 = item.digest.hexdigest()
            if item.kind == "video":
                item.state = "pending"
                item.polls_left = self.processing_polls
            else:
                item.state = "succeeded"
        return self._media_reply(item, with_processing=True)

    def _status(self, request: Request) -> Reply:
        if (request.query.get("command") or "").upper() != "STATUS":
            return _invalid("`command` must be STATUS.")
        item = self.media.get(request.query.get("media_id", ""))
        if item is None or item.expires_at < time.time():
            return problem(
                404,
                "Not Found Error",
                f"Could not find media with id: [{request.query.get('media_id')}].",
                "https://api.twitter.com/2/problems/resource-not-found",
            )
        with self.lock:
            if item.state in ("pending", "in_progress"):
                if item.polls_left > 0:
                    item.polls_left -= 1
                    item.state = "in_progress"
                else:
                    item.state = self.processing_outcome
        return self._media_reply(item, with_processing=True)

    # ---- OAuth -----------------------------------------------------------------------------
    def _token(self, request: Request) -> Reply:
        form = request.form
        if not self._client_ok(request):
            return _oauth_error(401, "unauthorized_client", "Missing valid authorization header")
        if form.get("grant_type") != "refresh_token":
            return _oauth_error(400, "invalid_request", "Missing required parameter [grant_type].")
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            return _oauth_error(400, "invalid_request", "Missing required parameter [refresh_token].")
        with self.lock:
            if refresh_token in self._spent_refresh_tokens:
                self.reused_refresh_tokens.append(refresh_token)
                return _oauth_error(400, "invalid_request", "Value passed for the token was invalid.")
            if refresh_token.startswith("revoked-"):
                return _oauth_error(400, "invalid_request", "Value passed for the token was invalid.")
            serial = self._next()
            access_token, new_refresh = f"sim-x-access-{serial}", f"sim-x-refresh-{serial}"
            self._spent_refresh_tokens.add(refresh_token)
            self.refreshes.append((refresh_token, new_refresh))
            self.issued_tokens.append(access_token)
        return Reply(
            200,
            {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": access_token,
                "scope": "tweet.read tweet.write users.read offline.access media.write",
                "refresh_token": new_refresh,
            },
        )

    def _client_ok(self, request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return False
            return client_id == self.client_id and (
                self.client_secret is None or secret == self.client_secret
            )
        return self.client_secret is None and request.form.get("client_id") == self.client_id
