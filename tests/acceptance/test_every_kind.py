"""Every platform and every post kind the app schedules, in both tables, through one run of the
real cron wrapper against the local stack: each post goes out once, as the kind it asked for,
with what it asked for, and is recorded with the platform's id and URL.

One run (a module fixture) publishes every case; each case is then checked by its own test, so
that a kind that breaks names itself instead of hiding behind the first failing assertion.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from devstack import seed
from devstack.postgres import Cluster
from devstack.simulators.media import media_bytes
from devstack.simulators.wordpress import BLOG_ADMIN
from devstack.stack import Stack, running_stack
from tests.acceptance.conftest import WRAPPER, WrapperRun, wrapper_env

pytestmark = pytest.mark.acceptance

FB_TOKEN = "EAAGm0PX4ZCpsBAeveryKindTestToken0123456789"
IG_LOGIN_TOKEN = "IGAAeveryKindInstagramLoginToken0123456789"
LI_TOKEN = "AQVeveryKindTestLinkedInToken0123456789abc"
GOOGLE_TOKEN = "ya29.every-kind-test-access-token"
GOOGLE_REFRESH = "1//every-kind-test-refresh-token"
X_TOKEN = "every-kind-test-x-access-token"
X_REFRESH = "every-kind-test-x-refresh-token"
SECRETS = (FB_TOKEN, IG_LOGIN_TOKEN, LI_TOKEN, GOOGLE_TOKEN, GOOGLE_REFRESH, X_TOKEN, X_REFRESH)
FB_PAGE = "104958162837461"
IG_USER = "17841400000000001"
LI_MEMBER = "abc123"
CC, CP = "created_content", "content_posts"
# Placeholders in a case's metadata for ids that exist only once the stack is seeded.
IG_LOGIN_PAGE, IG_LOGIN_CONNECTION = "<instagram-login page id>", "<instagram-login connection id>"
LINKEDIN_ESCAPES = "Escapes (all) [of] <these> *chars* _ ~ | {x} @ \\ #tag"


@dataclass(frozen=True)
class Media:
    """The media host's URLs every case draws from, and the bytes each one serves."""

    base: str

    def url(self, name: str, size: int | None = None) -> str:
        return f"{self.base}/media/{name}" + (f"?bytes={size}" if size else "")

    @property
    def img(self) -> str:
        return self.url("croissant.jpg")

    @property
    def img2(self) -> str:
        return self.url("baguette.jpg")

    @property
    def img3(self) -> str:
        return self.url("brioche.jpg")

    @property
    def cover(self) -> str:
        return self.url("cover.jpg", 40_000)

    @property
    def video(self) -> str:
        return self.url("tour.mp4", 300_000)

    @property
    def li_video(self) -> str:
        return self.url("linkedin-tour.mp4", 600_000)

    @property
    def pdf(self) -> str:
        return self.url("winter-menu.pdf", 150_000)

    @staticmethod
    def sha(url: str) -> str:
        """The sha256 of what the media host serves at `url` (64 KiB unless `bytes` says)."""
        parts = urlsplit(url)
        size = int(parse_qs(parts.query).get("bytes", ["65536"])[0])
        return hashlib.sha256(media_bytes(parts.path.rsplit("/", 1)[-1], size)).hexdigest()


Fields = Callable[[Media], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """One post: where it is stored, what the app wrote, and what the platform must show for it.

    `expect` is the part of the simulator's record (with the facts `Published.record` derives)
    the post must have produced; `url` the start of its public address.
    """

    name: str
    table: str
    platform: str
    fields: Fields
    expect: Fields
    url: str
    instagram_login: bool = False
    notes: dict[str, Any] = field(default_factory=dict)  # metadata the publisher adds besides ids

    @property
    def simulator(self) -> str:
        """The Stack attribute of the simulator that must hold the post."""
        if self.platform in ("facebook", "instagram"):
            return "instagram_graph" if self.instagram_login else "graph"
        return {"twitter": "x"}.get(self.platform, self.platform)

    @property
    def is_story(self) -> bool:
        return self.name.endswith("story")


def cc(name: str, platform: str, fields: Fields, expect: Fields, url: str, **kw: Any) -> Case:
    """A created_content case."""
    return Case(f"{platform}-{name}", CC, platform, fields, expect, url, **kw)


def cp(name: str, platform: str, fields: Fields, expect: Fields, url: str, **kw: Any) -> Case:
    """A content_posts (campaign) case."""
    return Case(f"{platform}-campaign-{name}", CP, platform, fields, expect, url, **kw)


FB_POST, FB_VIDEO, FB_REEL = (
    f"https://www.facebook.com/{FB_PAGE}/posts/",
    f"https://www.facebook.com/{FB_PAGE}/videos/",
    "https://www.facebook.com/reel/",
)
FB_STORY = f"https://www.facebook.com/stories/{FB_PAGE}/"  # as the Page's story list gives it
IG_POST, IG_REEL, IG_STORY = (
    "https://www.instagram.com/p/",
    "https://www.instagram.com/reel/",
    "https://www.instagram.com/stories/",
)
LI_POST = "https://www.linkedin.com/feed/update/urn:li:share:"
YT_WATCH, YT_SHORT = "https://www.youtube.com/watch?v=", "https://www.youtube.com/shorts/"
X_POST = "https://x.com/sim_bakery/status/"
WP_POST = "<wordpress site>/?p="

CASES: list[Case] = [
    # ---- Facebook Page -------------------------------------------------------------------------
    cc("text", "facebook", lambda _: {}, lambda _: {"media": []}, FB_POST),
    cc(
        "link",
        "facebook",
        lambda _: {"metadata": {"link": "https://example.com/winter-menu"}},
        lambda _: {"kind": "link", "media": ["https://example.com/winter-menu"]},
        FB_POST,
    ),
    cc(
        "image",
        "facebook",
        lambda m: {"content_type": "static_post", "media_url": m.img},
        lambda m: {"kind": None, "media": [m.img]},
        FB_POST,
    ),
    cc(
        "carousel",
        "facebook",
        lambda m: {"content_type": "carousel", "images": [m.img, m.img2, m.img3]},
        lambda m: {"kind": None, "media": [m.img, m.img2, m.img3]},
        FB_POST,
    ),
    cc(
        "video",
        "facebook",
        lambda m: {"content_type": "video", "media_url": m.video},
        lambda m: {"kind": None, "media": [m.video]},
        FB_VIDEO,
    ),
    *(
        cc(
            name,
            "facebook",
            lambda m, kind=kind: {"content_type": kind, "media_url": m.video},
            lambda m: {"kind": "reel", "media": [m.video]},
            FB_REEL,
        )
        for name, kind in (
            ("reel", "reel"),
            ("short-video", "short_video"),
            ("short-video-or-reel", "short_video or reel"),
        )
    ),
    cc(
        "photo-story",
        "facebook",
        lambda m: {"content_type": "story", "media_url": m.img},
        lambda m: {"kind": "photo_story", "media": [m.img]},
        FB_STORY,
    ),
    cc(
        "video-story",
        "facebook",
        lambda m: {"content_type": "story", "metadata": {"video_url": m.video}},
        lambda m: {"kind": "video_story", "media": [m.video]},
        FB_STORY,
    ),
    cp("text", "facebook", lambda _: {"post_type": "text"}, lambda _: {"kind": None, "media": []}, FB_POST),
    cp(
        "image",
        "facebook",
        lambda m: {"post_type": "image", "primary_image_url": m.img},
        lambda m: {"kind": None, "media": [m.img]},
        FB_POST,
    ),
    cp(
        "carousel",
        "facebook",
        lambda m: {"post_type": "carousel", "metadata": {"carousel_images": [m.img, m.img2]}},
        lambda m: {"kind": None, "media": [m.img, m.img2]},
        FB_POST,
    ),
    cp(
        "video",
        "facebook",
        lambda m: {"post_type": "video", "metadata": {"video_url": m.video}},
        lambda m: {"kind": None, "media": [m.video]},
        FB_VIDEO,
    ),
    cp(
        "story",
        "facebook",
        lambda m: {"post_type": "story", "primary_image_url": m.img},
        lambda m: {"kind": "photo_story", "media": [m.img]},
        FB_STORY,
    ),
    # ---- Instagram, connected with Facebook Login (graph.facebook.com) ------------------------
    cc(
        "image",
        "instagram",
        lambda m: {"content": "Croissant close-up", "media_url": m.img, "hashtags": ["bakery", "#croissant"]},
        lambda m: {"kind": None, "media": [m.img], "text": "Croissant close-up\n\n#bakery #croissant"},
        IG_POST,
    ),
    cc(
        "carousel",
        "instagram",
        lambda m: {"content_type": "carousel", "images": [m.img, m.img2]},
        lambda m: {"kind": None, "media": [m.img, m.img2]},
        IG_POST,
    ),
    cc(
        "mixed-carousel",
        "instagram",
        lambda m: {"content_type": "carousel", "images": [m.img, m.video]},
        lambda m: {"kind": None, "media": [m.img, m.video]},
        IG_POST,
    ),
    cc(
        "reel",
        "instagram",
        lambda m: {
            "content_type": "reel",
            "media_url": m.video,
            "metadata": {"thumbnail": m.cover, "share_to_feed": False},
        },
        lambda m: {"kind": "reel", "media": [m.video], "cover_url": m.cover, "share_to_feed": False},
        IG_REEL,
    ),
    cc(
        "image-story",
        "instagram",
        lambda m: {"content_type": "story", "media_url": m.img},
        lambda m: {"kind": "story", "media": [m.img]},
        IG_STORY,
    ),
    cc(
        "video-story",
        "instagram",
        lambda m: {"content_type": "story", "media_url": m.video},
        lambda m: {"kind": "story", "media": [m.video]},
        IG_STORY,
    ),
    cp(
        "image",
        "instagram",
        lambda m: {"post_type": "image", "primary_image_url": m.img},
        lambda m: {"kind": None, "media": [m.img]},
        IG_POST,
    ),
    cp(
        "carousel",
        "instagram",
        lambda m: {"post_type": "carousel", "metadata": {"carousel_images": [m.img, m.img3]}},
        lambda m: {"kind": None, "media": [m.img, m.img3]},
        IG_POST,
    ),
    cp(
        "video",
        "instagram",
        lambda m: {"post_type": "video", "metadata": {"video_url": m.video}},
        lambda m: {"kind": "reel", "media": [m.video], "share_to_feed": None},
        IG_REEL,
    ),
    cp(
        "story",
        "instagram",
        lambda m: {"post_type": "story", "primary_image_url": m.img},
        lambda m: {"kind": "story", "media": [m.img]},
        IG_STORY,
    ),
    # ---- Instagram, connected with Instagram Login (graph.instagram.com, an IGAA… token) -------
    cc(
        "login-image",
        "instagram",
        lambda m: {"media_url": m.img3, "metadata": {"page_id": IG_LOGIN_PAGE}},
        lambda m: {"kind": None, "media": [m.img3]},
        IG_POST,
        instagram_login=True,
    ),
    cc(
        "login-reel",
        "instagram",
        lambda m: {
            "content_type": "reel",
            "media_url": m.video,
            "metadata": {"connection_id": IG_LOGIN_CONNECTION},
        },
        lambda m: {"kind": "reel", "media": [m.video]},
        IG_REEL,
        instagram_login=True,
    ),
    # ---- LinkedIn ------------------------------------------------------------------------------
    cc(
        "text",
        "linkedin",
        lambda _: {"content": LINKEDIN_ESCAPES},
        lambda _: {"kind": "text", "text": LINKEDIN_ESCAPES},
        LI_POST,
    ),
    cc(
        "image",
        "linkedin",
        lambda m: {"content_type": "static_post", "media_url": m.img},
        lambda m: {"kind": "image", "media_sha256": [m.sha(m.img)]},
        LI_POST,
    ),
    cc(
        "several-images",
        "linkedin",
        lambda m: {"content_type": "carousel", "images": [m.img, m.img2, m.img3]},
        lambda m: {"kind": "multi_image", "media_sha256": [m.sha(m.img), m.sha(m.img2), m.sha(m.img3)]},
        LI_POST,
    ),
    cc(
        "video",
        "linkedin",
        lambda m: {"content_type": "video", "title": "Inside our bakery", "media_url": m.li_video},
        lambda m: {"kind": "video", "title": "Inside our bakery", "media_sha256": [m.sha(m.li_video)]},
        LI_POST,
    ),
    cc(
        "document",
        "linkedin",
        lambda m: {"title": "Our winter menu", "media_url": m.pdf},
        lambda m: {"kind": "document", "title": "Our winter menu", "media_sha256": [m.sha(m.pdf)]},
        LI_POST,
    ),
    cc(
        "link",
        "linkedin",
        lambda m: {
            "title": "How we bake",
            "metadata": {"link": "https://example.com/our-story", "thumbnail": m.img2},
        },
        lambda m: {
            "kind": "article",
            "source": "https://example.com/our-story",
            "title": "How we bake",
            "media_sha256": [m.sha(m.img2)],  # the article's thumbnail
        },
        LI_POST,
    ),
    cp("text", "linkedin", lambda _: {"post_type": "text"}, lambda _: {"kind": "text", "media": []}, LI_POST),
    cp(
        "image",
        "linkedin",
        lambda m: {"post_type": "image", "primary_image_url": m.img},
        lambda m: {"kind": "image", "media_sha256": [m.sha(m.img)]},
        LI_POST,
    ),
    cp(
        "carousel",
        "linkedin",
        lambda m: {"post_type": "carousel", "metadata": {"carousel_images": [m.img, m.img2]}},
        lambda m: {"kind": "multi_image", "media_sha256": [m.sha(m.img), m.sha(m.img2)]},
        LI_POST,
    ),
    cp(
        "video",
        "linkedin",
        lambda m: {"post_type": "video", "title": "Campaign clip", "metadata": {"video_url": m.li_video}},
        lambda m: {"kind": "video", "title": "Campaign clip", "media_sha256": [m.sha(m.li_video)]},
        LI_POST,
    ),
    # ---- YouTube -------------------------------------------------------------------------------
    cc(
        "video",
        "youtube",
        lambda m: {
            "content_type": "long_video",
            "title": "Our sourdough, start to finish",
            "media_url": m.video,
            "hashtags": ["sourdough", "howto"],
            "metadata": {
                "thumbnail": m.cover,
                "category": "26",
                "made_for_kids": True,
                "privacy": "unlisted",
            },
        },
        lambda m: {
            "title": "Our sourdough, start to finish",
            "sha256": m.sha(m.video),
            "tags": ["sourdough", "howto"],
            "category_id": "26",
            "made_for_kids": True,
            "privacy": "unlisted",
            "thumbnail_sha256": m.sha(m.cover),
        },
        YT_WATCH,
        notes={"youtube_privacy": "unlisted", "youtube_thumbnail": "set"},
    ),
    cc(
        "short",
        "youtube",
        lambda m: {"content_type": "short_video", "title": "Shaping a baguette", "media_url": m.video},
        lambda m: {"title": "Shaping a baguette", "sha256": m.sha(m.video), "thumbnail_sha256": None},
        YT_SHORT,
    ),
    cp(
        "video",
        "youtube",
        lambda m: {"post_type": "video", "title": "Campaign video", "metadata": {"video_url": m.video}},
        lambda m: {"title": "Campaign video", "sha256": m.sha(m.video)},
        YT_WATCH,
    ),
    # ---- X -------------------------------------------------------------------------------------
    cc("text", "twitter", lambda _: {}, lambda _: {"media": []}, X_POST),
    cc(
        "link",
        "twitter",
        lambda _: {"content": "This week's menu", "metadata": {"link": "https://example.com/menu"}},
        lambda _: {"media": [], "text": "This week's menu\n\nhttps://example.com/menu"},
        X_POST,
    ),
    cc(
        "image",
        "twitter",
        lambda m: {"content_type": "static_post", "media_url": m.img},
        lambda m: {"media_kinds": ["image"], "media_sha256": [m.sha(m.img)]},
        X_POST,
    ),
    cc(
        "several-images",
        "twitter",
        lambda m: {"content_type": "carousel", "images": [m.img, m.img2, m.img3]},
        lambda m: {
            "media_kinds": ["image"] * 3,
            "media_sha256": [m.sha(m.img), m.sha(m.img2), m.sha(m.img3)],
        },
        X_POST,
    ),
    cc(
        "video",
        "twitter",
        lambda m: {"content_type": "video", "media_url": m.video},
        lambda m: {"media_kinds": ["video"], "media_sha256": [m.sha(m.video)]},
        X_POST,
    ),
    cp("text", "twitter", lambda _: {"post_type": "text"}, lambda _: {"media": []}, X_POST),
    cp(
        "image",
        "twitter",
        lambda m: {"post_type": "image", "primary_image_url": m.img},
        lambda m: {"media_kinds": ["image"], "media_sha256": [m.sha(m.img)]},
        X_POST,
    ),
    cp(
        "carousel",
        "twitter",
        lambda m: {"post_type": "carousel", "metadata": {"carousel_images": [m.img, m.img2]}},
        lambda m: {"media_kinds": ["image", "image"], "media_sha256": [m.sha(m.img), m.sha(m.img2)]},
        X_POST,
    ),
    cp(
        "video",
        "twitter",
        lambda m: {"post_type": "video", "metadata": {"video_url": m.video}},
        lambda m: {"media_kinds": ["video"], "media_sha256": [m.sha(m.video)]},
        X_POST,
    ),
    # ---- WordPress -----------------------------------------------------------------------------
    cc(
        "blog",
        "wordpress",
        lambda m: {
            "content_type": "blog",
            "channel": "Blog",
            "title": "Our autumn menu",
            "content": "Pumpkin loaves are back.",
            "media_url": m.img,
            "hashtags": ["bakery", "autumn"],
        },
        lambda m: {
            "title": "Our autumn menu",
            "content": "<p>Pumpkin loaves are back.</p>",
            "tag_names": ["bakery", "autumn"],
            "featured_sha256": m.sha(m.img),
        },
        WP_POST,
    ),
    cc(
        "text",
        "wordpress",
        lambda _: {"content": "Open late on Friday\nSee you there!"},
        lambda _: {"title": "Open late on Friday", "tag_names": [], "featured_sha256": None},
        WP_POST,
    ),
    cp(
        "text",
        "wordpress",
        lambda _: {"post_type": "text", "title": "Campaign news"},
        lambda _: {"title": "Campaign news", "tag_names": [], "featured_sha256": None},
        WP_POST,
    ),
    cp(
        "image",
        "wordpress",
        lambda m: {"post_type": "image", "title": "Campaign photo", "primary_image_url": m.img2},
        lambda m: {"title": "Campaign photo", "featured_sha256": m.sha(m.img2)},
        WP_POST,
    ),
]


@dataclass
class Published:
    """The one run: the stack after it, the wrapper's result, and each case's row."""

    stack: Stack
    run: WrapperRun
    seconds: float
    media: Media
    ids: dict[str, str] = field(default_factory=dict)  # case name → row id
    contents: dict[str, str] = field(default_factory=dict)  # case name → its content column

    def row(self, case: Case) -> dict[str, Any]:
        """The case's row as it is now."""
        with self.stack.connect() as conn:
            return seed.row(conn, case.table, self.ids[case.name])

    def created(self, simulator: str) -> list[dict[str, Any]]:
        """Every object a simulator made public."""
        records: list[dict[str, Any]] = getattr(self.stack, simulator).created
        return records

    def record(self, case: Case, post_id: str) -> dict[str, Any]:
        """The simulator's one record of `post_id`, with the facts derived from its other state."""
        found = [r for r in self.created(case.simulator) if str(r["id"]) == post_id]
        assert len(found) == 1, (case.name, post_id, found)
        record = dict(found[0])
        if case.platform == "linkedin":
            sim = self.stack.linkedin
            assets = {**sim.images, **sim.documents, **sim.videos}
            record["media_sha256"] = [assets[urn].sha256 for urn in record["media"]]
        elif case.platform == "twitter":
            x_media = [self.stack.x.media[media_id] for media_id in record["media"]]
            record["media_kinds"] = [item.kind for item in x_media]
            record["media_sha256"] = [item.sha256 for item in x_media]
        elif case.platform == "wordpress":
            site = self.stack.wordpress.sites["/blog"]
            record["tag_names"] = [site.tags[tag]["name"] for tag in record["tags"]]
            featured = site.media.get(record["featured_media"])
            record["featured_sha256"] = featured["sha256"] if featured else None
        elif case.platform == "youtube":
            record["thumbnail_sha256"] = self.stack.youtube.thumbnails.get(post_id, {}).get("sha256")
        return record


def _connect_every_platform(stack: Stack, conn: Any, user: str, now: datetime) -> str:
    """A connection per platform; returns the Instagram Login connection's id."""
    key = stack.encryption_key
    seed.connection(conn, key, user, "facebook", access_token=FB_TOKEN, page_id=FB_PAGE)
    seed.connection(conn, key, user, "instagram", access_token=FB_TOKEN, page_id=IG_USER)
    # Connected earlier than the one above, so only posts that name it use it.
    ig_login = seed.connection(
        conn,
        key,
        user,
        "instagram",
        access_token=IG_LOGIN_TOKEN,
        page_id=stack.instagram_graph.me_user_id,
        connected_at=now - timedelta(days=30),
    )
    seed.connection(
        conn, key, user, "linkedin", access_token=LI_TOKEN, page_id=LI_MEMBER, linkedin_id=LI_MEMBER
    )
    seed.connection(
        conn,
        key,
        user,
        "youtube",
        access_token=GOOGLE_TOKEN,
        refresh_token=GOOGLE_REFRESH,
        page_id="UCchannel",
        token_expires_at=now + timedelta(hours=1),
    )
    seed.connection(
        conn,
        key,
        user,
        "twitter",
        access_token=X_TOKEN,
        refresh_token=X_REFRESH,
        page_id=stack.x.user_id,
        page_username=stack.x.username,
        token_expires_at=now + timedelta(hours=1),
    )
    seed.wordpress_connection(
        conn,
        key,
        user,
        site_url=stack.wordpress_site("/blog"),
        username=BLOG_ADMIN[0],
        app_password=BLOG_ADMIN[1],
    )
    return ig_login


def _seed(stack: Stack, media: Media) -> tuple[dict[str, str], dict[str, str]]:
    """One user, a connection per platform, and one post due now per case."""
    now = datetime.now(UTC)
    due = now - timedelta(minutes=2)
    ids: dict[str, str] = {}
    contents: dict[str, str] = {}
    with stack.connect() as conn:
        user = seed.user(conn, "every.kind@example.com", "UTC")
        ig_login = _connect_every_platform(stack, conn, user, now)
        placeholders = {IG_LOGIN_PAGE: stack.instagram_graph.me_user_id, IG_LOGIN_CONNECTION: ig_login}
        campaign = seed.campaign(conn, user)
        for number, case in enumerate(CASES):
            fields = case.fields(media)
            # Distinct texts: Facebook, LinkedIn and X refuse an account's repeated text.
            fields.setdefault("content", f"{case.name} post number {number}")
            if "metadata" in fields:
                fields["metadata"] = {
                    k: placeholders.get(v, v) if isinstance(v, str) else v
                    for k, v in fields["metadata"].items()
                }
            contents[case.name] = fields["content"]
            if case.table == CC:
                ids[case.name] = seed.created_content(
                    conn, user, platform=case.platform, scheduled_at=due, **fields
                )
            else:
                ids[case.name] = seed.content_post(
                    conn,
                    campaign,
                    platform=case.platform,
                    scheduled_date=due.date(),
                    scheduled_time=due.time().replace(microsecond=0),
                    **fields,
                )
    return ids, contents


@pytest.fixture(scope="module")
def published(pg_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    """Seed every case and run the wrapper once, as cron would; keep the stack for the checks."""
    tmp = tmp_path_factory.mktemp("every_kind")
    with running_stack(pg_cluster) as stack:
        media = Media(stack.urls["media"])
        ids, contents = _seed(stack, media)
        env = wrapper_env(stack, tmp)
        started = time.monotonic()
        result = subprocess.run(
            [str(WRAPPER)], env=env, cwd="/", capture_output=True, text=True, timeout=60, check=False
        )
        seconds = time.monotonic() - started
        log_path = Path(env["LOG_FILE"])
        log = log_path.read_text() if log_path.exists() else ""
        yield Published(
            stack,
            WrapperRun(result.returncode, result.stdout, result.stderr, log),
            seconds,
            media,
            ids,
            contents,
        )


def test_one_run_publishes_every_post_once(published: Published):
    """One wrapper run exits 0, logs one "post published" line per post and makes nothing else public."""
    run = published.run
    assert run.returncode == 0, run.log + run.stderr
    lines = [line for line in run.log.splitlines() if " post published " in line]
    for case in CASES:
        tag = f"table={case.table} post={published.ids[case.name]} "
        assert len([line for line in lines if tag in line]) == 1, (case.name, lines)
    assert len(lines) == len(CASES)
    for simulator in ("graph", "instagram_graph", "linkedin", "youtube", "x", "wordpress"):
        expected = len([case for case in CASES if case.simulator == simulator])
        assert len(published.created(simulator)) == expected, simulator
    assert f"published={len(CASES)} failed=0" in run.log


def test_no_secret_travels_in_a_url_or_the_log(published: Published):
    """No token or password appears in any URL a simulator was called with, nor in the run's output."""
    stack = published.stack
    for simulator in (
        stack.graph,
        stack.instagram_graph,
        stack.linkedin,
        stack.youtube,
        stack.x,
        stack.wordpress,
    ):
        for request in simulator.requests:
            url = request.path + "?" + "&".join(f"{k}={v}" for k, v in request.query.items())
            assert not any(secret in url for secret in SECRETS), f"{request.method} {request.path}"
    output = published.run.log + published.run.stdout + published.run.stderr
    assert not any(secret in output for secret in (*SECRETS, BLOG_ADMIN[1]))


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in CASES])
def test_every_platform_and_kind_is_published_once(published: Published, case: Case):
    """The post is published once, on its platform, as its kind, with what it asked for."""
    row = published.row(case)
    meta = row["metadata"]
    assert row["status"] == "published", (case.name, meta)
    assert row["published_at"] is not None
    post_id = str(meta[f"{case.platform}_post_id"])
    if case.table == CC:
        assert row["channel_post_id"] == post_id
    assert "post_url" in meta
    # The claim and the attempt's working keys (_publish_remote, _publish_sending_at, ...) are gone.
    assert not [key for key in meta if key.startswith("_publish")], meta
    assert {key: meta.get(key) for key in case.notes} == case.notes
    record = published.record(case, post_id)
    expected = case.expect(published.media)
    assert {key: record.get(key) for key in expected} == expected, record
    content = published.contents[case.name]
    if case.platform in ("facebook", "instagram") and case.is_story:
        assert record["text"] == ""  # stories have no caption
    elif case.platform in ("facebook", "instagram", "linkedin", "twitter"):
        assert content in record["text"]
    elif case.platform == "wordpress":
        assert content.splitlines()[-1] in record["content"]


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in CASES])
def test_every_published_post_has_its_public_address(published: Published, case: Case):
    """The post's metadata holds the address the app links to: the platform's page of that post."""
    meta = published.row(case)["metadata"]
    url = meta.get("post_url")
    prefix = case.url.replace("<wordpress site>", published.stack.wordpress_site("/blog"))
    assert isinstance(url, str), meta
    assert url.startswith(prefix), url
    if case.platform != "instagram":  # Instagram addresses carry a shortcode, not the media id
        assert str(meta[f"{case.platform}_post_id"]).split("_")[-1] in url
