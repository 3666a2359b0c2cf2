"""The YouTube adapter against the served YouTube and Google OAuth simulators and media host."""

from __future__ import annotations

import gzip
import hashlib
import logging
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from devstack.server import serve
from devstack.simulators.media import MediaHost, media_bytes
from devstack.simulators.youtube import (
    ASSIGNABLE_CATEGORIES,
    SIM_CLIENT_ID,
    SIM_CLIENT_SECRET,
    GoogleOAuthSimulator,
    YouTubeSimulator,
    google_error,
)
from services.config import load_config
from services.errors import (
    AmbiguousError,
    AuthError,
    ConfigError,
    LimitError,
    PermanentError,
    PlatformConfigError,
    PlatformError,
    RateLimitedError,
    RetryableError,
)
from services.platforms.base import (
    AdapterContext,
    Connection,
    PlatformSettings,
    PublishJob,
    PublishResult,
    TokenUpdate,
    TokenVault,
)
from services.platforms.oauth import OAuthToken
from services.platforms.youtube import CATEGORIES, YouTubeAdapter, tags_length, video_tags
from services.platforms.youtube_errors import ThrottledError, classify, next_pacific_midnight, retry_after
from services.platforms.youtube_thumbnail import THUMBNAIL_MAX_BYTES, set_thumbnail
from tests.adapters.harness import ProgressRecorder

CHUNK = 256 * 1024
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACCESS_TOKEN = "ya29.connection-access-token"
REFRESH_TOKEN = "1//connection-refresh-token"


@dataclass
class Stack:
    youtube: YouTubeSimulator
    oauth: GoogleOAuthSimulator
    media: MediaHost
    media_url: str
    settings: PlatformSettings
    recorder: ProgressRecorder
    clients: list[httpx.Client] = field(default_factory=list)

    def job(self, size: int = 3 * CHUNK + 1234, name: str = "clip.mp4", **changes: Any) -> PublishJob:
        job = PublishJob(
            ref="created_content/test",
            kind="video",
            title="Launch day",
            text="Launch day\n\nWe shipped it.\n\n#launch #video",
            body="We shipped it.\n\n#launch #video",
            hashtags=("launch", "video"),
            media_urls=(f"{self.media_url}/media/{name}?bytes={size}",),
        )
        return replace(job, **changes)

    def connection(self, **changes: Any) -> Connection:
        connection = Connection(
            id="conn-yt",
            user_id="user-1",
            platform="youtube",
            page_id="UCchannel",
            page_name="Channel",
            access_token=ACCESS_TOKEN,
            refresh_token=None,
            token_expires_at=NOW + timedelta(hours=1),
        )
        return replace(connection, **changes)

    def ctx(self, now: datetime = NOW, tokens: TokenVault | None = None, **settings: Any) -> AdapterContext:
        chosen = replace(self.settings, **settings)
        http = httpx.Client(timeout=chosen.http_timeout_s)
        self.clients.append(http)
        return AdapterContext(
            http=http,
            settings=chosen,
            progress=self.recorder,
            now=lambda: now,
            sleep=self.recorder.sleep,
            save_token=self.recorder.save_token,
            tokens=tokens,
        )

    def image(self, name: str, size: int = 50_000) -> str:
        return f"{self.media_url}/media/{name}?bytes={size}"

    def publish(
        self, job: PublishJob | None = None, connection: Connection | None = None, **settings: Any
    ) -> PublishResult:
        return YouTubeAdapter().publish(
            job or self.job(), connection or self.connection(), self.ctx(**settings)
        )

    def steps(self) -> list[str]:
        return [self.youtube.step_of(request) for request in self.youtube.requests]

    def uploads(self) -> list[tuple[str, int]]:
        """(Content-Range, body size) of every PUT that carried bytes."""
        return [
            (request.headers["content-range"], int(request.headers["content-length"]))
            for request in self.youtube.requests
            if self.youtube.step_of(request) == "upload"
        ]


@pytest.fixture
def stack() -> Iterator[Stack]:
    youtube, oauth, media = YouTubeSimulator(), GoogleOAuthSimulator(), MediaHost()
    with serve(youtube) as yt, serve(oauth) as oa, serve(media) as mh:
        settings = PlatformSettings(
            media_allowed_hosts=("127.0.0.1",),  # the simulators and media host are on loopback
            youtube_upload_url=f"{yt.url}/upload/youtube/v3",
            google_oauth_token_url=f"{oa.url}/token",
            google_client_id=SIM_CLIENT_ID,
            google_client_secret=SIM_CLIENT_SECRET,
            youtube_chunk_bytes=CHUNK,
            http_timeout_s=5.0,
        )
        recorder = ProgressRecorder(counter=lambda: len(youtube.requests))
        running = Stack(youtube, oauth, media, mh.url, settings, recorder)
        yield running
        for client in running.clients:
            client.close()


def sha256_of(name: str, size: int) -> str:
    return hashlib.sha256(media_bytes(name, size)).hexdigest()


# ---- the normal upload ---------------------------------------------------------------------------


def test_multi_chunk_upload_arrives_whole_and_once(stack: Stack) -> None:
    """A 4-chunk video arrives byte for byte in 256 KiB chunks; one video, its id and watch URL."""
    size = 3 * CHUNK + 1234
    result = stack.publish(stack.job(size))
    assert len(stack.youtube.created) == 1
    video = stack.youtube.created[0]
    assert video["sha256"] == sha256_of("clip.mp4", size)
    assert result == PublishResult(
        video["id"], f"https://www.youtube.com/watch?v={video['id']}", {"youtube_privacy": "public"}
    )
    assert stack.uploads() == [
        (f"bytes 0-{CHUNK - 1}/{size}", CHUNK),
        (f"bytes {CHUNK}-{2 * CHUNK - 1}/{size}", CHUNK),
        (f"bytes {2 * CHUNK}-{3 * CHUNK - 1}/{size}", CHUNK),
        (f"bytes {3 * CHUNK}-{size - 1}/{size}", 1234),
    ]
    assert stack.steps() == ["session", "upload", "upload", "upload", "upload"]
    assert len(stack.media.downloads) == 1


def test_metadata_comes_from_the_post_and_settings(stack: Stack) -> None:
    """Title, description = body, tags = hashtags, category from settings, privacy public by default."""
    stack.publish(youtube_category_id="27")
    session = next(iter(stack.youtube.sessions.values()))
    assert session.metadata == {
        "snippet": {
            "title": "Launch day",
            "description": "We shipped it.\n\n#launch #video",
            "tags": ["launch", "video"],
            "categoryId": "27",
        },
        "status": {"privacyStatus": "public", "selfDeclaredMadeForKids": False},
    }
    start = stack.youtube.requests[0]
    assert start.headers["x-upload-content-length"] == str(3 * CHUNK + 1234)
    assert start.headers["x-upload-content-type"] == "video/mp4"


def test_title_falls_back_to_the_first_line_of_the_text(stack: Stack) -> None:
    """A post without a title is uploaded with the first non-blank line of its text."""
    job = stack.job(title="", text="\nFirst line here\nsecond line", body="First line here\nsecond line")
    stack.publish(job)
    assert stack.youtube.created[0]["title"] == "First line here"


def test_privacy_comes_from_settings(stack: Stack) -> None:
    """youtube_privacy_status is sent as status.privacyStatus."""
    stack.publish(youtube_privacy_status="unlisted")
    assert next(iter(stack.youtube.sessions.values())).metadata["status"]["privacyStatus"] == "unlisted"


def test_session_is_remembered_before_any_byte_is_sent(stack: Stack) -> None:
    """remember(upload_url, upload_size) follows the session start at once, then sending(), then PUTs."""
    size = CHUNK + 10
    stack.publish(stack.job(size))
    location = stack.youtube.requests[0]
    upload_id = next(iter(stack.youtube.sessions))
    assert location.method == "POST"
    notes = stack.recorder.notes
    assert notes[0][0] == "remember"
    assert notes[0][1]["upload_size"] == size
    assert notes[0][1]["upload_url"].endswith(f"&upload_id={upload_id}")
    assert stack.recorder.counted("remember", "sending") == [("remember", 1), ("sending", 1)]


def test_token_travels_in_the_authorization_header_only(stack: Stack) -> None:
    """Every YouTube call carries Bearer <token>; no URL contains it."""
    stack.publish(stack.job(CHUNK + 1))
    for request in stack.youtube.requests:
        assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
        assert ACCESS_TOKEN not in request.path + str(request.query)
    assert ACCESS_TOKEN not in str(stack.recorder.remembered)


# ---- Google tokens -------------------------------------------------------------------------------


def test_refreshes_first_when_the_expiry_is_unknown(stack: Stack) -> None:
    """No token_expires_at: refresh first, store the new token with the OLD refresh token kept."""
    connection = stack.connection(refresh_token=REFRESH_TOKEN, token_expires_at=None)
    stack.publish(connection=connection)
    assert len(stack.oauth.requests) == 1
    assert stack.oauth.requests[0].form["refresh_token"] == REFRESH_TOKEN
    new_token = stack.oauth.issued[0]
    assert stack.recorder.saved_tokens == [
        (connection, TokenUpdate(new_token, REFRESH_TOKEN, NOW + timedelta(seconds=3599)))
    ]
    assert {request.headers["authorization"] for request in stack.youtube.requests} == {f"Bearer {new_token}"}


@pytest.mark.parametrize(
    ("minutes_left", "refreshed"), [(-10, True), (4, True), (5, True), (6, False), (60, False)]
)
def test_refreshes_only_within_five_minutes_of_expiry(
    stack: Stack, minutes_left: int, refreshed: bool
) -> None:
    """A token expiring within 5 minutes (or expired) is refreshed before the upload; a later one is not."""
    connection = stack.connection(
        refresh_token=REFRESH_TOKEN, token_expires_at=NOW + timedelta(minutes=minutes_left)
    )
    stack.publish(stack.job(1000), connection)
    assert len(stack.oauth.requests) == (1 if refreshed else 0)
    assert len(stack.recorder.saved_tokens) == (1 if refreshed else 0)


def test_no_refresh_without_client_credentials(stack: Stack) -> None:
    """Without google_client_secret the token is used as it is."""
    connection = stack.connection(refresh_token=REFRESH_TOKEN, token_expires_at=None)
    stack.publish(stack.job(1000), connection, google_client_secret="")
    assert stack.oauth.requests == []
    assert len(stack.youtube.created) == 1


def test_401_refreshes_once_and_retries(stack: Stack) -> None:
    """An expired-… token gets 401 authError; the adapter refreshes once and the upload succeeds."""
    connection = stack.connection(access_token="expired-access-token", refresh_token=REFRESH_TOKEN)
    stack.publish(stack.job(1000), connection)
    assert len(stack.oauth.requests) == 1
    assert stack.steps() == ["session", "session", "upload"]
    assert len(stack.youtube.created) == 1


def test_401_on_a_chunk_refreshes_and_resends_that_chunk(stack: Stack) -> None:
    """A 401 in the middle of the upload refreshes and resends the refused chunk; bytes stay exact."""
    size = 2 * CHUNK + 5
    stack.youtube.inject_at_byte("auth", CHUNK)
    stack.publish(stack.job(size), stack.connection(refresh_token=REFRESH_TOKEN))
    assert len(stack.oauth.requests) == 1
    assert stack.youtube.created[0]["sha256"] == sha256_of("clip.mp4", size)
    assert [r for r, _ in stack.uploads()].count(f"bytes {CHUNK}-{2 * CHUNK - 1}/{size}") == 2


def test_second_401_is_an_auth_error(stack: Stack) -> None:
    """A 401 that survives the one refresh ends the attempt with AuthError, nothing uploaded."""
    stack.youtube.inject("auth", step="session", times=2)
    with pytest.raises(AuthError) as caught:
        stack.publish(connection=stack.connection(refresh_token=REFRESH_TOKEN))
    assert caught.value.connection_status == "expired"
    assert len(stack.oauth.requests) == 1
    assert stack.youtube.created == []


def test_401_without_a_refresh_token_is_an_auth_error(stack: Stack) -> None:
    """With no refresh path a 401 is AuthError at once."""
    with pytest.raises(AuthError):
        stack.publish(connection=stack.connection(access_token="expired-access-token"))
    assert stack.oauth.requests == []


def test_revoked_refresh_token_is_an_auth_error(stack: Stack) -> None:
    """invalid_grant from the token endpoint is AuthError (revoked); YouTube is never called."""
    connection = stack.connection(refresh_token="revoked-refresh-token", token_expires_at=None)
    with pytest.raises(AuthError) as caught:
        stack.publish(connection=connection)
    assert caught.value.connection_status == "revoked"
    assert "revoked-refresh-token" not in str(caught.value)
    assert stack.youtube.requests == []


def test_wrong_oauth_client_is_a_config_error(stack: Stack) -> None:
    """invalid_client (401) from the token endpoint is PlatformConfigError, secrets not in the text."""
    connection = stack.connection(refresh_token=REFRESH_TOKEN, token_expires_at=None)
    with pytest.raises(PlatformConfigError) as caught:
        stack.publish(connection=connection, google_client_id="someone-else")
    assert SIM_CLIENT_SECRET not in str(caught.value)
    assert REFRESH_TOKEN not in str(caught.value)
    assert stack.youtube.requests == []


@dataclass
class MemoryVault:
    """A TokenVault holding one connection's stored tokens, as the run's vault does per connection."""

    stored: Connection
    exchanges: int = 0

    def refresh(self, connection: Connection, exchange: Callable[[Connection], TokenUpdate]) -> Connection:
        if self.stored.access_token != connection.access_token:
            return self.stored  # another lane or server refreshed meanwhile
        update = exchange(self.stored)
        self.exchanges += 1
        self.stored = replace(
            self.stored,
            access_token=update.access_token,
            refresh_token=update.refresh_token or self.stored.refresh_token,
            token_expires_at=update.expires_at,
        )
        return self.stored


def test_refresh_goes_through_the_runs_token_vault(stack: Stack) -> None:
    """With a vault, a 401 takes the token another lane already refreshed; Google is not asked again."""
    connection = stack.connection(access_token="expired-access-token", refresh_token=REFRESH_TOKEN)
    vault = MemoryVault(stored=replace(connection, access_token="ya29.refreshed-by-another-lane"))
    YouTubeAdapter().publish(stack.job(1000), connection, stack.ctx(tokens=vault))
    assert stack.oauth.requests == []
    assert vault.exchanges == 0
    assert stack.youtube.requests[-1].headers["authorization"] == "Bearer ya29.refreshed-by-another-lane"
    assert len(stack.youtube.created) == 1


def test_vault_stores_the_new_token_itself(stack: Stack) -> None:
    """With a vault, the refresh is exchanged once and stored by the vault, not by save_token."""
    connection = stack.connection(refresh_token=REFRESH_TOKEN, token_expires_at=None)
    vault = MemoryVault(stored=connection)
    YouTubeAdapter().publish(stack.job(1000), connection, stack.ctx(tokens=vault))
    assert vault.exchanges == 1
    assert vault.stored.access_token == stack.oauth.issued[0]
    assert vault.stored.refresh_token == REFRESH_TOKEN
    assert stack.recorder.saved_tokens == []


def test_token_endpoint_outage_is_retryable(stack: Stack) -> None:
    """A 5xx from the token endpoint publishes nothing: RetryableError."""
    stack.oauth.inject("server_error")
    with pytest.raises(RetryableError):
        stack.publish(connection=stack.connection(refresh_token=REFRESH_TOKEN, token_expires_at=None))
    assert stack.youtube.requests == []


# ---- rate limits and refusals --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "midnight"),
    [
        # Pacific standard time (UTC-8): 04:00 PST on 1 Dec → midnight 2 Dec PST = 08:00 UTC.
        (datetime(2026, 12, 1, 12, 0, tzinfo=UTC), datetime(2026, 12, 2, 8, 0, tzinfo=UTC)),
        # 23:30 PST on 30 Nov is already 1 Dec in UTC: the reset is the *Pacific* midnight that follows.
        (datetime(2026, 12, 1, 7, 30, tzinfo=UTC), datetime(2026, 12, 1, 8, 0, tzinfo=UTC)),
        # Daylight time (UTC-7) in July.
        (datetime(2026, 7, 1, 12, 0, tzinfo=UTC), datetime(2026, 7, 2, 7, 0, tzinfo=UTC)),
        # Clocks spring forward at 02:00 on 8 Mar 2026, between 01:00 PST and the next midnight,
        # which is therefore in PDT: 9 Mar 00:00 PDT = 07:00 UTC (not 08:00, the PST offset).
        (datetime(2026, 3, 8, 9, 0, tzinfo=UTC), datetime(2026, 3, 9, 7, 0, tzinfo=UTC)),
        # 22:30 PST on 7 Mar → midnight 8 Mar, before the change: still PST = 08:00 UTC.
        (datetime(2026, 3, 8, 6, 30, tzinfo=UTC), datetime(2026, 3, 8, 8, 0, tzinfo=UTC)),
        # Clocks fall back at 02:00 on 1 Nov 2026, between 00:30 PDT and the next midnight,
        # which is therefore in PST: 2 Nov 00:00 PST = 08:00 UTC (not 07:00, the PDT offset).
        (datetime(2026, 11, 1, 7, 30, tzinfo=UTC), datetime(2026, 11, 2, 8, 0, tzinfo=UTC)),
        # 23:00 PDT on 31 Oct → midnight 1 Nov, before the change: still PDT = 07:00 UTC.
        (datetime(2026, 11, 1, 6, 0, tzinfo=UTC), datetime(2026, 11, 1, 7, 0, tzinfo=UTC)),
    ],
)
def test_next_pacific_midnight(now: datetime, midnight: datetime) -> None:
    """Quota resets at the next midnight in Los Angeles, with the right offset across DST changes."""
    assert next_pacific_midnight(now) == midnight


def test_quota_exceeded_defers_to_midnight_pacific(stack: Stack) -> None:
    """403 quotaExceeded waits for the next midnight Pacific, and the message says when; nothing created."""
    with pytest.raises(RateLimitedError) as caught:
        stack.publish(connection=stack.connection(access_token="ratelimited-access-token"))
    assert caught.value.not_before == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    assert "2026-12-02 08:00 UTC" in caught.value.message
    assert "ratelimited-access-token" not in str(caught.value)
    assert stack.youtube.created == []


def test_channel_upload_cap_defers_24_hours(stack: Stack) -> None:
    """400 uploadLimitExceeded waits 24 hours, as YouTube advises, and the message says until when."""
    stack.youtube.channel_upload_limit = 0
    with pytest.raises(RateLimitedError) as caught:
        stack.publish()
    assert caught.value.not_before == NOW + timedelta(hours=24)
    assert "2026-12-02 12:00 UTC" in caught.value.message


@pytest.mark.parametrize(
    ("throttle", "wait"),
    [
        pytest.param({"retry_after": 120}, timedelta(minutes=2), id="429-retry-after"),
        pytest.param({"retry_after": None}, timedelta(minutes=5), id="429-without-retry-after"),
        pytest.param({"reason": "userRateLimitExceeded"}, timedelta(minutes=5), id="403-userRateLimit"),
        pytest.param({"retry_after": 5}, timedelta(minutes=1), id="429-seconds-waits-one-run"),
    ],
)
def test_short_term_throttles_wait_minutes_not_a_day(
    stack: Stack, throttle: dict[str, Any], wait: timedelta
) -> None:
    """rateLimitExceeded, userRateLimitExceeded and 429 wait minutes (Retry-After when given), not 24 h."""
    stack.youtube.throttle(**throttle)
    with pytest.raises(RateLimitedError) as caught:
        stack.publish()
    assert caught.value.not_before == NOW + wait
    assert f"tried again after {(NOW + wait).strftime('%Y-%m-%d %H:%M')} UTC" in caught.value.message
    assert stack.recorder.remembered == {"throttles": 1}
    assert stack.youtube.created == []


def test_hidden_daily_upload_cap_is_a_short_throttle(stack: Stack) -> None:
    """The 429 "Video Uploads per day" answer is retried within minutes, not after 24 hours."""
    stack.youtube.uploads_per_day = 0
    with pytest.raises(RateLimitedError) as caught:
        stack.publish()
    assert caught.value.not_before == NOW + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("earlier", "wait"),
    [(0, 5), (1, 10), (2, 20), (3, 40), (4, 60), (9, 60), ("garbage", 5)],
)
def test_throttle_backoff_grows_with_the_posts_throttles(stack: Stack, earlier: object, wait: int) -> None:
    """Without Retry-After the wait doubles with each throttle the post met (capped at an hour)."""
    stack.youtube.throttle(retry_after=None)
    with pytest.raises(RateLimitedError) as caught:
        stack.publish(stack.job(resume={"throttles": earlier}))
    assert caught.value.not_before == NOW + timedelta(minutes=wait)
    counted = earlier if isinstance(earlier, int) else 0
    assert stack.recorder.remembered == {"throttles": counted + 1}


def test_token_endpoint_throttle_waits_minutes(stack: Stack) -> None:
    """A 429 from Google's token endpoint is a short throttle with a time, nothing uploaded."""
    stack.oauth.inject("rate_limit")
    with pytest.raises(RateLimitedError) as caught:
        stack.publish(connection=stack.connection(refresh_token=REFRESH_TOKEN, token_expires_at=None))
    assert caught.value.not_before == NOW + timedelta(minutes=5)
    assert "2026-12-01 12:05 UTC" in caught.value.message
    assert stack.youtube.requests == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("90", timedelta(seconds=90)),
        ("Tue, 01 Dec 2026 12:10:00 GMT", timedelta(minutes=10)),
        ("soon", None),
        ("999999", None),  # over a day: not believed
        ("Tue, 01 Dec 2026 11:00:00 GMT", None),  # in the past
    ],
)
def test_retry_after_header_forms(header: str, expected: timedelta | None) -> None:
    """Retry-After is read as seconds or as an HTTP date; absurd values are ignored."""
    response = httpx.Response(429, headers={"Retry-After": header})
    assert retry_after(response, NOW) == expected


def test_metadata_youtube_rejects_is_permanent(stack: Stack) -> None:
    """400 invalidCategoryId fails the post with YouTube's message; nothing is uploaded."""
    with pytest.raises(PermanentError) as caught:
        stack.publish(youtube_category_id="999")
    assert "invalid category" in caught.value.message
    assert "invalidCategoryId" in caught.value.detail
    assert stack.steps() == ["session"]


def test_session_start_outage_is_retryable(stack: Stack) -> None:
    """A 5xx on the session start publishes nothing: RetryableError."""
    stack.youtube.inject("server_error", step="session")
    with pytest.raises(RetryableError):
        stack.publish()
    assert stack.recorder.notes == []


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (401, "authError", AuthError),
        (401, "youtubeSignupRequired", AuthError),
        (403, "forbidden", AuthError),
        (403, "insufficientPermissions", AuthError),
        (403, "authenticatedUserAccountSuspended", AuthError),
        (403, "authenticatedUserAccountClosed", AuthError),
        (403, "quotaExceeded", RateLimitedError),
        (403, "dailyLimitExceeded", RateLimitedError),
        (429, "rateLimitExceeded", ThrottledError),
        (403, "rateLimitExceeded", ThrottledError),
        (403, "userRateLimitExceeded", ThrottledError),
        (400, "uploadLimitExceeded", RateLimitedError),
        (400, "invalidTitle", PermanentError),
        (400, "invalidDescription", PermanentError),
        (400, "invalidPublishAt", PermanentError),
        (400, "invalidCategoryId", PermanentError),
        (400, "invalidTags", PermanentError),
        (400, "mediaBodyRequired", PermanentError),
        (400, "invalidVideoMetadata", PermanentError),
        (500, "backendError", RetryableError),
        (503, "backendError", RetryableError),
    ],
)
def test_classification_table(status: int, reason: str, expected: type[PlatformError]) -> None:
    """Each status/reason maps to its error class (callers resume 5xx on upload PUTs first)."""
    response = httpx.Response(status, json=google_error(status, reason, f"{reason} happened"))
    error = classify(response, NOW)
    assert type(error) is expected
    assert reason in error.detail


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(400, text="<html>" + "x" * 1000 + "</html>"),
        httpx.Response(400, json={"error": {"code": 400, "message": "odd", "errors": {"reason": "x"}}}),
        httpx.Response(400, json={"error": "invalid_request"}),
    ],
)
def test_classification_of_replies_in_another_shape(response: httpx.Response) -> None:
    """A 4xx that is not a standard Google error body is still a PermanentError, bounded in length."""
    error = classify(response, NOW)
    assert isinstance(error, PermanentError)
    assert len(error.message) < 400


# ---- interruptions and resuming ------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["server_error", "reset_before", "error_after_apply", "reset_after"])
def test_interrupted_chunk_is_resumed_from_the_range_end(stack: Stack, fault: str) -> None:
    """A chunk failing mid-upload triggers one resume query; sending continues at Range end + 1."""
    size = 3 * CHUNK + 100
    stack.youtube.inject_at_byte(fault, CHUNK)
    stack.publish(stack.job(size))
    assert len(stack.youtube.created) == 1
    assert stack.youtube.created[0]["sha256"] == sha256_of("clip.mp4", size)
    assert stack.steps().count("resume_query") == 1
    applied = fault in ("error_after_apply", "reset_after")
    resumed_at = 2 * CHUNK if applied else CHUNK
    assert stack.uploads()[2][0] == f"bytes {resumed_at}-{resumed_at + CHUNK - 1}/{size}"
    assert stack.steps().count("session") == 1


@pytest.mark.parametrize("fault", ["error_after_apply", "reset_after", "slow_after"])
def test_lost_answer_to_the_last_chunk_is_found_by_the_resume_query(stack: Stack, fault: str) -> None:
    """The final chunk applied but unanswered: the resume query returns the video; created once."""
    size = 2 * CHUNK + 7
    stack.youtube.inject_at_byte(fault, 2 * CHUNK, delay=0.6)
    result = stack.publish(stack.job(size), http_timeout_s=0.3)
    assert len(stack.youtube.created) == 1
    assert result.post_id == stack.youtube.created[0]["id"]
    assert stack.steps() == ["session", "upload", "upload", "upload", "resume_query"]


def test_last_chunk_arriving_after_the_timeout_creates_nothing_twice(stack: Stack) -> None:
    """slow_before: the client gives up, resends, and the late original is no second video."""
    size = CHUNK + 7
    stack.youtube.inject_at_byte("slow_before", CHUNK, delay=0.6)
    stack.publish(stack.job(size), http_timeout_s=0.3)
    time.sleep(0.5)  # the delayed original lands 0.6 s after it arrived; publishing took over 0.3 s
    assert len(stack.youtube.created) == 1
    assert stack.youtube.created[0]["sha256"] == sha256_of("clip.mp4", size)


def test_partly_kept_chunks_continue_from_the_range_end(stack: Stack) -> None:
    """When YouTube keeps only part of each chunk, sending continues at Range end + 1, no query."""
    stack.youtube.keep_per_put = CHUNK
    size = 4 * CHUNK + 5
    stack.publish(stack.job(size), youtube_chunk_bytes=2 * CHUNK)
    assert stack.youtube.created[0]["sha256"] == sha256_of("clip.mp4", size)
    assert [r for r, _ in stack.uploads()] == [
        f"bytes 0-{2 * CHUNK - 1}/{size}",
        f"bytes {CHUNK}-{3 * CHUNK - 1}/{size}",
        f"bytes {2 * CHUNK}-{4 * CHUNK - 1}/{size}",
        f"bytes {3 * CHUNK}-{size - 1}/{size}",
        f"bytes {4 * CHUNK}-{size - 1}/{size}",
    ]
    assert "resume_query" not in stack.steps()


def test_a_server_keeping_nothing_is_not_fed_forever(stack: Stack) -> None:
    """308s that never advance count as breaks: RetryableError after three resume queries."""
    stack.youtube.keep_per_put = 0
    with pytest.raises(RetryableError):
        stack.publish(stack.job(CHUNK + 5))
    assert stack.steps().count("resume_query") == 3
    assert stack.youtube.created == []


@pytest.mark.parametrize("status", [404, 410])
def test_expired_session_is_replaced_by_a_new_one(stack: Stack, status: int) -> None:
    """A 404 or 410 session is replaced by a new one (it never made a video), remembered anew."""
    stack.recorder.on_sending = lambda: stack.youtube.expire(status=status)
    size = CHUNK + 3
    stack.publish(stack.job(size))
    assert stack.steps()[:3] == ["session", "upload", "session"]
    urls = [ids["upload_url"] for kind, ids in stack.recorder.events if kind == "remember"]
    assert len(urls) == 2
    assert urls[0] != urls[1]
    assert len(stack.youtube.created) == 1
    assert stack.youtube.created[0]["sha256"] == sha256_of("clip.mp4", size)


def test_repeated_breaks_mid_upload_are_retryable_and_resume_next_run(stack: Stack) -> None:
    """Four breaks on a middle chunk: RetryableError; the next run queries, continues, finishes once."""
    size = 3 * CHUNK + 9
    for _ in range(4):
        stack.youtube.inject_at_byte("server_error", CHUNK)
    with pytest.raises(RetryableError):
        stack.publish(stack.job(size))
    resume = stack.recorder.remembered
    assert set(resume) == {"upload_url", "upload_size"}
    assert stack.youtube.created == []

    before = len(stack.youtube.requests)
    stack.publish(stack.job(size, resume=resume, sending_started=True))
    second_run = [stack.youtube.step_of(r) for r in stack.youtube.requests[before:]]
    assert second_run == ["resume_query", "upload", "upload", "upload"]
    assert stack.uploads()[-3][0] == f"bytes {CHUNK}-{2 * CHUNK - 1}/{size}"
    assert len(stack.youtube.created) == 1
    assert stack.youtube.created[0]["sha256"] == sha256_of("clip.mp4", size)


def test_unanswered_last_chunk_is_ambiguous_then_found_next_run(stack: Stack) -> None:
    """Last chunk applied but every query fails: AmbiguousError; the next run finds the one video."""
    stack.youtube.inject("error_after_apply", step="upload")
    stack.youtube.inject("server_error", step="resume_query", times=3)
    job = stack.job(1000)
    with pytest.raises(AmbiguousError):
        stack.publish(job)
    assert len(stack.youtube.created) == 1

    downloads = len(stack.media.downloads)
    result = stack.publish(replace(job, resume=stack.recorder.remembered, sending_started=True))
    assert result.post_id == stack.youtube.created[0]["id"]
    assert len(stack.youtube.created) == 1
    assert stack.steps()[-1] == "resume_query"
    assert len(stack.media.downloads) == downloads  # finished without touching the media


@pytest.mark.parametrize("status", [404, 410])
def test_resume_of_an_expired_session_starts_a_new_one(stack: Stack, status: int) -> None:
    """A remembered session that answers 404 or 410 is replaced; the video is uploaded once."""
    stack.publish(stack.job(1000))
    old = stack.recorder.remembered
    stack.youtube.expire(status=status)
    stack.youtube.created.clear()
    stack.publish(stack.job(1000, resume=old, sending_started=True))
    assert stack.steps()[-3:] == ["resume_query", "session", "upload"]
    assert len(stack.youtube.created) == 1


def test_resume_after_the_file_changed_starts_a_new_session(stack: Stack) -> None:
    """A remembered incomplete session for a file of another size is abandoned for a new one."""
    stack.youtube.inject_at_byte("reset_before", CHUNK)
    stack.youtube.inject("server_error", step="resume_query", times=3)
    with pytest.raises(RetryableError):
        stack.publish(stack.job(3 * CHUNK))
    resume = stack.recorder.remembered
    stack.publish(stack.job(CHUNK + 50, resume=resume, sending_started=True))
    assert len(stack.youtube.created) == 1
    assert stack.youtube.created[0]["sha256"] == sha256_of("clip.mp4", CHUNK + 50)
    assert stack.steps().count("session") == 2


# ---- media ---------------------------------------------------------------------------------------


def test_missing_media_is_permanent_and_names_the_file(stack: Stack) -> None:
    """A media URL answering 404 fails the post naming the file; YouTube is never called."""
    job = stack.job(media_urls=(f"{stack.media_url}/missing/holiday.mp4",))
    with pytest.raises(PermanentError) as caught:
        stack.publish(job)
    assert "holiday.mp4" in caught.value.message
    assert stack.youtube.requests == []


class _NoLengthHandler(BaseHTTPRequestHandler):
    """Serves a body without Content-Length (HTTP/1.0, ended by closing the connection)."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.end_headers()
        self.wfile.write(b"\x00" * 1000)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        """Quiet."""


def test_media_without_content_length_is_permanent(stack: Stack) -> None:
    """A video served without Content-Length cannot be uploaded resumably: PermanentError."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoLengthHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/stream.mp4"
        with pytest.raises(PermanentError) as caught:
            stack.publish(stack.job(media_urls=(url,)))
    finally:
        server.shutdown()
        server.server_close()
    assert "size could not be determined" in caught.value.message
    assert stack.youtube.requests == []


class _GzipHandler(BaseHTTPRequestHandler):
    """Serves a video gzip-compressed, so its Content-Length is not the video's size."""

    def do_GET(self) -> None:
        body = gzip.compress(b"\x00" * 5000)
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        """Quiet."""


def test_compressed_media_is_refused_before_any_upload(stack: Stack) -> None:
    """A video served compressed has no known size: PermanentError naming the file, YouTube untouched."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GzipHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/packed.mp4"
        with pytest.raises(PermanentError) as caught:
            stack.publish(stack.job(media_urls=(url,)))
    finally:
        server.shutdown()
        server.server_close()
    assert "packed.mp4" in caught.value.message
    assert "compressed" in caught.value.message
    assert stack.youtube.requests == []


def test_media_that_is_not_a_web_address_is_refused(stack: Stack) -> None:
    """Media goes through safe_media.open_media: a file: URL fails the post before any upload."""
    with pytest.raises(PermanentError) as caught:
        stack.publish(stack.job(media_urls=("file:///etc/passwd.mp4",)))
    assert "passwd.mp4" in caught.value.message
    assert stack.youtube.requests == []


def test_memory_stays_bounded_by_the_chunk_size(stack: Stack) -> None:
    """An 8 MiB video goes up in 256 KiB chunks; the whole process never holds 3 MiB more."""
    size = 8 * 1024 * 1024
    stack.publish(stack.job(1000, name="warm-up.mp4"))  # first-use imports and pools are not the upload
    stack.youtube.requests.clear()
    tracemalloc.start()
    try:
        stack.publish(stack.job(size, name="big.mp4"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stack.youtube.created[-1]["sha256"] == sha256_of("big.mp4", size)
    assert max(length for _, length in stack.uploads()) == CHUNK
    # Simulator and media host run in this process too: a few chunks each side are expected.
    assert peak < 3 * 1024 * 1024, f"peak {peak} bytes"


# ---- what is sent: Shorts, tags, category, audience, privacy ------------------------------------


def test_reel_is_uploaded_as_a_short_with_its_shorts_url(stack: Stack) -> None:
    """A REEL post is the same upload (no #Shorts added) and gets the youtube.com/shorts/ URL."""
    result = stack.publish(stack.job(1000, kind="reel"))
    video_id = stack.youtube.created[0]["id"]
    assert result.url == f"https://www.youtube.com/shorts/{video_id}"
    metadata = next(iter(stack.youtube.sessions.values())).metadata
    assert metadata["snippet"]["description"] == "We shipped it.\n\n#launch #video"
    assert "#Shorts" not in metadata["snippet"]["title"]


def test_post_choices_override_the_settings(stack: Stack) -> None:
    """metadata category, made_for_kids and privacy win over YOUTUBE_* settings; YouTube records them."""
    job = stack.job(1000, category="27", made_for_kids=False, privacy="unlisted")
    result = stack.publish(
        job, youtube_category_id="10", youtube_made_for_kids=True, youtube_privacy_status="private"
    )
    video = stack.youtube.created[0]
    assert (video["category_id"], video["made_for_kids"], video["privacy"]) == ("27", False, "unlisted")
    assert result.notes == {"youtube_privacy": "unlisted"}


def test_settings_apply_when_the_post_says_nothing(stack: Stack) -> None:
    """Without post choices the configured category, made-for-kids flag and privacy are sent."""
    stack.publish(
        stack.job(1000),
        youtube_category_id="10",
        youtube_made_for_kids=True,
        youtube_privacy_status="private",
    )
    video = stack.youtube.created[0]
    assert (video["category_id"], video["made_for_kids"], video["privacy"]) == ("10", True, "private")


def test_hashtags_become_tags_counted_as_youtube_counts(stack: Stack) -> None:
    """Tags fill YouTube's 500 characters as it counts them; the simulator accepts what is sent."""
    hashtags = ("x" * 240, "two words", "y" * 245, "late")
    stack.publish(stack.job(1000, hashtags=hashtags))
    sent = stack.youtube.created[0]["tags"]
    assert sent == ["x" * 240, "two words", "y" * 245]  # "late" would make 503
    assert tags_length(sent) == 240 + 1 + 11 + 1 + 245


@pytest.mark.parametrize(
    ("hashtags", "tags"),
    [
        (("a", "b"), ["a", "b"]),
        (("Bread", "bread", "BREAD"), ["Bread"]),  # YouTube treats tags case-insensitively
        (("a<b", "c>", "d,e", "ok"), ["ok"]),  # YouTube refuses these characters in tags
        (("x" * 499, "y"), ["x" * 499]),  # 499 + comma + 1 = 501
        (("x" * 498, "y"), ["x" * 498, "y"]),  # exactly 500
        (("x" * 496, "a b"), ["x" * 496]),  # the quotes around "a b" count: 496 + 1 + 5 = 502
        (("x" * 494, "a b"), ["x" * 494, "a b"]),  # 494 + 1 + 5 = 500
    ],
)
def test_video_tags(hashtags: tuple[str, ...], tags: list[str]) -> None:
    """Tags keep order, drop repeats and refused characters, and stop at 500 counted characters."""
    assert video_tags(hashtags) == tags
    assert tags_length(tags) <= 500


def test_unknown_category_fails_the_check_with_the_list() -> None:
    """metadata.category 99 is refused before any upload, naming the categories YouTube allows."""
    message = limit_problems(base_job(category="99"))
    assert message.startswith("YouTube has no video category 99; use one of 1 (Film & Animation),")
    assert "27 (Education)" in message
    YouTubeAdapter().check(base_job(category="27"))


def test_category_list_matches_the_simulator() -> None:
    """The adapter's category list is the one the simulator (YouTube) accepts."""
    assert set(CATEGORIES) == set(ASSIGNABLE_CATEGORIES)


def test_unverified_project_private_video_is_published_with_the_truth(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """A video YouTube locked to private is published; notes say so and a WARNING names the post."""
    stack.youtube.unverified_project = True
    with caplog.at_level(logging.WARNING, logger="publisher"):
        result = stack.publish(stack.job(1000))
    assert result.post_id == stack.youtube.created[0]["id"]
    assert result.notes == {"youtube_privacy": "private", "youtube_privacy_requested": "public"}
    warnings = [r for r in caplog.records if r.name == "publisher" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    line = warnings[0].getMessage()
    assert "private although public was asked" in line
    assert "post=created_content/test" in line
    assert result.post_id in line


def test_youtube_settings_are_read_and_checked() -> None:
    """YOUTUBE_MADE_FOR_KIDS is read as a flag; a YOUTUBE_CATEGORY_ID no upload may use stops the run."""
    base = {
        "SUPABASE_URL": "https://abc.supabase.co",
        "SUPABASE_SERVICE_ROLE_KEY": "service-key-123456",
        "ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    defaults = load_config(base).platforms
    assert (defaults.youtube_made_for_kids, defaults.youtube_category_id) == (False, "22")
    chosen = load_config({**base, "YOUTUBE_MADE_FOR_KIDS": "true", "YOUTUBE_CATEGORY_ID": "27"}).platforms
    assert (chosen.youtube_made_for_kids, chosen.youtube_category_id) == (True, "27")
    with pytest.raises(ConfigError) as caught:
        load_config({**base, "YOUTUBE_CATEGORY_ID": "21", "YOUTUBE_MADE_FOR_KIDS": "yes"})
    assert "YOUTUBE_CATEGORY_ID must be one of 1, 2, 10," in str(caught.value)
    assert "YOUTUBE_MADE_FOR_KIDS must be one of true, false" in str(caught.value)


# ---- thumbnails ----------------------------------------------------------------------------------


def test_thumbnail_is_set_after_the_upload(stack: Stack) -> None:
    """job.thumbnail is downloaded and sent to thumbnails.set for the new video, byte for byte."""
    result = stack.publish(stack.job(1000, thumbnail=stack.image("cover.jpg", 40_000)))
    video_id = stack.youtube.created[0]["id"]
    assert stack.steps() == ["session", "upload", "thumbnail"]
    assert stack.youtube.thumbnails[video_id] == {
        "sha256": sha256_of("cover.jpg", 40_000),
        "content_type": "image/jpeg",
        "size": 40_000,
    }
    assert result.notes["youtube_thumbnail"] == "set"


def test_png_thumbnail_is_sent_as_png(stack: Stack) -> None:
    """A PNG thumbnail is sent with Content-Type image/png."""
    stack.publish(stack.job(1000, thumbnail=stack.image("cover.png")))
    assert next(iter(stack.youtube.thumbnails.values()))["content_type"] == "image/png"


def test_unverified_channel_thumbnail_refusal_keeps_the_video_published(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    """403 forbidden (channel not verified): the post is published, the refusal noted and logged."""
    stack.youtube.channel_verified = False
    with caplog.at_level(logging.WARNING, logger="publisher"):
        result = stack.publish(stack.job(1000, thumbnail=stack.image("cover.jpg")))
    assert result.post_id == stack.youtube.created[0]["id"]
    assert result.notes["youtube_thumbnail"].startswith("refused: YouTube does not let this channel")
    assert stack.steps().count("thumbnail") == 1  # a refusal is not retried
    assert any("thumbnail not set" in r.getMessage() for r in caplog.records if r.name == "publisher")


@pytest.mark.parametrize(
    ("name", "size", "why"),
    [
        ("cover.gif", 1000, "is not a JPEG or PNG image"),
        ("cover.jpg", THUMBNAIL_MAX_BYTES + 1, "larger than YouTube's 2 MB limit"),
    ],
)
def test_thumbnail_refused_before_sending(stack: Stack, name: str, size: int, why: str) -> None:
    """A thumbnail that is not JPEG/PNG or over 2 MB is never sent; the video stays published."""
    result = stack.publish(stack.job(1000, thumbnail=stack.image(name, size)))
    assert why in result.notes["youtube_thumbnail"]
    assert "thumbnail" not in stack.steps()
    assert len(stack.youtube.created) == 1


def test_missing_thumbnail_file_keeps_the_video_published(stack: Stack) -> None:
    """A thumbnail URL answering 404 is a refused thumbnail, not a failed post."""
    result = stack.publish(stack.job(1000, thumbnail=f"{stack.media_url}/missing/cover.jpg"))
    assert result.notes["youtube_thumbnail"].startswith("refused: The media file cover.jpg")
    assert len(stack.youtube.created) == 1


def test_thumbnail_for_a_video_not_found_yet_is_tried_twice(stack: Stack) -> None:
    """404 videoNotFound (right after an upload) is tried once more after a short wait, then noted."""
    connection = stack.connection()
    ctx = stack.ctx()
    token = OAuthToken(connection, ctx, exchange=_no_exchange, refreshable=lambda _: False)
    outcome = set_thumbnail(stack.image("cover.jpg"), "notyetthere", token, ctx)
    assert outcome.startswith("refused: YouTube could not find the new video yet")
    assert stack.steps() == ["thumbnail", "thumbnail"]
    assert stack.recorder.sleeps == [3.0]


def test_thumbnail_server_error_is_retried_once(stack: Stack) -> None:
    """A 5xx on thumbnails.set is tried again once; the second try sets it."""
    stack.youtube.inject("server_error", step="thumbnail")
    result = stack.publish(stack.job(1000, thumbnail=stack.image("cover.jpg")))
    assert result.notes["youtube_thumbnail"] == "set"
    assert stack.steps().count("thumbnail") == 2


def test_thumbnail_401_refreshes_the_token_once(stack: Stack) -> None:
    """A 401 on thumbnails.set refreshes the token (the shared refresh-once rule) and sets it."""
    stack.youtube.inject("auth", step="thumbnail")
    result = stack.publish(
        stack.job(1000, thumbnail=stack.image("cover.jpg")), stack.connection(refresh_token=REFRESH_TOKEN)
    )
    assert result.notes["youtube_thumbnail"] == "set"
    assert len(stack.oauth.requests) == 1


@pytest.mark.parametrize(
    ("fault", "note"),
    [
        ("permanent", "refused: YouTube refused the thumbnail image"),
        ("auth", "refused: YouTube refused the channel's authorisation to set the thumbnail"),
        ("rate_limit", "refused: YouTube is limiting thumbnail uploads"),
        ("server_error", "refused: YouTube had a temporary problem setting the thumbnail"),
        ("error_after_apply", "refused: YouTube had a temporary problem setting the thumbnail"),
        ("slow_before", "refused: YouTube did not answer"),
        ("slow_after", "refused: YouTube did not answer"),
        ("reset_before", "refused: YouTube did not answer"),
        ("reset_after", "refused: YouTube did not answer"),
    ],
)
def test_every_fault_on_the_thumbnail_leaves_one_published_video(stack: Stack, fault: str, note: str) -> None:
    """Whatever happens to thumbnails.set (both tries), the post is published once, the refusal noted."""
    stack.youtube.inject(fault, step="thumbnail", times=2, delay=0.6)
    result = stack.publish(stack.job(1000, thumbnail=stack.image("cover.jpg")), http_timeout_s=0.3)
    assert len(stack.youtube.created) == 1
    assert result.post_id == stack.youtube.created[0]["id"]
    assert result.notes["youtube_thumbnail"].startswith(note)


def test_resumed_attempt_sets_the_thumbnail_of_the_found_video(stack: Stack) -> None:
    """After an unanswered last chunk, the next run finds the video and still sets its thumbnail."""
    stack.youtube.inject("error_after_apply", step="upload")
    stack.youtube.inject("server_error", step="resume_query", times=3)
    job = stack.job(1000, thumbnail=stack.image("cover.jpg"))
    with pytest.raises(AmbiguousError):
        stack.publish(job)
    assert stack.youtube.thumbnails == {}
    result = stack.publish(replace(job, resume=stack.recorder.remembered, sending_started=True))
    assert result.notes["youtube_thumbnail"] == "set"
    assert set(stack.youtube.thumbnails) == {result.post_id}
    assert len(stack.youtube.created) == 1


def _no_exchange(connection: Connection) -> TokenUpdate:
    raise AssertionError("no refresh expected")


# ---- limits --------------------------------------------------------------------------------------


def limit_problems(job: PublishJob) -> str:
    with pytest.raises(LimitError) as caught:
        YouTubeAdapter().check(job)
    return caught.value.message


def base_job(**changes: Any) -> PublishJob:
    job = PublishJob(
        ref="created_content/test",
        kind="video",
        title="Title",
        text="Title\n\nBody",
        body="Body",
        hashtags=(),
        media_urls=("https://example.com/clip.mp4",),
    )
    return replace(job, **changes)


def test_valid_post_passes_the_check() -> None:
    """A video with a 100-character title and a 5,000-byte description passes."""
    YouTubeAdapter().check(base_job(title="x" * 100, body="é" * 2500))


def test_long_title_names_the_limit() -> None:
    """A 131-character title fails with the limit and the actual length."""
    message = limit_problems(base_job(title="x" * 131))
    assert message == "YouTube titles are limited to 100 characters; this one has 131."


def test_long_first_line_is_checked_when_it_becomes_the_title() -> None:
    """Without a title, the first line of the text is what is checked against the title limit."""
    message = limit_problems(base_job(title="", text="y" * 131 + "\nmore", body="y" * 131 + "\nmore"))
    assert "this one has 131" in message


def test_description_limit_is_in_bytes() -> None:
    """A 2,501-character description of 5,002 bytes breaks the 5,000-byte limit."""
    message = limit_problems(base_job(body="é" * 2501))
    assert message == "YouTube descriptions are limited to 5,000 bytes; this one has 5,002."


@pytest.mark.parametrize("where", ["title", "body"])
def test_angle_brackets_are_refused(where: str) -> None:
    """< in the title or the description is refused before any network call."""
    message = limit_problems(base_job(**{where: "a < b"}))
    assert "'<'" in message


def test_only_videos_and_a_title_or_text_are_accepted() -> None:
    """Non-video posts and posts with neither title nor text are refused."""
    assert "image posts" in limit_problems(base_job(kind="image"))
    assert "needs a title" in limit_problems(base_job(title="", text="  \n", body=""))
