"""The LinkedIn simulator against the contract (§3, §5, §6.1), driven with plain httpx."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from devstack.server import serve
from devstack.simulators.linkedin import TOKEN_PATH, LinkedInSimulator, render_little_text

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
    """Each token prefix gets its §3.7 status and error body, and nothing is posted."""
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
    """The same author posting the same commentary again gets §3.7's DUPLICATE_POST naming the first urn."""
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
