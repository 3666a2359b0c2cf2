"""A local Graph API: Facebook Pages and Instagram publishing, as one WSGI app.

Both platforms live on graph.facebook.com, so one simulator answers both (point
`meta_graph_url` and `meta_graph_video_url` at `<served url>/v27.0`). Paths may carry any
`/vNN.N` version prefix. Replies, ids, error JSON and headers follow
/work/shared/contracts/platform_apis.md §1, §2 and §6.1.

Endpoints and their step names (for `inject(fault, step=...)` and `X-Fake-Scenario`):

| step             | call                                                                  |
|------------------|-----------------------------------------------------------------------|
| feed             | POST /{page}/feed: message, link, attached_media[i], published        |
| photos           | POST /{page}/photos: url, caption/message, published                  |
| videos           | POST /{page}/videos: file_url, description, title, published          |
| published_posts  | GET /{page}/published_posts and GET /{page}/videos (reconciliation)   |
| permalink        | GET /{id} of a Facebook post, photo or video (and unknown ids)        |
| publishing_limit | GET /{ig-user}/content_publishing_limit                               |
| media            | POST /{ig-user}/media: create a container (image, REELS, carousel)    |
| container_status | GET /{container-id}?fields=status_code,status                         |
| media_publish    | POST /{ig-user}/media_publish: creation_id                            |
| ig_media         | GET /{ig-media-id} and GET /{ig-user}/media (the account's media)     |
| other            | anything else: 100/33 "Unsupported get/post request"                  |

Tokens: `access_token` (form or query) or `Authorization: Bearer`. Any token is accepted except
- `expired-…`: 190/463, session expired (class A);
- `revoked-…`: 190/460, session invalidated by a password change (class A);
- `ratelimited-…`: code 4 with `is_transient: true` and an `X-Business-Use-Case-Usage` header
  whose `estimated_time_to_regain_access` is `regain_minutes` (class R).
No token at all: code 104. Tokens are never stored in `created`.

State and test controls:
- ids: posts `"{page}_{n}"`, photos, videos, containers and IG media bare numbers;
- Instagram image containers are FINISHED at once, video containers after `video_polls` status
  reads; a carousel parent is as ready as its least ready child; containers EXPIRE after 24 h of
  `clock`; `set_container_status(id, "ERROR", status=...)` scripts the rest;
- `not_ready_publishes`: media_publish still answers 9007/2207027 this many times per
  container after it reports FINISHED, as Meta sometimes does;
- the publishing quota counts publishes in the last 24 h (`quota_total`, `use_quota`);
- `fetch_media=True` makes the simulator HEAD every media URL, as Meta downloads it: an
  unreachable URL gets the platform's error (serve a `MediaHost` next to it).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import string
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devstack.simulators.base import Reply, Request, Simulator, bearer_token

SERVER_ERROR_MESSAGE = "An unexpected error has occurred. Please retry your request later."
CAPTION_MAX = 2200
HASHTAGS_MAX = 30
MENTIONS_MAX = 20
CAROUSEL_MIN, CAROUSEL_MAX = 2, 10
CONTAINER_LIFETIME_S = 24 * 3600
QUOTA_DURATION_S = 24 * 3600

_VERSION = re.compile(r"^/v\d+\.\d+(?=/|$)")
_HASHTAG = re.compile(r"(?<![\w#])#\w+")
_MENTION = re.compile(r"(?<![\w@])@[\w.]+")
_JPEG = (".jpg", ".jpeg")
_VIDEO = (".mp4", ".mov")


class _Refusal(Exception):  # noqa: N818 (control flow inside the simulator, carries the reply)
    """Raised by a handler to answer with a Graph error."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def graph_error(
    status: int,
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    error_type: str = "OAuthException",
    transient: bool | None = None,
    user_title: str = "",
    user_msg: str = "",
    headers: dict[str, str] | None = None,
) -> Reply:
    """A reply in the exact shape of contract §1.4."""
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    if user_title:
        error["error_user_title"] = user_title
    if user_msg:
        error["error_user_msg"] = user_msg
    error["fbtrace_id"] = "A" + "".join(
        secrets.choice(string.ascii_letters + string.digits) for _ in range(22)
    )
    return Reply(status, {"error": error}, headers=dict(headers or {}))


def _refuse(status: int, code: int, message: str, **kwargs: Any) -> _Refusal:
    return _Refusal(graph_error(status, code, message, **kwargs))


def _invalid(message: str, **kwargs: Any) -> _Refusal:
    return _refuse(400, 100, message, **kwargs)


# Instagram publishing errors (contract §2.7): subcode → (code, message, error_user_title,
# error_user_msg). Real replies put the detail in error_user_msg, the message is often generic.
_IG_ERRORS: dict[int, tuple[int, str, str, str]] = {
    2207005: (
        36001,
        "Invalid parameter",
        "Unsupported format",
        "The image format is not supported. Supported formats are: JPEG",
    ),
    2207006: (
        24,
        "The media with the given id cannot be found",
        "Media not found",
        "A carousel item does not exist, belongs to another account or is already used.",
    ),
    2207008: (
        24,
        "The media builder does not exist or has expired",
        "Media builder expired",
        "The media container does not exist or has expired.",
    ),
    2207010: (
        36004,
        "Invalid parameter",
        "Caption too long",
        f"Captions can have at most {CAPTION_MAX} characters and {HASHTAGS_MAX} hashtags.",
    ),
    2207020: (
        -2,
        "The media you are trying to access has expired. Please try to upload again.",
        "Media expired",
        "The media has expired. Please upload it again.",
    ),
    2207023: (
        100,
        "Invalid parameter",
        "Unsupported media type",
        "Use no media_type for images, REELS for videos, CAROUSEL for carousels; "
        "carousel items are images or VIDEO.",
    ),
    2207027: (
        9007,
        "Media ID is not available",
        "Media not ready",
        "The media is not ready for publishing, please wait for a moment",
    ),
    2207028: (
        100,
        "Invalid parameter",
        "Carousel size",
        "Your post won't be able to be shared as a carousel. Carousels need at least 2 "
        "photos/videos and no more than 10 photos/videos.",
    ),
    2207032: (
        -1,
        "Create media fail, please try to re-create media",
        "Media creation failed",
        "Creating the media failed; please create it again.",
    ),
    2207040: (
        100,
        "Invalid parameter",
        "Too many tags",
        f"Cannot use more than {MENTIONS_MAX} tags per created media.",
    ),
    2207042: (
        9,
        "Application request limit reached",
        "Maximum posts reached",
        "You reached maximum number of posts that is allowed to be published by Content Publishing API.",
    ),
    2207052: (
        9004,
        "The media could not be fetched from this uri",
        "Media download has failed.",
        "The media could not be fetched from this URI. Check that the URL is public.",
    ),
}


def _ig_error(subcode: int) -> _Refusal:
    code, message, title, user_msg = _IG_ERRORS[subcode]
    return _refuse(400, code, message, subcode=subcode, transient=False, user_title=title, user_msg=user_msg)


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.lower() not in ("false", "0", "no")


@dataclass
class _Post:
    id: str
    page: str
    message: str
    created: float
    media: list[str]
    published: bool = True


@dataclass
class _Photo:
    id: str
    page: str
    url: str
    published: bool
    attached_to: str | None = None


@dataclass
class _Video:
    id: str
    page: str
    description: str
    title: str
    file_url: str
    created: float
    post_id: str


@dataclass
class _Container:
    id: str
    owner: str
    media_type: str  # IMAGE, VIDEO, REELS, CAROUSEL
    caption: str
    url: str  # image_url or video_url; "" for a carousel parent
    created: float
    is_item: bool = False
    children: list[str] = field(default_factory=list)
    status_code: str = "FINISHED"
    status: str = ""
    polls_left: int = 0
    parent: str | None = None


@dataclass
class _Media:
    id: str
    owner: str
    caption: str
    shortcode: str
    media_type: str  # IMAGE, VIDEO, CAROUSEL_ALBUM
    product: str  # FEED, REELS
    created: float
    urls: list[str]


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _pick(
    available: dict[str, Any], request: Request, default: tuple[str, ...], node_type: str
) -> dict[str, Any]:
    """The requested `fields` of an object, refusing a field its node type does not have."""
    wanted = [f.strip() for f in (request.query.get("fields") or "").split(",") if f.strip()] or list(default)
    for name in wanted:
        if name not in available:
            raise _invalid(f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})")
    result = {name: available[name] for name in wanted if available[name] is not None}
    result.setdefault("id", available["id"])
    return result


class GraphSimulator(Simulator):
    """Facebook Pages + Instagram Graph API, stateful and strict (see the module docstring)."""

    def __init__(
        self,
        *,
        video_polls: int = 2,
        not_ready_publishes: int = 0,
        quota_total: int = 50,
        regain_minutes: int = 7,
        fetch_media: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.video_polls = video_polls
        self.not_ready_publishes = not_ready_publishes
        self.quota_total = quota_total
        self.regain_minutes = regain_minutes
        self.fetch_media = fetch_media
        self.clock = clock
        self._ids = itertools.count(1784140000000001)
        self.posts: dict[str, _Post] = {}
        self.photos: dict[str, _Photo] = {}
        self.videos: dict[str, _Video] = {}
        self.containers: dict[str, _Container] = {}
        self.media: dict[str, _Media] = {}
        self._publishes: dict[str, list[float]] = {}  # IG user → publish times, for the quota
        self._not_ready_answers: dict[str, int] = {}  # container → 9007 replies given while FINISHED
        self._calls = 0

    # ---- test controls -------------------------------------------------------------------
    def set_container_status(self, container_id: str, status_code: str, status: str = "") -> None:
        """Force a container into IN_PROGRESS / FINISHED / ERROR / EXPIRED / PUBLISHED."""
        with self.lock:
            container = self.containers[container_id]
            container.status_code = status_code
            container.status = status
            container.polls_left = 0

    def use_quota(self, ig_user_id: str, count: int) -> None:
        """Count `count` publishes by the account now (to fill its 24 h quota)."""
        with self.lock:
            self._publishes.setdefault(ig_user_id, []).extend([self.clock()] * count)

    def quota_usage(self, ig_user_id: str) -> int:
        """Publishes by the account in the last 24 h of `clock`."""
        with self.lock:
            since = self.clock() - QUOTA_DURATION_S
            return sum(1 for t in self._publishes.get(ig_user_id, []) if t > since)

    # ---- routing -------------------------------------------------------------------------
    @staticmethod
    def _segments(request: Request) -> list[str]:
        path = _VERSION.sub("", request.path)
        return [s for s in path.split("/") if s]

    def _endpoint(self, request: Request) -> tuple[str, str]:
        """Which endpoint a request calls, and the id in its path (page, IG user or object)."""
        parts = self._segments(request)
        owner = parts[0] if parts else ""
        if len(parts) == 2:
            return _EDGES.get((request.method, parts[1]), "unsupported"), owner
        if len(parts) == 1 and request.method == "GET":
            with self.lock:
                if owner in self.containers:
                    return "container", owner
                if owner in self.media:
                    return "ig_media", owner
            return "object", owner
        return "unsupported", owner

    def step_of(self, request: Request) -> str:
        """The step name of a request (see the table in the module docstring)."""
        return _STEPS[self._endpoint(request)[0]]

    def handle(self, request: Request) -> Reply:
        """Check the token, then apply the request."""
        try:
            self._check_token(request)
            endpoint, owner = self._endpoint(request)
            media_ok = self._check_media_reachable(request, endpoint)
            handlers: dict[str, Callable[[str, Request], Reply]] = {
                "feed": self._feed,
                "photos": self._photos,
                "videos": self._videos,
                "published_posts": self._published_posts,
                "page_videos": self._video_list,
                "object": self._get_object,
                "publishing_limit": self._publishing_limit,
                "media": lambda ig_user, req: self._create_container(ig_user, req, video_reachable=media_ok),
                "container": self._container_status,
                "media_publish": self._media_publish,
                "ig_media": self._get_media,
                "ig_media_list": self._media_list,
                "unsupported": self._unsupported,
            }
            with self.lock:
                reply = handlers[endpoint](owner, request)
        except _Refusal as refusal:
            reply = refusal.reply
        reply.headers.setdefault("X-App-Usage", self._app_usage())
        return reply

    def _unsupported(self, owner: str, request: Request) -> Reply:
        kind = "get" if request.method == "GET" else "post"
        raise _invalid(
            f"Unsupported {kind} request. Object with ID '{owner}' does not exist, cannot be loaded due "
            "to missing permissions, or does not support this operation. Please read the Graph API "
            "documentation at https://developers.facebook.com/docs/graph-api",
            subcode=33,
            error_type="GraphMethodException",
        )

    # ---- tokens, usage headers, fault replies -------------------------------------------
    def _check_token(self, request: Request) -> None:
        token = request.param("access_token") or bearer_token(request)
        if not token:
            raise _refuse(400, 104, "An access token is required to request this resource.")
        if token.startswith("expired-"):
            raise _expired()
        if token.startswith("revoked-"):
            raise _refuse(
                400,
                190,
                "Error validating access token: The session has been invalidated because the user changed "
                "their password or Facebook has changed the session for security reasons.",
                subcode=460,
            )
        if token.startswith("ratelimited-"):
            raise _Refusal(self._rate_limited(request, code=4, status=403))

    def _app_usage(self) -> str:
        with self.lock:
            self._calls += 1
            share = min(99, self._calls)
        return json.dumps({"call_count": share, "total_cputime": 1, "total_time": 1})

    def _usage_header(self, request: Request, kind: str, regain: int, call_count: int) -> dict[str, str]:
        parts = self._segments(request)
        owner = parts[0] if parts else "0"
        usage = {
            owner: [
                {
                    "type": kind,
                    "call_count": call_count,
                    "total_cputime": 4,
                    "total_time": 6,
                    "estimated_time_to_regain_access": regain,
                }
            ]
        }
        return {"X-Business-Use-Case-Usage": json.dumps(usage)}

    def _rate_limited(self, request: Request, *, code: int, status: int = 400) -> Reply:
        instagram = self.step_of(request) in _INSTAGRAM_STEPS
        headers = self._usage_header(request, "instagram" if instagram else "pages", self.regain_minutes, 100)
        if code == 4:
            return graph_error(
                status, 4, "(#4) Application request limit reached", transient=True, headers=headers
            )
        return graph_error(
            status,
            code,
            f"(#{code}) There have been too many calls to this Page account. Wait a bit and try again. For "
            "more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
            transient=True,
            headers=headers,
        )

    def fault_reply(self, fault: str, request: Request, step: str) -> Reply:
        """The Graph reply of a scripted fault (§1.4 shape, realistic codes and statuses)."""
        if fault == "permanent":
            return graph_error(400, 100, "(#100) Invalid parameter", transient=False)
        if fault == "auth":
            return _expired().reply
        if fault == "rate_limit":
            # Instagram calls hit the app limit (code 4); Page calls the Pages BUC limit (80001).
            return self._rate_limited(request, code=4 if step in _INSTAGRAM_STEPS else 80001)
        return graph_error(500, 2, SERVER_ERROR_MESSAGE, transient=True)

    # ---- media fetching ------------------------------------------------------------------
    def _check_media_reachable(self, request: Request, endpoint: str) -> bool:
        """Download-check a request's media URL the way Meta does (outside the lock: it is slow).

        Refuses the request when Meta would; False means an Instagram video that cannot be
        fetched, which Meta reports later through the container's status.
        """
        if not self.fetch_media or endpoint not in ("photos", "videos", "media"):
            return True
        url = request.param("url") or request.param("file_url") or request.param("image_url")
        url = url or request.param("video_url")
        if not url or _reachable(url):
            return True
        if endpoint == "photos":
            raise _refuse(400, 324, "(#324) Missing or invalid image file")
        if endpoint == "videos":
            raise _refuse(400, 389, "(#389) Unable to fetch video file from URL.")
        if request.param("video_url"):
            return False
        raise _ig_error(2207052)

    # ---- Facebook ------------------------------------------------------------------------
    def _new_id(self) -> str:
        return str(next(self._ids))

    def _feed(self, page: str, request: Request) -> Reply:
        message = request.param("message") or ""
        link = request.param("link") or ""
        fbids = self._attached_media(request)
        if not (message or link or fbids):
            raise _invalid("(#100) Missing message or attachment")
        photos = []
        for fbid in fbids:
            photo = self.photos.get(fbid)
            if photo is None or photo.page != page:
                raise _invalid(f"(#100) Invalid media_fbid: {fbid}")
            if photo.published or photo.attached_to is not None:
                raise _invalid(f"(#100) The photo {fbid} has already been used in another post")
            photos.append(photo)
        if len(set(fbids)) != len(fbids):
            raise _invalid("(#100) The same media_fbid is attached more than once")
        published = _flag(request.param("published"), default=True)
        if published and message and not fbids and self._last_message(page) == message:
            raise _refuse(400, 506, "(#506) Duplicate status message", transient=False)
        post = _Post(
            id=f"{page}_{self._new_id()}",
            page=page,
            message=message,
            created=self.clock(),
            media=[p.url for p in photos] + ([link] if link else []),
            published=published,
        )
        self.posts[post.id] = post
        for photo in photos:
            photo.attached_to = post.id
        if published:
            self.record_created(platform="facebook", id=post.id, text=message, media=list(post.media))
        return Reply(200, {"id": post.id})

    @staticmethod
    def _attached_media(request: Request) -> list[str]:
        """media_fbids from form keys `attached_media[i]` or a JSON `attached_media` list."""
        items: list[tuple[int, Any]] = []
        for key, value in request.form.items():
            match = re.fullmatch(r"attached_media\[(\d+)\]", key)
            if match:
                items.append((int(match.group(1)), value))
        if "attached_media" in request.form:  # a JSON body's list, kept as JSON text by parse_request
            try:
                parsed = json.loads(request.form["attached_media"])
            except ValueError:
                parsed = [None]
            items.extend(enumerate(parsed if isinstance(parsed, list) else [parsed]))
        fbids = []
        for _, value in sorted(items, key=lambda item: item[0]):
            try:
                obj = json.loads(value) if isinstance(value, str) else value
            except ValueError:
                obj = None
            if not isinstance(obj, dict) or not obj.get("media_fbid"):
                raise _invalid('(#100) attached_media must be a JSON object like {"media_fbid":"<id>"}')
            fbids.append(str(obj["media_fbid"]))
        return fbids

    def _last_message(self, page: str) -> str | None:
        posts = [p for p in self.posts.values() if p.page == page and p.published]
        return posts[-1].message if posts else None

    def _photos(self, page: str, request: Request) -> Reply:
        url = request.param("url") or ""
        if not url:
            raise _refuse(400, 324, "(#324) Requires upload file")
        if not url.startswith(("http://", "https://")):
            raise _invalid("(#100) url should represent a valid URL")
        caption = request.param("caption") or request.param("message") or ""
        published = _flag(request.param("published"), default=True)
        photo = _Photo(id=self._new_id(), page=page, url=url, published=published)
        self.photos[photo.id] = photo
        if not published:
            return Reply(200, {"id": photo.id})
        post = _Post(
            id=f"{page}_{self._new_id()}", page=page, message=caption, created=self.clock(), media=[url]
        )
        self.posts[post.id] = post
        self.record_created(platform="facebook", id=post.id, text=caption, media=[url])
        return Reply(200, {"id": photo.id, "post_id": post.id})

    def _videos(self, page: str, request: Request) -> Reply:
        file_url = request.param("file_url") or ""
        if not file_url.startswith(("http://", "https://")):
            raise _invalid("(#100) file_url should represent a valid URL")
        description = request.param("description") or ""
        video_id = self._new_id()
        video = _Video(
            id=video_id,
            page=page,
            description=description,
            title=request.param("title") or "",
            file_url=file_url,
            created=self.clock(),
            post_id=f"{page}_{video_id}",
        )
        self.videos[video.id] = video
        if _flag(request.param("published"), default=True):
            self.posts[video.post_id] = _Post(video.post_id, page, description, video.created, [file_url])
            self.record_created(platform="facebook", id=video.id, text=description, media=[file_url])
        return Reply(200, {"id": video.id})

    def _since(self, request: Request) -> float:
        raw = request.query.get("since") or ""
        if not raw:
            return 0.0
        if raw.isdigit():
            return float(raw)
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise _invalid(f"(#100) The parameter since is not a valid time: {raw}") from None

    def _limit(self, request: Request) -> int:
        raw = request.query.get("limit") or "25"
        if not raw.isdigit():
            raise _invalid("(#100) The parameter limit must be an integer")
        return min(int(raw), 100)

    def _published_posts(self, page: str, request: Request) -> Reply:
        since = self._since(request)
        posts = [p for p in self.posts.values() if p.page == page and p.published and p.created >= since]
        posts.sort(key=lambda p: p.created, reverse=True)
        data = [
            _pick(self._post_fields(p), request, ("created_time", "message", "id"), "Post")
            for p in posts[: self._limit(request)]
        ]
        return Reply(200, {"data": data, "paging": {"cursors": {"before": "QVFIUjBm", "after": "QVFIUjFm"}}})

    def _video_list(self, page: str, request: Request) -> Reply:
        since = self._since(request)
        videos = [v for v in self.videos.values() if v.page == page and v.created >= since]
        videos.sort(key=lambda v: v.created, reverse=True)
        data = [
            _pick(self._video_fields(v), request, ("description", "updated_time", "id"), "Video")
            for v in videos[: self._limit(request)]
        ]
        return Reply(200, {"data": data, "paging": {"cursors": {"before": "QVFIUjBm", "after": "QVFIUjFm"}}})

    @staticmethod
    def _post_fields(post: _Post) -> dict[str, Any]:
        page, _, number = post.id.partition("_")
        return {
            "id": post.id,
            "message": post.message or None,
            "created_time": _timestamp(post.created),
            "permalink_url": f"https://www.facebook.com/{page}/posts/{number}",
            "is_published": post.published,
        }

    @staticmethod
    def _video_fields(video: _Video) -> dict[str, Any]:
        return {
            "id": video.id,
            "description": video.description or None,
            "title": video.title or None,
            "created_time": _timestamp(video.created),
            "updated_time": _timestamp(video.created),
            # The real Video node answers a path relative to facebook.com, not a full URL.
            "permalink_url": f"/{video.page}/videos/{video.id}/",
            "status": {"video_status": "ready", "processing_progress": 100},
        }

    def _get_object(self, object_id: str, request: Request) -> Reply:
        if object_id in self.posts:
            fields = self._post_fields(self.posts[object_id])
            return Reply(200, _pick(fields, request, ("created_time", "message", "id"), "Post"))
        if object_id in self.videos:
            return Reply(200, _pick(self._video_fields(self.videos[object_id]), request, ("id",), "Video"))
        if object_id in self.photos:
            photo = self.photos[object_id]
            fields = {"id": photo.id, "link": f"https://www.facebook.com/photo.php?fbid={photo.id}"}
            return Reply(200, _pick(fields, request, ("id",), "Photo"))
        return self._unsupported(object_id, request)

    # ---- Instagram -----------------------------------------------------------------------
    def _publishing_limit(self, ig_user: str, request: Request) -> Reply:
        config = {"quota_total": self.quota_total, "quota_duration": QUOTA_DURATION_S}
        return Reply(200, {"data": [{"quota_usage": self.quota_usage(ig_user), "config": config}]})

    def _create_container(self, ig_user: str, request: Request, *, video_reachable: bool) -> Reply:
        media_type = (request.param("media_type") or "").upper()
        is_item = _flag(request.param("is_carousel_item"), default=False)
        caption = request.param("caption") or ""
        if not is_item:
            self._check_caption(caption)
        if media_type == "CAROUSEL":
            return self._create_carousel(ig_user, caption, request)
        if media_type in ("REELS", "VIDEO"):
            if media_type == "VIDEO" and not is_item:
                raise _ig_error(2207023)
            if media_type == "REELS" and is_item:
                raise _ig_error(2207023)
            return self._create_video_container(
                ig_user,
                request,
                media_type=media_type,
                caption=caption,
                is_item=is_item,
                reachable=video_reachable,
            )
        if media_type not in ("", "IMAGE"):
            raise _ig_error(2207023)
        image_url = request.param("image_url") or ""
        if not image_url:
            raise _invalid("(#100) The parameter image_url is required")
        if not image_url.lower().split("?", 1)[0].endswith(_JPEG):
            raise _ig_error(2207005)
        container = _Container(
            self._new_id(), ig_user, "IMAGE", caption, image_url, self.clock(), is_item=is_item
        )
        self.containers[container.id] = container
        return Reply(200, {"id": container.id})

    def _create_video_container(
        self, ig_user: str, request: Request, *, media_type: str, caption: str, is_item: bool, reachable: bool
    ) -> Reply:
        video_url = request.param("video_url") or ""
        if not video_url:
            raise _invalid("(#100) The parameter video_url is required")
        container = _Container(
            self._new_id(),
            ig_user,
            media_type,
            caption,
            video_url,
            self.clock(),
            is_item=is_item,
            status_code="IN_PROGRESS",
            polls_left=self.video_polls,
        )
        # Meta downloads and transcodes videos after answering, so bad videos surface as ERROR.
        if not reachable:
            container.status = (
                "Error: Media download has failed. The media URI doesn't meet our requirements."
            )
        elif not video_url.lower().split("?", 1)[0].endswith(_VIDEO):
            container.status = "Error: Media upload has failed with error code 2207026"
        self.containers[container.id] = container
        return Reply(200, {"id": container.id})

    def _create_carousel(self, ig_user: str, caption: str, request: Request) -> Reply:
        ids = [c.strip() for c in (request.param("children") or "").split(",") if c.strip()]
        if not CAROUSEL_MIN <= len(ids) <= CAROUSEL_MAX:
            raise _ig_error(2207028)
        for child_id in ids:
            child = self.containers.get(child_id)
            if child is None or child.owner != ig_user or not child.is_item or child.parent is not None:
                raise _ig_error(2207006)
        parent = _Container(self._new_id(), ig_user, "CAROUSEL", caption, "", self.clock(), children=ids)
        for child_id in ids:
            self.containers[child_id].parent = parent.id
        self.containers[parent.id] = parent
        return Reply(200, {"id": parent.id})

    @staticmethod
    def _check_caption(caption: str) -> None:
        if len(caption) > CAPTION_MAX or len(_HASHTAG.findall(caption)) > HASHTAGS_MAX:
            raise _ig_error(2207010)
        if len(_MENTION.findall(caption)) > MENTIONS_MAX:
            raise _ig_error(2207040)

    def _state(self, container: _Container, *, poll: bool) -> str:
        """The container's status_code now; a status read (`poll`) advances video processing."""
        if (
            container.status_code in ("IN_PROGRESS", "FINISHED")
            and container.created + CONTAINER_LIFETIME_S < self.clock()
        ):
            container.status_code = "EXPIRED"
        if container.status_code == "IN_PROGRESS" and poll:
            if container.polls_left > 0:
                container.polls_left -= 1
            elif container.status:
                container.status_code = "ERROR"
            else:
                container.status_code = "FINISHED"
        if container.media_type == "CAROUSEL" and container.status_code == "FINISHED":
            states = [self._state(self.containers[c], poll=poll) for c in container.children]
            for bad in ("ERROR", "EXPIRED", "IN_PROGRESS"):
                if bad in states:
                    return bad
        return container.status_code

    def _container_status(self, container_id: str, request: Request) -> Reply:
        container = self.containers[container_id]
        state = self._state(container, poll=True)
        fields = {
            "id": container.id,
            "status_code": state,
            "status": container.status or _STATUS_TEXT.get(state, state),
        }
        return Reply(200, _pick(fields, request, ("id",), "ShadowIGMediaBuilder"))

    def _media_publish(self, ig_user: str, request: Request) -> Reply:
        creation_id = request.param("creation_id") or ""
        if not creation_id:
            raise _invalid("(#100) The parameter creation_id is required")
        container = self.containers.get(creation_id)
        if container is None or container.owner != ig_user or container.is_item:
            raise _ig_error(2207008)
        state = self._state(container, poll=False)
        if state == "IN_PROGRESS":
            raise _ig_error(2207027)
        if state == "FINISHED" and self._not_ready_answers.get(container.id, 0) < self.not_ready_publishes:
            self._not_ready_answers[container.id] = self._not_ready_answers.get(container.id, 0) + 1
            raise _ig_error(2207027)
        if state == "EXPIRED":
            raise _ig_error(2207020)
        if state == "ERROR":
            raise _ig_error(2207032)
        if state == "PUBLISHED":
            raise _refuse(
                400,
                100,
                "Invalid parameter",
                user_title="Already published",
                user_msg="This media container has already been published; create a new one.",
            )
        if self.quota_usage(ig_user) >= self.quota_total:
            raise _ig_error(2207042)
        return Reply(200, {"id": self._publish(container).id})

    def _publish(self, container: _Container) -> _Media:
        children = [self.containers[c] for c in container.children]
        items = children or [container]
        if container.media_type == "CAROUSEL":
            media_type, product = "CAROUSEL_ALBUM", "FEED"
        elif container.media_type == "IMAGE":
            media_type, product = "IMAGE", "FEED"
        else:
            media_type, product = "VIDEO", "REELS"
        media = _Media(
            id=self._new_id(),
            owner=container.owner,
            caption=container.caption,
            shortcode=secrets.token_urlsafe(8)[:11],
            media_type=media_type,
            product=product,
            created=self.clock(),
            urls=[item.url for item in items],
        )
        self.media[media.id] = media
        for item in [container, *children]:
            item.status_code = "PUBLISHED"
        self._publishes.setdefault(container.owner, []).append(media.created)
        self.record_created(platform="instagram", id=media.id, text=media.caption, media=list(media.urls))
        return media

    @staticmethod
    def _media_fields(media: _Media) -> dict[str, Any]:
        kind = "reel" if media.product == "REELS" else "p"
        return {
            "id": media.id,
            "caption": media.caption or None,
            "permalink": f"https://www.instagram.com/{kind}/{media.shortcode}/",
            "shortcode": media.shortcode,
            "media_type": media.media_type,
            "media_product_type": media.product,
            "timestamp": _timestamp(media.created),
        }

    def _get_media(self, media_id: str, request: Request) -> Reply:
        return Reply(200, _pick(self._media_fields(self.media[media_id]), request, ("id",), "IGMedia"))

    def _media_list(self, ig_user: str, request: Request) -> Reply:
        items = sorted(
            (m for m in self.media.values() if m.owner == ig_user), key=lambda m: m.created, reverse=True
        )
        data = [
            _pick(self._media_fields(m), request, ("id",), "IGMedia") for m in items[: self._limit(request)]
        ]
        return Reply(200, {"data": data, "paging": {"cursors": {"before": "QVFIUjBm", "after": "QVFIUjFm"}}})


# (method, edge) of /{id}/{edge} calls → endpoint.
_EDGES = {
    ("POST", "feed"): "feed",
    ("POST", "photos"): "photos",
    ("POST", "videos"): "videos",
    ("GET", "published_posts"): "published_posts",
    ("GET", "videos"): "page_videos",
    ("GET", "content_publishing_limit"): "publishing_limit",
    ("POST", "media"): "media",
    ("POST", "media_publish"): "media_publish",
    ("GET", "media"): "ig_media_list",
}
# Endpoint → fault step: the two reconciliation lists share one step, as do the two media reads.
_STEPS = {
    "feed": "feed",
    "photos": "photos",
    "videos": "videos",
    "published_posts": "published_posts",
    "page_videos": "published_posts",
    "object": "permalink",
    "publishing_limit": "publishing_limit",
    "media": "media",
    "container": "container_status",
    "media_publish": "media_publish",
    "ig_media": "ig_media",
    "ig_media_list": "ig_media",
    "unsupported": "other",
}
_STATUS_TEXT = {
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
    "PUBLISHED": "Published: Media has been successfully published.",
    "EXPIRED": "Expired: Media was not published within 24 hours and has expired.",
    "ERROR": "Error: Media upload has failed.",
}
_INSTAGRAM_STEPS = ("publishing_limit", "media", "container_status", "media_publish", "ig_media")


def _expired() -> _Refusal:
    return _refuse(
        400,
        190,
        "Error validating access token: Session has expired on Friday, 27-Nov-26 09:00:00 PST. The current "
        "time is Saturday, 28-Nov-26 09:00:00 PST.",
        subcode=463,
    )


def _reachable(url: str) -> bool:
    """Whether the media URL answers a HEAD with 2xx, as Meta's downloader would need."""
    if not url.startswith(("http://", "https://")):
        return False
    # urllib rather than httpx: an httpx call builds a TLS context (~50 ms), and adapters under
    # test have a 0.5 s timeout that this check must stay far below.
    request = urllib.request.Request(url, method="HEAD")  # noqa: S310 (scheme checked above)
    try:
        with urllib.request.urlopen(request, timeout=2.0) as response:  # noqa: S310 (scheme checked above)
            status: int = response.status
    except (OSError, ValueError):
        return False
    return 200 <= status < 300
