"""How long X considers a post's text: the weighted length of twitter-text's v3 configuration.

Pure functions, no dependency: the rules (docs/platforms/x.md, "Weighted length") are
- the text is NFC-normalised first;
- every http(s) URL counts 23, whatever its length (X shortens it to a t.co link);
- every emoji counts 2, a whole sequence at once (ZWJ families, flags, skin tones, keycaps, tag
  sequences);
- any other code point counts 1 in U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F, U+2032–U+2037,
  and 2 everywhere else (CJK, Japanese, Korean, most symbols);
- the limit is 280.

Simplifications against twitter-text (docs/platforms/x.md lists them): a URL needs its scheme
(twitter-text also recognises some bare domains by their top-level domain), and host names are
not checked against the punycode length rule.
"""

from __future__ import annotations

import re
import unicodedata

MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23
EMOJI_WEIGHT = 2
# (first, last, weight) of the code points lighter than the default; twitter-text's "ranges".
LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
DEFAULT_WEIGHT = 2

# Pictographs that start an emoji on their own. Symbols that are emoji only with U+FE0F after
# them (©, ®) are handled by _EMOJI's second alternative; keycaps by the first.
_PICTOGRAPH = (
    "\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
    "\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf\u2934\u2935"
    "\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299"
    "\U0001f000-\U0001f1e5\U0001f200-\U0001faff"
)
_MODIFIERS = "\ufe0f\U0001f3fb-\U0001f3ff\u20e3"
_ELEMENT = f"(?:[{_PICTOGRAPH}]|[\u00a9\u00ae]\ufe0f)[{_MODIFIERS}]*"
_EMOJI = re.compile(
    "|".join(
        (
            "[0-9#*]\ufe0f?\u20e3",  # keycap
            "[\U0001f1e6-\U0001f1ff]{2}",  # flag: two regional indicators
            "\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f",  # tag sequence (England, Scotland...)
            f"{_ELEMENT}(?:\u200d{_ELEMENT})*",  # one pictograph, modifiers, ZWJ-joined others
        )
    )
)
# A URL as X shortens it: scheme, a host with a dot, then the characters twitter-text lets a
# path hold (no CJK, no formatting marks: those end the URL and count on their own).
_URL = re.compile(
    r"(?<![\w@$#])https?://[\w-]+(?:\.[\w-]+)+(?::\d{1,5})?"
    r"(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%\u00c0-\u024f\u0400-\u04ff]*)?",
    re.IGNORECASE,
)
# Characters that end a sentence rather than a URL (twitter-text drops them from the link).
_URL_TRAILING = ".,;:!?'\"*[]"


def _code_point_weight(char: str) -> int:
    code = ord(char)
    return 1 if any(first <= code <= last for first, last in LIGHT_RANGES) else DEFAULT_WEIGHT


def url_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every URL in `text` as X counts it (trailing punctuation left out)."""
    spans: list[tuple[int, int]] = []
    for match in _URL.finditer(text):
        start, end = match.span()
        while end > start and (
            text[end - 1] in _URL_TRAILING
            or (text[end - 1] == ")" and text.count("(", start, end) < text.count(")", start, end))
        ):
            end -= 1
        spans.append((start, end))
    return spans


def weighted_length(text: str) -> int:
    """The length X counts for `text` (the limit is MAX_WEIGHTED_LENGTH)."""
    text = unicodedata.normalize("NFC", text)
    urls = dict(url_spans(text))
    total = 0
    index = 0
    while index < len(text):
        if index in urls:
            total += URL_WEIGHT
            index = urls[index]
            continue
        emoji = _EMOJI.match(text, index)
        if emoji:
            total += EMOJI_WEIGHT
            index = emoji.end()
            continue
        total += _code_point_weight(text[index])
        index += 1
    return total


def with_link(text: str, link: str | None) -> str:
    """`text` with `link` appended after a blank line, unless the text already holds it."""
    if not link or link in text:
        return text
    return f"{text.rstrip()}\n\n{link}" if text.strip() else link
