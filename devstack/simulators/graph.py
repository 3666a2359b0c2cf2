"""A local Graph API: Facebook Pages and Instagram publishing, as one WSGI app.

Both platforms live on graph.facebook.com, so one simulator answers both (point
`meta_graph_url` and `meta_graph_video_url` at `<served url>/v27.0`). Paths may carry any
`/vNN.N` version prefix. A second instance, `GraphSimulator(instagram_login=True)`, plays
graph.instagram.com (Instagram accounts connected with Instagram Login; point
`instagram_graph_url` at it). Replies, ids, error JSON and headers follow
docs/platforms/facebook.md and docs/platforms/instagram.md.

Endpoints and their step names (for `inject(fault, step=...)` and `X-Fake-Scenario`):

| step                 | call                                                              |
|----------------------|-------------------------------------------------------------------|
| feed                 | POST /{page}/feed: message, link, attached_media[i], published    |
| photos               | POST /{page}/photos: url, caption/message, published              |
| videos               | POST /{page}/videos: file_url, description, title, published      |
| reels_start          | POST /{page}/video_reels upload_phase=start                       |
| reels_finish         | POST /{page}/video_reels upload_phase=finish, video_id, ...       |
| video_stories_start  | POST /{page}/video_stories upload_phase=start                     |
| video_stories_finish | POST /{page}/video_stories upload_phase=finish, video_id          |
| video_upload         | POST /video-upload/{ver}/{video_id} (the upload_url it hands out) |
| photo_stories        | POST /{page}/photo_stories: photo_id                              |
| stories              | GET /{page}/stories (and GET /{ig-user}/stories)                  |
| video_status         | GET /{video_id}?fields=status…                                    |
| published_posts      | GET /{page}/published_posts and GET /{page}/videos (reconciliation) |
| permalink            | GET /{id} of a Facebook post, photo or video (and unknown ids)    |
| publishing_limit     | GET /{ig-user}/content_publishing_limit                           |
| media                | POST /{ig-user}/media: a container (image, REELS, STORIES, carousel) |
| container_status     | GET /{container-id}?fields=status_code,status                     |
| media_publish        | POST /{ig-user}/media_publish: creation_id                        |
| ig_media             | GET /{ig-media-id} and GET /{ig-user}/media (the account's media) |
| me                   | GET /me (Instagram Login instance)                                |
| refresh_token        | GET /refresh_access_token (Instagram Login instance)              |
| other                | anything else: 100/33 "Unsupported get/post request"              |

Tokens: `access_token` (form or query) or `Authorization: Bearer` (the upload URL wants
`Authorization: OAuth`). The Facebook instance refuses Instagram Login tokens (`IG…`) and the
Instagram Login instance everything else with 190 "Cannot parse access token". Otherwise any
token is accepted except (after an `IGAA` prefix on the Instagram Login instance)
- `expired-…`: 190/463, session expired (class A);
- `revoked-…`: 190/460, session invalidated by a password change (class A);
- `ratelimited-…`: code 4 with `is_transient: true` and an `X-Business-Use-Case-Usage` header
  whose `estimated_time_to_regain_access` is `regain_minutes` (class R);
- `stale-…` (Instagram Login instance): 190/463 on every call but refresh_access_token, which
  trades it for a new token (as a long-lived token past its expiry would, if it still could).
No token at all: code 104. Tokens are never stored in `created`.

State and test controls:
- ids: posts `"{page}_{n}"`, photos, videos, containers and IG media bare numbers;
- reels and video stories: start issues a video id and an upload_url pointing back here;
  finish needs an upload first and happens once; after finish, `video_polls` status reads
  report processing, then publishing complete;
- Instagram image containers are FINISHED at once, video containers (reels, video stories,
  video carousel items) after `video_polls` status reads; a carousel parent is as ready as its
  least ready child; containers EXPIRE after 24 h of `clock`; `set_container_status(id,
  "ERROR", status=...)` scripts the rest;
- `not_ready_publishes`: media_publish still answers 9007/2207027 this many times per
  container after it reports FINISHED, as Meta sometimes does;
- the publishing quota counts publishes in the last 24 h (`quota_total`, `use_quota`);
- `fetch_media=True` makes the simulator HEAD every media URL, as Meta downloads it: an
  unreachable URL gets the platform's error (serve a `MediaHost` next to it).
- `created` entries: platform, id, text, media; plus `kind` for reel, video_story,
  photo_story, link and story records, and cover_url / thumb_offset / share_to_feed for
  Instagram reels.
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
    """A reply in the exact shape of a Graph error (docs/platforms/facebook.md)."""
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


# Instagram publishing errors (docs/platforms/instagram.md): subcode → (code, message, error_user_title,
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
class _UploadVideo:
    """A reel or video story: started, uploaded, finished (as the Reels API does)."""

    id: str
    page: str
    edge: str  # video_reels or video_stories
    created: float
    file_url: str = ""
    uploaded: bool = False
    finished: bool = False
    description: str = ""
    polls_left: int = 0
    post_id: str = ""


@dataclass
class _Story:
    post_id: str
    page: str
    media_type: str  # photo or video
    media_id: str
    created: float


@dataclass
class _Container:
    id: str
    owner: str
    media_type: str  # IMAGE, VIDEO, REELS, STORIES, CAROUSEL
    caption: str
    url: str  # image_url or video_url; "" for a carousel parent
    created: float
    is_item: bool = False
    children: list[str] = field(default_factory=list)
    status_code: str = "FINISHED"
    status: str = ""
    polls_left: int = 0
    parent: str | None = None
    is_video: bool = False
    reel_options: dict[str, Any] = field(default_factory=dict)  # cover_url, thumb_offset, share_to_feed


@dataclass
class _Media:
    id: str
    owner: str
    caption: str
    shortcode: str
    media_type: str  # IMAGE, VIDEO, CAROUSEL_ALBUM
    product: str  # FEED, REELS, STORY
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
        instagram_login: bool = False,
        me_user_id: str = "17841499999999999",
    ) -> None:
        super().__init__()
        self.instagram_login = instagram_login
        self.me_user_id = me_user_id
        self.upload_videos: dict[str, _UploadVideo] = {}
        self.stories: dict[str, _Story] = {}
        self.refreshes: list[str] = []  # the new tokens refresh_access_token handed out
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
        if len(parts) == 3 and owner == "video-upload" and request.method == "POST":
            return "video_upload", parts[2]
        if len(parts) == 2:
            endpoint = _EDGES.get((request.method, parts[1]), "unsupported")
            if endpoint in _PAGE_ENDPOINTS and self.instagram_login:
                return "unsupported", owner  # graph.instagram.com has no Pages
            return endpoint, owner
        if len(parts) == 1 and request.method == "GET":
            if self.instagram_login and owner in ("me", "refresh_access_token"):
                return owner, owner
            with self.lock:
                if owner in self.containers:
                    return "container", owner
                if owner in self.media:
                    return "ig_media", owner
                if owner in self.upload_videos and "status" in (request.query.get("fields") or ""):
                    return "video_status", owner
            return "object", owner
        return "unsupported", owner

    def step_of(self, request: Request) -> str:
        """The step name of a request (see the table in the module docstring)."""
        endpoint = self._endpoint(request)[0]
        if endpoint in ("video_reels", "video_stories"):
            phase = request.param("upload_phase") or ""
            prefix = "reels" if endpoint == "video_reels" else "video_stories"
            return f"{prefix}_{phase}" if phase in ("start", "finish") else "other"
        return _STEPS[endpoint]

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
                "video_reels": self._upload_phase,
                "video_stories": self._upload_phase,
                "video_upload": lambda video, req: self._video_upload(video, req, reachable=media_ok),
                "video_status": self._video_status,
                "photo_stories": self._photo_stories,
                "stories": self._stories,
                "me": self._me,
                "refresh_access_token": self._refresh_token,
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
        if token.startswith("IG") != self.instagram_login:
            raise _refuse(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if self.instagram_login:
            token = token.removeprefix("IGAA")
            if token.startswith("stale-") and self._endpoint(request)[0] != "refresh_access_token":
                raise _expired()
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
        """The Graph reply of a scripted fault (Graph error shape, realistic codes and statuses)."""
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
        if not self.fetch_media or endpoint not in ("photos", "videos", "media", "video_upload"):
            return True
        if endpoint == "video_upload":
            file_url = request.headers.get("file-url") or request.headers.get("file_url") or ""
            return not file_url or _reachable(file_url)
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
        if published and link and not photos:
            self.record_created(platform="facebook", id=post.id, kind="link", text=message, media=[link])
        elif published:
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

    # ---- Facebook reels and stories -------------------------------------------------------
    def _upload_phase(self, page: str, request: Request) -> Reply:
        edge = self._segments(request)[1]
        phase = request.param("upload_phase") or ""
        if phase == "start":
            started = _UploadVideo(id=self._new_id(), page=page, edge=edge, created=self.clock())
            self.upload_videos[started.id] = started
            version = _VERSION.match(request.path)
            prefix = version.group(0) if version else "/v27.0"
            upload_url = f"{request.base_url}/video-upload{prefix}/{started.id}"
            return Reply(200, {"video_id": started.id, "upload_url": upload_url})
        if phase != "finish":
            raise _invalid("(#100) upload_phase must be one of start, transfer, finish")
        video_id = request.param("video_id") or ""
        video = self.upload_videos.get(video_id)
        if video is None or video.page != page or video.edge != edge:
            raise _invalid(f"(#100) Invalid video_id: {video_id}")
        if not video.uploaded:
            raise _invalid("(#100) The video has not been uploaded yet")
        if video.finished:
            raise _invalid("(#100) This video has already been published")
        if edge == "video_stories":
            return self._finish_video_story(video)
        state = request.param("video_state") or ""
        if state not in ("PUBLISHED", "DRAFT"):
            raise _invalid("(#100) video_state must be PUBLISHED, DRAFT or SCHEDULED")
        video.finished = True
        video.description = request.param("description") or ""
        video.polls_left = self.video_polls
        if state == "PUBLISHED":
            self.record_created(
                platform="facebook", id=video.id, kind="reel", text=video.description, media=[video.file_url]
            )
        return Reply(200, {"success": True})

    def _finish_video_story(self, video: _UploadVideo) -> Reply:
        video.finished = True
        video.polls_left = self.video_polls
        story = _Story(f"{video.page}_{self._new_id()}", video.page, "video", video.id, self.clock())
        video.post_id = story.post_id
        self.stories[story.post_id] = story
        self.record_created(
            platform="facebook", id=story.post_id, kind="video_story", text="", media=[video.file_url]
        )
        return Reply(200, {"success": True, "post_id": story.post_id})

    def _video_upload(self, video_id: str, request: Request, *, reachable: bool) -> Reply:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "OAuth" or not token.strip():
            return _upload_error(401, "AuthError", "Authorization: OAuth <token> is required.")
        video = self.upload_videos.get(video_id)
        if video is None:
            return _upload_error(404, "NotFound", f"No upload session for {video_id}.")
        if video.finished:
            return _upload_error(400, "AlreadyFinished", "The upload of this video is already finished.")
        file_url = request.headers.get("file-url") or request.headers.get("file_url") or ""
        if file_url:
            if not reachable:
                return _upload_error(400, "FetchFailed", "The video could not be fetched from file_url.")
            video.file_url = file_url
        else:
            size = request.headers.get("file-size") or request.headers.get("file_size") or ""
            offset = request.headers.get("offset") or ""
            if offset != "0" or not size.isdigit() or int(size) != len(request.body) or not request.body:
                return _upload_error(
                    400, "BadRequest", "Send file_url, or the bytes with offset 0 and file_size."
                )
            video.file_url = f"upload:{len(request.body)} bytes"
        video.uploaded = True
        return Reply(200, {"success": True})

    def _video_status(self, video_id: str, request: Request) -> Reply:
        video = self.upload_videos[video_id]
        uploading = {"status": "complete" if video.uploaded else "not_started"}
        if not video.finished:
            phases = {"video_status": "upload_complete" if video.uploaded else "upload_not_started"}
            processing, publishing = {"status": "not_started"}, {"status": "not_started"}
        elif video.polls_left > 0:
            video.polls_left -= 1
            phases = {"video_status": "processing"}
            processing, publishing = {"status": "in_progress"}, {"status": "not_started"}
        else:
            phases = {"video_status": "ready"}
            processing = {"status": "complete"}
            publishing = {"status": "complete", "publish_status": "published"}
        status = {**phases, "uploading_phase": uploading, "processing_phase": processing}
        status["publishing_phase"] = publishing
        fields = {
            "id": video.id,
            "status": status,
            "description": video.description or None,
            "created_time": _timestamp(video.created),
            "permalink_url": f"/reel/{video.id}/" if video.edge == "video_reels" else None,
        }
        return Reply(200, _pick(fields, request, ("id", "status"), "Video"))

    def _photo_stories(self, page: str, request: Request) -> Reply:
        photo_id = request.param("photo_id") or ""
        photo = self.photos.get(photo_id)
        if photo is None or photo.page != page:
            raise _invalid(f"(#100) Invalid photo_id: {photo_id}")
        if photo.published or photo.attached_to is not None:
            raise _invalid(f"(#100) The photo {photo_id} has already been used in a post or story")
        story = _Story(f"{page}_{self._new_id()}", page, "photo", photo.id, self.clock())
        photo.attached_to = story.post_id
        self.stories[story.post_id] = story
        self.record_created(
            platform="facebook", id=story.post_id, kind="photo_story", text="", media=[photo.url]
        )
        return Reply(200, {"success": True, "post_id": story.post_id})

    def _stories(self, owner: str, request: Request) -> Reply:
        since = self._since(request)
        page_stories = [s for s in self.stories.values() if s.page == owner and s.created >= since]
        if page_stories:
            page_stories.sort(key=lambda s: s.created, reverse=True)
            default = ("post_id", "status", "creation_time", "media_type", "media_id", "url")
            data = [
                _pick(self._story_fields(s), request, default, "PageStory")
                for s in page_stories[: self._limit(request)]
            ]
        else:
            stories = [m for m in self.media.values() if m.owner == owner and m.product == "STORY"]
            stories.sort(key=lambda m: m.created, reverse=True)
            data = [
                _pick(self._media_fields(m), request, ("id",), "IGMedia")
                for m in stories[: self._limit(request)]
            ]
        return Reply(200, {"data": data, "paging": {"cursors": {"before": "QVFIUjBm", "after": "QVFIUjFm"}}})

    @staticmethod
    def _story_fields(story: _Story) -> dict[str, Any]:
        _, _, number = story.post_id.partition("_")
        return {
            "id": story.post_id,
            "post_id": story.post_id,
            "status": "PUBLISHED",
            "creation_time": _timestamp(story.created),
            "media_type": story.media_type,
            "media_id": story.media_id,
            "url": f"https://www.facebook.com/stories/{story.page}/{number}/",
        }

    # ---- Instagram Login (graph.instagram.com) --------------------------------------------
    def _me(self, owner: str, request: Request) -> Reply:
        fields = {"id": "27" + self.me_user_id[2:], "user_id": self.me_user_id, "username": "sandbox.account"}
        return Reply(200, _pick(fields, request, ("id",), "User"))

    def _refresh_token(self, owner: str, request: Request) -> Reply:
        if request.query.get("grant_type") != "ig_refresh_token":
            raise _invalid("(#100) grant_type must be ig_refresh_token")
        new_token = "IGAA" + "refreshed" + secrets.token_hex(16)
        self.refreshes.append(new_token)
        return Reply(200, {"access_token": new_token, "token_type": "bearer", "expires_in": 5183944})

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
        if not is_item and media_type != "STORIES":
            self._check_caption(caption)
        if media_type == "CAROUSEL":
            return self._create_carousel(ig_user, caption, request)
        if media_type == "STORIES":
            if is_item:
                raise _ig_error(2207023)
            return self._create_story(ig_user, request, video_reachable=video_reachable)
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

    def _create_story(self, ig_user: str, request: Request, *, video_reachable: bool) -> Reply:
        """A story container: one image or one video, and no caption (Instagram ignores it)."""
        if request.param("video_url"):
            return self._create_video_container(
                ig_user, request, media_type="STORIES", caption="", is_item=False, reachable=video_reachable
            )
        image_url = request.param("image_url") or ""
        if not image_url:
            raise _invalid("(#100) The parameter image_url or video_url is required")
        if not image_url.lower().split("?", 1)[0].endswith(_JPEG):
            raise _ig_error(2207005)
        container = _Container(self._new_id(), ig_user, "STORIES", "", image_url, self.clock())
        self.containers[container.id] = container
        return Reply(200, {"id": container.id})

    def _reel_options(self, request: Request) -> dict[str, Any]:
        """cover_url, thumb_offset and share_to_feed of a reel, checked as Instagram does."""
        cover_url = request.param("cover_url")
        if cover_url is not None and not cover_url.lower().split("?", 1)[0].endswith(_JPEG):
            raise _ig_error(2207005)
        offset = request.param("thumb_offset")
        if offset is not None and not offset.isdigit():
            raise _refuse(
                400,
                100,
                "Invalid parameter",
                subcode=2207057,
                transient=False,
                user_title="Invalid thumbnail offset",
                user_msg="The thumbnail offset must be a whole number of milliseconds within the video.",
            )
        share = request.param("share_to_feed")
        return {
            "cover_url": cover_url,
            "thumb_offset": int(offset) if offset is not None else None,
            "share_to_feed": _flag(share, default=True) if share is not None else None,
        }

    def _create_video_container(
        self, ig_user: str, request: Request, *, media_type: str, caption: str, is_item: bool, reachable: bool
    ) -> Reply:
        video_url = request.param("video_url") or ""
        if not video_url:
            raise _invalid("(#100) The parameter video_url is required")
        options = self._reel_options(request) if media_type == "REELS" else {}
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
            is_video=True,
            reel_options=options,
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
            if self._state(child, poll=False) == "IN_PROGRESS":
                raise _ig_error(2207027)  # every item must be FINISHED before the parent exists
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
        elif container.media_type == "STORIES":
            media_type, product = ("VIDEO" if container.is_video else "IMAGE"), "STORY"
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
        record: dict[str, Any] = {"platform": "instagram", "id": media.id, "text": media.caption}
        record["media"] = list(media.urls)
        if product == "STORY":
            record["kind"] = "story"
        elif product == "REELS":
            record.update(kind="reel", **container.reel_options)
        self.record_created(**record)
        return media

    @staticmethod
    def _media_fields(media: _Media) -> dict[str, Any]:
        kind = {"REELS": "reel", "STORY": "stories"}.get(media.product, "p")
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
        # Stories are not on the media edge (they have their own: /{ig-user}/stories).
        items = sorted(
            (m for m in self.media.values() if m.owner == ig_user and m.product != "STORY"),
            key=lambda m: m.created,
            reverse=True,
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
    ("POST", "video_reels"): "video_reels",
    ("POST", "video_stories"): "video_stories",
    ("POST", "photo_stories"): "photo_stories",
    ("GET", "stories"): "stories",
}
# Endpoints that only exist for Facebook Pages (graph.instagram.com refuses them).
_PAGE_ENDPOINTS = frozenset(
    {
        "feed",
        "photos",
        "videos",
        "published_posts",
        "page_videos",
        "video_reels",
        "video_stories",
        "photo_stories",
    }
)
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
    "video_upload": "video_upload",
    "video_status": "video_status",
    "photo_stories": "photo_stories",
    "stories": "stories",
    "me": "me",
    "refresh_access_token": "refresh_token",
    "unsupported": "other",
}
_STATUS_TEXT = {
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
    "PUBLISHED": "Published: Media has been successfully published.",
    "EXPIRED": "Expired: Media was not published within 24 hours and has expired.",
    "ERROR": "Error: Media upload has failed.",
}
_INSTAGRAM_STEPS = (
    "publishing_limit",
    "media",
    "container_status",
    "media_publish",
    "ig_media",
    "me",
    "refresh_token",
)


def _upload_error(status: int, kind: str, message: str) -> Reply:
    """The upload host's error shape (not a Graph error): debug_info with a retriable flag."""
    return Reply(status, {"debug_info": {"retriable": False, "type": kind, "message": message}})


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
