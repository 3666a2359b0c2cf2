"""X's weighted text length, as tables of cases (most from twitter-text's conformance suite)."""

from __future__ import annotations

import unicodedata

import pytest

from services.platforms.x_text import MAX_WEIGHTED_LENGTH, url_spans, weighted_length, with_link

CJK_160 = (
    "故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。朱雀桥边野草花，乌衣巷口夕阳斜。"
    "旧时王谢堂前燕，飞入寻常百姓家。朝辞白帝彩云间，千里江陵一日还。两岸猿声啼不住，轻舟已过万重山。"
    "泪湿罗巾梦不成，夜深前殿按歌声。红颜未老恩先断，斜倚薰笼坐到明。独在异乡为异客，每逢佳节倍思亲。"
    "遥知兄弟登高处，遍插茱萸少一人。"
)
X285 = "285 chars-" + "xxxxxxxxxx-" * 25
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"

# twitter-text conformance/validate.yml, WeightedTweetsWithDiscountedEmojiCounterTest (config v3).
CONFORMANCE = [
    ("Hi http://test.co", 26),
    ("http://test.co", 23),
    (X285, 285),
    ("285 chars- http://www.twitter.com/jack " + "xxxxxxxxxx-" * 24, 299),
    ("xxxxxxxxxx-" * 24 + " http://www.twitter.com/jack ", 289),
    ("https://www.twitter.com/aloha " * 10, 240),
    (CJK_160, 320),
    ("\U0001f637" * 160, 320),
    ("the" + CJK_160, 323),
    ("ÁB", 2),  # A + combining acute: NFC makes one code point
    ("A\ufb2c", 4),  # NFC expands this presentation form into three Hebrew code points
    ("282 chars-" + "xxxxxxxxxx-" * 24 + "xxxxxÁx", 281),
    ("H\U0001f431\u263a" + FAMILY, 7),
    ("\U0001f637\U0001f47e\U0001f621\U0001f525\U0001f4a9", 10),
    ("\U0001f64b\U0001f3fd\U0001f468\u200d\U0001f3a4", 4),
    (
        "This is a tweet with general punctuation characters: "
        "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b \u2010 \u2011 \u2012 "
        "\u2013 \u2014 \u2015 \u2016  \u2017 \u2018 \u2019 \u201a \u201b \u201c \u201d \u201e \u201f "
        "\u2032 \u2033 \u2034 \u2035 \u2036 \u2037",
        110,
    ),
    ("randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com", 68),
    (FAMILY * 140, 280),
    ("1\u20e3", 2),
    (
        "Unicode 10.0 emoji: \U0001f92a; \U0001f9d5; \U0001f9d5\U0001f3fe; "
        "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
        34,
    ),
    ("Unicode 9.0 emoji: \U0001f920; \U0001f483; \U0001f483\U0001f3fe", 29),
    ("ABC\u202a\uffffABC\ufffe", 12),
    ("\u2066\u202ahttp://foobar.\u067e\u0627\u06a9\u0633\u062a\u0627\u0646/\u202c\u2069", 31),
]

# Our own cases: each rule of docs/platforms/x.md, one at a time.
RULES = [
    ("", 0),
    ("a" * 280, 280),
    ("é" * 10, 10),  # Latin-1: light
    ("Ω" * 10, 10),  # Greek: light
    ("ა" * 10, 10),  # Georgian U+10D0: still in U+0000–U+10FF
    ("ᄀ" * 10, 20),  # U+1100 Hangul Jamo: the first heavy code point
    ("日本語", 6),
    ("한국어", 6),
    ("\u2014", 1),  # em dash: light
    ("\u2026", 2),  # ellipsis U+2026: outside the light ranges
    ("\u2038", 2),  # just past U+2037
    ("\U0001f1eb\U0001f1f7", 2),  # a flag is one emoji
    ("\u2764\ufe0f", 2),  # heart with its variation selector: one emoji
    ("\u00a9", 1),  # © alone is Latin-1 text
    ("\u00a9\ufe0f", 2),  # © with the emoji selector is an emoji
    ("see https://example.com/a/very/long/path/that/goes/on/and/on?with=query&and=more", 27),
    ("https://example.com.", 24),  # the full stop ends the sentence, not the URL
    ("(https://example.com/x)", 25),  # the closing bracket is not part of the URL
    ("https://en.wikipedia.org/wiki/Bread_(food)", 23),  # balanced brackets stay in the URL
    ("https://example.com/日本", 27),  # CJK ends the URL and counts on its own
    ("ftp://example.com", 17),  # only http(s) URLs are shortened
    ("xhttps://example.com", 20),  # a URL must not start inside a word
]


@pytest.mark.parametrize(("text", "expected"), CONFORMANCE + RULES)
def test_weighted_length(text: str, expected: int):
    """The weighted length matches twitter-text's conformance values and each documented rule."""
    assert weighted_length(text) == expected


PROPERTIES = [
    "plain words",
    "日本語とEnglish",
    "emoji \U0001f525 and https://a.example.com/x",
    FAMILY,
    CJK_160,
]


@pytest.mark.parametrize("text", PROPERTIES)
def test_weighted_length_properties(text: str):
    """Concatenation adds lengths at a space; NFC forms count alike; at most 2 per code point."""
    assert weighted_length(text + " " + text) == 2 * weighted_length(text) + 1
    assert weighted_length(unicodedata.normalize("NFD", text)) == weighted_length(text)
    without_urls = text
    for start, end in reversed(url_spans(text)):
        without_urls = without_urls[:start] + without_urls[end:]
    assert weighted_length(without_urls) <= 2 * len(unicodedata.normalize("NFC", without_urls))


def test_limit_is_280():
    """The limit is X's maxWeightedTweetLength."""
    assert MAX_WEIGHTED_LENGTH == 280


@pytest.mark.parametrize(
    ("text", "link", "expected"),
    [
        ("Read this", "https://example.com/a", "Read this\n\nhttps://example.com/a"),
        ("Read https://example.com/a now", "https://example.com/a", "Read https://example.com/a now"),
        ("Read this\n", "https://example.com/a", "Read this\n\nhttps://example.com/a"),
        ("", "https://example.com/a", "https://example.com/a"),
        ("Read this", None, "Read this"),
    ],
)
def test_with_link(text: str, link: str | None, expected: str):
    """A link post's link is appended after a blank line unless the text already holds it."""
    assert with_link(text, link) == expected


def test_appended_link_counts_23():
    """However long the link, appending it adds 23 plus the blank line."""
    link = "https://example.com/" + "x" * 200
    assert weighted_length(with_link("Read this", link)) == len("Read this") + 2 + 23
