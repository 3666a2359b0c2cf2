"""Fetching media URLs that users typed: the only way an adapter downloads a post's media.

Minimal version: http(s) only and a streaming GET. Hardened by the URL-safety work (public
addresses only after DNS resolution and on every redirect hop, an allow-list for development,
a size cap, errors naming the rule and never what an internal host answered).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx

from services.errors import PermanentError, RetryableError
from services.platforms.base import AdapterContext, url_name


@contextmanager
def open_media(ctx: AdapterContext, url: str, *, platform: str) -> Iterator[httpx.Response]:
    """A streaming 200 response for the media at `url`; typed errors name the file, not the host's reply."""
    name = url_name(url)
    if urlsplit(url).scheme not in ("http", "https"):
        raise PermanentError(platform, f"The media file {name} is not at an http or https address.")
    try:
        with ctx.http.stream("GET", url) as response:
            if response.status_code != 200:
                error = RetryableError if response.status_code >= 500 else PermanentError
                raise error(platform, f"The media file {name} could not be downloaded from its address.")
            yield response
    except httpx.TransportError as exc:
        raise RetryableError(
            platform,
            f"The media file {name} could not be downloaded from its address.",
            detail=type(exc).__name__,
        ) from None
