"""A public media host: the image and video URLs that posts point at.

Real platforms download media from a public server; LinkedIn and YouTube uploads make *us*
download it and stream it on. `/media/<name>?bytes=N` answers N deterministic bytes (default
64 KiB) with a content type from the extension; `/missing/...` answers 404. Every download is
counted so tests can check that media was streamed once.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl

_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".pdf": "application/pdf",
}
_MAGIC = {
    ".jpg": b"\xff\xd8\xff\xe0",
    ".jpeg": b"\xff\xd8\xff\xe0",
    ".png": b"\x89PNG\r\n\x1a\n",
    ".mp4": b"\x00\x00\x00\x18ftypmp42",
    ".mov": b"\x00\x00\x00\x14ftypqt  ",
    ".pdf": b"%PDF-1.7\n",
}
_BLOCK = 64 * 1024


def media_bytes(name: str, size: int) -> bytes:
    """The exact bytes the host serves for `name` at `size` (tests compare uploads with this)."""
    return b"".join(_blocks(name, size))


def _blocks(name: str, size: int) -> Iterator[bytes]:
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    seed = hashlib.sha256(name.encode()).digest()
    pattern = (_MAGIC.get(ext, b"") + seed * (_BLOCK // len(seed) + 1))[:_BLOCK]
    sent = 0
    while sent < size:
        chunk = pattern[: min(_BLOCK, size - sent)]
        sent += len(chunk)
        yield chunk


class MediaHost:
    """WSGI app serving generated media files of any size without holding them in memory."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.downloads: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        if not path.startswith("/media/"):
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
            return [b"not found"]
        name = path.rsplit("/", 1)[-1]
        size = int(query.get("bytes", str(_BLOCK)))
        ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
        with self.lock:
            self.downloads.append(path)
        start_response(
            "200 OK",
            [("Content-Type", _TYPES.get(ext, "application/octet-stream")), ("Content-Length", str(size))],
        )
        if environ["REQUEST_METHOD"] == "HEAD":
            return [b""]
        return _blocks(name, size)
