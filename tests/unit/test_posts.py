"""Post normalisation: text as the app builds it, media resolution for both tables, bad rows."""

from __future__ import annotations

import pytest

from services.platforms.base import BLOG, CAROUSEL, DOCUMENT, IMAGE, LINK, REEL, STORY, TEXT, VIDEO
from services.posts import (
    CONTENT_POSTS,
    CREATED_CONTENT,
    InvalidPostError,
    build_job,
    build_text,
    normalise_hashtags,
    post_from_row,
    resolve_media,
)


def cc(**fields):
    row = {
        "id": "c1",
        "user_id": "u1",
        "platform": "facebook",
        "content_type": "post",
        "content": "Hello",
        "status": "scheduled",
        "metadata": {},
    }
    row.update(fields)
    return post_from_row(CREATED_CONTENT, row)


def cp(**fields):
    row = {
        "id": "p1",
        "platform": "facebook",
        "post_type": "text",
        "content": "Hello",
        "status": "scheduled",
        "metadata": None,
        "content_campaigns": {"user_id": "u2"},
        "scheduled_date": "2026-11-28",
        "scheduled_time": "10:00:00",
    }
    row.update(fields)
    return post_from_row(CONTENT_POSTS, row)


@pytest.mark.parametrize(
    ("title", "content", "tags", "expected"),
    [
        ("", "Body", (), "Body"),
        ("Title", "Body", (), "Title\n\nBody"),
        ("Title", "Body", ("a", "b"), "Title\n\nBody\n\n#a #b"),
        ("", "Body", ("a",), "Body\n\n#a"),
        ("  T  ", "  Body \n", (), "T\n\nBody"),
    ],
)
def test_build_text(title, content, tags, expected):
    """Text is title, blank line, content, blank line, hashtags, as the app builds it."""
    assert build_text(title, content, tags) == expected


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (["#a", "b", " #c "], ("a", "b", "c")),
        ("#a #b,c", ("a", "b", "c")),
        (None, ()),
        ([], ()),
        (["#", " "], ()),
        (["#Bread", "bread", "#BREAD", "fresh", "#fresh"], ("Bread", "fresh")),
        ("#Straße strasse #STRASSE", ("Straße",)),  # casefold: ß is ss
        (["a\x00b", "#\x00", "\x00#c"], ("ab", "c")),
    ],
)
def test_hashtags_with_or_without_hash(stored, expected):
    """Hashtags are read with or without '#', as a list or one string; repeats in any case are
    kept once with their first spelling; NUL characters are dropped."""
    assert normalise_hashtags(stored) == expected


MEDIA_CASES = [
    (cc(), TEXT, ()),
    (cc(media_url="https://x/a.jpg"), IMAGE, ("https://x/a.jpg",)),
    (cc(images=["https://x/1.jpg", "https://x/2.jpg"]), IMAGE, ("https://x/1.jpg",)),
    (
        cc(content_type="carousel", images=["https://x/1.jpg", "https://x/2.jpg"]),
        CAROUSEL,
        ("https://x/1.jpg", "https://x/2.jpg"),
    ),
    (
        cc(carousel_images=["https://x/1.jpg", "https://x/2.jpg"]),
        CAROUSEL,
        ("https://x/1.jpg", "https://x/2.jpg"),
    ),
    (
        cc(
            metadata={"carousel_images": ["https://m/1.jpg", "https://m/2.jpg"]},
            carousel_images=["https://x/1.jpg", "https://x/2.jpg"],
        ),
        CAROUSEL,
        ("https://m/1.jpg", "https://m/2.jpg"),
    ),
    (cc(content_type="reel", media_url="https://x/v"), REEL, ("https://x/v",)),
    (cc(content_type="short_video or reel", media_url="https://x/v"), REEL, ("https://x/v",)),
    (cc(content_type="short_video", media_url="https://x/v.mp4"), REEL, ("https://x/v.mp4",)),
    (cc(content_type="long_video", media_url="https://x/v"), VIDEO, ("https://x/v",)),
    (cc(media_url="https://x/clip.MP4?sig=1"), VIDEO, ("https://x/clip.MP4?sig=1",)),
    (cc(metadata={"media_type": "video"}, media_url="https://x/v"), VIDEO, ("https://x/v",)),
    (
        cc(content_type="video", metadata={"video_url": "https://x/meta.mp4"}, media_url="https://x/v"),
        VIDEO,
        ("https://x/meta.mp4",),
    ),
    (cc(content_type="story", media_url="https://x/a.jpg"), STORY, ("https://x/a.jpg",)),
    (cc(content_type="story", metadata={"video_url": "https://x/s.mp4"}), STORY, ("https://x/s.mp4",)),
    (cc(content_type="blog", images=["https://x/1.jpg", "https://x/2.jpg"]), BLOG, ("https://x/1.jpg",)),
    (cc(content_type="blog"), BLOG, ()),
    (cc(media_url="https://x/deck.pdf"), DOCUMENT, ("https://x/deck.pdf",)),
    (cc(metadata={"link": "https://example.com/a"}), LINK, ()),
    (
        cc(metadata={"link": "https://example.com/a"}, media_url="https://x/a.jpg"),
        IMAGE,
        ("https://x/a.jpg",),
    ),
    (cc(content_type="email"), "email", ()),
    (cp(), TEXT, ()),
    (cp(post_type="image", primary_image_url="https://x/p.jpg"), IMAGE, ("https://x/p.jpg",)),
    (
        cp(
            metadata={"carousel_images": ["https://x/1.jpg", "https://x/2.jpg"]},
            primary_image_url="https://x/p.jpg",
        ),
        CAROUSEL,
        ("https://x/1.jpg", "https://x/2.jpg"),
    ),
    (cp(post_type="video", primary_image_url="https://x/v.mov"), VIDEO, ("https://x/v.mov",)),
]


@pytest.mark.parametrize(("post", "kind", "urls"), MEDIA_CASES)
def test_media_resolution(post, kind, urls):
    """Media comes from the places the contract lists, in its order of precedence."""
    assert resolve_media(post) == (kind, urls)


def test_content_posts_owner_comes_from_campaign():
    """content_posts has no user_id: the owner is the campaign's user; NULL metadata reads as {}."""
    post = cp()
    assert post.owner_id == "u2"
    assert post.metadata == {}
    assert cp(content_campaigns=None).owner_id is None


def test_non_object_metadata_reads_as_empty():
    """Garbage metadata (an array) never crashes reading a post."""
    assert cc(metadata=[1, 2]).metadata == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"content": None}, "no text content"),
        ({"content": {"a": 1}}, "no text content"),
        ({"content": "", "title": ""}, "empty"),
        ({"images": [1, 2]}, r"images are not a list of texts: \[1, 2\]"),
        ({"hashtags": {"a": 1}}, "hashtags are not a list"),
        ({"hashtags": 7}, "hashtags are not a list of texts: 7"),
        ({"media_url": ["https://x/a.jpg"]}, r"media URL is not a text: \['https://x/a.jpg'\]"),
        ({"metadata": {"video_url": 5}}, "video URL is not a text: 5"),
        ({"metadata": {"media_type": ["video"]}}, r"media_type \(\['video'\]\) must be a word"),
        ({"title": 5}, "title is not text: 5"),
        ({"media_url": "photo.jpg"}, r"media file address \('photo.jpg'\) is not a web address"),
        ({"images": ["ftp://x/a.jpg"]}, "media file address .* not a web address"),
        ({"media_url": "https://exa mple.com/a.jpg"}, "not a web address"),
        ({"media_url": "https://[::1/a.jpg"}, "not a web address"),
        ({"media_url": "https:///a.jpg"}, "not a web address"),
        ({"media_url": "https://example.com:99999/a.jpg"}, "not a web address"),
        ({"media_url": "https://h/a\x00.jpg"}, "not a web address"),
        ({"metadata": {"thumbnail": "https://exa mple.com/t.jpg"}}, "thumbnail .* not a web address"),
    ],
)
def test_bad_rows_raise_readable_errors(fields, message):
    """A row holding garbage raises InvalidPostError with a sentence, never a crash."""
    with pytest.raises(InvalidPostError, match=message):
        build_job(cc(**fields))


def test_job_carries_resume_state():
    """Remote ids and the sending mark of an earlier attempt reach the adapter."""
    job = build_job(cc(metadata={"_publish_remote": {"container_id": "C1"}, "_publish_sending_at": "x"}))
    assert job.resume == {"container_id": "C1"}
    assert job.sending_started is True
    assert build_job(cc()).sending_started is False


def test_mixed_carousel_names_each_media_kind():
    """A carousel mixing images and videos says, per URL, which is which."""
    job = build_job(cc(content_type="carousel", images=["https://x/1.jpg", "https://x/2.mp4", "https://x/3"]))
    assert job.media_kinds == ("image", "video", "image")


def test_metadata_options_are_read_under_the_apps_names():
    """link, thumbnail, privacy, category, made_for_kids and share_to_feed come from metadata."""
    meta = {
        "link": " https://example.com/a ",
        "thumbnail": "https://x/t.jpg",
        "privacy": "Unlisted",
        "category": 27,
        "made_for_kids": "false",
        "share_to_feed": True,
    }
    job = build_job(cc(metadata=meta))
    assert (job.link, job.thumbnail, job.privacy, job.category) == (
        "https://example.com/a",
        "https://x/t.jpg",
        "unlisted",
        "27",
    )
    assert (job.made_for_kids, job.share_to_feed) == (False, True)


@pytest.mark.parametrize(
    ("meta", "words"),
    [
        ({"link": "javascript:alert(1)"}, "link"),
        ({"thumbnail": 5}, "thumbnail"),
        ({"privacy": "friends"}, "privacy"),
        ({"category": "music"}, "category"),
        ({"category": True}, "category"),
        ({"made_for_kids": "yes"}, "made_for_kids"),
        ({"share_to_feed": 1}, "share_to_feed"),
    ],
)
def test_bad_metadata_options_fail_with_the_key_named(meta, words):
    """A malformed option is the post's error, naming the key and its value."""
    with pytest.raises(InvalidPostError, match=words):
        build_job(cc(metadata=meta))


def test_nul_characters_are_dropped_from_the_text():
    """NUL characters (which PostgreSQL and the platforms refuse) are dropped from title, text and tags."""
    job = build_job(cc(title="T\x00itle", content="Bo\x00dy", hashtags=["#t\x00ag"]))
    assert job.text == "Title\n\nBody\n\n#tag"
    assert job.title == "Title"
    assert job.body == "Body\n\n#tag"
    with pytest.raises(InvalidPostError, match="empty"):
        build_job(cc(title="\x00", content="\x00\x00"))


def test_repeated_hashtags_reach_the_text_once():
    """The text carries each hashtag once, in its first spelling."""
    assert build_job(cc(hashtags=["#Bread", "bread", "#rye"])).text == "Hello\n\n#Bread #rye"
