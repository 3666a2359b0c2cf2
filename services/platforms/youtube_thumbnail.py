"""A published video's custom thumbnail (thumbnails.set): best effort, never a failed post.

Facts and sources: docs/platforms/youtube.md ("Thumbnail"). The video is already public when
the thumbnail is sent, so nothing that goes wrong here may fail or retry the post: every
refusal (channel not verified, image refused, video not found yet, throttled, token refused,
image not downloadable) becomes one sentence the publisher records with the published post.
Setting the same thumbnail twice is harmless, so a resumed attempt simply sends it again.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from services.errors import PlatformError, RetryableError
from services.platforms.base import AdapterContext, platform_text, send, url_name
from services.platforms.oauth import OAuthToken
from services.platforms.youtube_errors import PLATFORM, google_reason
from services.platforms.youtube_upload import bearer, refresh_cures
from services.safe_media import open_media

THUMBNAIL_MAX_BYTES = 2 * 1024 * 1024
THUMBNAIL_TRIES = 2  # a 404 right after the upload, a 5xx or a dropped connection: one more try
THUMBNAIL_RETRY_WAIT_S = 3.0
_IMAGE_TYPES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
SET = "set"


class _Refused(Exception):  # noqa: N818 (a signal inside this module, not an error class)
    """The thumbnail cannot be set; the message is the sentence recorded with the post."""


def set_thumbnail(url: str, video_id: str, token: OAuthToken, ctx: AdapterContext) -> str:
    """Set the image at `url` as the video's thumbnail: "set", or "refused: <why, for the user>"."""
    try:
        image, content_type = _download(url, ctx)
        _send(image, content_type, video_id, token, ctx)
    except _Refused as refused:
        return f"refused: {refused}"
    except PlatformError as exc:  # the image download or a token refresh failed: its sentence says why
        return f"refused: {exc.message}"
    return SET


def _download(url: str, ctx: AdapterContext) -> tuple[bytes, str]:
    """The image's bytes (at most 2 MB, read as they arrive) and its type, JPEG or PNG."""
    name = url_name(url)
    too_big = f"The thumbnail {name} is larger than YouTube's 2 MB limit."
    with open_media(ctx, url, platform=PLATFORM) as response:
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > THUMBNAIL_MAX_BYTES:
            raise _Refused(too_big)
        data = bytearray()
        for block in response.iter_bytes():
            data += block
            if len(data) > THUMBNAIL_MAX_BYTES:
                raise _Refused(too_big)
    # By content, not by name or Content-Type: media hosts often serve images as octet-stream.
    for magic, content_type in _IMAGE_TYPES:
        if data.startswith(magic):
            return bytes(data), content_type
    raise _Refused(f"The thumbnail {name} is not a JPEG or PNG image.")


def _send(image: bytes, content_type: str, video_id: str, token: OAuthToken, ctx: AdapterContext) -> None:
    address = (
        f"{ctx.settings.youtube_upload_url}/thumbnails/set?videoId={quote(video_id, safe='')}"
        "&uploadType=media"
    )

    def call() -> httpx.Response:
        return send(
            ctx,
            PLATFORM,
            "POST",
            address,
            publishes=False,  # the video is public already; a thumbnail publishes nothing new
            what="YouTube",
            content=image,
            headers={**bearer(token), "Content-Type": content_type},
        )

    problem = ""
    for tries in range(1, THUMBNAIL_TRIES + 1):
        try:
            response = token.authorized(call, curable=refresh_cures)
        except RetryableError:  # no answer at all; other typed errors (a refused refresh) end here
            problem = (
                "YouTube did not answer when the thumbnail was sent; the video may show an automatic one."
            )
        else:
            if response.status_code == 200:
                return
            problem = _refusal(response)
            if response.status_code != 404 and response.status_code < 500:
                raise _Refused(problem)
        if tries < THUMBNAIL_TRIES:
            ctx.sleep(THUMBNAIL_RETRY_WAIT_S)
    raise _Refused(problem)


def _refusal(response: httpx.Response) -> str:
    """What a thumbnails.set refusal means for the user, in one sentence."""
    status = response.status_code
    reason, message = google_reason(response)
    said = platform_text(message or f"HTTP {status}", limit=200)
    if status == 403 and reason == "forbidden":
        return (
            "YouTube does not let this channel use custom thumbnails until it is verified "
            "(youtube.com/verify); the video shows an automatic one."
        )
    if status == 401 or reason in ("authError", "insufficientPermissions"):
        return f"YouTube refused the channel's authorisation to set the thumbnail ({said})."
    if status == 429:
        return "YouTube is limiting thumbnail uploads right now; the video shows an automatic thumbnail."
    if status == 404:
        return "YouTube could not find the new video yet to set its thumbnail; it shows an automatic one."
    if status >= 500:
        return (
            f"YouTube had a temporary problem setting the thumbnail ({said}); "
            "the video may show an automatic one."
        )
    return f"YouTube refused the thumbnail image ({said})."
