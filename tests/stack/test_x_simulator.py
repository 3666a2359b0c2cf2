"""The X simulator against X's contract (docs/platforms/x.md), driven with plain httpx."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.server import serve
from devstack.simulators.x import DUPLICATE, TOKEN_PATH, XSimulator

AUTH = {"Authorization": "Bearer x-test-token"}
PNG = b"\x89PNG\r\n\x1a\n" + b"p" * 1000


@pytest.fixture
def sim() -> XSimulator:
    return XSimulator(processing_polls=2)


@pytest.fixture
def http(sim: XSimulator) -> Iterator[httpx.Client]:
    with serve(sim) as server, httpx.Client(base_url=server.url, timeout=5) as client:
        yield client


def upload_image(http: httpx.Client, data: bytes = PNG) -> str:
    reply = http.post(
        "/2/media/upload",
        headers=AUTH,
        files={"media": ("a.png", data, "image/png")},
        data={"media_category": "tweet_image", "media_type": "image/png"},
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["data"]["id"])


def upload_video(http: httpx.Client, segments: list[bytes], *, total: int | None = None) -> tuple[str, Any]:
    init = http.post(
        "/2/media/upload/initialize",
        headers=AUTH,
        json={
            "media_type": "video/mp4",
            "total_bytes": total if total is not None else sum(map(len, segments)),
            "media_category": "tweet_video",
        },
    )
    assert init.status_code == 200, init.text
    media_id = str(init.json()["data"]["id"])
    for index, segment in enumerate(segments):
        reply = http.post(
            f"/2/media/upload/{media_id}/append",
            headers=AUTH,
            files={"media": ("blob", segment, "application/octet-stream")},
            data={"segment_index": str(index)},
        )
        assert reply.status_code == 200, reply.text
    return media_id, http.post(f"/2/media/upload/{media_id}/finalize", headers=AUTH)


def status(http: httpx.Client, media_id: str) -> httpx.Response:
    return http.get("/2/media/upload", headers=AUTH, params={"command": "STATUS", "media_id": media_id})


def ready_video(http: httpx.Client) -> str:
    media_id, _ = upload_video(http, [b"v" * 1000])
    while status(http, media_id).json()["data"]["processing_info"]["state"] != "succeeded":
        pass
    return media_id


# ---- posts ---------------------------------------------------------------------------------


def test_create_post_answers_201_with_id_text_and_edit_history(http: httpx.Client, sim: XSimulator) -> None:
    """POST /2/tweets → 201 {"data":{"id","text","edit_history_tweet_ids":[id]}}."""
    reply = http.post("/2/tweets", headers=AUTH, json={"text": "Hello from the oven"})
    assert reply.status_code == 201
    data = reply.json()["data"]
    assert data == {"id": data["id"], "text": "Hello from the oven", "edit_history_tweet_ids": [data["id"]]}
    assert sim.created == [
        {"platform": "twitter", "id": data["id"], "text": "Hello from the oven", "media": []}
    ]


def test_shown_text_is_rewritten_as_x_shows_it(http: httpx.Client) -> None:
    """URLs become t.co links, & < > are HTML-escaped, a media post gets a trailing media link."""
    media_id = upload_image(http)
    reply = http.post(
        "/2/tweets",
        headers=AUTH,
        json={"text": "Bread & jam <3 https://example.com/menu", "media": {"media_ids": [media_id]}},
    )
    shown = reply.json()["data"]["text"]
    assert shown.startswith("Bread &amp; jam &lt;3 https://t.co/")
    assert shown.count("https://t.co/") == 2
    assert "example.com" not in shown


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer expired-abc"}, 401), ({"Authorization": "Basic abc"}, 401)],
)
def test_calls_without_a_valid_bearer_token_are_401(
    http: httpx.Client, headers: dict[str, str], status: int
) -> None:
    """No token, an expired token or another scheme → 401 problem."""
    reply = http.post("/2/tweets", headers=headers, json={"text": "x"})
    assert reply.status_code == status
    assert reply.json() == {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }


def test_duplicate_text_is_403_with_x_wording(http: httpx.Client, sim: XSimulator) -> None:
    """The same text twice → 403 "You are not allowed to create a Tweet with duplicate content."."""
    assert http.post("/2/tweets", headers=AUTH, json={"text": "Same words"}).status_code == 201
    reply = http.post("/2/tweets", headers=AUTH, json={"text": "Same words"})
    assert reply.status_code == 403
    assert reply.json() == {"detail": DUPLICATE, "type": "about:blank", "title": "Forbidden", "status": 403}
    assert len(sim.created) == 1


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("a" * 280, 201),
        ("a" * 281, 400),
        ("日" * 140, 201),
        ("日" * 141, 400),
        ("x " + "https://e.com/" + "p" * 400, 201),
    ],
)
def test_text_length_is_weighted(http: httpx.Client, text: str, status: int) -> None:
    """The 280 limit is X's weighted length: CJK counts 2, a URL 23."""
    reply = http.post("/2/tweets", headers=AUTH, json={"text": text})
    assert reply.status_code == status
    if status == 400:
        assert "Your Tweet text is too long" in reply.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"text": ""},
        {"text": 5},
        {"text": "x", "media": {"media_ids": []}},
        {"text": "x", "media": {"media_ids": ["1", "2", "3", "4", "5"]}},
        {"text": "x", "media": {"media_ids": ["999"]}},
    ],
)
def test_invalid_posts_are_400_invalid_request(
    http: httpx.Client, body: dict[str, Any], sim: XSimulator
) -> None:
    """Bodies X refuses get 400 with the invalid-request problem type; nothing is created."""
    reply = http.post("/2/tweets", headers=AUTH, json=body)
    assert reply.status_code == 400
    assert reply.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert sim.created == []


def test_media_is_used_by_one_post_only(http: httpx.Client) -> None:
    """A media id attached to a post cannot be attached to another one."""
    media_id = upload_image(http)
    first = http.post("/2/tweets", headers=AUTH, json={"text": "one", "media": {"media_ids": [media_id]}})
    second = http.post("/2/tweets", headers=AUTH, json={"text": "two", "media": {"media_ids": [media_id]}})
    assert (first.status_code, second.status_code) == (201, 400)


def test_video_must_have_succeeded_and_stand_alone(http: httpx.Client) -> None:
    """A video still processing is refused; a succeeded one is accepted alone, not with images."""
    media_id, finalize = upload_video(http, [b"v" * 1000])
    assert finalize.json()["data"]["processing_info"]["state"] == "pending"
    early = http.post("/2/tweets", headers=AUTH, json={"text": "early", "media": {"media_ids": [media_id]}})
    assert early.status_code == 400
    video = ready_video(http)
    mixed = http.post(
        "/2/tweets", headers=AUTH, json={"text": "mix", "media": {"media_ids": [video, upload_image(http)]}}
    )
    assert mixed.status_code == 400
    alone = http.post("/2/tweets", headers=AUTH, json={"text": "alone", "media": {"media_ids": [video]}})
    assert alone.status_code == 201


def test_expired_media_is_refused(http: httpx.Client, sim: XSimulator) -> None:
    """A media id past its expiry cannot be attached, and STATUS no longer knows it."""
    media_id = upload_image(http)
    sim.expire_media(media_id)
    reply = http.post("/2/tweets", headers=AUTH, json={"text": "late", "media": {"media_ids": [media_id]}})
    assert reply.status_code == 400
    assert status(http, media_id).status_code == 404


# ---- account and timeline ------------------------------------------------------------------


def test_users_me_names_the_account(http: httpx.Client, sim: XSimulator) -> None:
    """GET /2/users/me → {"data":{"id","name","username"}}."""
    data = http.get("/2/users/me", headers=AUTH).json()["data"]
    assert (data["id"], data["username"]) == (sim.user_id, sim.username)


def test_timeline_filters_by_start_time_newest_first(http: httpx.Client, sim: XSimulator) -> None:
    """start_time (second granularity, inclusive) keeps only newer posts, newest first."""
    sim.add_tweet("old", created_at=time.time() - 3600)
    http.post("/2/tweets", headers=AUTH, json={"text": "first"})
    http.post("/2/tweets", headers=AUTH, json={"text": "second"})
    since = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reply = http.get(
        f"/2/users/{sim.user_id}/tweets",
        headers=AUTH,
        params={"start_time": since, "max_results": "5", "tweet.fields": "created_at"},
    )
    body = reply.json()
    assert [t["text"] for t in body["data"]] == ["second", "first"]
    assert all(t["created_at"].endswith("Z") for t in body["data"])
    assert body["meta"]["result_count"] == 2
    assert "next_token" not in body["meta"]


def test_timeline_pages_and_empty_answer(http: httpx.Client, sim: XSimulator) -> None:
    """max_results pages with next_token; no posts → meta.result_count 0 and no data."""
    empty = http.get(f"/2/users/{sim.user_id}/tweets", headers=AUTH).json()
    assert empty == {"meta": {"result_count": 0}}
    for n in range(7):
        sim.add_tweet(f"post {n}")
    first = http.get(f"/2/users/{sim.user_id}/tweets", headers=AUTH, params={"max_results": "5"}).json()
    rest = http.get(
        f"/2/users/{sim.user_id}/tweets",
        headers=AUTH,
        params={"max_results": "5", "pagination_token": first["meta"]["next_token"]},
    ).json()
    assert len(first["data"]) + len(rest["data"]) == 7


@pytest.mark.parametrize("params", [{"start_time": "2026-11-30 10:00"}, {"max_results": "2"}])
def test_timeline_refuses_bad_parameters(http: httpx.Client, sim: XSimulator, params: dict[str, str]) -> None:
    """A start_time not in YYYY-MM-DDTHH:mm:ssZ, or max_results outside 5–100 → 400."""
    assert http.get(f"/2/users/{sim.user_id}/tweets", headers=AUTH, params=params).status_code == 400


# ---- media ---------------------------------------------------------------------------------


def test_image_upload_answers_id_key_size_and_expiry(http: httpx.Client, sim: XSimulator) -> None:
    """POST /2/media/upload (multipart) → {"data":{"id","media_key","size","expires_after_secs"}}."""
    reply = http.post(
        "/2/media/upload",
        headers=AUTH,
        files={"media": ("a.png", PNG, "image/png")},
        data={"media_category": "tweet_image"},
    )
    data = reply.json()["data"]
    assert data["media_key"] == f"3_{data['id']}"
    assert data["size"] == len(PNG)
    assert 0 < data["expires_after_secs"] <= 86400
    assert "processing_info" not in data


@pytest.mark.parametrize(
    ("files", "form"),
    [
        ({}, {"media_category": "tweet_image"}),
        ({"media": ("a.png", PNG, "image/png")}, {"media_category": "tweet_video"}),
        ({"media": ("a.png", b"x" * (5 * 1024 * 1024 + 1), "image/png")}, {"media_category": "tweet_image"}),
    ],
)
def test_bad_image_uploads_are_400(http: httpx.Client, files: dict[str, Any], form: dict[str, str]) -> None:
    """No media, a video category for a one-shot image, or more than 5 MB → 400."""
    reply = http.post("/2/media/upload", headers=AUTH, files=files or {"other": ("x", b"x")}, data=form)
    assert reply.status_code == 400


def test_status_advances_one_state_per_poll(http: httpx.Client) -> None:
    """After finalize: pending, then in_progress for each poll left, then succeeded."""
    media_id, finalize = upload_video(http, [b"a" * 1000, b"b" * 500])
    states = [finalize.json()["data"]["processing_info"]["state"]]
    states += [status(http, media_id).json()["data"]["processing_info"]["state"] for _ in range(3)]
    assert states == ["pending", "in_progress", "in_progress", "succeeded"]
    info = finalize.json()["data"]["processing_info"]
    assert info["check_after_secs"] == 1


def test_failed_processing_says_why(http: httpx.Client, sim: XSimulator) -> None:
    """A video that fails processing reports state failed with an error."""
    sim.processing_outcome = "failed"
    sim.processing_polls = 0
    media_id, _ = upload_video(http, [b"v" * 100])
    info = status(http, media_id).json()["data"]["processing_info"]
    assert info["state"] == "failed"
    assert info["error"]["message"]


def test_finalize_checks_the_size_and_the_segments(http: httpx.Client) -> None:
    """Fewer bytes than total_bytes, or a missing segment index, is refused at finalize."""
    _, short = upload_video(http, [b"v" * 100], total=200)
    assert short.status_code == 400
    assert "File size mismatch" in short.json()["errors"][0]["message"]
    init = http.post(
        "/2/media/upload/initialize",
        headers=AUTH,
        json={"media_type": "video/mp4", "total_bytes": 200, "media_category": "tweet_video"},
    )
    media_id = init.json()["data"]["id"]
    http.post(
        f"/2/media/upload/{media_id}/append",
        headers=AUTH,
        files={"media": ("blob", b"v" * 200)},
        data={"segment_index": "1"},
    )
    gap = http.post(f"/2/media/upload/{media_id}/finalize", headers=AUTH)
    assert gap.status_code == 400


@pytest.mark.parametrize(("index", "size"), [("1000", 10), ("-1", 10), ("0", 5 * 1024 * 1024 + 1)])
def test_append_checks_index_and_segment_size(http: httpx.Client, index: str, size: int) -> None:
    """segment_index outside 0–999 or a segment over 5 MB → 400."""
    init = http.post(
        "/2/media/upload/initialize",
        headers=AUTH,
        json={"media_type": "video/mp4", "total_bytes": 10 * 1024 * 1024, "media_category": "tweet_video"},
    )
    media_id = init.json()["data"]["id"]
    reply = http.post(
        f"/2/media/upload/{media_id}/append",
        headers=AUTH,
        files={"media": ("blob", b"v" * size)},
        data={"segment_index": index},
    )
    assert reply.status_code == 400


def test_initialize_refuses_oversized_video(http: httpx.Client) -> None:
    """total_bytes over 512 MB for a video → 400."""
    reply = http.post(
        "/2/media/upload/initialize",
        headers=AUTH,
        json={
            "media_type": "video/mp4",
            "total_bytes": 512 * 1024 * 1024 + 1,
            "media_category": "tweet_video",
        },
    )
    assert reply.status_code == 400


def test_older_command_spelling_works_too(http: httpx.Client) -> None:
    """INIT / APPEND / FINALIZE as `command` fields of POST /2/media/upload reach the same steps."""
    init = http.post(
        "/2/media/upload",
        headers=AUTH,
        data={
            "command": "INIT",
            "media_type": "video/mp4",
            "total_bytes": "300",
            "media_category": "tweet_video",
        },
    )
    media_id = init.json()["data"]["id"]
    append = http.post(
        "/2/media/upload",
        headers=AUTH,
        data={"command": "APPEND", "media_id": media_id, "segment_index": "0"},
        files={"media": ("blob", b"v" * 300)},
    )
    finalize = http.post("/2/media/upload", headers=AUTH, data={"command": "FINALIZE", "media_id": media_id})
    assert (init.status_code, append.status_code, finalize.status_code) == (200, 200, 200)
    assert finalize.json()["data"]["processing_info"]["state"] == "pending"


# ---- OAuth ---------------------------------------------------------------------------------


def refresh(http: httpx.Client, token: str, client_id: str = "sim-x-client", **extra: Any) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token}
    if client_id:
        form["client_id"] = client_id
    return http.post(TOKEN_PATH, data=form, **extra)


def test_refresh_rotates_the_refresh_token(http: httpx.Client, sim: XSimulator) -> None:
    """A refresh answers a new access token and a new refresh token (expires_in 7200)."""
    reply = refresh(http, "rt-original")
    body = reply.json()
    assert reply.status_code == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 7200
    assert body["refresh_token"] not in ("rt-original", "")
    assert "offline.access" in body["scope"]
    assert sim.refreshes == [("rt-original", body["refresh_token"])]


def test_spent_refresh_token_is_400_and_recorded_as_reuse(http: httpx.Client, sim: XSimulator) -> None:
    """Presenting a rotated-away refresh token → 400 invalid_request, recorded in reused_refresh_tokens."""
    new = refresh(http, "rt-original").json()["refresh_token"]
    reused = refresh(http, "rt-original")
    assert reused.status_code == 400
    assert reused.json() == {
        "error": "invalid_request",
        "error_description": "Value passed for the token was invalid.",
    }
    assert sim.reused_refresh_tokens == ["rt-original"]
    assert refresh(http, new).status_code == 200


def test_refresh_without_client_authentication_is_401(http: httpx.Client) -> None:
    """No client_id (public) and no Basic header → 401 unauthorized_client."""
    reply = refresh(http, "rt", client_id="")
    assert reply.status_code == 401
    assert reply.json() == {
        "error": "unauthorized_client",
        "error_description": "Missing valid authorization header",
    }


def test_confidential_client_needs_basic_with_the_right_secret() -> None:
    """With a client secret configured, only Basic client_id:client_secret is accepted."""
    sim = XSimulator(client_id="app", client_secret="s3cret")
    with serve(sim) as server, httpx.Client(base_url=server.url, timeout=5) as http:

        def basic(secret: str) -> dict[str, str]:
            return {"Authorization": "Basic " + base64.b64encode(f"app:{secret}".encode()).decode()}

        assert refresh(http, "rt", client_id="app").status_code == 401
        assert refresh(http, "rt", client_id="", headers=basic("wrong")).status_code == 401
        assert refresh(http, "rt", client_id="", headers=basic("s3cret")).status_code == 200


# ---- faults --------------------------------------------------------------------------------


def test_rate_limit_fault_carries_the_reset_headers(http: httpx.Client, sim: XSimulator) -> None:
    """429 problem with x-rate-limit-limit/-remaining/-reset (epoch seconds in the future)."""
    sim.inject("rate_limit", step="tweets")
    reply = http.post("/2/tweets", headers=AUTH, json={"text": "x"})
    assert reply.status_code == 429
    assert reply.json()["title"] == "Too Many Requests"
    assert reply.headers["x-rate-limit-remaining"] == "0"
    assert int(reply.headers["x-rate-limit-reset"]) > time.time()


@pytest.mark.parametrize(
    ("token", "status", "kind"),
    [
        ("ratelimited-1", 429, "about:blank"),
        ("capped-1", 429, "https://api.twitter.com/2/problems/usage-capped"),
        ("nocredits-1", 402, "about:blank"),
    ],
)
def test_token_prefixes_script_account_states(http: httpx.Client, token: str, status: int, kind: str) -> None:
    """ratelimited-… → 429, capped-… → 429 usage-capped, nocredits-… → 402."""
    reply = http.post("/2/tweets", headers={"Authorization": f"Bearer {token}"}, json={"text": "x"})
    assert (reply.status_code, reply.json()["type"]) == (status, kind)


@pytest.mark.parametrize(
    ("fault", "status"), [("permanent", 400), ("auth", 401), ("rate_limit", 429), ("server_error", 503)]
)
def test_shared_faults_on_each_step(http: httpx.Client, sim: XSimulator, fault: str, status: int) -> None:
    """The shared fault vocabulary gives X's reply for its class, and applies nothing."""
    sim.inject(fault, step="tweets")
    assert http.post("/2/tweets", headers=AUTH, json={"text": "x"}).status_code == status
    sim.inject(fault, step="token")
    token_status = {"permanent": 400, "auth": 400, "rate_limit": 429, "server_error": 503}[fault]
    assert refresh(http, "rt").status_code == token_status
    assert sim.created == []
    assert sim.refreshes == []


def test_error_after_apply_creates_the_post_then_fails(http: httpx.Client, sim: XSimulator) -> None:
    """error_after_apply: the post exists although the reply is a 503."""
    sim.inject("error_after_apply", step="tweets")
    assert http.post("/2/tweets", headers=AUTH, json={"text": "ghost"}).status_code == 503
    assert len(sim.created) == 1


def test_hidden_posts_stay_out_of_the_timeline_but_still_count_as_duplicates(
    http: httpx.Client, sim: XSimulator
) -> None:
    """hide_from_timeline models a lagging timeline: the post exists for the duplicate check."""
    sim.hide_from_timeline = True
    http.post("/2/tweets", headers=AUTH, json={"text": "lagging"})
    assert http.get(f"/2/users/{sim.user_id}/tweets", headers=AUTH).json()["meta"]["result_count"] == 0
    assert http.post("/2/tweets", headers=AUTH, json={"text": "lagging"}).status_code == 403
