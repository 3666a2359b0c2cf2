"""The YouTube and Google OAuth simulators checked with plain httpx against what
docs/platforms/youtube.md says YouTube and Google answer."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from devstack.server import serve
from devstack.simulators.media import media_bytes
from devstack.simulators.youtube import (
    ASSIGNABLE_CATEGORIES,
    CHUNK_UNIT,
    SIM_CLIENT_ID,
    SIM_CLIENT_SECRET,
    THUMBNAIL_MAX_BYTES,
    THUMBNAIL_PATH,
    UPLOAD_PATH,
    GoogleOAuthSimulator,
    YouTubeSimulator,
)

TOKEN = "ya29.simulator-test-token"
METADATA = {
    "snippet": {"title": "A title", "description": "A description", "tags": ["a"], "categoryId": "22"},
    "status": {"privacyStatus": "public", "selfDeclaredMadeForKids": False},
}


@dataclass
class YouTube:
    sim: YouTubeSimulator
    url: str
    http: httpx.Client

    def start(
        self,
        size: int | None,
        metadata: dict[str, Any] | None = None,
        token: str | None = TOKEN,
        **headers: str,
    ) -> httpx.Response:
        sent = {"Content-Type": "application/json; charset=UTF-8", "X-Upload-Content-Type": "video/mp4"}
        if size is not None:
            sent["X-Upload-Content-Length"] = str(size)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers)
        return self.http.post(
            f"{self.url}{UPLOAD_PATH}?uploadType=resumable&part=snippet,status",
            json=METADATA if metadata is None else metadata,
            headers=sent,
        )

    def session(self, size: int, metadata: dict[str, Any] | None = None) -> str:
        response = self.start(size, metadata)
        assert response.status_code == 200, response.text
        return response.headers["Location"]

    def put(self, location: str, data: bytes, content_range: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "video/mp4"}
        if content_range is not None:
            headers["Content-Range"] = content_range
        return self.http.put(location, content=data, headers=headers)

    def query(self, location: str, total: int | str) -> httpx.Response:
        return self.put(location, b"", f"bytes */{total}")

    def video(self, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        """Upload a 1,000-byte video in one PUT; its resource."""
        location = self.session(1000, metadata)
        response = self.put(location, payload(1000), "bytes 0-999/1000")
        assert response.status_code == 201, response.text
        video: dict[str, Any] = response.json()
        return video

    def thumbnail(
        self,
        video_id: str,
        image: bytes,
        content_type: str = "image/jpeg",
        token: str | None = TOKEN,
        **headers: str,
    ) -> httpx.Response:
        sent = {"Content-Type": content_type, **headers}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return self.http.post(
            f"{self.url}{THUMBNAIL_PATH}?videoId={video_id}&uploadType=media", content=image, headers=sent
        )


@pytest.fixture
def youtube() -> Iterator[YouTube]:
    sim = YouTubeSimulator()
    with serve(sim) as server, httpx.Client(timeout=5) as http:
        yield YouTube(sim, server.url, http)


@pytest.fixture
def oauth() -> Iterator[tuple[GoogleOAuthSimulator, str, httpx.Client]]:
    sim = GoogleOAuthSimulator()
    with serve(sim) as server, httpx.Client(timeout=5) as http:
        yield sim, f"{server.url}/token", http


def payload(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def error_item(response: httpx.Response) -> dict[str, Any]:
    item: dict[str, Any] = response.json()["error"]["errors"][0]
    return item


# ---- session start -------------------------------------------------------------------------------


def test_session_start_answers_200_with_a_location_pointing_back(youtube: YouTube) -> None:
    """Session start: 200, empty body, Location = the same URL plus &upload_id=…, on this host."""
    response = youtube.start(1000)
    assert response.status_code == 200
    assert response.content == b""
    location = httpx.URL(response.headers["Location"])
    assert f"{location.scheme}://{location.host}:{location.port}" == youtube.url
    assert location.path == UPLOAD_PATH
    assert location.params["uploadType"] == "resumable"
    assert location.params["part"] == "snippet,status"
    assert location.params["upload_id"] in youtube.sim.sessions


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"title": "x" * 101}, "invalidTitle"),
        ({"title": "a <b> title"}, "invalidTitle"),
        ({"title": ""}, "invalidTitle"),
        ({"description": "é" * 2501}, "invalidDescription"),  # 2,501 characters but 5,002 bytes
        ({"description": "1 > 0"}, "invalidDescription"),
        ({"tags": ["t" * 300, "u" * 300]}, "invalidTags"),
        ({"categoryId": "999"}, "invalidCategoryId"),
    ],
)
def test_invalid_snippet_is_a_400_with_the_reason(
    youtube: YouTube, change: dict[str, Any], reason: str
) -> None:
    """Metadata YouTube rejects answers 400 with the matching youtube.video reason, no session."""
    metadata = {**METADATA, "snippet": {**METADATA["snippet"], **change}}
    response = youtube.start(1000, metadata)
    assert response.status_code == 400
    assert error_item(response)["reason"] == reason
    assert error_item(response)["domain"] == "youtube.video"
    assert youtube.sim.sessions == {}


def test_limits_at_the_edge_are_accepted(youtube: YouTube) -> None:
    """A 100-character title and a 5,000-byte description are within the limits."""
    metadata = {**METADATA, "snippet": {**METADATA["snippet"], "title": "x" * 100, "description": "é" * 2500}}
    assert youtube.start(1000, metadata).status_code == 200


def test_publish_at_needs_private(youtube: YouTube) -> None:
    """publishAt with privacyStatus public is 400 invalidPublishAt; with private it is accepted."""
    public = {**METADATA, "status": {"privacyStatus": "public", "publishAt": "2030-12-01T15:00:00Z"}}
    response = youtube.start(1000, public)
    assert response.status_code == 400
    assert error_item(response)["reason"] == "invalidPublishAt"
    private = {**METADATA, "status": {"privacyStatus": "private", "publishAt": "2030-12-01T15:00:00Z"}}
    assert youtube.start(1000, private).status_code == 200


def test_expired_token_is_401_auth_error_in_google_shape(youtube: YouTube) -> None:
    """Token expired-… answers 401 with exactly Google's error shape: code, message, errors[], status."""
    response = youtube.start(1000, token="expired-abc")
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": 401,
            "message": "Invalid Credentials",
            "errors": [
                {
                    "message": "Invalid Credentials",
                    "domain": "global",
                    "reason": "authError",
                    "location": "Authorization",
                    "locationType": "header",
                }
            ],
            "status": "UNAUTHENTICATED",
        }
    }


def test_missing_token_is_401_required(youtube: YouTube) -> None:
    """No Authorization header answers 401 reason required."""
    response = youtube.start(1000, token=None)
    assert response.status_code == 401
    assert error_item(response)["reason"] == "required"


def test_ratelimited_token_is_403_quota_exceeded(youtube: YouTube) -> None:
    """Token ratelimited-… answers 403 quotaExceeded in domain youtube.quota, PERMISSION_DENIED."""
    response = youtube.start(1000, token="ratelimited-abc")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == 403
    assert error["status"] == "PERMISSION_DENIED"
    assert error["errors"][0]["reason"] == "quotaExceeded"
    assert error["errors"][0]["domain"] == "youtube.quota"
    assert error["message"] == error["errors"][0]["message"]


def test_daily_insert_quota_runs_out(youtube: YouTube) -> None:
    """Each session start costs one videos.insert call; with none left it is 403 quotaExceeded."""
    youtube.sim.insert_quota = 1
    assert youtube.start(1000).status_code == 200
    response = youtube.start(1000)
    assert response.status_code == 403
    assert error_item(response)["reason"] == "quotaExceeded"


def test_channel_cap_and_daily_upload_cap(youtube: YouTube) -> None:
    """The channel cap is 400 uploadLimitExceeded; the hidden daily cap is 429 rateLimitExceeded."""
    youtube.sim.channel_upload_limit = 0
    response = youtube.start(1000)
    assert response.status_code == 400
    assert error_item(response)["reason"] == "uploadLimitExceeded"
    assert error_item(response)["domain"] == "youtube.video"
    youtube.sim.channel_upload_limit = None
    youtube.sim.uploads_per_day = 0
    response = youtube.start(1000)
    assert response.status_code == 429
    assert error_item(response)["reason"] == "rateLimitExceeded"
    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


# ---- upload and resume ---------------------------------------------------------------------------


def test_chunked_upload_reports_ranges_then_creates_the_video(youtube: YouTube) -> None:
    """Each chunk answers 308 with Range bytes=0-N; the last byte answers 201 with the video."""
    data = payload(2 * CHUNK_UNIT + 1000)
    location = youtube.session(len(data), METADATA)
    first = youtube.put(location, data[:CHUNK_UNIT], f"bytes 0-{CHUNK_UNIT - 1}/{len(data)}")
    assert first.status_code == 308
    assert first.headers["Range"] == f"bytes=0-{CHUNK_UNIT - 1}"
    second = youtube.put(
        location, data[CHUNK_UNIT : 2 * CHUNK_UNIT], f"bytes {CHUNK_UNIT}-{2 * CHUNK_UNIT - 1}/{len(data)}"
    )
    assert second.headers["Range"] == f"bytes=0-{2 * CHUNK_UNIT - 1}"
    assert youtube.sim.created == []
    last = youtube.put(
        location, data[2 * CHUNK_UNIT :], f"bytes {2 * CHUNK_UNIT}-{len(data) - 1}/{len(data)}"
    )
    assert last.status_code == 201
    video = last.json()
    assert video["kind"] == "youtube#video"
    assert len(video["id"]) == 11
    assert video["snippet"]["title"] == "A title"
    assert video["snippet"]["tags"] == ["a"]
    assert video["status"]["uploadStatus"] == "uploaded"
    assert video["status"]["privacyStatus"] == "public"
    assert len(youtube.sim.created) == 1
    assert youtube.sim.created[0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert youtube.sim.created[0]["id"] == video["id"]


def test_whole_file_in_one_put_without_content_range(youtube: YouTube) -> None:
    """A PUT of the whole file without Content-Range completes the upload."""
    data = payload(5000)
    location = youtube.session(len(data))
    assert youtube.put(location, data, None).status_code == 201
    assert youtube.sim.created[0]["size"] == 5000


def test_resume_query_reports_what_was_received(youtube: YouTube) -> None:
    """bytes */N: 308 without Range before any byte, 308 with Range after one, 200 + video when done."""
    data = payload(CHUNK_UNIT + 10)
    location = youtube.session(len(data))
    empty = youtube.query(location, len(data))
    assert empty.status_code == 308
    assert "Range" not in empty.headers
    youtube.put(location, data[:CHUNK_UNIT], f"bytes 0-{CHUNK_UNIT - 1}/{len(data)}")
    partial = youtube.query(location, len(data))
    assert partial.status_code == 308
    assert partial.headers["Range"] == f"bytes=0-{CHUNK_UNIT - 1}"
    assert youtube.query(location, "*").status_code == 308
    created = youtube.put(location, data[CHUNK_UNIT:], f"bytes {CHUNK_UNIT}-{len(data) - 1}/{len(data)}")
    done = youtube.query(location, len(data))
    assert done.status_code == 200
    assert done.json() == created.json()
    assert len(youtube.sim.created) == 1


def test_unknown_or_expired_session_is_404(youtube: YouTube) -> None:
    """A PUT on an unknown or expired upload_id answers 404 notFound."""
    location = youtube.session(1000)
    unknown = str(httpx.URL(location).copy_set_param("upload_id", "nope"))
    response = youtube.query(unknown, 1000)
    assert response.status_code == 404
    assert error_item(response)["reason"] == "notFound"
    youtube.sim.expire()
    assert youtube.query(location, 1000).status_code == 404
    assert youtube.put(location, payload(1000), "bytes 0-999/1000").status_code == 404


def test_chunks_must_be_multiples_of_256_kib_except_the_last(youtube: YouTube) -> None:
    """A non-final chunk of 1000 bytes is a 400; a short final chunk is fine."""
    data = payload(CHUNK_UNIT + 1000)
    location = youtube.session(len(data))
    response = youtube.put(location, data[:1000], f"bytes 0-999/{len(data)}")
    assert response.status_code == 400
    assert youtube.query(location, len(data)).status_code == 308
    assert "Range" not in youtube.query(location, len(data)).headers
    youtube.put(location, data[:CHUNK_UNIT], f"bytes 0-{CHUNK_UNIT - 1}/{len(data)}")
    assert (
        youtube.put(
            location, data[CHUNK_UNIT:], f"bytes {CHUNK_UNIT}-{len(data) - 1}/{len(data)}"
        ).status_code
        == 201
    )


def test_resent_bytes_are_ignored_and_gaps_refused(youtube: YouTube) -> None:
    """Overlapping chunks keep the bytes already held; a chunk past the received end is a 400."""
    data = payload(3 * CHUNK_UNIT)
    location = youtube.session(len(data))
    youtube.put(location, data[:CHUNK_UNIT], f"bytes 0-{CHUNK_UNIT - 1}/{len(data)}")
    gap = youtube.put(location, data[2 * CHUNK_UNIT :], f"bytes {2 * CHUNK_UNIT}-{len(data) - 1}/{len(data)}")
    assert gap.status_code == 400
    again = youtube.put(location, data[: 2 * CHUNK_UNIT], f"bytes 0-{2 * CHUNK_UNIT - 1}/{len(data)}")
    assert again.headers["Range"] == f"bytes=0-{2 * CHUNK_UNIT - 1}"
    youtube.put(location, data[2 * CHUNK_UNIT :], f"bytes {2 * CHUNK_UNIT}-{len(data) - 1}/{len(data)}")
    assert youtube.sim.created[0]["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("content_range", "body_size"),
    [
        ("bytes 0-999/2000", 999),  # fewer bytes than the range says
        ("bytes 0-1999/5000", 2000),  # a total other than X-Upload-Content-Length
        ("bytes 0-1999", 2000),  # no total
        ("0-1999/2000", 2000),  # no unit
    ],
)
def test_inconsistent_content_range_is_a_400(youtube: YouTube, content_range: str, body_size: int) -> None:
    """A Content-Range that does not match the body or the declared size is refused."""
    location = youtube.session(2000)
    response = youtube.put(location, payload(body_size), content_range)
    assert response.status_code == 400
    assert error_item(response)["reason"] == "badRequest"


def test_keep_per_put_persists_part_of_a_chunk(youtube: YouTube) -> None:
    """With keep_per_put, a PUT keeps only its first bytes and Range says where to continue."""
    youtube.sim.keep_per_put = CHUNK_UNIT
    data = payload(2 * CHUNK_UNIT)
    location = youtube.session(len(data))
    partial = youtube.put(location, data, f"bytes 0-{len(data) - 1}/{len(data)}")
    assert partial.status_code == 308
    assert partial.headers["Range"] == f"bytes=0-{CHUNK_UNIT - 1}"
    rest = youtube.put(location, data[CHUNK_UNIT:], f"bytes {CHUNK_UNIT}-{len(data) - 1}/{len(data)}")
    assert rest.status_code == 201
    assert youtube.sim.created[0]["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_late_copy_of_the_last_chunk_creates_nothing_more(youtube: YouTube) -> None:
    """Sending the final chunk again after completion answers 200 with the same video."""
    data = payload(1000)
    location = youtube.session(len(data))
    first = youtube.put(location, data, "bytes 0-999/1000")
    again = youtube.put(location, data, "bytes 0-999/1000")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert len(youtube.sim.created) == 1


def test_upload_bodies_are_not_kept_in_memory(youtube: YouTube) -> None:
    """Recorded upload requests keep their headers but drop the bytes (already hashed)."""
    location = youtube.session(1000)
    youtube.put(location, payload(1000), "bytes 0-999/1000")
    upload = youtube.sim.requests[-1]
    assert upload.body == b""
    assert upload.headers["content-length"] == "1000"


# ---- faults --------------------------------------------------------------------------------------


def test_error_after_apply_on_the_last_chunk_leaves_a_finished_video(youtube: YouTube) -> None:
    """The final chunk applied then 503: the resume query answers 200 with the one video."""
    youtube.sim.inject("error_after_apply", step="upload")
    location = youtube.session(1000)
    response = youtube.put(location, payload(1000), "bytes 0-999/1000")
    assert response.status_code == 503
    assert error_item(response)["reason"] == "backendError"
    assert youtube.query(location, 1000).status_code == 200
    assert len(youtube.sim.created) == 1


def test_reset_after_on_the_last_chunk_drops_the_answer(youtube: YouTube) -> None:
    """reset_after: the connection breaks, yet the video exists and the query says so."""
    youtube.sim.inject("reset_after", step="upload")
    location = youtube.session(1000)
    with pytest.raises(httpx.TransportError):
        youtube.put(location, payload(1000), "bytes 0-999/1000")
    assert youtube.query(location, 1000).status_code == 200
    assert len(youtube.sim.created) == 1


def test_inject_at_byte_hits_the_chunk_at_that_offset(youtube: YouTube) -> None:
    """inject_at_byte leaves earlier chunks alone and fails the first one starting at the offset."""
    youtube.sim.inject_at_byte("server_error", CHUNK_UNIT)
    data = payload(2 * CHUNK_UNIT)
    location = youtube.session(len(data))
    assert (
        youtube.put(location, data[:CHUNK_UNIT], f"bytes 0-{CHUNK_UNIT - 1}/{len(data)}").status_code == 308
    )
    failed = youtube.put(location, data[CHUNK_UNIT:], f"bytes {CHUNK_UNIT}-{len(data) - 1}/{len(data)}")
    assert failed.status_code == 503
    assert youtube.query(location, len(data)).headers["Range"] == f"bytes=0-{CHUNK_UNIT - 1}"


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        ("permanent", 400, "invalidVideoMetadata"),
        ("auth", 401, "authError"),
        ("rate_limit", 403, "quotaExceeded"),
        ("server_error", 503, "backendError"),
    ],
)
def test_fault_replies_and_steps(youtube: YouTube, fault: str, status: int, reason: str) -> None:
    """Faults scripted by X-Fake-Scenario hit their named step only, with the platform's reply."""
    response = youtube.start(1000, **{"X-Fake-Scenario": f"{fault}:session"})
    assert (response.status_code, error_item(response)["reason"]) == (status, reason)
    location = youtube.session(1000)
    youtube.sim.inject(fault, step="resume_query")
    assert youtube.put(location, payload(1000), "bytes 0-999/1000").status_code == 201
    assert youtube.query(location, 1000).status_code == status
    assert [youtube.sim.step_of(r) for r in youtube.sim.requests] == [
        "session",
        "session",
        "upload",
        "resume_query",
    ]


# ---- Google OAuth --------------------------------------------------------------------------------


def refresh(url: str, http: httpx.Client, **changes: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": "1//good-refresh-token",
        "client_id": SIM_CLIENT_ID,
        "client_secret": SIM_CLIENT_SECRET,
        **changes,
    }
    return http.post(url, data=form)


def test_refresh_returns_an_access_token_without_a_new_refresh_token(
    oauth: tuple[GoogleOAuthSimulator, str, httpx.Client],
) -> None:
    """A good refresh answers access_token, expires_in 3599, scope and Bearer, and nothing else."""
    sim, url, http = oauth
    response = refresh(url, http)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["expires_in"] == 3599
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith("ya29.")
    assert sim.issued == [body["access_token"]]


@pytest.mark.parametrize(
    ("changes", "status", "error", "description"),
    [
        ({"refresh_token": "revoked-1"}, 400, "invalid_grant", "Token has been expired or revoked."),
        ({"client_id": "someone-else"}, 401, "invalid_client", "The OAuth client was not found."),
        ({"client_secret": "wrong"}, 401, "invalid_client", "Unauthorized"),
        ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type", None),
        ({"refresh_token": ""}, 400, "invalid_request", None),
    ],
)
def test_refresh_errors(
    oauth: tuple[GoogleOAuthSimulator, str, httpx.Client],
    changes: dict[str, str],
    status: int,
    error: str,
    description: str | None,
) -> None:
    """Revoked refresh token → 400 invalid_grant; wrong client → 401 invalid_client; bad grant → 400."""
    sim, url, http = oauth
    response = refresh(url, http, **changes)
    assert response.status_code == status
    assert response.json()["error"] == error
    if description is not None:
        assert response.json()["error_description"] == description
    assert sim.issued == []


def test_token_step_faults(oauth: tuple[GoogleOAuthSimulator, str, httpx.Client]) -> None:
    """Faults on the "token" step give Google's OAuth error bodies."""
    sim, url, http = oauth
    sim.inject("server_error", step="token")
    sim.inject("auth", step="token")
    assert refresh(url, http).status_code == 503
    assert refresh(url, http).json()["error"] == "invalid_grant"
    assert refresh(url, http).status_code == 200


# ---- tags, category, made for kids, privacy ------------------------------------------------------


def with_snippet(**changes: Any) -> dict[str, Any]:
    return {**METADATA, "snippet": {**METADATA["snippet"], **changes}}


def with_status(**changes: Any) -> dict[str, Any]:
    return {**METADATA, "status": {**METADATA["status"], **changes}}


@pytest.mark.parametrize(
    ("tags", "accepted"),
    [
        (["x" * 498, "y"], True),  # 498 + comma + 1 = 500
        (["x" * 499, "y"], False),  # 501
        (["x" * 494, "a b"], True),  # a tag with a space counts its quotes: 494 + 1 + 5 = 500
        (["x" * 495, "a b"], False),  # 501
        (["fine", 7], False),  # not a string
        ("one,two", False),  # not a list
        (["a<b"], False),
        (["b>a"], False),
        ([], True),
    ],
)
def test_tags_are_validated_as_youtube_counts(youtube: YouTube, tags: object, accepted: bool) -> None:
    """Tags: a list of strings without < or >, at most 500 characters with commas and quotes counted."""
    response = youtube.start(1000, with_snippet(tags=tags))
    if accepted:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert error_item(response) == {
            "message": "The request metadata specifies invalid video keywords.",
            "domain": "youtube.video",
            "reason": "invalidTags",
        }


@pytest.mark.parametrize("category", sorted(ASSIGNABLE_CATEGORIES, key=int))
def test_every_assignable_category_is_accepted(youtube: YouTube, category: str) -> None:
    """Each assignable category id starts a session."""
    assert youtube.start(1000, with_snippet(categoryId=category)).status_code == 200


@pytest.mark.parametrize("category", ["0", "18", "21", "30", "44", "People"])
def test_other_categories_are_refused(youtube: YouTube, category: str) -> None:
    """Ids that are not assignable (18 and 21 exist but cannot be chosen) answer 400 invalidCategoryId."""
    response = youtube.start(1000, with_snippet(categoryId=category))
    assert response.status_code == 400
    assert error_item(response)["reason"] == "invalidCategoryId"


@pytest.mark.parametrize("value", ["true", 1, "no"])
def test_made_for_kids_must_be_a_boolean(youtube: YouTube, value: object) -> None:
    """selfDeclaredMadeForKids other than true/false answers 400 invalidVideoMetadata."""
    response = youtube.start(1000, with_status(selfDeclaredMadeForKids=value))
    assert response.status_code == 400
    assert error_item(response)["reason"] == "invalidVideoMetadata"


def test_created_video_records_what_was_asked(youtube: YouTube) -> None:
    """The video resource and the created record carry tags, category, made-for-kids and privacy."""
    metadata = {
        "snippet": {"title": "T", "description": "D", "tags": ["two words", "b"], "categoryId": "27"},
        "status": {"privacyStatus": "unlisted", "selfDeclaredMadeForKids": True},
    }
    video = youtube.video(metadata)
    assert video["snippet"]["tags"] == ["two words", "b"]
    assert video["snippet"]["categoryId"] == "27"
    assert video["status"]["privacyStatus"] == "unlisted"
    assert video["status"]["selfDeclaredMadeForKids"] is True
    created = youtube.sim.created[0]
    assert (created["tags"], created["category_id"], created["made_for_kids"], created["privacy"]) == (
        ["two words", "b"],
        "27",
        True,
        "unlisted",
    )


def test_unverified_project_locks_uploads_to_private(youtube: YouTube) -> None:
    """In unverified-project mode a video asked to be public is created private, and says so."""
    youtube.sim.unverified_project = True
    video = youtube.video(with_status(privacyStatus="public"))
    assert video["status"]["privacyStatus"] == "private"
    assert youtube.sim.created[0]["privacy"] == "private"


# ---- short-term throttles and expired sessions ---------------------------------------------------


def test_throttle_is_429_rate_limit_exceeded_with_retry_after(youtube: YouTube) -> None:
    """throttle(): 429 rateLimitExceeded, RESOURCE_EXHAUSTED, Retry-After; no quota used; then normal."""
    youtube.sim.throttle(retry_after=90)
    response = youtube.start(1000)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "90"
    assert error_item(response)["reason"] == "rateLimitExceeded"
    assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert youtube.sim.insert_quota == 100
    assert youtube.start(1000).status_code == 200


def test_throttle_without_retry_after_and_user_rate_limit(youtube: YouTube) -> None:
    """A 429 may come without Retry-After; userRateLimitExceeded is a 403 in domain usageLimits."""
    youtube.sim.throttle(retry_after=None)
    youtube.sim.throttle(reason="userRateLimitExceeded")
    first = youtube.start(1000)
    assert first.status_code == 429
    assert "Retry-After" not in first.headers
    second = youtube.start(1000)
    assert second.status_code == 403
    assert error_item(second)["reason"] == "userRateLimitExceeded"
    assert error_item(second)["domain"] == "usageLimits"


def test_expired_session_can_answer_410(youtube: YouTube) -> None:
    """expire(status=410) makes the session answer 410 Gone to queries and chunks; unknown ids stay 404."""
    location = youtube.session(1000)
    youtube.sim.expire(status=410)
    assert youtube.query(location, 1000).status_code == 410
    assert youtube.put(location, payload(1000), "bytes 0-999/1000").status_code == 410
    unknown = str(httpx.URL(location).copy_set_param("upload_id", "nope"))
    assert youtube.query(unknown, 1000).status_code == 404
    assert youtube.sim.created == []


# ---- thumbnails.set ------------------------------------------------------------------------------

JPEG = media_bytes("cover.jpg", 30_000)
PNG = media_bytes("cover.png", 30_000)


def test_thumbnail_set_answers_the_thumbnail_set_response(youtube: YouTube) -> None:
    """thumbnails.set on an own video: 200 youtube#thumbnailSetResponse; the image hashed and recorded."""
    video = youtube.video()
    response = youtube.thumbnail(video["id"], JPEG)
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "youtube#thumbnailSetResponse"
    assert set(body["items"][0]) == {"default", "medium", "high"}
    assert youtube.sim.thumbnails[video["id"]] == {
        "sha256": hashlib.sha256(JPEG).hexdigest(),
        "content_type": "image/jpeg",
        "size": len(JPEG),
    }
    assert youtube.sim.requests[-1].body == b""  # hashed, not kept
    assert youtube.sim.step_of(youtube.sim.requests[-1]) == "thumbnail"


def test_thumbnail_set_again_replaces_it(youtube: YouTube) -> None:
    """Setting a thumbnail twice is harmless: the second image is the one recorded."""
    video = youtube.video()
    youtube.thumbnail(video["id"], JPEG)
    assert youtube.thumbnail(video["id"], PNG, "image/png").status_code == 200
    assert youtube.sim.thumbnails[video["id"]]["sha256"] == hashlib.sha256(PNG).hexdigest()


def test_thumbnail_of_an_unknown_video_is_404(youtube: YouTube) -> None:
    """A video id this simulator never created answers 404 videoNotFound."""
    response = youtube.thumbnail("notmyvideo1", JPEG)
    assert response.status_code == 404
    assert error_item(response)["reason"] == "videoNotFound"
    assert youtube.sim.thumbnails == {}


def test_thumbnail_on_an_unverified_channel_is_403_forbidden(youtube: YouTube) -> None:
    """channel_verified False: 403 forbidden in domain youtube.thumbnail with YouTube's sentence."""
    video = youtube.video()
    youtube.sim.channel_verified = False
    response = youtube.thumbnail(video["id"], JPEG)
    assert response.status_code == 403
    assert error_item(response) == {
        "message": "The authenticated user doesn't have permissions to upload and set custom video "
        "thumbnails.",
        "domain": "youtube.thumbnail",
        "reason": "forbidden",
        "location": "Authorization",
        "locationType": "header",
    }
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    ("image", "content_type", "status", "reason"),
    [
        (b"", "image/jpeg", 400, "mediaBodyRequired"),
        (b"GIF89a" + b"\0" * 100, "image/gif", 400, "invalidImage"),
        (b"not an image at all", "image/jpeg", 400, "invalidImage"),
        (b"\xff\xd8\xff" + b"\0" * THUMBNAIL_MAX_BYTES, "image/jpeg", 413, "uploadTooLarge"),
    ],
)
def test_thumbnail_image_is_checked(
    youtube: YouTube, image: bytes, content_type: str, status: int, reason: str
) -> None:
    """An empty, non-JPEG/PNG or over-2-MB image is refused; nothing is recorded."""
    video = youtube.video()
    response = youtube.thumbnail(video["id"], image, content_type)
    assert (response.status_code, error_item(response)["reason"]) == (status, reason)
    assert youtube.sim.thumbnails == {}


def test_thumbnail_needs_a_token(youtube: YouTube) -> None:
    """thumbnails.set without a token is 401 required; with an expired one 401 authError."""
    video = youtube.video()
    assert error_item(youtube.thumbnail(video["id"], JPEG, token=None))["reason"] == "required"
    assert error_item(youtube.thumbnail(video["id"], JPEG, token="expired-x"))["reason"] == "authError"


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        ("permanent", 400, "invalidImage"),
        ("rate_limit", 429, "uploadRateLimitExceeded"),
        ("auth", 401, "authError"),
        ("server_error", 503, "backendError"),
    ],
)
def test_thumbnail_step_faults(youtube: YouTube, fault: str, status: int, reason: str) -> None:
    """Faults on the "thumbnail" step give thumbnails.set's own replies and touch nothing else."""
    video = youtube.video()
    youtube.sim.inject(fault, step="thumbnail")
    response = youtube.thumbnail(video["id"], JPEG)
    assert (response.status_code, error_item(response)["reason"]) == (status, reason)
    assert youtube.sim.thumbnails == {}
    assert youtube.thumbnail(video["id"], JPEG).status_code == 200
