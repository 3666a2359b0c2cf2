"""The LinkedIn simulator against docs/platforms/linkedin.md, driven with plain httpx."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from devstack.server import serve
from devstack.simulators.linkedin import (
    TOKEN_PATH,
    VIDEO_PART_BYTES,
    LinkedInSimulator,
    render_little_text,
)

AUTHOR = "urn:li:person:abc123"
HEADERS = {
    "Authorization": "Bearer AQV-test-token",
    "LinkedIn-Version": "202607",
    "X-Restli-Protocol-Version": "2.0.0",
    "Content-Type": "application/json",
}
MISSING_COMMENTARY = "ERROR :: /commentary :: field is required but not found and has no default value\n"
TOKEN_FORM = {
    "grant_type": "refresh_token",
    "refresh_token": "rt-1",
    "client_id": "app-id",
    "client_secret": "app-secret",
}


@pytest.fixture
def sim() -> LinkedInSimulator:
    return LinkedInSimulator()


@pytest.fixture
def http(sim: LinkedInSimulator) -> Iterator[httpx.Client]:
    with serve(sim) as server, httpx.Client(base_url=server.url, timeout=5) as client:
        yield client


def post_body(commentary: str, **extra: Any) -> dict[str, Any]:
    return {
        "author": AUTHOR,
        "commentary": commentary,
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
        **extra,
    }


def headers(**changes: str | None) -> dict[str, str]:
    merged: dict[str, str | None] = {**HEADERS, **changes}
    return {name: value for name, value in merged.items() if value is not None}


def upload_image(http: httpx.Client, data: bytes = b"\xff\xd8\xff\xe0 an image") -> str:
    init = http.post(
        "/rest/images?action=initializeUpload",
        headers=HEADERS,
        json={"initializeUploadRequest": {"owner": AUTHOR}},
    )
    value = init.json()["value"]
    put = http.put(value["uploadUrl"], headers={"Authorization": HEADERS["Authorization"]}, content=data)
    assert put.status_code == 201
    return str(value["image"])


def test_text_post_answers_201_with_empty_body_and_urn_header(
    http: httpx.Client, sim: LinkedInSimulator
) -> None:
    """A text post is created: 201, no body, its urn in x-restli-id, counted once."""
    response = http.post("/rest/posts", headers=HEADERS, json=post_body("Hello LinkedIn"))
    assert response.status_code == 201
    assert response.content == b""
    urn = response.headers["x-restli-id"]
    assert urn.startswith("urn:li:share:")
    assert sim.created == [
        {
            "platform": "linkedin",
            "id": urn,
            "kind": "text",
            "text": "Hello LinkedIn",
            "media": [],
            "author": AUTHOR,
        }
    ]


def test_missing_version_header_is_426(http: httpx.Client) -> None:
    """Without LinkedIn-Version every /rest/ call is refused with 426, as LinkedIn has no default."""
    response = http.post("/rest/posts", headers=headers(**{"LinkedIn-Version": None}), json=post_body("x"))
    assert response.status_code == 426
    assert response.json()["code"] == "VERSION_MISSING"


def test_sunset_version_is_426_nonexistent_version(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """A sunset version gets exactly LinkedIn's 426 NONEXISTENT_VERSION body, and nothing is posted."""
    response = http.post(
        "/rest/posts", headers=headers(**{"LinkedIn-Version": "202511"}), json=post_body("x")
    )
    assert response.status_code == 426
    assert response.json() == {
        "status": 426,
        "code": "NONEXISTENT_VERSION",
        "message": "Requested version 202511 is not active",
    }
    assert sim.created == []


def test_active_versions_are_configurable() -> None:
    """A simulator built with other active versions accepts those and refuses the default ones."""
    sim = LinkedInSimulator(active_versions=["202701"])
    with serve(sim) as server:
        old = httpx.post(f"{server.url}/rest/posts", headers=HEADERS, json=post_body("a"), timeout=5)
        new = httpx.post(
            f"{server.url}/rest/posts",
            headers=headers(**{"LinkedIn-Version": "202701"}),
            json=post_body("a"),
            timeout=5,
        )
    assert (old.status_code, new.status_code) == (426, 201)


def test_missing_restli_protocol_header_is_refused(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """Without X-Restli-Protocol-Version: 2.0.0 the call is a client error and posts nothing."""
    response = http.post(
        "/rest/posts", headers=headers(**{"X-Restli-Protocol-Version": None}), json=post_body("x")
    )
    assert response.status_code == 400
    assert sim.created == []


@pytest.mark.parametrize(
    ("token", "status", "body"),
    [
        (None, 401, {"status": 401, "serviceErrorCode": 65604, "message": "Empty oauth2 access token"}),
        (
            "expired-1",
            401,
            {
                "status": 401,
                "serviceErrorCode": 65602,
                "code": "EXPIRED_ACCESS_TOKEN",
                "message": "The token used in the request has expired",
            },
        ),
        (
            "revoked-1",
            401,
            {
                "status": 401,
                "serviceErrorCode": 65601,
                "code": "REVOKED_ACCESS_TOKEN",
                "message": "The token used in the request has been revoked by the user",
            },
        ),
        (
            "denied-1",
            403,
            {
                "status": 403,
                "serviceErrorCode": 100,
                "code": "ACCESS_DENIED",
                "message": "Not enough permissions to access: POST /rest/posts",
            },
        ),
        (
            "ratelimited-1",
            429,
            {
                "status": 429,
                "serviceErrorCode": 101,
                "message": "Resource level throttle limit for calls to this resource is reached.",
            },
        ),
    ],
)
def test_token_conventions_give_linkedin_error_json(
    http: httpx.Client, sim: LinkedInSimulator, token: str | None, status: int, body: dict[str, Any]
) -> None:
    """Each token prefix gets LinkedIn's status and error body for it, and nothing is posted."""
    auth = f"Bearer {token}" if token else None
    response = http.post("/rest/posts", headers=headers(Authorization=auth), json=post_body("x"))
    assert (response.status_code, response.json()) == (status, body)
    assert sim.created == []


def test_commentary_over_3000_characters_is_422(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """3,000 shown characters pass; 3,001 are refused with a 422 naming /commentary."""
    ok = http.post("/rest/posts", headers=HEADERS, json=post_body("a" * 2999 + "\\("))
    too_long = http.post("/rest/posts", headers=HEADERS, json=post_body("b" * 3001))
    assert ok.status_code == 201
    assert too_long.status_code == 422
    assert "/commentary" in too_long.json()["message"]
    assert len(sim.created) == 1


def test_missing_required_field_is_422_schema_error(http: httpx.Client) -> None:
    """A post without commentary gets LinkedIn's schema error text exactly."""
    body = post_body("x")
    del body["commentary"]
    response = http.post("/rest/posts", headers=HEADERS, json=body)
    assert response.json() == {"message": MISSING_COMMENTARY, "status": 422}


def test_body_that_is_not_json_is_400(http: httpx.Client) -> None:
    """A body that is not a JSON object gets 400 ILLEGAL_ARGUMENT."""
    response = http.post("/rest/posts", headers=HEADERS, content=b"not json")
    assert response.status_code == 400
    assert response.json()["code"] == "ILLEGAL_ARGUMENT"


@pytest.mark.parametrize(
    ("commentary", "shown"),
    [
        ("Plain text, no reserved characters.", "Plain text, no reserved characters."),
        ("Launch (finally) today", "Launch "),
        ("Launch \\(finally\\) today", "Launch (finally) today"),
        ("Big news #launch today", "Big news #launch today"),
        ("C# rocks", "C"),
        ("C\\# rocks", "C# rocks"),
        ("path a\\\\(b", "path a\\"),
        ("mail me @home", "mail me "),
        ("snake_case", "snake"),
        ("trailing backslash \\", "trailing backslash "),
    ],
)
def test_little_text_is_cut_at_first_unescaped_reserved_character(commentary: str, shown: str) -> None:
    """The shown post ends before the first unescaped reserved character; #hashtags survive."""
    assert render_little_text(commentary) == shown


def test_unescaped_post_is_stored_truncated(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """LinkedIn answers 201 to an unescaped post but stores only the text before the '('."""
    response = http.post("/rest/posts", headers=HEADERS, json=post_body("Our results (Q3) are in"))
    assert response.status_code == 201
    assert sim.created[0]["text"] == "Our results "


def test_duplicate_post_is_422_naming_the_first_urn(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """The same author posting the same commentary again gets DUPLICATE_POST naming the first urn."""
    first = http.post("/rest/posts", headers=HEADERS, json=post_body("Same words"))
    second = http.post("/rest/posts", headers=HEADERS, json=post_body("Same words"))
    urn = first.headers["x-restli-id"]
    assert second.status_code == 422
    assert second.json() == {
        "errorDetailType": "com.linkedin.common.error.BadRequest",
        "message": "com.linkedin.content.common.exception.BadRequestResponseException: "
        f"Content is a duplicate of {urn}",
        "errorDetails": {
            "inputErrors": [
                {"description": "Duplicate post is detected", "input": {}, "code": "DUPLICATE_POST"}
            ]
        },
        "status": 422,
    }
    assert len(sim.created) == 1


def test_image_flow_init_upload_status_post(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """initializeUpload → PUT → AVAILABLE → a post with content.media carrying that image."""
    init = http.post(
        "/rest/images?action=initializeUpload",
        headers=HEADERS,
        json={"initializeUploadRequest": {"owner": AUTHOR}},
    )
    assert init.status_code == 200
    value = init.json()["value"]
    assert set(value) == {"uploadUrl", "uploadUrlExpiresAt", "image"}
    assert value["uploadUrl"].startswith(str(http.base_url).rstrip("/") + "/dms-uploads/")
    urn = value["image"]
    status_path = f"/rest/images/{quote(urn, safe='')}"
    assert http.get(status_path, headers=HEADERS).json()["status"] == "WAITING_UPLOAD"

    data = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 100
    put = http.put(value["uploadUrl"], headers={"Authorization": HEADERS["Authorization"]}, content=data)
    assert put.status_code == 201
    assert http.get(status_path, headers=HEADERS).json() == {
        "id": urn,
        "owner": AUTHOR,
        "status": "AVAILABLE",
    }
    assert (sim.images[urn].size, sim.images[urn].sha256) == (len(data), hashlib.sha256(data).hexdigest())

    post = http.post(
        "/rest/posts", headers=HEADERS, json=post_body("With a picture", content={"media": {"id": urn}})
    )
    assert post.status_code == 201
    assert sim.created[0]["media"] == [urn]


def test_chunked_upload_is_decoded(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """An upload sent with Transfer-Encoding: chunked is received whole."""
    init = http.post(
        "/rest/images?action=initializeUpload",
        headers=HEADERS,
        json={"initializeUploadRequest": {"owner": AUTHOR}},
    )
    value = init.json()["value"]
    parts = [b"a" * 70000, b"b" * 5, b"c" * 100000]
    put = http.put(
        value["uploadUrl"], headers={"Authorization": HEADERS["Authorization"]}, content=iter(parts)
    )
    assert put.status_code == 201
    assert sim.images[value["image"]].sha256 == hashlib.sha256(b"".join(parts)).hexdigest()


def test_image_is_processing_for_k_polls(sim: LinkedInSimulator, http: httpx.Client) -> None:
    """With processing_polls=2, two status checks answer PROCESSING, the third AVAILABLE."""
    sim.processing_polls = 2
    urn = upload_image(http)
    path = f"/rest/images/{quote(urn, safe='')}"
    statuses = [http.get(path, headers=HEADERS).json()["status"] for _ in range(3)]
    assert statuses == ["PROCESSING", "PROCESSING", "AVAILABLE"]


def test_post_with_image_not_available_is_422(sim: LinkedInSimulator, http: httpx.Client) -> None:
    """A post naming an image that is still processing, or unknown, is refused."""
    sim.processing_polls = 5
    urn = upload_image(http)
    processing = http.post(
        "/rest/posts", headers=HEADERS, json=post_body("a", content={"media": {"id": urn}})
    )
    unknown = http.post(
        "/rest/posts", headers=HEADERS, json=post_body("b", content={"media": {"id": "urn:li:image:nope"}})
    )
    assert (processing.status_code, unknown.status_code) == (422, 422)
    assert "PROCESSING" in processing.json()["message"]
    assert sim.created == []


def test_multi_image_needs_two_to_twenty(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """content.multiImage with one image is refused; with three it is posted in order."""
    urns = [upload_image(http) for _ in range(3)]
    one = {"multiImage": {"images": [{"id": urns[0]}]}}
    three = {"multiImage": {"images": [{"id": urn} for urn in urns]}}
    assert http.post("/rest/posts", headers=HEADERS, json=post_body("one", content=one)).status_code == 422
    assert (
        http.post("/rest/posts", headers=HEADERS, json=post_body("three", content=three)).status_code == 201
    )
    assert sim.created[0]["media"] == urns


def test_image_of_another_owner_is_refused(http: httpx.Client) -> None:
    """A member cannot post an image initialised for an organization."""
    init = http.post(
        "/rest/images?action=initializeUpload",
        headers=HEADERS,
        json={"initializeUploadRequest": {"owner": "urn:li:organization:99"}},
    )
    value = init.json()["value"]
    http.put(value["uploadUrl"], headers={"Authorization": HEADERS["Authorization"]}, content=b"img")
    response = http.post(
        "/rest/posts", headers=HEADERS, json=post_body("x", content={"media": {"id": value["image"]}})
    )
    assert response.status_code == 422


def test_refresh_grant_returns_a_new_access_token(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """A refresh_token grant answers a new access token, its lifetime and the same refresh token."""
    response = http.post(TOKEN_PATH, data=TOKEN_FORM)
    assert response.status_code == 200
    data = response.json()
    assert data["access_token"] == sim.issued_tokens[-1]
    assert (data["expires_in"], data["refresh_token"]) == (5184000, "rt-1")
    again = http.post(
        "/rest/posts", headers=headers(Authorization=f"Bearer {data['access_token']}"), json=post_body("x")
    )
    assert again.status_code == 201


def test_revoked_refresh_token_is_invalid_grant(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """A refresh token starting 'revoked-' gets 400 invalid_grant and no new token."""
    response = http.post(TOKEN_PATH, data={**TOKEN_FORM, "refresh_token": "revoked-rt"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert sim.issued_tokens == []


def test_wrong_client_secret_is_invalid_client() -> None:
    """With client credentials configured, a wrong secret gets 401 invalid_client."""
    sim = LinkedInSimulator(client_id="app-id", client_secret="app-secret")
    with serve(sim) as server:
        response = httpx.post(
            server.url + TOKEN_PATH, data={**TOKEN_FORM, "client_secret": "wrong"}, timeout=5
        )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize(
    ("fault", "status", "body"),
    [
        (
            "permanent",
            422,
            {"message": MISSING_COMMENTARY, "status": 422},
        ),
        ("auth", 401, {"serviceErrorCode": 65600, "message": "Invalid access token", "status": 401}),
        (
            "rate_limit",
            429,
            {
                "serviceErrorCode": 101,
                "message": "Resource level throttle limit for calls to this resource is reached.",
                "status": 429,
            },
        ),
        ("server_error", 500, {"status": 500, "message": "Internal Server Error"}),
    ],
)
def test_injected_faults_reply_in_linkedin_shapes(
    http: httpx.Client, sim: LinkedInSimulator, fault: str, status: int, body: dict[str, Any]
) -> None:
    """Each shared fault on the posts step gets LinkedIn's reply for it, and nothing is posted."""
    sim.inject(fault, step="posts")
    response = http.post("/rest/posts", headers=HEADERS, json=post_body("x"))
    assert (response.status_code, response.json()) == (status, body)
    assert sim.created == []


def test_error_after_apply_creates_the_post_then_fails(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """error_after_apply publishes, answers 500, and a re-send is a DUPLICATE_POST of it."""
    sim.inject("error_after_apply", step="posts")
    failed = http.post("/rest/posts", headers=HEADERS, json=post_body("x"))
    again = http.post("/rest/posts", headers=HEADERS, json=post_body("x"))
    assert failed.status_code == 500
    assert again.status_code == 422
    assert sim.created[0]["id"] in again.json()["message"]


def test_fake_scenario_header_faults_only_the_named_step(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """X-Fake-Scenario: server_error:upload leaves the posts step alone."""
    response = http.post(
        "/rest/posts", headers={**HEADERS, "X-Fake-Scenario": "server_error:upload"}, json=post_body("x")
    )
    assert response.status_code == 201


def test_faults_on_token_step_use_oauth_shapes(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """auth on the token step is invalid_grant; server_error is a 500."""
    sim.inject("auth", step="token")
    sim.inject("server_error", step="token")
    first = http.post(TOKEN_PATH, data=TOKEN_FORM)
    second = http.post(TOKEN_PATH, data=TOKEN_FORM)
    assert (first.status_code, first.json()["error"]) == (400, "invalid_grant")
    assert second.status_code == 500


# ---- videos ----------------------------------------------------------------------------------

PART = VIDEO_PART_BYTES
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42"
UPLOAD_AUTH = {"Authorization": HEADERS["Authorization"], "Content-Type": "application/octet-stream"}


def video_bytes(size: int, head: bytes = MP4_HEAD) -> bytes:
    return (head + bytes(range(256)) * (size // 256 + 1))[:size]


def init_video(http: httpx.Client, size: int, owner: str = AUTHOR) -> dict[str, Any]:
    response = http.post(
        "/rest/videos?action=initializeUpload",
        headers=HEADERS,
        json={
            "initializeUploadRequest": {
                "owner": owner,
                "fileSizeBytes": size,
                "uploadCaptions": False,
                "uploadThumbnail": False,
            }
        },
    )
    assert response.status_code == 200
    value: dict[str, Any] = response.json()["value"]
    return value


def put_parts(
    http: httpx.Client, value: dict[str, Any], data: bytes, order: list[int] | None = None
) -> list[str]:
    """PUT every part (in `order`, default in sequence); the etags in part order."""
    instructions = value["uploadInstructions"]
    etags: dict[int, str] = {}
    for index in order if order is not None else range(len(instructions)):
        part = instructions[index]
        body = data[part["firstByte"] : part["lastByte"] + 1]
        response = http.put(part["uploadUrl"], headers=UPLOAD_AUTH, content=body)
        assert response.status_code == 200, response.text
        etags[index] = response.headers["etag"]
    return [etags[i] for i in range(len(instructions))]


def finalize(
    http: httpx.Client, value: dict[str, Any], etags: list[str], token: str | None = None
) -> httpx.Response:
    return http.post(
        "/rest/videos?action=finalizeUpload",
        headers=HEADERS,
        json={
            "finalizeUploadRequest": {
                "video": value["video"],
                "uploadToken": value["uploadToken"] if token is None else token,
                "uploadedPartIds": etags,
            }
        },
    )


def video_status(http: httpx.Client, urn: str) -> str:
    return str(http.get(f"/rest/videos/{quote(urn, safe='')}", headers=HEADERS).json()["status"])


def upload_video(http: httpx.Client, data: bytes, owner: str = AUTHOR) -> str:
    value = init_video(http, len(data), owner)
    assert finalize(http, value, put_parts(http, value, data)).status_code == 200
    return str(value["video"])


def test_video_init_answers_4_mib_parts_pointing_back_here(http: httpx.Client) -> None:
    """initializeUpload splits the size into 4 MiB ranges (the last shorter), each with its own URL."""
    value = init_video(http, 2 * PART + 10)
    assert value["video"].startswith("urn:li:video:")
    assert value["uploadToken"]
    assert isinstance(value["uploadUrlsExpireAt"], int)
    ranges = [(i["firstByte"], i["lastByte"]) for i in value["uploadInstructions"]]
    assert ranges == [(0, PART - 1), (PART, 2 * PART - 1), (2 * PART, 2 * PART + 9)]
    base = str(http.base_url).rstrip("/") + "/dms-uploads/"
    urls = [i["uploadUrl"] for i in value["uploadInstructions"]]
    assert all(url.startswith(base) for url in urls)
    assert len(set(urls)) == 3
    assert video_status(http, value["video"]) == "WAITING_UPLOAD"


def test_single_part_video_has_an_empty_upload_token(http: httpx.Client) -> None:
    """A video of one part gets one instruction and an empty uploadToken."""
    value = init_video(http, 1000)
    assert (len(value["uploadInstructions"]), value["uploadToken"]) == (1, "")


def test_video_init_needs_a_file_size(http: httpx.Client) -> None:
    """Without fileSizeBytes initializeUpload is a 422 naming the field."""
    response = http.post(
        "/rest/videos?action=initializeUpload",
        headers=HEADERS,
        json={"initializeUploadRequest": {"owner": AUTHOR}},
    )
    assert response.status_code == 422
    assert "/initializeUploadRequest/fileSizeBytes" in response.json()["message"]


def test_part_of_the_wrong_length_is_refused(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """A part PUT must carry exactly its byte range: one byte short is a 400 and gets no etag."""
    value = init_video(http, PART + 100)
    first = value["uploadInstructions"][0]
    response = http.put(first["uploadUrl"], headers=UPLOAD_AUTH, content=b"x" * (PART - 1))
    assert response.status_code == 400
    assert "etag" not in response.headers
    assert sim.videos[value["video"]].parts[0].etag is None


def test_finalize_checks_token_and_every_etag_in_order(http: httpx.Client) -> None:
    """finalizeUpload is refused for a missing part, etags out of order or a wrong token; then accepted."""
    data = video_bytes(2 * PART + 5)
    value = init_video(http, len(data))
    instructions = value["uploadInstructions"]
    first_two = put_parts(http, {"uploadInstructions": instructions[:2]}, data)
    assert finalize(http, value, first_two).status_code == 400  # part 3 never uploaded
    etags = put_parts(http, value, data)
    assert etags[:2] == first_two  # the same bytes get the same etag
    assert finalize(http, value, [etags[1], etags[0], etags[2]]).status_code == 400
    assert finalize(http, value, etags, token="not-the-token").status_code == 400
    assert video_status(http, value["video"]) == "WAITING_UPLOAD"
    assert finalize(http, value, etags).status_code == 200


def test_video_is_processing_for_k_reads_then_available(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """After finalize, processing_polls status reads answer PROCESSING, then AVAILABLE."""
    sim.processing_polls = 2
    urn = upload_video(http, video_bytes(3000))
    assert [video_status(http, urn) for _ in range(3)] == ["PROCESSING", "PROCESSING", "AVAILABLE"]


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (MP4_HEAD, "AVAILABLE"),
        (b"\x00\x00\x00\x14ftypqt  ", "AVAILABLE"),
        (b"\x1aE\xdf\xa3 webm", "PROCESSING_FAILED"),
        (b"%PDF-1.7", "PROCESSING_FAILED"),
    ],
)
def test_only_mp4_or_mov_bytes_become_available(http: httpx.Client, head: bytes, status: str) -> None:
    """A video whose first bytes are not an MP4/MOV box ends in PROCESSING_FAILED."""
    assert video_status(http, upload_video(http, video_bytes(5000, head))) == status


def test_video_sha256_is_of_the_whole_file_even_out_of_order(
    http: httpx.Client, sim: LinkedInSimulator
) -> None:
    """Parts PUT in any order (and one PUT twice) still give the whole file's size and SHA-256."""
    data = video_bytes(2 * PART + 777)
    value = init_video(http, len(data))
    put_parts(http, value, data, order=[2, 0, 0, 1])
    etags = [p.etag for p in sim.videos[value["video"]].parts]
    assert finalize(http, value, [str(e) for e in etags]).status_code == 200
    video = sim.videos[value["video"]]
    assert (video.size, video.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_expired_upload_url_answers_401(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """A part PUT after the upload URLs expired is refused with 401 and no etag."""
    sim.upload_ttl_s = -1
    value = init_video(http, 100)
    response = http.put(value["uploadInstructions"][0]["uploadUrl"], headers=UPLOAD_AUTH, content=b"x" * 100)
    assert response.status_code == 401


def test_video_post_records_kind_bytes_and_sha256(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """A post with an AVAILABLE video is created and recorded as a video with its size and SHA-256."""
    data = video_bytes(PART + 3)
    urn = upload_video(http, data)
    content = {"media": {"id": urn, "title": "Tour"}}
    response = http.post("/rest/posts", headers=HEADERS, json=post_body("With a video", content=content))
    assert response.status_code == 201
    assert sim.created == [
        {
            "platform": "linkedin",
            "id": response.headers["x-restli-id"],
            "kind": "video",
            "text": "With a video",
            "author": AUTHOR,
            "media": [urn],
            "title": "Tour",
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    ]


def test_post_refuses_a_video_not_available_or_of_another_author(
    http: httpx.Client, sim: LinkedInSimulator
) -> None:
    """A video still processing, or owned by someone else, cannot be posted (422)."""
    sim.processing_polls = 5
    processing = upload_video(http, video_bytes(1000))
    sim.processing_polls = 0
    foreign = upload_video(http, video_bytes(1000), owner="urn:li:organization:99")
    for urn, words in ((processing, "PROCESSING"), (foreign, "belongs to")):
        content = {"media": {"id": urn, "title": "x"}}
        response = http.post("/rest/posts", headers=HEADERS, json=post_body(urn, content=content))
        assert response.status_code == 422
        assert words in response.json()["message"]
    assert sim.created == []


# ---- documents and articles --------------------------------------------------------------------


def upload_document(http: httpx.Client, data: bytes) -> str:
    init = http.post(
        "/rest/documents?action=initializeUpload",
        headers=HEADERS,
        json={"initializeUploadRequest": {"owner": AUTHOR}},
    )
    assert init.status_code == 200
    value = init.json()["value"]
    assert set(value) == {"uploadUrl", "uploadUrlExpiresAt", "document"}
    put = http.put(value["uploadUrl"], headers=UPLOAD_AUTH, content=data)
    assert put.status_code == 201
    return str(value["document"])


def document_status(http: httpx.Client, urn: str) -> str:
    return str(http.get(f"/rest/documents/{quote(urn, safe='')}", headers=HEADERS).json()["status"])


@pytest.mark.parametrize(
    ("data", "status"),
    [(b"%PDF-1.7\n a deck", "AVAILABLE"), (b"just some text", "PROCESSING_FAILED")],
)
def test_documents_are_checked_for_pdf_bytes(http: httpx.Client, data: bytes, status: str) -> None:
    """A document that starts with %PDF becomes AVAILABLE; other bytes end in PROCESSING_FAILED."""
    assert document_status(http, upload_document(http, data)) == status


def test_document_post_needs_a_title(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """A document post without a title is a 422; with one it is recorded with bytes and SHA-256."""
    data = b"%PDF-1.7\n" + b"d" * 5000
    urn = upload_document(http, data)
    untitled = http.post("/rest/posts", headers=HEADERS, json=post_body("a", content={"media": {"id": urn}}))
    assert untitled.status_code == 422
    assert "/content/media/title" in untitled.json()["message"]
    titled = {"media": {"id": urn, "title": "Deck"}}
    assert http.post("/rest/posts", headers=HEADERS, json=post_body("b", content=titled)).status_code == 201
    [post] = sim.created
    assert (post["kind"], post["title"], post["bytes"]) == ("document", "Deck", len(data))
    assert post["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("article", "problem"),
    [
        ({"title": "No source"}, "/content/article/source"),
        ({"source": "https://example.com/a"}, "/content/article/title"),
        ({"source": "ftp://example.com/a", "title": "t"}, "/content/article/source"),
        (
            {"source": "https://example.com/a", "title": "t", "thumbnail": "urn:li:image:nope"},
            "does not exist",
        ),
    ],
)
def test_article_needs_source_and_title(
    http: httpx.Client, sim: LinkedInSimulator, article: dict[str, Any], problem: str
) -> None:
    """An article without an http(s) source or a title, or with an unknown thumbnail, is a 422."""
    response = http.post("/rest/posts", headers=HEADERS, json=post_body("x", content={"article": article}))
    assert response.status_code == 422
    assert problem in response.json()["message"]
    assert sim.created == []


def test_article_with_thumbnail_is_recorded(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """An article with source, title and an AVAILABLE thumbnail image is created as kind article."""
    image = upload_image(http)
    article = {"source": "https://example.com/a", "title": "Read", "thumbnail": image}
    assert (
        http.post(
            "/rest/posts", headers=HEADERS, json=post_body("x", content={"article": article})
        ).status_code
        == 201
    )
    [post] = sim.created
    assert (post["kind"], post["source"], post["title"], post["thumbnail"], post["media"]) == (
        "article",
        "https://example.com/a",
        "Read",
        image,
        [image],
    )


# ---- a new token refused as revoked ----------------------------------------------------------------


def test_fresh_token_is_refused_as_revoked_for_n_requests(http: httpx.Client, sim: LinkedInSimulator) -> None:
    """With fresh_token_revoked_requests=2 a new token gets two 401 65601 replies, then works."""
    sim.fresh_token_revoked_requests = 2
    token = http.post(TOKEN_PATH, data=TOKEN_FORM).json()["access_token"]
    auth = headers(Authorization=f"Bearer {token}")
    replies = [http.post("/rest/posts", headers=auth, json=post_body(f"try {n}")) for n in range(3)]
    assert [r.status_code for r in replies] == [401, 401, 201]
    assert replies[0].json()["serviceErrorCode"] == 65601
    assert replies[0].json()["code"] == "REVOKED_ACCESS_TOKEN"
    assert len(sim.created) == 1


@pytest.mark.parametrize(
    ("method", "path", "step"),
    [
        ("POST", "/rest/videos?action=initializeUpload", "videos_init"),
        ("POST", "/rest/videos?action=finalizeUpload", "videos_finalize"),
        ("GET", "/rest/videos/urn%3Ali%3Avideo%3A1", "video_status"),
        ("POST", "/rest/documents?action=initializeUpload", "documents_init"),
        ("GET", "/rest/documents/urn%3Ali%3Adocument%3A1", "document_status"),
        ("PUT", "/dms-uploads/doc7", "document_upload"),
        ("PUT", "/dms-uploads/vid7-0", "video_upload"),
        ("PUT", "/dms-uploads/up7", "upload"),
    ],
)
def test_new_steps_can_be_faulted_by_name(http: httpx.Client, method: str, path: str, step: str) -> None:
    """Each new route answers a fault scripted on its own step name."""
    response = http.request(
        method, path, headers={**HEADERS, "X-Fake-Scenario": f"server_error:{step}"}, json={}
    )
    assert response.status_code == 500
