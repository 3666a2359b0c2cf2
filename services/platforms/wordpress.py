"""WordPress (self-hosted, REST API): blog entries, text and image posts, each as one WordPress post.

Facts this module relies on, with sources and what is not verified: docs/platforms/wordpress.md.

Flow for one post, all calls to the user's own site with an application password (Basic auth):
1. the site address is normalised and checked like a media URL (services.safe_media): public
   addresses only, the connection pinned to the checked address, no redirects followed;
2. the featured image (the post's first image), downloaded through `open_media` and streamed
   into `POST /wp-json/wp/v2/media`; its id is remembered at once;
3. tags from the hashtags: `GET /wp/v2/tags?search=` matched exactly here, else
   `POST /wp/v2/tags` (`term_exists` names the existing id); ids remembered as they come;
4. `progress.sending()`, then `POST /wp/v2/posts` with title, HTML content, `status: publish`,
   tag ids and the featured media id.

At most once: WordPress has no idempotency key and no duplicate detection. When the publishing
call fails ambiguously (5xx, timeout, dropped connection) or an earlier attempt reached it
(`job.sending_started`), the adapter looks for the post: published, created after the sending
mark, with exactly the title we send (`GET /wp/v2/posts?search=&after=&status=publish`). Found:
that is our post. Not found once: still ambiguous (a slow site may still be writing it); only a
second look, on a later attempt, that finds nothing lets the post be sent again.

Resume keys (`progress.remember`, read back from `job.resume`):
- `sent_after`: ISO time just before the first publishing call (the lower bound of the look);
- `media_id`, `media_url`: the uploaded featured image and the URL it came from;
- `tag_ids`: hashtag → tag id;
- `post_lookups`: how many looks in a row found nothing since the last send.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from services.errors import (
    AmbiguousError,
    AuthError,
    LimitError,
    PermanentError,
    PlatformError,
    RateLimitedError,
    RetryableError,
)
from services.platforms.base import (
    BLOG,
    IMAGE,
    MEDIA_IMAGE,
    TEXT,
    Adapter,
    AdapterContext,
    Connection,
    Limits,
    PlatformSettings,
    PublishJob,
    PublishResult,
    platform_text,
    send,
    url_extension,
    url_name,
)
from services.redaction import register_secret
from services.safe_media import AllowList, PublicClient, open_media

PLATFORM = "wordpress"
RECONNECT = (
    "Reconnect your WordPress site in the app with a new application password, then reschedule this post."
)
API_PREFIX = "/wp-json"
UPLOAD_BLOCK_BYTES = 64 * 1024
TITLE_MAX_CHARS = 200  # a title taken from the first line of the text is cut here
LOOKUPS_BEFORE_RESEND = 2  # looks that find nothing, on separate attempts, before sending again
# How far before the sending mark the look asks WordPress to search: `after` may be read in the
# site's timezone (offsets go from -12 h to +14 h), so ask wide and compare UTC dates here.
AFTER_MARGIN = timedelta(days=1)
CLOCK_SKEW = timedelta(minutes=5)  # the site's clock may run behind ours
SEARCH_WORDS = 5
IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
}

# Pieces of an address users paste from the browser that are not the site root.
_NOT_ROOT = re.compile(r"(/wp-json.*|/wp-admin.*|/wp-login\.php|/index\.php|/xmlrpc\.php)$", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HTML_START = re.compile(rb"^\s*(<!doctype|<html|<head|<body|<\?xml|<!--|<br|<b>|<p>|<div)", re.IGNORECASE)

# 401 codes WordPress's application-password check answers with (wp_authenticate_application_password).
_CREDENTIAL_CODES = {"incorrect_password", "invalid_username", "invalid_email"}
_DISABLED_CODES = {"application_passwords_disabled", "application_passwords_disabled_for_user"}
# 403 codes saying the user's role lacks a capability: only another user (or role) helps.
_ROLE_CODES = {"rest_cannot_create", "rest_cannot_publish", "rest_forbidden", "rest_cannot_edit_others"}
# Upload errors that are about the file itself, whatever status they come with (core sends 500).
_FILE_CODES = {"rest_upload_sideload_error", "rest_upload_unknown_error", "rest_upload_file_too_big"}


class WordPressAdapter(Adapter):
    """Publishes a post (title, HTML body, featured image, tags) to the connection's WordPress site."""

    platform = PLATFORM
    display_name = "WordPress"
    limits = Limits(kinds=frozenset({TEXT, IMAGE, BLOG}), title_required=True)

    def as_sent(self, job: PublishJob) -> PublishJob:
        """The job with the title WordPress gets: its own, else the first line of its text."""
        return replace(job, title=post_title(job))

    def check(self, job: PublishJob) -> None:
        """The shared limits, and a featured image that is an image."""
        super().check(job)
        if job.media_urls and job.media_kind(0) != MEDIA_IMAGE:
            raise LimitError(
                PLATFORM,
                f"WordPress posts take an image as their featured image; {url_name(job.media_urls[0])} "
                "is not one.",
            )

    def publish(self, job: PublishJob, connection: Connection, ctx: AdapterContext) -> PublishResult:
        """Upload the featured image and tags, then publish the post (see the module docstring)."""
        site = site_address(connection.wordpress_site_url, ctx.settings)
        with PublicClient(ctx.settings, PLATFORM) as public:
            return _Publication(self.as_sent(job), connection, ctx, public, site).run()


# ---- pure helpers ------------------------------------------------------------------------------
def site_address(typed: str | None, settings: PlatformSettings) -> httpx.URL:
    """The site root from the address a user typed: https:// added when no scheme was typed,
    query, fragment and a pasted /wp-json/, /wp-admin/... removed. http:// only for allow-listed
    hosts (development): application passwords must not cross the internet unencrypted."""
    text = (typed or "").strip()
    if not text:
        raise AuthError(PLATFORM, f"This WordPress connection has no site address. {RECONNECT}")
    if "://" not in text:
        text = "https://" + text
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise PermanentError(
            PLATFORM, "The WordPress site address of this connection is not a web address; fix it in the app."
        )
    if url.scheme == "http" and not AllowList.parse(settings.media_allowed_hosts).names_host(url.host):
        raise PermanentError(
            PLATFORM,
            f"The WordPress site address {url.host} starts with http://. WordPress accepts application "
            "passwords only over https://, and the publisher never sends one unencrypted: change the "
            "address to https:// in the app.",
        )
    path = _NOT_ROOT.sub("", url.path.rstrip("/")).rstrip("/")
    return url.copy_with(path=path or "/", query=None, fragment=None)


def basic_auth(username: str, password: str) -> str:
    """The Authorization header value; spaces in an application password are only grouping."""
    compact = "".join(password.split())
    token = base64.b64encode(f"{username}:{compact}".encode()).decode()
    register_secret(password, compact, token)
    return f"Basic {token}"


def post_title(job: PublishJob) -> str:
    """The post's own title, else the first line of its text (hashtag line excluded), shortened."""
    if job.title.strip():
        return job.title.strip()
    for raw_line in body_text(job).splitlines():
        line = raw_line.strip()
        if line:
            return line if len(line) <= TITLE_MAX_CHARS else line[: TITLE_MAX_CHARS - 1].rstrip() + "…"
    return ""


def body_text(job: PublishJob) -> str:
    """The text without the trailing hashtag line: the hashtags become WordPress tags instead."""
    body = job.body.strip()
    if job.hashtags:
        line = " ".join(f"#{tag}" for tag in job.hashtags)
        if body.endswith(line):
            body = body[: -len(line)].rstrip()
    return body


def post_html(text: str) -> str:
    """Plain text as HTML paragraphs: blank lines separate paragraphs, single newlines become <br />.

    Everything is escaped: the text is the user's words, not markup to run on their site.
    """
    paragraphs = [part.strip() for part in re.split(r"\n\s*\n", text) if part.strip()]
    return "\n\n".join(
        "<p>" + "<br />\n".join(html.escape(line.strip(), quote=False) for line in part.splitlines()) + "</p>"
        for part in paragraphs
    )


def search_terms(title: str) -> str:
    """A few words of the title to narrow the look; the exact match is made here, not by WordPress.

    Only plain words: WordPress strips tags and %-codes from a search, reads a leading '-' as
    "exclude", and searches more than nine words as one phrase, any of which could hide our post.
    The longest words narrow best.
    """
    words = sorted(set(re.findall(r"\w+", title)), key=lambda word: (-len(word), word))
    return " ".join(words[:SEARCH_WORDS])


def upload_filename(url: str) -> str:
    """A Content-Disposition file name WordPress accepts: ASCII, no quotes, an image extension."""
    name = _FILENAME_UNSAFE.sub("-", url_name(url).split("?", 1)[0]).strip("-.") or "image"
    return name if url_extension(name) in IMAGE_TYPES else f"{name}.jpg"


def _message(data: dict[str, Any], response: httpx.Response) -> str:
    raw = data.get("message") if isinstance(data.get("message"), str) else response.reason_phrase
    return platform_text(html.unescape(_TAGS.sub(" ", str(raw))))


def _parse_json(response: httpx.Response) -> Any:
    """The body as JSON; None when it is not. A site printing PHP notices before its JSON (debug
    output left on) still counts as JSON: losing that answer could hide a created post."""
    try:
        return response.json()
    except ValueError:  # not JSON, or not UTF-8
        pass
    text = response.text.rstrip()
    starts = [i for i in (text.find("{"), text.find("[")) if i > 0]
    if not starts:
        return None
    try:
        value, end = json.JSONDecoder().raw_decode(text, min(starts))
    except ValueError:
        return None
    return value if end == len(text) else None


def _is_html(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "").lower()
    return "html" in kind or bool(_HTML_START.match(response.content[:200]))


def _gmt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _retry_after(response: httpx.Response, now: datetime) -> datetime | None:
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


@dataclass
class _Reply:
    """A response with its JSON read once (None when the body is not JSON)."""

    response: httpx.Response
    data: Any

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def obj(self) -> dict[str, Any]:
        return self.data if isinstance(self.data, dict) else {}


# ---- one attempt -------------------------------------------------------------------------------
class _Publication:
    """One attempt at one post on one site."""

    def __init__(
        self,
        job: PublishJob,
        connection: Connection,
        ctx: AdapterContext,
        public: PublicClient,
        site: httpx.URL,
    ) -> None:
        self.job = job
        self.ctx = ctx
        self.site = site
        self.host = site.host
        self.public = public
        if not connection.wordpress_username or not connection.wordpress_app_password:
            raise AuthError(
                PLATFORM, f"This WordPress connection has no user name or application password. {RECONNECT}"
            )
        self.username = connection.wordpress_username
        self.authorization = basic_auth(connection.wordpress_username, connection.wordpress_app_password)
        self.http_ctx = replace(ctx, http=public.client)  # send() with the pinned client
        self.plain_routes = False  # `?rest_route=` instead of /wp-json/ (sites without pretty permalinks)
        self.sent_after: str | None = None  # this attempt's sending mark, once set

    def run(self) -> PublishResult:
        self.check_site()
        lookups = self.job.resume.get("post_lookups")
        if self.job.sending_started or (isinstance(lookups, int) and lookups > 0):
            found = self.settle_earlier_send()
            if found is not None:
                return found
        media_id = self.featured_media() if self.job.media_urls else None
        body: dict[str, Any] = {
            "title": html.escape(self.job.title, quote=False),
            "content": post_html(body_text(self.job)),
            "status": "publish",
        }
        tags = self.tag_ids()
        if tags:
            body["tags"] = tags
        if media_id is not None:
            body["featured_media"] = media_id
        return self.create_post(body)

    def check_site(self) -> None:
        """The site address passes the URL rules (public address) and is pinned for this attempt."""
        self.public.check(self.site, subject=f"The WordPress site address {self.host}")

    # ---- transport -----------------------------------------------------------------------
    def url(self, route: str, params: dict[str, Any] | None) -> httpx.URL:
        query = dict(params or {})
        root = self.site.path.rstrip("/")
        if self.plain_routes:
            return self.site.copy_with(path=root + "/", params={"rest_route": route, **query})
        return self.site.copy_with(path=root + API_PREFIX + route, params=query or None)

    def call(
        self,
        method: str,
        route: str,
        *,
        params: dict[str, Any] | None = None,
        publishes: bool = False,
        replayable: bool = True,
        **kwargs: Any,
    ) -> _Reply:
        """One REST call with the application password; a /wp-json/ that the site does not serve
        (an HTML 404: no pretty permalinks) switches this attempt to `?rest_route=` once."""
        headers = {
            "Authorization": self.authorization,
            "Accept": "application/json",
            **kwargs.pop("headers", {}),
        }
        while True:
            response = send(
                self.http_ctx,
                PLATFORM,
                method,
                str(self.url(route, params)),
                publishes=publishes,
                what=f"the WordPress site {self.host}",
                headers=headers,
                **kwargs,
            )
            reply = _Reply(response, _parse_json(response))
            if self.needs_plain_routes(reply) and replayable:
                self.plain_routes = True
                continue
            return reply

    def needs_plain_routes(self, reply: _Reply) -> bool:
        return reply.status == 404 and reply.data is None and not self.plain_routes

    # ---- featured image --------------------------------------------------------------------
    def featured_media(self) -> int:
        media_url = self.job.media_urls[0]
        earlier = self.job.resume.get("media_id")
        if (
            isinstance(earlier, int)
            and self.job.resume.get("media_url") == media_url
            and self.media_exists(earlier)
        ):
            return earlier
        for _ in range(2):  # a second time only after switching to ?rest_route= (the body is a stream)
            reply = self.upload(media_url)
            if not self.needs_plain_routes(reply):
                break
            self.plain_routes = True
        if reply.status != 201:
            raise self.failure(reply, doing=f"uploading the image {url_name(media_url)}")
        media_id = reply.obj.get("id")
        if not isinstance(media_id, int):
            raise RetryableError(
                PLATFORM,
                f"WordPress did not name the media item made of {url_name(media_url)}; "
                "nothing was published.",
            )
        self.ctx.progress.remember(media_id=media_id, media_url=media_url)
        return media_id

    def upload(self, media_url: str) -> _Reply:
        filename = upload_filename(media_url)
        with open_media(self.ctx, media_url, platform=PLATFORM, what="image") as media:
            kind = media.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            headers = {
                "Content-Type": kind if kind.startswith("image/") else IMAGE_TYPES[url_extension(filename)],
                "Content-Disposition": f'attachment; filename="{filename}"',
            }
            if "content-length" in media.headers:
                # With a length httpx sends the body as is rather than chunked, as PHP prefers.
                headers["Content-Length"] = media.headers["content-length"]
            return self.call(
                "POST",
                "/wp/v2/media",
                replayable=False,
                headers=headers,
                content=media.iter_bytes(UPLOAD_BLOCK_BYTES),
            )

    def media_exists(self, media_id: int) -> bool:
        reply = self.call("GET", f"/wp/v2/media/{media_id}", params={"context": "edit"})
        if reply.status == 200 and isinstance(reply.data, dict):
            return True
        if reply.status == 404:
            return False
        raise self.failure(reply, doing="checking an uploaded image")

    # ---- tags ------------------------------------------------------------------------------
    def tag_ids(self) -> list[int]:
        known = self.job.resume.get("tag_ids")
        ids: dict[str, int] = dict(known) if isinstance(known, dict) else {}
        result: list[int] = []
        seen: set[str] = set()
        for name in self.job.hashtags:
            key = name.casefold()
            if key in seen:
                continue
            seen.add(key)
            tag_id = ids.get(name)
            if not isinstance(tag_id, int):
                tag_id = self.find_tag(name) or self.create_tag(name)
                if tag_id is None:
                    continue
                ids[name] = tag_id
                self.ctx.progress.remember(tag_ids=dict(ids))
            result.append(tag_id)
        return result

    def find_tag(self, name: str) -> int | None:
        """The id of the tag named exactly `name` (any case); WordPress's search is partial."""
        reply = self.call("GET", "/wp/v2/tags", params={"search": name, "per_page": 100})
        if reply.status != 200 or not isinstance(reply.data, list):
            raise self.failure(reply, doing=f"looking up the tag {name}")
        for tag in reply.data:
            if not isinstance(tag, dict) or not isinstance(tag.get("id"), int):
                continue
            if html.unescape(str(tag.get("name", ""))).casefold() == name.casefold():
                return int(tag["id"])
        return None

    def create_tag(self, name: str) -> int | None:
        """A new tag's id; an existing one's (`term_exists`); None when the user may not create tags."""
        reply = self.call("POST", "/wp/v2/tags", json={"name": name})
        tag_id = reply.obj.get("id")
        if reply.status == 201 and isinstance(tag_id, int):
            return tag_id
        data = reply.obj.get("data")
        term_id = data.get("term_id") if isinstance(data, dict) else None
        if reply.obj.get("code") == "term_exists" and isinstance(term_id, int):
            return term_id
        if reply.status == 403 and reply.obj.get("code") == "rest_cannot_create":
            # Authors may publish but not create tags: the post goes out without this one.
            return None
        raise self.failure(reply, doing=f"creating the tag {name}")

    # ---- the publishing call -----------------------------------------------------------------
    def create_post(self, body: dict[str, Any]) -> PublishResult:
        earlier = self.job.resume.get("sent_after")
        # The earliest mark is kept: a look from it also covers every later send.
        mark = earlier if isinstance(earlier, str) else self.ctx.now().astimezone(UTC).isoformat()
        self.sent_after = mark
        self.ctx.progress.sending(sent_after=mark, post_lookups=0)
        try:
            reply = self.call("POST", "/wp/v2/posts", publishes=True, json=body)
        except AmbiguousError as exc:
            return self.look_after_ambiguous(exc.detail)
        if reply.status >= 500:
            return self.look_after_ambiguous(f"HTTP {reply.status} {reply.obj.get('code', '')}".strip())
        if 200 <= reply.status < 300:
            post_id = reply.obj.get("id")
            if isinstance(post_id, int):
                link = reply.obj.get("link")
                return PublishResult(post_id=str(post_id), url=link if isinstance(link, str) else None)
            # A success status without a readable post may still have made one: look, never assume.
            return self.look_after_ambiguous(f"HTTP {reply.status} without a post id")
        raise self.failure(reply, doing="publishing the post")

    def look_after_ambiguous(self, detail: str) -> PublishResult:
        """The publishing call may or may not have created the post: look once, now."""
        try:
            found = self.find_published()
        except PlatformError as exc:
            raise self.ambiguous(f"{detail}; the look failed: {exc.kind} {exc.detail}") from None
        if found is not None:
            return found
        self.ctx.progress.remember(post_lookups=1)
        raise self.ambiguous(f"{detail}; not on the site yet")

    def settle_earlier_send(self) -> PublishResult | None:
        """An earlier attempt reached the publishing call: find its post before sending anything.

        One look that finds nothing is not proof (the site may still be writing it); the post is
        sent again only after `LOOKUPS_BEFORE_RESEND` looks in a row, on separate attempts.
        """
        try:
            found = self.find_published()
        except PlatformError as exc:
            raise self.ambiguous(
                f"earlier attempt unsettled; the look failed: {exc.kind} {exc.detail}"
            ) from None
        if found is not None:
            return found
        earlier = self.job.resume.get("post_lookups")
        misses = (earlier if isinstance(earlier, int) else 0) + 1
        self.ctx.progress.remember(post_lookups=misses)
        if misses < LOOKUPS_BEFORE_RESEND or self.sending_mark() is None:
            raise self.ambiguous(f"earlier attempt not on the site after {misses} look(s)")
        return None

    def sending_mark(self) -> datetime | None:
        """When the first publishing call of this post was about to be made (ours or the run's)."""
        marks = [_gmt(self.job.resume.get("sent_after")), _gmt(self.sent_after)]
        if self.job.sending_at is not None:
            at = self.job.sending_at
            marks.append(at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC))
        known = [mark for mark in marks if mark is not None]
        return min(known) if known else None

    def find_published(self) -> PublishResult | None:
        """Our post, if the site shows one: published, exactly our title, created after the mark."""
        mark = self.sending_mark()
        if mark is None:
            return None
        params = {
            "search": search_terms(self.job.title),
            "after": (mark - AFTER_MARGIN).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": "publish",
            "context": "edit",
            "orderby": "date",
            "order": "asc",
            "per_page": 100,
        }
        reply = self.call("GET", "/wp/v2/posts", params=params)
        if reply.status != 200 or not isinstance(reply.data, list):
            raise self.failure(reply, doing="looking for the post")
        sent = html.escape(self.job.title, quote=False)
        for post in reply.data:
            if not isinstance(post, dict) or not isinstance(post.get("id"), int):
                continue
            title = post.get("title")
            raw = title.get("raw") if isinstance(title, dict) else None
            rendered = title.get("rendered") if isinstance(title, dict) else None
            same = raw == sent or html.unescape(str(raw or rendered or "")).strip() == self.job.title
            created = _gmt(post.get("date_gmt"))
            if (
                same
                and post.get("status") == "publish"
                and created is not None
                and created >= mark - CLOCK_SKEW
            ):
                link = post.get("link")
                return PublishResult(post_id=str(post["id"]), url=link if isinstance(link, str) else None)
        return None

    def ambiguous(self, detail: str) -> AmbiguousError:
        return AmbiguousError(
            PLATFORM,
            f"The WordPress site {self.host} failed while publishing and does not show the post yet, "
            "so it may or may not have been published.",
            detail=detail,
        )

    # ---- errors ----------------------------------------------------------------------------
    def failure(self, reply: _Reply, *, doing: str) -> PlatformError:
        """The typed error for a reply that is not a success."""
        status = reply.status
        code = str(reply.obj.get("code") or "")
        said = _message(reply.obj, reply.response)
        detail = f"HTTP {status} {code} while {doing}: {said}".replace("  ", " ")
        site = self.host
        if code in _FILE_CODES:
            return PermanentError(
                PLATFORM, f"The WordPress site {site} refused the image: {said}", detail=detail
            )
        if status == 429:
            return RateLimitedError(
                PLATFORM,
                f"The WordPress site {site} asks to slow down; the post waits.",
                detail=detail,
                not_before=_retry_after(reply.response, self.ctx.now()),
            )
        if status >= 500:
            return RetryableError(
                PLATFORM,
                f"The WordPress site {site} failed while {doing}; nothing was published.",
                detail=detail,
            )
        if status == 404 and (code == "rest_no_route" or reply.data is None):
            return PermanentError(
                PLATFORM,
                f"The WordPress site {site} does not answer at /wp-json/ (the REST API is turned off, or the "
                "address is not the site's home page). Check the site address in the app.",
                detail=detail,
            )
        if reply.data is None and (_is_html(reply.response) or status in (200, 403)):
            return PermanentError(
                PLATFORM,
                f"The WordPress site {site} answered with a web page instead of the WordPress API: a "
                "security plugin or firewall may block the REST API (/wp-json/). Allow it for this user, "
                "then reschedule the post.",
                detail=detail,
            )
        if status in (301, 302, 303, 307, 308):
            return PermanentError(
                PLATFORM,
                f"The WordPress site address {site} redirects elsewhere (HTTP {status}). Enter the address "
                "the site redirects to (for example with https:// or www.) in the app.",
                detail=f"{detail}; location {platform_text(reply.response.headers.get('location', ''))}",
            )
        if status == 401:
            return self.auth_failure(code, detail)
        if status == 403 and code in _ROLE_CODES:
            return AuthError(
                PLATFORM,
                f"The WordPress user {self.username} may not do this on {site} ({said}). Connect a user with "
                f"the Author, Editor or Administrator role. {RECONNECT}",
                detail=detail,
                connection_status="revoked",
            )
        return PermanentError(PLATFORM, f"The WordPress site {site} refused the post: {said}", detail=detail)

    def auth_failure(self, code: str, detail: str) -> AuthError:
        site = self.host
        if code in _CREDENTIAL_CODES:
            return AuthError(
                PLATFORM,
                f"The WordPress site {site} refused the user name or application password. {RECONNECT}",
                detail=detail,
                connection_status="revoked",
            )
        if code in _DISABLED_CODES:
            return AuthError(
                PLATFORM,
                f"Application passwords are turned off on the WordPress site {site} (WordPress allows them "
                f"only over HTTPS, and a plugin may disable them). {RECONNECT}",
                detail=detail,
                connection_status="revoked",
            )
        return AuthError(
            PLATFORM,
            f"The WordPress site {site} treated the publisher as a visitor who is not logged in, although "
            "the application password was sent: the web server or a security plugin may strip the "
            "Authorization header. Ask the site's host to pass it on to WordPress, then reconnect.",
            detail=detail,
        )
