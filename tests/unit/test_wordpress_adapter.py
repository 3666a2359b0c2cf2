"""The WordPress adapter against the WordPress simulator served on loopback."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.server import serve
from devstack.simulators.media import MediaHost, media_bytes
from devstack.simulators.wordpress import WordPressSimulator
from services.errors import (
    AmbiguousError,
    AuthError,
    LimitError,
    PermanentError,
    PlatformError,
    RateLimitedError,
)
from services.platforms.base import (
    BLOG,
    IMAGE,
    MEDIA_VIDEO,
    TEXT,
    AdapterContext,
    Connection,
    PlatformSettings,
    PublishJob,
    PublishResult,
)
from services.platforms.wordpress import (
    WordPressAdapter,
    post_html,
    post_title,
    search_terms,
    site_address,
)
from tests.adapters.harness import ProgressRecorder

PASSWORD = "abcd EFGH 1234 ijkl MNOP 5678"
LOCAL = PlatformSettings(http_timeout_s=5, media_allowed_hosts=("127.0.0.1",))


@dataclass
class World:
    """A served WordPress simulator and media host, and what the adapter reported."""

    sim: WordPressSimulator
    wp_url: str
    media_url: str
    settings: PlatformSettings = LOCAL
    recorder: ProgressRecorder = field(default_factory=ProgressRecorder)

    def connection(self, site: str = "/blog", user: str = "ada", password: str = PASSWORD) -> Connection:
        return Connection(
            id="conn-wp",
            user_id="user-1",
            platform="wordpress",
            page_id=None,
            page_name=None,
            access_token="",
            wordpress_site_url=f"{self.wp_url}{site}",
            wordpress_username=user,
            wordpress_app_password=password,
        )

    def publish(self, job: PublishJob, connection: Connection | None = None) -> PublishResult:
        with httpx.Client(timeout=5) as http:
            ctx = AdapterContext(
                http=http,
                settings=self.settings,
                progress=self.recorder,
                now=lambda: datetime.now(UTC),
                sleep=self.recorder.sleep,
                save_token=self.recorder.save_token,
            )
            return WordPressAdapter().publish(job, connection or self.connection(), ctx)

    def image(self, name: str = "cover.jpg", size: int = 50_000) -> str:
        return f"{self.media_url}/media/{name}?bytes={size}"

    def steps(self) -> list[str]:
        return [self.sim.step_of(r) for r in self.sim.requests]


@pytest.fixture
def world() -> Iterator[World]:
    sim = WordPressSimulator()
    with serve(sim) as wp, serve(MediaHost()) as media:
        yield World(sim=sim, wp_url=wp.url, media_url=media.url)


def job(
    content: str = "First paragraph.\n\nSecond <one> & more.",
    *,
    title: str = "Our new bakery",
    kind: str = BLOG,
    images: tuple[str, ...] = (),
    hashtags: tuple[str, ...] = (),
    **extra: Any,
) -> PublishJob:
    body = "\n\n".join(part for part in (content, " ".join(f"#{t}" for t in hashtags)) if part)
    return PublishJob(
        ref="created_content/test",
        kind=kind,
        title=title,
        text="\n\n".join(part for part in (title, body) if part),
        body=body,
        hashtags=hashtags,
        media_urls=images,
        **extra,
    )


def resumed(first: PublishJob, recorder: ProgressRecorder, **changes: Any) -> PublishJob:
    return dataclasses.replace(
        first, resume=dict(recorder.remembered), sending_started=recorder.sending_count > 0, **changes
    )


# ---- what is sent ------------------------------------------------------------------------------
def test_blog_entry_with_featured_image_and_tags(world: World):
    """A blog entry is published with its title, escaped HTML body, featured image and tags."""
    result = world.publish(job(images=(world.image(),), hashtags=("bakery", "Bread")))
    [post] = world.sim.created
    assert result.post_id == str(post["id"])
    assert result.url is not None
    assert result.url.endswith(f"/blog/?p={post['id']}")
    assert post["title"] == "Our new bakery"
    assert post["content"] == "<p>First paragraph.</p>\n\n<p>Second &lt;one&gt; &amp; more.</p>"
    site = world.sim.sites["/blog"]
    assert sorted(site.tags[t]["name"] for t in post["tags"]) == ["Bread", "bakery"]
    media = site.media[post["featured_media"]]
    assert media["sha256"] == hashlib.sha256(media_bytes("cover.jpg", 50_000)).hexdigest()
    assert media["mime_type"] == "image/jpeg"


def test_ids_are_remembered_before_publishing(world: World):
    """The media id and tag ids are remembered as they exist, and sending is marked before the post."""
    world.publish(job(images=(world.image(),), hashtags=("bakery",)))
    kinds = [(kind, sorted(detail) if kind == "remember" else None) for kind, detail in world.recorder.notes]
    assert kinds[0] == ("remember", ["media_id", "media_url"])
    assert kinds[1] == ("remember", ["tag_ids"])
    assert kinds[-1] == ("sending", None)
    assert world.steps()[-1] == "posts"


def test_text_post_takes_its_first_line_as_title(world: World):
    """Without a title the first line of the text becomes the post's title."""
    world.publish(job("Open today until 6pm\nCome by!", title="", kind=TEXT, hashtags=("bakery",)))
    [post] = world.sim.created
    assert post["title"] == "Open today until 6pm"
    assert post["content"] == "<p>Open today until 6pm<br />\nCome by!</p>"


def test_existing_tags_are_matched_exactly(world: World):
    """A tag whose name only contains the hashtag is not taken for it; the exact one (any case) is."""
    site = world.sim.sites["/blog"]
    site.tags[7] = {"id": 7, "name": "Bakery news", "slug": "bakery-news", "count": 0}
    site.tags[8] = {"id": 8, "name": "BAKERY", "slug": "bakery", "count": 0}
    world.publish(job(hashtags=("bakery",)))
    assert world.sim.created[0]["tags"] == [8]
    assert "tag_create" not in world.steps()


def test_tag_that_search_misses_is_found_through_term_exists(world: World):
    """When creating a tag says term_exists, its term_id is used."""
    site = world.sim.sites["/blog"]
    site.tags[9] = {"id": 9, "name": "Boulangerie", "slug": "bakery", "count": 0}
    world.publish(job(hashtags=("bakery",)))
    assert world.sim.created[0]["tags"] == [9]
    assert world.recorder.remembered["tag_ids"] == {"bakery": 9}


def test_author_without_tag_rights_publishes_without_new_tags(world: World):
    """An Author may not create tags: the post goes out with the tags that already exist."""
    world.sim.sites["/blog"].tags[5] = {"id": 5, "name": "bread", "slug": "bread", "count": 0}
    world.publish(
        job(hashtags=("bread", "brandnew")),
        world.connection(user="arthur", password="auth orAA 1111 2222 3333 4444"),
    )
    assert world.sim.created[0]["tags"] == [5]


def test_resumed_attempt_reuses_media_and_tags(world: World):
    """A later attempt reuses the remembered image and tags instead of uploading again."""
    first = job(images=(world.image(),), hashtags=("bakery",))
    world.sim.inject("permanent", step="posts")
    with pytest.raises(PermanentError):
        world.publish(first)
    world.sim.requests.clear()
    world.publish(dataclasses.replace(first, resume=dict(world.recorder.remembered)))
    assert world.steps() == ["media_get", "posts"]
    assert len(world.sim.sites["/blog"].media) == 1


def test_a_vanished_remembered_image_is_uploaded_again(world: World):
    """A remembered media id the site no longer has is replaced by a new upload."""
    url = world.image()
    world.publish(job(images=(url,), resume={"media_id": 4242, "media_url": url}))
    assert world.sim.created[0]["featured_media"] != 4242
    assert "media" in world.steps()


# ---- at most once ------------------------------------------------------------------------------
def test_ambiguous_failure_that_created_the_post_is_settled_at_once(world: World):
    """A 500 after the post was created: the look finds it and it is the result."""
    world.sim.inject("error_after_apply", step="posts")
    result = world.publish(job())
    assert result.post_id == str(world.sim.created[0]["id"])
    assert len(world.sim.created) == 1


def test_one_look_finding_nothing_never_resends(world: World):
    """A 500 that created nothing stays ambiguous; the next attempt's first look does not re-send either."""
    first = job()
    world.sim.inject("server_error", step="posts")
    with pytest.raises(AmbiguousError):
        world.publish(first)
    assert world.recorder.remembered["post_lookups"] == 1
    world.sim.requests.clear()
    result = world.publish(resumed(first, world.recorder))  # second look: nothing, so send again
    assert world.steps() == ["posts_list", "posts"]
    assert result.post_id == str(world.sim.created[0]["id"])
    assert len(world.sim.created) == 1


def test_crash_after_sending_looks_before_anything_else(world: World):
    """An attempt resumed after a crash mid-send looks first, and one miss keeps it ambiguous."""
    crashed = job(sending_started=True, sending_at=datetime.now(UTC))
    with pytest.raises(AmbiguousError):
        world.publish(crashed)
    assert world.steps() == ["posts_list"]
    assert world.sim.created == []


def test_earlier_post_with_the_same_title_is_not_ours(world: World):
    """Only posts created after the sending mark count; an older namesake is left alone."""
    world.publish(job())  # the user's own post, an hour "before" the mark below
    world.sim.sites["/blog"].posts[next(iter(world.sim.sites["/blog"].posts))]["date_gmt"] = (
        datetime.now(UTC) - timedelta(hours=1)
    ).strftime("%Y-%m-%dT%H:%M:%S")
    world.recorder = ProgressRecorder()
    with pytest.raises(AmbiguousError):
        world.publish(job(sending_started=True, sending_at=datetime.now(UTC)))


def test_a_longer_title_is_not_ours(world: World):
    """The look matches the whole title exactly, not a title that contains it."""
    mark = datetime.now(UTC)
    world.publish(job(title="Our new bakery opens"))
    world.recorder = ProgressRecorder()
    with pytest.raises(AmbiguousError):
        world.publish(job(sending_started=True, sending_at=mark))


def test_post_found_by_the_look_is_the_result(world: World):
    """A resumed attempt that finds its post returns it without sending."""
    mark = datetime.now(UTC)
    world.publish(job(title='Fish & "chips" <today>'))
    world.sim.requests.clear()
    result = world.publish(job(title='Fish & "chips" <today>', sending_started=True, sending_at=mark))
    assert result.post_id == str(world.sim.created[0]["id"])
    assert world.steps() == ["posts_list"]


# ---- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("site", "user", "password", "status"),
    [
        ("/blog", "ada", "wrong", "revoked"),
        ("/blog", "nobody", PASSWORD, "revoked"),
        ("/stripped", "ada", PASSWORD, "expired"),
    ],
)
def test_auth_failures(world: World, site: str, user: str, password: str, status: str):
    """Wrong password or user disconnects; a stripped header is said plainly; the password never shows."""
    with pytest.raises(AuthError) as caught:
        world.publish(job(), world.connection(site, user, password))
    assert caught.value.connection_status == status
    assert PASSWORD not in str(caught.value)
    if site == "/stripped":
        assert "strip the Authorization header" in caught.value.message


def test_contributor_cannot_publish(world: World):
    """A user whose role may not publish is told which roles can."""
    with pytest.raises(AuthError, match="Author, Editor or Administrator"):
        world.publish(job(), world.connection(user="connie", password="cont ribu 1111 2222 3333 4444"))


def test_site_answering_html(world: World):
    """A security plugin's page instead of JSON is named as such."""
    with pytest.raises(PermanentError, match="a web page instead of the WordPress API"):
        world.publish(job(), world.connection("/locked"))


def test_site_without_rest_api(world: World):
    """An address where no WordPress answers (HTML 404 on both route styles) is a clear permanent error."""
    with pytest.raises(PermanentError, match="does not answer at /wp-json/"):
        world.publish(job(), world.connection("/nosuchsite"))
    assert world.sim.created == []


def test_site_without_pretty_permalinks_uses_rest_route(world: World):
    """When /wp-json/ is the theme's 404 page, the same calls go through ?rest_route=."""
    world.publish(job(images=(world.image(),), hashtags=("bakery",)), world.connection("/plain"))
    [post] = world.sim.created
    assert post["site"] == "/plain"
    assert post["featured_media"] in world.sim.sites["/plain"].media


def test_rate_limit_waits_as_told(world: World):
    """A 429 defers the post until its Retry-After."""
    world.sim.inject("rate_limit", step="posts")
    with pytest.raises(RateLimitedError) as caught:
        world.publish(job())
    assert caught.value.not_before is not None
    assert caught.value.not_before > datetime.now(UTC) + timedelta(seconds=100)


def test_image_the_site_refuses(world: World):
    """A file WordPress will not take (core answers 500) fails the post instead of retrying."""
    with pytest.raises(PermanentError, match="refused the image"):
        world.publish(job(images=(world.image("notes.jpg.txt"),)))


# ---- site address rules ------------------------------------------------------------------------
def test_loopback_site_is_refused_without_allow_list(world: World):
    """A site address on a private or loopback address is refused before any request."""
    world.settings = PlatformSettings(http_timeout_s=5)
    https_site = dataclasses.replace(
        world.connection(), wordpress_site_url=world.wp_url.replace("http:", "https:")
    )
    with pytest.raises(PermanentError, match="points to a loopback address"):
        world.publish(job(), https_site)
    assert world.sim.requests == []


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("example.com", "https://example.com/"),
        (" https://Example.com/blog/ ", "https://example.com/blog"),
        ("https://example.com/wp-admin/post-new.php", "https://example.com/"),
        ("https://example.com/blog/wp-json/wp/v2/", "https://example.com/blog"),
        ("https://example.com/?p=3#top", "https://example.com/"),
    ],
)
def test_site_address_is_normalised(typed: str, expected: str):
    """Typed addresses get https:// and lose pasted admin or API paths, query and fragment."""
    assert str(site_address(typed, PlatformSettings())) == expected


@pytest.mark.parametrize("typed", ["http://example.com", "ftp://example.com", ""])
def test_site_address_refusals(typed: str):
    """http:// (the password would travel unencrypted), other schemes and no address are refused."""
    with pytest.raises(PlatformError):
        site_address(typed, PlatformSettings())


# ---- limits and pure helpers -------------------------------------------------------------------
def test_featured_media_must_be_an_image():
    """A blog entry whose media is a video is refused before any call."""
    with pytest.raises(LimitError, match="featured image"):
        WordPressAdapter().check(job(images=("https://x.test/tour.mp4",), media_kinds=(MEDIA_VIDEO,)))


def test_image_post_needs_an_image():
    """An image post without media breaks the shared limits."""
    with pytest.raises(LimitError, match="no media file"):
        WordPressAdapter().check(job(kind=IMAGE))


def test_body_is_escaped_paragraphs():
    """Text becomes paragraphs and line breaks; markup in it is shown, never run."""
    assert (
        post_html("a <script>x</script>\nb\n\n\nc & d")
        == "<p>a &lt;script&gt;x&lt;/script&gt;<br />\nb</p>\n\n<p>c &amp; d</p>"
    )


def test_title_falls_back_and_is_shortened():
    """The first line is used when there is no title, cut at 200 characters."""
    assert post_title(job("x" * 300 + "\nmore", title="", hashtags=("a",))) == "x" * 199 + "…"


def test_search_uses_plain_words_only():
    """The look searches a few plain words: no '-' exclusions, tags, or more than nine words."""
    terms = search_terms("-50% <b>Big</b> sale: one two three four five six seven eight nine")
    assert terms == "eight seven three five four"
    assert all(not word.startswith("-") for word in search_terms("-exclude me").split())


def test_site_printing_php_notices_still_publishes(world: World):
    """JSON after a PHP notice is still read: the post, its image and tags go out once."""
    result = world.publish(job(images=(world.image(),), hashtags=("bakery",)), world.connection("/noisy"))
    [post] = world.sim.created
    assert result.post_id == str(post["id"])
    assert post["featured_media"] in world.sim.sites["/noisy"].media


def test_success_status_with_a_web_page_is_ambiguous(world: World):
    """A 2xx page instead of the created post is never taken as "not published": it stays ambiguous."""
    with pytest.raises(AmbiguousError):
        world.publish(job(), world.connection("/login"))


def test_login_page_before_publishing_is_named(world: World):
    """When a call before the post gets the login page, the user is told the API is blocked."""
    with pytest.raises(PermanentError, match="a web page instead of the WordPress API"):
        world.publish(job(hashtags=("bakery",)), world.connection("/login"))
