"""A local WordPress: several self-hosted sites under path prefixes, each with its REST API.

Serve it with `devstack.server.serve`; a site's address is `{base}{prefix}`, e.g.
`http://127.0.0.1:PORT/blog`. What it models (facts and sources: docs/platforms/wordpress.md):

| step       | request (under `{prefix}/wp-json` or `{prefix}/?rest_route=`) | success reply       |
|------------|----------------------------------------------------------|---------------------------|
| index      | GET  /                                                   | 200 site description      |
| me         | GET  /wp/v2/users/me                                     | 200 user                  |
| media      | POST /wp/v2/media (raw + Content-Disposition, or multipart `file`) | 201 media item  |
| media_get  | GET  /wp/v2/media/<id>                                   | 200 media item            |
| tags       | GET  /wp/v2/tags?search=  or  ?slug=                     | 200 [tags]                |
| tag_create | POST /wp/v2/tags {"name"}                                | 201 tag; 400 term_exists  |
| posts      | POST /wp/v2/posts                                        | 201 post                  |
| posts_list | GET  /wp/v2/posts?search=&after=&status=&context=        | 200 [posts]               |
| post_get   | GET  /wp/v2/posts/<id>                                   | 200 post                  |

A `term_exists` error names the existing tag in `data.term_id`.

Request contract it enforces (WordPress's own codes and messages):
- Basic auth with an application password (every non-alphanumeric character is ignored, as
  WordPress strips them); an unknown user → 401 `invalid_username`, a wrong password → 401
  `incorrect_password`, on every route. No Authorization header → anonymous: creating anything
  is 401 `rest_cannot_create`, `users/me` 401 `rest_not_logged_in`, `context=edit` 401
  `rest_forbidden_context`;
- roles: administrator and editor may do everything; author may upload and publish but not
  create tags (403 `rest_cannot_create`); contributor may not publish (403
  `rest_cannot_publish`) nor upload (403 `rest_cannot_create`); subscriber may not create posts;
- media: raw bodies need Content-Type (400 `rest_upload_no_content_type`), Content-Disposition
  (400 `rest_upload_no_content_disposition`) with a file name (400
  `rest_upload_invalid_disposition`) and a body (400 `rest_upload_no_data`); the file must be a
  JPEG, PNG, GIF or WebP by extension and by its first bytes, else 500
  `rest_upload_sideload_error` (core's status for it). Bytes are hashed, not kept;
- posts: `status` defaults to `draft`; `tags` must be integers of existing tags (400
  `rest_invalid_param`); `featured_media` must be an existing media item (400
  `rest_invalid_featured_media`); only published posts count in `created`;
- lists: `per_page` 1..100, `after` an RFC 3339 date (400 `rest_invalid_param`); `search`
  matches every word in title or content, case-insensitively, a word starting with '-'
  excludes; unknown routes → 404 `rest_no_route`.

Site variants (`SimSite`): `pretty_permalinks=False` answers /wp-json/ with the theme's HTML 404
page and serves `?rest_route=` only; `html_status` answers every request with an HTML page (a
security plugin's block page, or a login page); `strips_auth` drops the Authorization header (a
server that does not pass it to PHP), so every call is anonymous; `php_notices` prints a PHP
warning in HTML before every JSON answer, as a site with debug display left on does.

Faults (`inject(fault, step=...)` or `X-Fake-Scenario: <fault>:<step>`): permanent → 400
`rest_invalid_param`; auth → 401 `incorrect_password`; rate_limit → 429 with Retry-After (a
host's or firewall's limit: WordPress core has none); server_error → 500
`internal_server_error` ("There has been a critical error on this website.").

What tests read: `created` (published posts: platform, site, id, title, tags, featured_media),
`sites[prefix].posts`, `.media`, `.tags`.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import hashlib
import html
import io
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devstack.simulators.base import Reply, Request, Simulator

ROLES = ("administrator", "editor", "author", "contributor", "subscriber")
_CAN = {
    "publish": {"administrator", "editor", "author"},
    "create_post": {"administrator", "editor", "author", "contributor"},
    "upload": {"administrator", "editor", "author"},
    "create_tag": {"administrator", "editor"},
}
IMAGE_EXTENSIONS = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif"}
IMAGE_EXTENSIONS[".webp"] = "image/webp"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|z|[+-]\d{2}(:?\d{2})?)?$")
_FILENAME = re.compile(r"""filename\*?=(?:UTF-8'')?"?([^";]+)"?""", re.IGNORECASE)
HTML_404 = b"<!DOCTYPE html><html><head><title>Page not found</title></head><body>Nothing here</body></html>"
PHP_NOTICE = (
    b"<br />\n<b>Deprecated</b>:  Creation of dynamic property is deprecated in "
    b"<b>/var/www/html/wp-content/plugins/old-plugin/old.php</b> on line <b>12</b><br />\n"
)
BLOCK_PAGE = (
    b"<!DOCTYPE html><html><head><title>Access denied</title></head>"
    b"<body><h1>Blocked by the site's security plugin</h1></body></html>"
)


@dataclass
class SimUser:
    """A WordPress user with one application password (as WordPress shows it: groups of four)."""

    login: str
    app_password: str
    role: str = "administrator"
    id: int = 1
    email: str = ""


@dataclass
class SimSite:
    """One WordPress site under a path prefix, with its users and content."""

    prefix: str
    users: list[SimUser] = field(default_factory=list)
    name: str = "Sandbox Blog"
    pretty_permalinks: bool = True
    html_status: int | None = None  # answer every request with an HTML page of this status
    strips_auth: bool = False
    php_notices: bool = False  # PHP notices printed before every JSON answer (debug display on)
    posts: dict[int, dict[str, Any]] = field(default_factory=dict)
    media: dict[int, dict[str, Any]] = field(default_factory=dict)
    tags: dict[int, dict[str, Any]] = field(default_factory=dict)


# The /blog administrator: the sandbox's WordPress connection signs in as this user.
BLOG_ADMIN = ("ada", "abcd EFGH 1234 ijkl MNOP 5678")


def default_sites() -> list[SimSite]:
    """The sites the stack serves: a normal blog, a second blog, and one of each broken kind."""
    return [
        SimSite(
            "/blog",
            [
                SimUser(*BLOG_ADMIN, "administrator", 1, "ada@example.com"),
                SimUser("arthur", "auth orAA 1111 2222 3333 4444", "author", 2),
                SimUser("connie", "cont ribu 1111 2222 3333 4444", "contributor", 3),
                SimUser("sam", "subs crib 1111 2222 3333 4444", "subscriber", 4),
            ],
        ),
        SimSite("/other", [SimUser("ada", "othe rSIT Epas swor d123 4567")], name="Another Blog"),
        SimSite("/plain", [SimUser("ada", "abcd EFGH 1234 ijkl MNOP 5678")], pretty_permalinks=False),
        SimSite("/locked", [SimUser("ada", "abcd EFGH 1234 ijkl MNOP 5678")], html_status=403),
        SimSite("/login", [SimUser("ada", "abcd EFGH 1234 ijkl MNOP 5678")], html_status=200),
        SimSite("/noisy", [SimUser("ada", "abcd EFGH 1234 ijkl MNOP 5678")], php_notices=True),
        SimSite("/stripped", [SimUser("ada", "abcd EFGH 1234 ijkl MNOP 5678")], strips_auth=True),
    ]


def slugify(name: str) -> str:
    """A term slug as WordPress makes one from a plain ASCII name (sanitize_title, simplified)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "tag"


def _compact(password: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", password)


def _error(status: int, code: str, message: str, **data: Any) -> Reply:
    return Reply(status, {"code": code, "message": message, "data": {"status": status, **data}})


def _invalid_param(name: str, why: str) -> Reply:
    return _error(
        400,
        "rest_invalid_param",
        f"Invalid parameter(s): {name}",
        params={name: why},
        details={name: {"code": "rest_invalid_type", "message": why, "data": None}},
    )


def _html(status: int, body: bytes) -> Reply:
    return Reply(status, raw=body, headers={"Content-Type": "text/html; charset=UTF-8"})


def _magic_type(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _parse_date(value: str) -> datetime | None:
    if not _RFC3339.match(value):
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00").replace(" ", "T"))
    # The simulated sites run on UTC: a date without an offset is site time, which is UTC here.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass
class _Call:
    """A request resolved to a site, a REST route and the authenticated user (None: anonymous)."""

    site: SimSite
    route: str
    user: SimUser | None


class WordPressSimulator(Simulator):
    """Several WordPress sites in one WSGI app (see the module docstring)."""

    def __init__(self, sites: Iterable[SimSite] | None = None) -> None:
        super().__init__()
        self.sites: dict[str, SimSite] = {
            site.prefix.rstrip("/"): site for site in (sites or default_sites())
        }
        self._ids = itertools.count(101)
        self._id_lock = threading.Lock()

    def _next(self) -> int:
        with self._id_lock:
            return next(self._ids)

    # ---- routing -------------------------------------------------------------------------
    def site_of(self, path: str) -> tuple[SimSite, str] | None:
        """The site serving `path` and the path below its prefix (longest prefix wins)."""
        for prefix in sorted(self.sites, key=len, reverse=True):
            if path == prefix or path.startswith(prefix + "/"):
                return self.sites[prefix], path[len(prefix) :] or "/"
        return None

    def route_of(self, request: Request) -> str | None:
        """The REST route a request names, or None when it is not an API request."""
        found = self.site_of(request.path)
        if found is None:
            return None
        site, rest = found
        if rest == "/wp-json" or rest.startswith("/wp-json/"):
            return (rest[len("/wp-json") :] or "/") if site.pretty_permalinks else None
        if rest == "/" and "rest_route" in request.query:
            return request.query["rest_route"] or "/"
        return None

    def step_of(self, request: Request) -> str:
        route = self.route_of(request) or ""
        method = request.method
        if route == "/wp/v2/posts":
            return "posts" if method == "POST" else "posts_list"
        if route.startswith("/wp/v2/posts/"):
            return "post_get"
        if route == "/wp/v2/media":
            return "media"
        if route.startswith("/wp/v2/media/"):
            return "media_get"
        if route == "/wp/v2/tags":
            return "tag_create" if method == "POST" else "tags"
        if route == "/wp/v2/users/me":
            return "me"
        return "index" if route == "/" else "other"

    def fault_reply(self, fault: str, request: Request, step: str) -> Reply:
        if fault == "permanent":
            return _invalid_param("status", "status is not one of publish, future, draft, pending, private.")
        if fault == "auth":
            return _error(
                401, "incorrect_password", "The provided password is an invalid application password."
            )
        if fault == "rate_limit":
            reply = _error(429, "too_many_requests", "Too many requests. Please slow down.")
            reply.headers["Retry-After"] = "120"
            return reply
        return _error(
            500,
            "internal_server_error",
            "<p>There has been a critical error on this website.</p>",
            additional_errors=[],
        )

    # ---- handling --------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        found = self.site_of(request.path)
        if found is None:
            return _html(404, HTML_404)
        site, rest = found
        if site.html_status is not None:
            return _html(site.html_status, BLOCK_PAGE)
        route = self.route_of(request)
        if route is None:
            if rest.startswith("/wp-json"):
                return _html(404, HTML_404)  # no pretty permalinks: the theme's 404 page
            return _html(200, f"<html><body><h1>{site.name}</h1></body></html>".encode())
        user, refused = self._authenticate(site, request)
        if refused is not None:
            return refused
        call = _Call(site, route, user)
        handlers: dict[tuple[str, str], Callable[[_Call, Request], Reply]] = {
            ("GET", "index"): self._index,
            ("GET", "me"): self._me,
            ("POST", "media"): self._upload,
            ("GET", "media_get"): self._media_get,
            ("GET", "tags"): self._list_tags,
            ("POST", "tag_create"): self._create_tag,
            ("POST", "posts"): self._create_post,
            ("GET", "posts_list"): self._list_posts,
            ("GET", "post_get"): self._post_get,
        }
        handler = handlers.get((request.method, self.step_of(request)))
        if handler is None:
            return _error(404, "rest_no_route", "No route was found matching the URL and request method.")
        return handler(call, request)

    def _authenticate(self, site: SimSite, request: Request) -> tuple[SimUser | None, Reply | None]:
        header = "" if site.strips_auth else request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic" or not value.strip():
            return None, None
        try:
            login, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        user = next((u for u in site.users if login in (u.login, u.email) and login), None)
        if user is None:
            if "@" in login:
                return None, _error(
                    401,
                    "invalid_email",
                    "<strong>Error:</strong> Unknown email address. Check again or try your username.",
                )
            return None, _error(
                401,
                "invalid_username",
                "<strong>Error:</strong> Unknown username. Check again or try your email address.",
            )
        if _compact(password) != _compact(user.app_password):
            return None, _error(
                401, "incorrect_password", "The provided password is an invalid application password."
            )
        return user, None

    @staticmethod
    def _may(user: SimUser | None, what: str) -> bool:
        return user is not None and user.role in _CAN[what]

    @staticmethod
    def _denied(user: SimUser | None, code: str, message: str) -> Reply:
        return _error(401 if user is None else 403, code, message)

    def _index(self, call: _Call, request: Request) -> Reply:
        return Reply(
            200,
            {
                "name": call.site.name,
                "url": f"{request.base_url}{call.site.prefix}",
                "namespaces": ["oembed/1.0", "wp/v2", "wp-site-health/v1"],
                "authentication": {"application-passwords": {"endpoints": {}}},
            },
        )

    def _me(self, call: _Call, request: Request) -> Reply:
        if call.user is None:
            return _error(401, "rest_not_logged_in", "You are not currently logged in.")
        return Reply(200, {"id": call.user.id, "name": call.user.login, "slug": call.user.login})

    # ---- media -----------------------------------------------------------------------------
    def _upload(self, call: _Call, request: Request) -> Reply:
        if not self._may(call.user, "create_post"):
            return self._denied(
                call.user, "rest_cannot_create", "Sorry, you are not allowed to create posts as this user."
            )
        if not self._may(call.user, "upload"):
            return self._denied(
                call.user, "rest_cannot_create", "Sorry, you are not allowed to upload media on this site."
            )
        content_type = request.headers.get("content-type", "")
        if content_type.lower().startswith("multipart/form-data"):
            filename, data = _multipart_file(content_type, request.body)
            if data is None:
                return _error(400, "rest_upload_no_data", "No data supplied.")
        else:
            if not request.body:
                return _error(400, "rest_upload_no_data", "No data supplied.")
            if not content_type:
                return _error(400, "rest_upload_no_content_type", "No Content-Type supplied.")
            disposition = request.headers.get("content-disposition", "")
            if not disposition:
                return _error(400, "rest_upload_no_content_disposition", "No Content-Disposition supplied.")
            found = _FILENAME.search(disposition)
            filename, data = (found.group(1).strip() if found else ""), request.body
            if not filename:
                return _error(
                    400,
                    "rest_upload_invalid_disposition",
                    "Invalid Content-Disposition supplied. Content-Disposition needs to be formatted as "
                    '`attachment; filename="image.png"` or similar.',
                )
        ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        mime = IMAGE_EXTENSIONS.get(ext)
        if mime is None or _magic_type(data[:16]) != mime:
            return _error(
                500, "rest_upload_sideload_error", "Sorry, you are not allowed to upload this file type."
            )
        assert call.user is not None  # noqa: S101 (checked by _may above)
        media_id = self._next()
        item = {
            "id": media_id,
            "date_gmt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "slug": slugify(filename.rsplit(".", 1)[0]),
            "type": "attachment",
            "author": call.user.id,
            "title": {"raw": filename.rsplit(".", 1)[0], "rendered": html.escape(filename.rsplit(".", 1)[0])},
            "media_type": "image",
            "mime_type": mime,
            "source_url": f"{request.base_url}{call.site.prefix}/wp-content/uploads/{filename}",
            "media_details": {"filesize": len(data)},
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        with self.lock:
            call.site.media[media_id] = item
        return Reply(201, item)

    def _media_get(self, call: _Call, request: Request) -> Reply:
        media_id = call.route.rsplit("/", 1)[-1]
        item = call.site.media.get(int(media_id)) if media_id.isdigit() else None
        if item is None:
            return _error(404, "rest_post_invalid_id", "Invalid post ID.")
        return Reply(200, item)

    # ---- tags ------------------------------------------------------------------------------
    def _list_tags(self, call: _Call, request: Request) -> Reply:
        per_page = request.query.get("per_page", "10")
        if not per_page.isdigit() or not 1 <= int(per_page) <= 100:
            return _invalid_param("per_page", "per_page must be between 1 (inclusive) and 100 (inclusive)")
        tags = list(call.site.tags.values())
        if "slug" in request.query:
            slugs = {s.strip() for s in request.query["slug"].split(",")}
            tags = [t for t in tags if t["slug"] in slugs]
        search = request.query.get("search", "").lower()
        if search:
            tags = [t for t in tags if search in html.unescape(t["name"]).lower() or search in t["slug"]]
        return Reply(200, tags[: int(per_page)])

    def _create_tag(self, call: _Call, request: Request) -> Reply:
        if not self._may(call.user, "create_tag"):
            return self._denied(
                call.user,
                "rest_cannot_create",
                "Sorry, you are not allowed to create terms in this taxonomy.",
            )
        name = request.param("name")
        if not name or not name.strip():
            return _error(400, "rest_missing_callback_param", "Missing parameter(s): name", params=["name"])
        name = name.strip()
        with self.lock:
            for tag in call.site.tags.values():
                if html.unescape(tag["name"]).lower() == name.lower() or tag["slug"] == slugify(name):
                    return _error(
                        400,
                        "term_exists",
                        "A term with the name provided already exists in this taxonomy.",
                        term_id=tag["id"],
                    )
            tag_id = self._next()
            tag = {
                "id": tag_id,
                "count": 0,
                "description": "",
                "link": f"{request.base_url}{call.site.prefix}/tag/{slugify(name)}/",
                "name": html.escape(name, quote=False),
                "slug": slugify(name),
                "taxonomy": "post_tag",
                "meta": [],
            }
            call.site.tags[tag_id] = tag
        return Reply(201, tag)

    # ---- posts -----------------------------------------------------------------------------
    def _create_post(self, call: _Call, request: Request) -> Reply:
        if not self._may(call.user, "create_post"):
            return self._denied(
                call.user, "rest_cannot_create", "Sorry, you are not allowed to create posts as this user."
            )
        body = request.json if isinstance(request.json, dict) else dict(request.form)
        status = body.get("status", "draft")
        if status not in ("publish", "future", "draft", "pending", "private"):
            return _invalid_param("status", "status is not one of publish, future, draft, pending, private.")
        if status in ("publish", "future", "private") and not self._may(call.user, "publish"):
            return _error(
                403, "rest_cannot_publish", "Sorry, you are not allowed to publish posts as this user."
            )
        tags = body.get("tags", [])
        if not isinstance(tags, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in tags
        ):
            return _invalid_param("tags", "tags[0] is not of type integer.")
        if any(t not in call.site.tags for t in tags):
            return _invalid_param("tags", "Invalid term ID.")
        featured = body.get("featured_media", 0)
        if not isinstance(featured, int) or (featured and featured not in call.site.media):
            return _error(400, "rest_invalid_featured_media", "Invalid featured media ID.")
        title = _raw(body.get("title"))
        content = _raw(body.get("content"))
        assert call.user is not None  # noqa: S101 (checked by _may above)
        now = datetime.now(UTC)
        post_id = self._next()
        post = {
            "id": post_id,
            "date": now.strftime("%Y-%m-%dT%H:%M:%S"),
            "date_gmt": now.strftime("%Y-%m-%dT%H:%M:%S"),
            "slug": slugify(html.unescape(title))[:200],
            "status": status,
            "type": "post",
            "link": f"{request.base_url}{call.site.prefix}/?p={post_id}",
            "title": {"raw": title, "rendered": title},
            "content": {"raw": content, "rendered": content, "protected": False},
            "author": call.user.id,
            "featured_media": featured,
            "tags": tags,
            "categories": [1],
        }
        with self.lock:
            call.site.posts[post_id] = post
            for tag_id in tags:
                call.site.tags[tag_id]["count"] += 1
            if status == "publish":
                self.record_created(
                    platform="wordpress",
                    site=call.site.prefix,
                    id=post_id,
                    title=title,
                    content=content,
                    tags=tags,
                    featured_media=featured,
                    author=call.user.login,
                )
        return Reply(201, post)

    def _list_posts(self, call: _Call, request: Request) -> Reply:
        query = request.query
        per_page = query.get("per_page", "10")
        if not per_page.isdigit() or not 1 <= int(per_page) <= 100:
            return _invalid_param("per_page", "per_page must be between 1 (inclusive) and 100 (inclusive)")
        if query.get("context") == "edit" and call.user is None:
            return _error(
                401, "rest_forbidden_context", "Sorry, you are not allowed to edit posts in this post type."
            )
        statuses = set(query.get("status", "publish").split(","))
        if statuses - {"publish"} and call.user is None:
            return _invalid_param("status", "Status is forbidden.")
        after = _parse_date(query["after"]) if "after" in query else None
        if "after" in query and after is None:
            return _invalid_param("after", "Invalid date.")
        words = query.get("search", "").lower().split()
        found = []
        for post in call.site.posts.values():
            if post["status"] not in statuses:
                continue
            created = datetime.fromisoformat(post["date_gmt"]).replace(tzinfo=UTC)
            if after is not None and created <= after:
                continue
            text = (post["title"]["raw"] + " " + post["content"]["raw"]).lower()
            if not all((w[1:] not in text) if w.startswith("-") else (w in text) for w in words):
                continue
            found.append(_shown(post, edit=query.get("context") == "edit"))
        found.sort(key=lambda p: (p["date_gmt"], p["id"]), reverse=query.get("order", "desc") == "desc")
        return Reply(200, found[: int(per_page)])

    def _post_get(self, call: _Call, request: Request) -> Reply:
        post_id = call.route.rsplit("/", 1)[-1]
        post = call.site.posts.get(int(post_id)) if post_id.isdigit() else None
        if post is None or (post["status"] != "publish" and call.user is None):
            return _error(404, "rest_post_invalid_id", "Invalid post ID.")
        return Reply(200, _shown(post, edit=request.query.get("context") == "edit"))

    def dispatch(self, request: Request) -> Reply:
        """The reply, with PHP notices in front of its JSON on a site that prints them."""
        reply = super().dispatch(request)
        found = self.site_of(request.path)
        if found is not None and found[0].php_notices and reply.raw is None and reply.body is not None:
            payload = PHP_NOTICE + json.dumps(reply.body).encode()
            return Reply(
                reply.status, raw=payload, headers={**reply.headers, "Content-Type": "application/json"}
            )
        return reply

    # ---- WSGI ------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            environ = _dechunked(environ)
        return super().__call__(environ, start_response)


def _raw(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("raw", "")
    return value if isinstance(value, str) else ""


def _shown(post: dict[str, Any], *, edit: bool) -> dict[str, Any]:
    """A post as the API shows it: `raw` fields only in the edit context."""
    if edit:
        return post
    return {
        **post,
        "title": {"rendered": post["title"]["rendered"]},
        "content": {"rendered": post["content"]["rendered"], "protected": False},
    }


def _multipart_file(content_type: str, body: bytes) -> tuple[str, bytes | None]:
    """The `file` part of a multipart/form-data body: its file name and bytes."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return str(part.get_filename() or ""), payload if isinstance(payload, bytes) else None
    return "", None


def _dechunked(environ: dict[str, Any]) -> dict[str, Any]:
    """The request with a chunked body decoded (wsgiref passes chunked bodies through raw)."""
    stream = environ["wsgi.input"]
    body = bytearray()
    while True:
        size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers, up to the blank line that ends the body
            break
        body += stream.read(size)
        stream.readline()  # the CRLF after each chunk
    replaced = dict(environ)
    replaced.update({"wsgi.input": io.BytesIO(bytes(body)), "CONTENT_LENGTH": str(len(body))})
    replaced.pop("HTTP_TRANSFER_ENCODING", None)
    return replaced
