"""A local LinkedIn: Posts, Images, Documents and Videos APIs and the OAuth token endpoint.

What it models, and the public sources, are in docs/platforms/linkedin.md. Serve it with
`devstack.server.serve` and point the client at it: `linkedin_api_url` = the base URL,
`linkedin_oauth_url` = `{base}/oauth/v2/accessToken`. Upload URLs it hands out point back to
itself.

Routes, and the step names faults are scripted with (`inject(fault, step=...)` or the header
`X-Fake-Scenario: <fault>:<step>`):

| step            | request                                       | success reply                          |
|-----------------|-----------------------------------------------|----------------------------------------|
| posts           | POST /rest/posts                              | 201, empty body, `x-restli-id` header  |
| images_init     | POST /rest/images?action=initializeUpload     | 200 {"value":{uploadUrl, image, ...}}  |
| upload          | PUT  /dms-uploads/up<n> (an image's uploadUrl)| 201, empty body                        |
| image_status    | GET  /rest/images/<image urn, URL-encoded>    | 200 {"id","owner","status"}            |
| documents_init  | POST /rest/documents?action=initializeUpload  | 200 {"value":{uploadUrl, document,...}}|
| document_upload | PUT  /dms-uploads/doc<n>                      | 201, empty body                        |
| document_status | GET  /rest/documents/<document urn>           | 200 {"id","owner","status"}            |
| videos_init     | POST /rest/videos?action=initializeUpload     | 200 {"value":{video, uploadToken,      |
|                 |                                               |   uploadUrlsExpireAt, instructions}}   |
| video_upload    | PUT  /dms-uploads/vid<n>-<part>               | 200, empty body, `etag` header         |
| videos_finalize | POST /rest/videos?action=finalizeUpload       | 200, empty body                        |
| video_status    | GET  /rest/videos/<video urn>                 | 200 {"id","owner","status",...}        |
| token           | POST /oauth/v2/accessToken (refresh grant)    | 200 {"access_token","expires_in",...}  |

Request contract it enforces, so client bugs show up here rather than in production:
- every /rest/ call needs `LinkedIn-Version` from `active_versions` (426 NONEXISTENT_VERSION,
  or 426 VERSION_MISSING without one [unv]) and `X-Restli-Protocol-Version: 2.0.0` (400 [unv]);
- /rest/ calls and uploads need a Bearer token (table below);
- posts need author, commentary, visibility, distribution, lifecycleState PUBLISHED (422);
  commentary of more than 3,000 characters is refused (422; counted as shown, escapes not
  counted [unv]); media (image, video, document) must exist, belong to the author and be
  AVAILABLE (422); multiImage takes 2 to 20 images (422); a document needs a `title` (422); an
  article needs an http(s) `source` and a `title`, and its optional `thumbnail` is an image
  under the same rules (422);
- videos: initializeUpload needs `fileSizeBytes` and answers one upload URL per 4 MiB part
  (the last shorter); each part's PUT must carry exactly its byte range's length (400) and is
  answered with an etag; finalizeUpload needs the upload token as given and every part's etag
  in part order (400 [unv]); a video that is not MP4/MOV (by its first bytes) ends in
  PROCESSING_FAILED; an upload URL past `upload_ttl_s` answers 401 [unv];
- documents whose bytes are not a PDF (nor an Office file) end in PROCESSING_FAILED;
- the same author posting the same commentary again gets 422 DUPLICATE_POST naming the first
  post's urn, exactly as LinkedIn words it.

LinkedIn's "little text" format: the stored post is the commentary with escapes resolved, cut at
the first unescaped reserved character (\\ | { } @ [ ] ( ) < > # * _ ~), which is how LinkedIn
silently truncates unescaped posts. An unescaped `#` followed by a word character is a hashtag
and kept. Mention templates are not modelled: an unescaped `@` truncates.

Tokens (the prefix decides; anything else non-empty is valid):

| access token   | reply on every call                                    |
|----------------|--------------------------------------------------------|
| (none)         | 401 serviceErrorCode 65604 "Empty oauth2 access token" |
| expired-...    | 401 EXPIRED_ACCESS_TOKEN, serviceErrorCode 65602       |
| revoked-...    | 401 REVOKED_ACCESS_TOKEN, serviceErrorCode 65601       |
| denied-...     | 403 ACCESS_DENIED, serviceErrorCode 100                |
| ratelimited-...| 429, serviceErrorCode 101                              |

Refresh tokens starting `revoked-` or `expired-` get 400 invalid_grant (the description says
which [unv]); any other gets a new access token `AQV-sim-<n>` (expires_in 5184000) and the
same refresh token back, as LinkedIn does not rotate them. `client_id`/`client_secret` must be
present, and equal to the configured ones when those are set (else 401 invalid_client).
With `fresh_token_revoked_requests = N`, each newly issued access token answers its first N
requests with 401 REVOKED_ACCESS_TOKEN (65601), as LinkedIn has been seen doing for seconds
after issuing one.

Faults: permanent → 422 schema error; auth → 401 65600 "Invalid access token"; rate_limit →
429 101; server_error → 500. On the token step: permanent → 400 invalid_request, auth → 400
invalid_grant, rate_limit → 429, server_error → 500.

What tests read: `created` (every post that became public: platform, id, kind, text as shown,
media urns, author; for a video or document also its title, bytes and sha256; for an article
its source, title and thumbnail), `posts` (urn → the request body plus `shown_text`), `images`,
`documents` (urn → SimAsset, with the uploaded byte count and sha256), `videos` (urn →
SimVideo), `issued_tokens`. Upload bodies are digested while they stream in and never kept
(but for a video part that arrives before an earlier one), so a test can measure the client's
memory with this server in the same process.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from devstack.simulators.base import Reply, Request, Simulator, bearer_token

TOKEN_PATH = "/oauth/v2/accessToken"
UPLOAD_PREFIX = "/dms-uploads/"

# Versions not yet sunset on 2026-11-28: each lives about 12 months, and 202511 ended 2026-11-16.
DEFAULT_ACTIVE_VERSIONS = (
    "202512", "202601", "202602", "202603", "202604", "202605",
    "202606", "202607", "202608", "202609", "202610", "202611",
)  # fmt: skip

MAX_COMMENTARY = 3000
VIDEO_PART_BYTES = 4 * 1024 * 1024
# What the first bytes of a video (MP4/MOV: a box type at offset 4) and a document start with.
_VIDEO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
_DOCUMENT_MAGIC = (b"%PDF", b"\xd0\xcf\x11\xe0", b"PK\x03\x04")
RESERVED = frozenset("\\|{}@[]()<>#*_~")
VISIBILITIES = ("PUBLIC", "CONNECTIONS", "LOGGED_IN", "CONTAINER")
_AUTHOR = re.compile(r"urn:li:(person|organization):[A-Za-z0-9_-]+")
_WORD = re.compile(r"\w")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_BLOCK = 64 * 1024
# Set by this simulator from the streamed upload body; a client's own copies are overwritten.
_BODY_BYTES = "HTTP_X_SIM_BODY_BYTES"
_BODY_SHA256 = "HTTP_X_SIM_BODY_SHA256"
_BODY_HEAD = "HTTP_X_SIM_BODY_HEAD"  # the first 16 bytes, hex
_RECEIPT = "HTTP_X_SIM_RECEIPT"  # a video part's running hash, handed from reading to applying
_HEAD_BYTES = 16


@dataclass
class SimAsset:
    """An image or document (one PUT each), from initializeUpload through processing."""

    urn: str
    owner: str
    upload_id: str
    status: str = "WAITING_UPLOAD"
    size: int = 0
    sha256: str = ""
    polls_left: int = 0  # GETs that still answer PROCESSING


SimImage = SimAsset


@dataclass
class SimVideoPart:
    """One 4 MiB part of a video upload."""

    first: int
    last: int
    upload_id: str
    etag: str | None = None
    sha256: str = ""
    pending: bytes | None = None  # bytes that came before an earlier part's, kept to hash in order


@dataclass
class SimVideo:
    """A video of the Videos API: parts, finalize, processing."""

    urn: str
    owner: str
    size: int
    upload_token: str
    expires_at: float  # epoch seconds: upload URLs answer 401 after it
    parts: list[SimVideoPart]
    status: str = "WAITING_UPLOAD"
    polls_left: int = 0
    sha256: str = ""  # of the whole file, set by finalize ("" if parts changed after hashing)
    head: bytes = b""
    hasher: Any = field(default_factory=hashlib.sha256)
    hashed_parts: int = 0  # parts fed to `hasher`, in order
    rehashed_differently: bool = False  # a part was re-sent with other bytes after being hashed


@dataclass
class _Receipt:
    """What reading a video part's body produced, for the handler that applies it."""

    hasher: Any  # the video's hash with this part added, when it came in order; else None
    kept: bytes | None  # the part's bytes, when it came before an earlier part


def render_little_text(commentary: str) -> str:
    """What LinkedIn shows for `commentary`: escapes resolved, cut at the first unescaped reserved char."""
    shown: list[str] = []
    i = 0
    while i < len(commentary):
        char = commentary[i]
        following = commentary[i + 1] if i + 1 < len(commentary) else ""
        if char == "\\" and following:
            shown.append(following)
            i += 2
            continue
        hashtag = char == "#" and bool(_WORD.match(following))
        if char in RESERVED and not hashtag:
            break
        shown.append(char)
        i += 1
    return "".join(shown)


def _error(status: int, message: str, *, code: str | None = None, service: int | None = None) -> Reply:
    body: dict[str, Any] = {"status": status, "message": message}
    if code is not None:
        body["code"] = code
    if service is not None:
        body["serviceErrorCode"] = service
    return Reply(status, body)


def _schema_error(field: str, problem: str) -> Reply:
    return Reply(422, {"message": f"ERROR :: {field} :: {problem}\n", "status": 422})


def _missing(field: str) -> Reply:
    return _schema_error(field, "field is required but not found and has no default value")


def _not_converted() -> Reply:
    return _error(400, "Request body could not be converted to data map", code="ILLEGAL_ARGUMENT")


def _oauth_error(status: int, error: str, description: str) -> Reply:
    return Reply(status, {"error": error, "error_description": description})


def _invalid_token() -> Reply:
    return _error(401, "Invalid access token", service=65600)


def _throttled() -> Reply:
    return _error(429, "Resource level throttle limit for calls to this resource is reached.", service=101)


def _revoked() -> Reply:
    return _error(
        401,
        "The token used in the request has been revoked by the user",
        code="REVOKED_ACCESS_TOKEN",
        service=65601,
    )


def _server_error() -> Reply:
    return _error(500, "Internal Server Error")


class LinkedInSimulator(Simulator):
    """LinkedIn's Posts, Images, Documents, Videos and token endpoints, in memory (module docstring)."""

    def __init__(
        self,
        *,
        active_versions: Iterable[str] = DEFAULT_ACTIVE_VERSIONS,
        processing_polls: int = 0,
        client_id: str | None = None,
        client_secret: str | None = None,
        fresh_token_revoked_requests: int = 0,
        upload_ttl_s: float = 24 * 3600,
    ) -> None:
        super().__init__()
        self.active_versions = frozenset(active_versions)
        self.processing_polls = processing_polls  # status GETs answering PROCESSING after an upload
        self.processing_outcome = "AVAILABLE"  # or "PROCESSING_FAILED", what processing ends in
        self.client_id = client_id
        self.client_secret = client_secret
        self.fresh_token_revoked_requests = fresh_token_revoked_requests
        self.upload_ttl_s = upload_ttl_s
        self.posts: dict[str, dict[str, Any]] = {}
        self.images: dict[str, SimAsset] = {}
        self.documents: dict[str, SimAsset] = {}
        self.videos: dict[str, SimVideo] = {}
        self.issued_tokens: list[str] = []
        self._first_post_of: dict[tuple[str, str], str] = {}  # (author, commentary) → urn
        self._fresh_refusals: dict[str, int] = {}  # new access token → 65601 replies still due
        self._video_part_at: dict[str, tuple[str, int]] = {}  # upload id → (video urn, part index)
        self._receipts: dict[str, _Receipt] = {}
        self._outcome_of: dict[str, str] = {}  # urn → what its processing ends in
        self._serial = itertools.count(1)

    def _next(self) -> int:
        with self.lock:
            return next(self._serial)

    # ---- routing ---------------------------------------------------------------------------
    def step_of(self, request: Request) -> str:
        """The step name of a request (see the module docstring)."""
        path, action = request.path, request.query.get("action")
        if path == "/rest/posts":
            return "posts"
        for collection, singular in (("images", "image"), ("documents", "document")):
            if path == f"/rest/{collection}":
                return f"{collection}_init"
            if path.startswith(f"/rest/{collection}/"):
                return f"{singular}_status"
        if path == "/rest/videos":
            return "videos_finalize" if action == "finalizeUpload" else "videos_init"
        if path.startswith("/rest/videos/"):
            return "video_status"
        if path.startswith(UPLOAD_PREFIX):
            upload_id = path[len(UPLOAD_PREFIX) :]
            if upload_id.startswith("doc"):
                return "document_upload"
            return "video_upload" if upload_id.startswith("vid") else "upload"
        if path == TOKEN_PATH:
            return "token"
        return "other"

    def handle(self, request: Request) -> Reply:
        """Check the request contract, then apply the request."""
        step = self.step_of(request)
        if step == "other":
            return _error(404, f"No resource at {request.path}")
        if step == "token":
            return self._token(request) if request.method == "POST" else _error(405, "Use POST")
        if not step.endswith("upload"):
            refused = self._check_rest_headers(request)
            if refused is not None:
                return refused
        refused = self._check_token(request)
        if refused is not None:
            return refused
        routes: dict[tuple[str, str], Callable[[Request], Reply]] = {
            ("posts", "POST"): self._create_post,
            ("images_init", "POST"): lambda r: self._initialize_upload(r, "image"),
            ("upload", "PUT"): self._upload,
            ("image_status", "GET"): lambda r: self._asset_status(r, self.images, "/rest/images/"),
            ("documents_init", "POST"): lambda r: self._initialize_upload(r, "document"),
            ("document_upload", "PUT"): self._upload,
            ("document_status", "GET"): lambda r: self._asset_status(r, self.documents, "/rest/documents/"),
            ("videos_init", "POST"): self._initialize_video,
            ("video_upload", "PUT"): self._video_part,
            ("videos_finalize", "POST"): self._finalize_video,
            ("video_status", "GET"): self._video_status,
        }
        route = routes.get((step, request.method))
        return route(request) if route else _error(405, f"{request.method} is not supported here")

    def fault_reply(self, fault: str, request: Request, step: str) -> Reply:
        """LinkedIn's reply for the shared permanent / auth / rate_limit / server_error faults."""
        if step == "token":
            token_replies = {
                "permanent": _oauth_error(400, "invalid_request", "A required parameter is invalid"),
                "auth": _oauth_error(400, "invalid_grant", "The refresh token has expired"),
                "rate_limit": _oauth_error(429, "too_many_requests", "Too many requests"),
            }
            return token_replies.get(fault, _server_error())
        replies = {
            "permanent": _missing("/commentary"),
            "auth": _invalid_token(),
            "rate_limit": _throttled(),
        }
        return replies.get(fault, _server_error())

    # ---- request contract ------------------------------------------------------------------
    def _check_rest_headers(self, request: Request) -> Reply | None:
        version = request.headers.get("linkedin-version")
        if not version:
            return _error(
                426,
                "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
                code="VERSION_MISSING",
            )
        if version not in self.active_versions:
            return _error(426, f"Requested version {version} is not active", code="NONEXISTENT_VERSION")
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return _error(
                400, "X-Restli-Protocol-Version: 2.0.0 is required for this resource", code="ILLEGAL_ARGUMENT"
            )
        return None

    def _check_token(self, request: Request) -> Reply | None:
        token = bearer_token(request)
        if token is None:
            return _error(401, "Empty oauth2 access token", service=65604)
        if token.startswith("expired-"):
            return _error(
                401, "The token used in the request has expired", code="EXPIRED_ACCESS_TOKEN", service=65602
            )
        with self.lock:
            fresh = self._fresh_refusals.get(token, 0)
            if fresh:
                self._fresh_refusals[token] = fresh - 1
        if token.startswith("revoked-") or fresh:
            return _revoked()
        if token.startswith("denied-"):
            return _error(
                403,
                f"Not enough permissions to access: {request.method} {request.path}",
                code="ACCESS_DENIED",
                service=100,
            )
        if token.startswith("ratelimited-"):
            return _throttled()
        return None

    # ---- posts -----------------------------------------------------------------------------
    def _create_post(self, request: Request) -> Reply:
        body = request.json
        if not isinstance(body, dict):
            return _not_converted()
        for name in ("author", "commentary", "visibility", "distribution", "lifecycleState"):
            if name not in body:
                return _missing(f"/{name}")
        author, commentary = body["author"], body["commentary"]
        if not isinstance(author, str) or not _AUTHOR.fullmatch(author):
            return _schema_error("/author", f"{author!r} is not a person or organization urn")
        if not isinstance(commentary, str):
            return _schema_error("/commentary", "expected a string")
        if body["visibility"] not in VISIBILITIES:
            return _schema_error("/visibility", f"{body['visibility']!r} is not an enum symbol")
        if body["lifecycleState"] != "PUBLISHED":
            return _schema_error("/lifecycleState", "only PUBLISHED posts can be created through the API")
        length = len(_ESCAPE.sub(r"\1", commentary))
        if length > MAX_COMMENTARY:
            return _schema_error("/commentary", f"length {length} exceeds the maximum of {MAX_COMMENTARY}")
        with self.lock:
            record, refused = self._content_of(body.get("content"), author)
            if refused is not None:
                return refused
            shown = render_little_text(commentary)
            first = self._first_post_of.get((author, commentary))
            if first is not None:
                return self._duplicate(first)
            urn = f"urn:li:share:{7300000000000000000 + self._next()}"
            self.posts[urn] = {**body, "shown_text": shown}
            self._first_post_of[(author, commentary)] = urn
            self.record_created(platform="linkedin", id=urn, text=shown, author=author, **record)
        return Reply(201, None, headers={"x-restli-id": urn})

    @staticmethod
    def _duplicate(urn: str) -> Reply:
        return Reply(
            422,
            {
                "errorDetailType": "com.linkedin.common.error.BadRequest",
                "message": "com.linkedin.content.common.exception.BadRequestResponseException: "
                f"Content is a duplicate of {urn}",
                "errorDetails": {
                    "inputErrors": [
                        {"description": "Duplicate post is detected", "input": {}, "code": "DUPLICATE_POST"}
                    ]
                },
                "status": 422,
            },
        )

    def _content_of(self, content: Any, author: str) -> tuple[dict[str, Any], Reply | None]:
        """What the created record says about a post's `content`, or the reply refusing it."""
        if content is None:
            return {"kind": "text", "media": []}, None
        if not isinstance(content, dict):
            return {}, _schema_error("/content", "expected a record")
        if isinstance(content.get("media"), dict):
            return self._single_media(content["media"], author)
        if isinstance(content.get("multiImage"), dict):
            entries, where = content["multiImage"].get("images"), "/content/multiImage/images"
            if not isinstance(entries, list) or not 2 <= len(entries) <= 20:
                return {}, _schema_error(where, "a multi-image post needs between 2 and 20 images")
            urns: list[str] = []
            for entry in entries:
                urn = entry.get("id") if isinstance(entry, dict) else None
                refused = self._usable(self.images, urn, author, f"{where}/id", "image")
                if refused is not None:
                    return {}, refused
                urns.append(str(urn))
            return {"kind": "multi_image", "media": urns}, None
        if isinstance(content.get("article"), dict):
            return self._article(content["article"], author)
        return {}, _schema_error("/content", "only media, multiImage and article content is simulated")

    def _single_media(self, media: dict[str, Any], author: str) -> tuple[dict[str, Any], Reply | None]:
        urn, title, where = media.get("id"), media.get("title"), "/content/media"
        if not isinstance(urn, str):
            return {}, _missing(f"{where}/id")
        if urn.startswith("urn:li:video:"):
            video = self.videos.get(urn)
            if video is None:
                return {}, _schema_error(f"{where}/id", f"video {urn} does not exist")
            if video.owner != author:
                return {}, _schema_error(f"{where}/id", f"video {urn} belongs to {video.owner}, not {author}")
            if video.status != "AVAILABLE":
                return {}, _schema_error(f"{where}/id", f"video {urn} is {video.status}, not AVAILABLE")
            record = {"kind": "video", "media": [urn], "title": title or "", "bytes": video.size}
            return {**record, "sha256": video.sha256}, None
        if urn.startswith("urn:li:document:"):
            refused = self._usable(self.documents, urn, author, f"{where}/id", "document")
            if refused is not None:
                return {}, refused
            if not isinstance(title, str) or not title.strip():
                return {}, _missing(f"{where}/title")
            document = self.documents[urn]
            record = {"kind": "document", "media": [urn], "title": title, "bytes": document.size}
            return {**record, "sha256": document.sha256}, None
        refused = self._usable(self.images, urn, author, f"{where}/id", "image")
        return ({"kind": "image", "media": [urn]}, None) if refused is None else ({}, refused)

    def _article(self, article: dict[str, Any], author: str) -> tuple[dict[str, Any], Reply | None]:
        source, title, thumbnail = article.get("source"), article.get("title"), article.get("thumbnail")
        if not isinstance(source, str) or not source:
            return {}, _missing("/content/article/source")
        if not re.match(r"^https?://[^\s/]+", source):
            return {}, _schema_error("/content/article/source", f"{source!r} is not an http(s) URL")
        if not isinstance(title, str) or not title.strip():
            return {}, _missing("/content/article/title")
        media: list[str] = []
        if thumbnail is not None:
            refused = self._usable(self.images, thumbnail, author, "/content/article/thumbnail", "image")
            if refused is not None:
                return {}, refused
            media.append(str(thumbnail))
        record = {"kind": "article", "media": media, "source": source, "title": title}
        return {**record, "thumbnail": thumbnail}, None

    @staticmethod
    def _usable(assets: dict[str, SimAsset], urn: Any, author: str, where: str, noun: str) -> Reply | None:
        """None when `urn` names an AVAILABLE asset of `author`; else the 422 refusing it."""
        asset = assets.get(urn) if isinstance(urn, str) else None
        if asset is None:
            return _schema_error(where, f"{noun} {urn} does not exist")
        if asset.owner != author:
            return _schema_error(where, f"{noun} {urn} belongs to {asset.owner}, not {author}")
        if asset.status != "AVAILABLE":
            return _schema_error(where, f"{noun} {urn} is {asset.status}, not AVAILABLE")
        return None

    # ---- images and documents ----------------------------------------------------------------
    def _owner_of(self, request: Request) -> tuple[str | None, Reply | None]:
        """initializeUploadRequest.owner, or the reply refusing the request."""
        body = request.json
        if not isinstance(body, dict):
            return None, _not_converted()
        ask = body.get("initializeUploadRequest")
        owner = ask.get("owner") if isinstance(ask, dict) else None
        if owner is None:
            return None, _missing("/initializeUploadRequest/owner")
        if not isinstance(owner, str) or not _AUTHOR.fullmatch(owner):
            return None, _schema_error(
                "/initializeUploadRequest/owner", f"{owner!r} is not a valid owner urn"
            )
        return owner, None

    def _initialize_upload(self, request: Request, noun: str) -> Reply:
        if request.query.get("action") != "initializeUpload":
            return _error(400, "Unsupported action", code="ILLEGAL_ARGUMENT")
        owner, refused = self._owner_of(request)
        if refused is not None or owner is None:
            return refused or _not_converted()
        serial = self._next()
        if noun == "document":
            asset = SimAsset(
                urn=f"urn:li:document:D4E10SIM{serial:08d}", owner=owner, upload_id=f"doc{serial}"
            )
            store = self.documents
        else:
            asset = SimAsset(urn=f"urn:li:image:C4E10SIM{serial:08d}", owner=owner, upload_id=f"up{serial}")
            store = self.images
        with self.lock:
            store[asset.urn] = asset
        expires_ms = int((time.time() + self.upload_ttl_s) * 1000)
        return Reply(
            200,
            {
                "value": {
                    "uploadUrlExpiresAt": expires_ms,
                    "uploadUrl": f"{request.base_url}{UPLOAD_PREFIX}{asset.upload_id}",
                    noun: asset.urn,
                }
            },
        )

    def _upload(self, request: Request) -> Reply:
        upload_id = request.path[len(UPLOAD_PREFIX) :]
        size = int(request.headers.get("x-sim-body-bytes", "0"))
        head = bytes.fromhex(request.headers.get("x-sim-body-head", ""))
        is_document = upload_id.startswith("doc")
        store = self.documents if is_document else self.images
        with self.lock:
            asset = next((a for a in store.values() if a.upload_id == upload_id), None)
            if asset is None:
                return _error(404, "Upload URL not found")
            if size == 0:
                return _error(400, "The upload body is empty", code="ILLEGAL_ARGUMENT")
            asset.size = size
            asset.sha256 = request.headers.get("x-sim-body-sha256", "")
            outcome = self.processing_outcome
            if is_document and not head.startswith(_DOCUMENT_MAGIC):
                outcome = "PROCESSING_FAILED"
            asset.polls_left = self.processing_polls
            asset.status = "PROCESSING" if self.processing_polls else outcome
            self._outcome_of[asset.urn] = outcome
        return Reply(201, None)

    def _asset_status(self, request: Request, store: dict[str, SimAsset], prefix: str) -> Reply:
        urn = request.path[len(prefix) :]
        with self.lock:
            asset = store.get(urn)
            if asset is None:
                return _error(404, f"{urn} does not exist", code="NOT_FOUND")
            if asset.status == "PROCESSING":
                if asset.polls_left > 0:
                    asset.polls_left -= 1
                else:
                    asset.status = self._outcome_of.get(urn, self.processing_outcome)
            return Reply(200, {"id": asset.urn, "owner": asset.owner, "status": asset.status})

    # ---- videos ----------------------------------------------------------------------------
    def _initialize_video(self, request: Request) -> Reply:
        if request.query.get("action") != "initializeUpload":
            return _error(400, "Unsupported action", code="ILLEGAL_ARGUMENT")
        owner, refused = self._owner_of(request)
        if refused is not None or owner is None:
            return refused or _not_converted()
        size = request.json["initializeUploadRequest"].get("fileSizeBytes")
        if size is None:
            return _missing("/initializeUploadRequest/fileSizeBytes")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            return _schema_error("/initializeUploadRequest/fileSizeBytes", f"{size!r} is not a positive size")
        serial = self._next()
        count = -(-size // VIDEO_PART_BYTES)
        parts = [
            SimVideoPart(
                first=i * VIDEO_PART_BYTES,
                last=min(size, (i + 1) * VIDEO_PART_BYTES) - 1,
                upload_id=f"vid{serial}-{i}",
            )
            for i in range(count)
        ]
        video = SimVideo(
            urn=f"urn:li:video:D5E10SIM{serial:08d}",
            owner=owner,
            size=size,
            upload_token="" if count == 1 else f"sim-upload-{serial}",
            expires_at=time.time() + self.upload_ttl_s,
            parts=parts,
        )
        with self.lock:
            self.videos[video.urn] = video
            for index, part in enumerate(parts):
                self._video_part_at[part.upload_id] = (video.urn, index)
        return Reply(
            200,
            {
                "value": {
                    "video": video.urn,
                    "uploadUrlsExpireAt": int(video.expires_at * 1000),
                    "uploadToken": video.upload_token,
                    "uploadInstructions": [
                        {
                            "uploadUrl": f"{request.base_url}{UPLOAD_PREFIX}{part.upload_id}",
                            "firstByte": part.first,
                            "lastByte": part.last,
                        }
                        for part in parts
                    ],
                }
            },
        )

    def _video_part(self, request: Request) -> Reply:
        upload_id = request.path[len(UPLOAD_PREFIX) :]
        size = int(request.headers.get("x-sim-body-bytes", "0"))
        digest = request.headers.get("x-sim-body-sha256", "")
        with self.lock:
            receipt = self._receipts.pop(request.headers.get("x-sim-receipt", ""), None)
            where = self._video_part_at.get(upload_id)
            if where is None:
                return _error(404, "Upload URL not found")
            video = self.videos[where[0]]
            index = where[1]
            part = video.parts[index]
            if time.time() > video.expires_at:
                return _error(401, "The upload URL has expired")
            if video.status != "WAITING_UPLOAD":
                return _error(400, f"Video {video.urn} is already {video.status}", code="ILLEGAL_ARGUMENT")
            expected = part.last - part.first + 1
            if size != expected:
                return _error(
                    400,
                    f"Part {index} must hold bytes {part.first}-{part.last} ({expected} bytes); "
                    f"{size} were sent",
                    code="ILLEGAL_ARGUMENT",
                )
            if index < video.hashed_parts and part.sha256 != digest:
                video.rehashed_differently = True
            part.sha256 = digest
            part.etag = (
                "sim-etag-" + hashlib.sha256(f"{video.urn}/{index}/{digest}".encode()).hexdigest()[:24]
            )
            if index == 0:
                video.head = bytes.fromhex(request.headers.get("x-sim-body-head", ""))
            if receipt is not None and receipt.hasher is not None and index == video.hashed_parts:
                video.hasher = receipt.hasher
                video.hashed_parts += 1
            elif receipt is not None and receipt.kept is not None and index > video.hashed_parts:
                part.pending = receipt.kept
            while video.hashed_parts < len(video.parts) and video.parts[video.hashed_parts].pending:
                waiting = video.parts[video.hashed_parts]
                video.hasher.update(waiting.pending)
                waiting.pending = None
                video.hashed_parts += 1
            return Reply(200, None, headers={"etag": part.etag})

    def _finalize_video(self, request: Request) -> Reply:
        body = request.json
        ask = body.get("finalizeUploadRequest") if isinstance(body, dict) else None
        if not isinstance(ask, dict):
            return _missing("/finalizeUploadRequest")
        urn, token, etags = ask.get("video"), ask.get("uploadToken"), ask.get("uploadedPartIds")
        with self.lock:
            video = self.videos.get(urn) if isinstance(urn, str) else None
            if video is None:
                return _error(404, f"Video {urn} does not exist", code="NOT_FOUND")
            if video.status != "WAITING_UPLOAD":
                return Reply(200, None)  # finalizing twice changes nothing
            if token != video.upload_token:
                return _error(400, "The uploadToken does not match this upload", code="ILLEGAL_ARGUMENT")
            expected = [part.etag for part in video.parts]
            if None in expected:
                missing = expected.index(None)
                return _error(
                    400, f"Part {missing} of {video.urn} was never uploaded", code="ILLEGAL_ARGUMENT"
                )
            if etags != expected:
                return _error(
                    400, "uploadedPartIds do not match the uploaded parts, in order", code="ILLEGAL_ARGUMENT"
                )
            complete = video.hashed_parts == len(video.parts) and not video.rehashed_differently
            video.sha256 = video.hasher.hexdigest() if complete else ""
            is_video = len(video.head) >= 8 and video.head[4:8] in _VIDEO_BOXES
            self._outcome_of[video.urn] = self.processing_outcome if is_video else "PROCESSING_FAILED"
            video.polls_left = self.processing_polls
            video.status = "PROCESSING" if self.processing_polls else self._outcome_of[video.urn]
        return Reply(200, None)

    def _video_status(self, request: Request) -> Reply:
        urn = request.path[len("/rest/videos/") :]
        with self.lock:
            video = self.videos.get(urn)
            if video is None:
                return _error(404, f"Video {urn} does not exist", code="NOT_FOUND")
            if video.status == "PROCESSING":
                if video.polls_left > 0:
                    video.polls_left -= 1
                else:
                    video.status = self._outcome_of[urn]
            reply: dict[str, Any] = {"id": video.urn, "owner": video.owner, "status": video.status}
            if video.status == "PROCESSING_FAILED":
                reply["processingFailureReason"] = "The file is not a supported video format"
            return Reply(200, reply)

    # ---- OAuth -----------------------------------------------------------------------------
    def _token(self, request: Request) -> Reply:
        form = request.form
        if form.get("grant_type") != "refresh_token":
            return _oauth_error(400, "unsupported_grant_type", "Only the refresh_token grant is simulated")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if (
            not client_id
            or not client_secret
            or self.client_id not in (None, client_id)
            or self.client_secret not in (None, client_secret)
        ):
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            return _oauth_error(400, "invalid_request", 'A required parameter "refresh_token" is missing')
        if refresh_token.startswith("revoked-"):
            return _oauth_error(400, "invalid_grant", "The refresh token has been revoked by the user")
        if refresh_token.startswith("expired-"):
            return _oauth_error(400, "invalid_grant", "The refresh token has expired")
        access_token = f"AQV-sim-{self._next()}"
        with self.lock:
            self.issued_tokens.append(access_token)
            if self.fresh_token_revoked_requests:
                self._fresh_refusals[access_token] = self.fresh_token_revoked_requests
        return Reply(
            200,
            {
                "access_token": access_token,
                "expires_in": 5184000,
                "refresh_token": refresh_token,
                "refresh_token_expires_in": 31536000,
            },
        )

    # ---- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(UPLOAD_PREFIX):
            environ = self._digest_upload(environ)
        return super().__call__(environ, start_response)

    def _digest_upload(self, environ: dict[str, Any]) -> dict[str, Any]:
        """Read an upload body block by block into a byte count and sha256, instead of keeping it.

        The base class reads bodies whole; uploads are the one place where a test measures the
        client's memory, and a simulator in the same process must not add the file's size to it.
        A video part is also added to its video's running hash when it comes in order (kept
        only when it comes before an earlier part). Chunked bodies are decoded here too
        (wsgiref passes them through raw).
        """
        upload_id = environ.get("PATH_INFO", "")[len(UPLOAD_PREFIX) :]
        running: Any = None
        keep = False
        with self.lock:
            where = self._video_part_at.get(upload_id)
            if where is not None:
                video = self.videos[where[0]]
                if where[1] == video.hashed_parts:
                    running = video.hasher.copy()
                keep = where[1] > video.hashed_parts
        digest = hashlib.sha256()
        size = 0
        head = b""
        kept: list[bytes] = []
        for block in _body_blocks(environ["wsgi.input"], environ):
            digest.update(block)
            size += len(block)
            head += block[: _HEAD_BYTES - len(head)]
            if running is not None:
                running.update(block)
            if keep:
                kept.append(block)
        receipt = f"r{self._next()}"
        with self.lock:
            self._receipts[receipt] = _Receipt(running, b"".join(kept) if keep else None)
        replaced = dict(environ)
        replaced.update(
            {
                "wsgi.input": io.BytesIO(b""),
                "CONTENT_LENGTH": "0",
                _BODY_BYTES: str(size),
                _BODY_SHA256: digest.hexdigest(),
                _BODY_HEAD: head.hex(),
                _RECEIPT: receipt,
            }
        )
        return replaced


def _body_blocks(stream: Any, environ: dict[str, Any]) -> Iterable[bytes]:
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        while True:
            size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while stream.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers, up to the blank line that ends the body
                return
            yield from _exactly(stream, size)
            stream.readline()  # the CRLF after each chunk
    else:
        yield from _exactly(stream, int(environ.get("CONTENT_LENGTH") or 0))


def _exactly(stream: Any, size: int) -> Iterable[bytes]:
    left = size
    while left > 0:
        block = stream.read(min(_BLOCK, left))
        if not block:
            return
        left -= len(block)
        yield block
