"""The WordPress simulator against WordPress's REST API behaviour, driven with plain httpx."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.server import serve
from devstack.simulators.wordpress import SimSite, SimUser, WordPressSimulator

JPEG = b"\xff\xd8\xff\xe0" + b"jpeg body " * 100
PNG = b"\x89PNG\r\n\x1a\n" + b"png body"
ADA = ("ada", "abcd EFGH 1234 ijkl MNOP 5678")


def auth(login: str = ADA[0], password: str = ADA[1]) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


@pytest.fixture
def sim() -> WordPressSimulator:
    return WordPressSimulator()


@pytest.fixture
def http(sim: WordPressSimulator) -> Iterator[httpx.Client]:
    with serve(sim) as server, httpx.Client(base_url=server.url, timeout=5) as client:
        yield client


def api(site: str, route: str) -> str:
    return f"{site}/wp-json{route}"


def publish(
    http: httpx.Client, site: str = "/blog", who: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    payload = {"title": "Hello", "content": "<p>Hi</p>", "status": "publish", **body}
    return http.post(api(site, "/wp/v2/posts"), json=payload, headers=who or auth())


def upload(http: httpx.Client, data: bytes = JPEG, name: str = "photo.jpg", **headers: str) -> httpx.Response:
    sent = {
        **auth(),
        "Content-Type": "image/jpeg",
        "Content-Disposition": f'attachment; filename="{name}"',
        **headers,
    }
    return http.post(api("/blog", "/wp/v2/media"), content=data, headers={k: v for k, v in sent.items() if v})


def error(response: httpx.Response) -> tuple[int, str]:
    data = response.json()
    assert data["data"]["status"] == response.status_code
    return response.status_code, data["code"]


# ---- authentication and roles ------------------------------------------------------------------
def test_application_password_with_or_without_spaces(http: httpx.Client):
    """Spaces in an application password are only grouping: both forms sign in."""
    assert http.get(api("/blog", "/wp/v2/users/me"), headers=auth()).json()["slug"] == "ada"
    compact = ADA[1].replace(" ", "")
    assert http.get(api("/blog", "/wp/v2/users/me"), headers=auth("ada", compact)).status_code == 200


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (auth("ada", "wrong pass word"), (401, "incorrect_password")),
        (auth("nobody", ADA[1]), (401, "invalid_username")),
        (auth("nobody@example.com", ADA[1]), (401, "invalid_email")),
        ({}, (401, "rest_cannot_create")),
    ],
)
def test_bad_credentials_and_anonymous_posts(
    http: httpx.Client, who: dict[str, str], expected: tuple[int, str]
):
    """WordPress's 401 codes: wrong password, unknown user or email, and no header at all."""
    response = http.post(api("/blog", "/wp/v2/posts"), json={"title": "x", "status": "publish"}, headers=who)
    assert error(response) == expected


def test_anonymous_me_is_not_logged_in(http: httpx.Client):
    """users/me without credentials is 401 rest_not_logged_in."""
    assert error(http.get(api("/blog", "/wp/v2/users/me"))) == (401, "rest_not_logged_in")


def test_email_signs_in_like_the_login(http: httpx.Client):
    """WordPress accepts the user's email in place of the login name."""
    assert http.get(api("/blog", "/wp/v2/users/me"), headers=auth("ada@example.com")).status_code == 200


@pytest.mark.parametrize(
    ("login", "password", "action", "expected"),
    [
        ("connie", "cont ribu 1111 2222 3333 4444", "publish", (403, "rest_cannot_publish")),
        ("connie", "cont ribu 1111 2222 3333 4444", "upload", (403, "rest_cannot_create")),
        ("sam", "subs crib 1111 2222 3333 4444", "publish", (403, "rest_cannot_create")),
        ("arthur", "auth orAA 1111 2222 3333 4444", "tag", (403, "rest_cannot_create")),
    ],
)
def test_roles(http: httpx.Client, login: str, password: str, action: str, expected: tuple[int, str]):
    """Contributors may not publish or upload, subscribers not post, authors not create tags."""
    who = auth(login, password)
    if action == "publish":
        response = publish(http, who=who)
    elif action == "upload":
        response = http.post(
            api("/blog", "/wp/v2/media"),
            content=JPEG,
            headers={
                **who,
                "Content-Type": "image/jpeg",
                "Content-Disposition": 'attachment; filename="a.jpg"',
            },
        )
    else:
        response = http.post(api("/blog", "/wp/v2/tags"), json={"name": "new"}, headers=who)
    assert error(response) == expected


def test_contributor_may_write_a_draft(http: httpx.Client, sim: WordPressSimulator):
    """A draft needs no publish right, and a draft is not public."""
    response = publish(http, who=auth("connie", "cont ribu 1111 2222 3333 4444"), status="draft")
    assert response.status_code == 201
    assert sim.created == []


# ---- posts -------------------------------------------------------------------------------------
def test_status_defaults_to_draft(http: httpx.Client, sim: WordPressSimulator):
    """Without a status a post is a draft: nothing becomes public."""
    response = http.post(api("/blog", "/wp/v2/posts"), json={"title": "x"}, headers=auth())
    assert response.status_code == 201
    assert response.json()["status"] == "draft"
    assert sim.created == []


def test_published_post_with_tags_and_featured_media(http: httpx.Client, sim: WordPressSimulator):
    """A published post carries its integer tags and an existing featured image, and is counted."""
    media_id = upload(http).json()["id"]
    tag_id = http.post(api("/blog", "/wp/v2/tags"), json={"name": "Bakery"}, headers=auth()).json()["id"]
    response = publish(http, tags=[tag_id], featured_media=media_id)
    assert response.status_code == 201
    post = response.json()
    assert (post["status"], post["tags"], post["featured_media"]) == ("publish", [tag_id], media_id)
    assert post["link"].endswith(f"/blog/?p={post['id']}")
    assert [c["id"] for c in sim.created] == [post["id"]]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"tags": ["bakery"]}, (400, "rest_invalid_param")),
        ({"tags": [999]}, (400, "rest_invalid_param")),
        ({"featured_media": 999}, (400, "rest_invalid_featured_media")),
        ({"status": "live"}, (400, "rest_invalid_param")),
    ],
)
def test_post_refusals(
    http: httpx.Client, sim: WordPressSimulator, body: dict[str, Any], expected: tuple[int, str]
):
    """Tag names instead of ids, unknown ids, unknown media and bad statuses are refused."""
    assert error(publish(http, **body)) == expected
    assert sim.created == []


# ---- media -------------------------------------------------------------------------------------
def test_raw_upload_is_hashed(http: httpx.Client, sim: WordPressSimulator):
    """A raw body with Content-Disposition becomes a media item; its bytes are hashed."""
    response = upload(http)
    assert response.status_code == 201
    item = response.json()
    assert (item["media_type"], item["mime_type"]) == ("image", "image/jpeg")
    assert sim.sites["/blog"].media[item["id"]]["sha256"] == hashlib.sha256(JPEG).hexdigest()


def test_multipart_upload(http: httpx.Client):
    """A multipart `file` field is accepted as well."""
    response = http.post(
        api("/blog", "/wp/v2/media"), files={"file": ("cover.png", PNG, "image/png")}, headers=auth()
    )
    assert response.status_code == 201
    assert response.json()["mime_type"] == "image/png"


def test_chunked_upload(http: httpx.Client):
    """A body sent chunked (no Content-Length) is read whole."""
    response = http.post(
        api("/blog", "/wp/v2/media"),
        content=iter([JPEG[:100], JPEG[100:]]),
        headers={
            **auth(),
            "Content-Type": "image/jpeg",
            "Content-Disposition": 'attachment; filename="c.jpg"',
        },
    )
    assert response.status_code == 201
    assert response.json()["media_details"]["filesize"] == len(JPEG)


@pytest.mark.parametrize(
    ("data", "headers", "expected"),
    [
        (JPEG, {"Content-Disposition": ""}, (400, "rest_upload_no_content_disposition")),
        (JPEG, {"Content-Disposition": "attachment"}, (400, "rest_upload_invalid_disposition")),
        (b"", {}, (400, "rest_upload_no_data")),
        (b"MZ not an image", {}, (500, "rest_upload_sideload_error")),
        (PNG, {}, (500, "rest_upload_sideload_error")),  # PNG bytes named .jpg
    ],
)
def test_upload_refusals(http: httpx.Client, data: bytes, headers: dict[str, str], expected: tuple[int, str]):
    """Missing disposition or body, and bytes that are not the image they claim, are refused."""
    assert error(upload(http, data, **headers)) == expected


def test_media_by_id(http: httpx.Client):
    """An uploaded item can be read back; an unknown id is 404."""
    media_id = upload(http).json()["id"]
    assert http.get(api("/blog", f"/wp/v2/media/{media_id}"), headers=auth()).status_code == 200
    assert error(http.get(api("/blog", "/wp/v2/media/999"), headers=auth())) == (404, "rest_post_invalid_id")


# ---- tags --------------------------------------------------------------------------------------
def test_tag_search_is_partial_and_term_exists_names_the_tag(http: httpx.Client):
    """Search matches parts of names in any case; creating an existing name is term_exists with its id."""
    first = http.post(api("/blog", "/wp/v2/tags"), json={"name": "Bakery"}, headers=auth()).json()
    http.post(api("/blog", "/wp/v2/tags"), json={"name": "Bakery news"}, headers=auth())
    found = http.get(api("/blog", "/wp/v2/tags"), params={"search": "BAKE", "per_page": 100}).json()
    assert sorted(t["name"] for t in found) == ["Bakery", "Bakery news"]
    assert [t["id"] for t in http.get(api("/blog", "/wp/v2/tags"), params={"slug": "bakery"}).json()] == [
        first["id"]
    ]
    again = http.post(api("/blog", "/wp/v2/tags"), json={"name": "bakery"}, headers=auth())
    assert error(again) == (400, "term_exists")
    assert again.json()["data"]["term_id"] == first["id"]


# ---- lists (reconciliation) --------------------------------------------------------------------
def test_search_after_and_edit_context(http: httpx.Client):
    """Posts are found by words and by date; the edit context shows raw titles to signed-in users only."""
    before = (datetime.now(UTC) - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    publish(http, title="Fresh bread today")
    publish(http, title="Something else")
    query = {
        "search": "BREAD fresh",
        "after": before,
        "status": "publish",
        "context": "edit",
        "per_page": 100,
    }
    found = http.get(api("/blog", "/wp/v2/posts"), params=query, headers=auth()).json()
    assert [p["title"]["raw"] for p in found] == ["Fresh bread today"]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (
        http.get(api("/blog", "/wp/v2/posts"), params={**query, "after": later}, headers=auth()).json() == []
    )
    excluded = http.get(
        api("/blog", "/wp/v2/posts"), params={**query, "search": "fresh -bread"}, headers=auth()
    )
    assert excluded.json() == []
    anonymous = http.get(api("/blog", "/wp/v2/posts"), params=query)
    assert error(anonymous) == (401, "rest_forbidden_context")


@pytest.mark.parametrize(("param", "value"), [("after", "yesterday"), ("per_page", "101")])
def test_list_parameters_are_validated(http: httpx.Client, param: str, value: str):
    """A malformed date or a page over 100 is rest_invalid_param."""
    response = http.get(api("/blog", "/wp/v2/posts"), params={param: value}, headers=auth())
    assert error(response) == (400, "rest_invalid_param")


def test_unknown_route(http: httpx.Client):
    """A route WordPress does not have is 404 rest_no_route."""
    assert error(http.get(api("/blog", "/wp/v2/nothing"))) == (404, "rest_no_route")


# ---- site variants -----------------------------------------------------------------------------
def test_site_without_pretty_permalinks(http: httpx.Client, sim: WordPressSimulator):
    """/wp-json/ is the theme's HTML 404; ?rest_route= reaches the API."""
    pretty = http.post(
        api("/plain", "/wp/v2/posts"), json={"title": "x", "status": "publish"}, headers=auth()
    )
    assert pretty.status_code == 404
    assert pretty.headers["content-type"].startswith("text/html")
    plain = http.post(
        "/plain/",
        params={"rest_route": "/wp/v2/posts"},
        json={"title": "x", "status": "publish"},
        headers=auth(),
    )
    assert plain.status_code == 201
    assert sim.created[0]["site"] == "/plain"


def test_site_behind_a_security_plugin_answers_html(http: httpx.Client):
    """Every request to the locked site gets an HTML block page."""
    response = http.get(api("/locked", "/wp/v2/users/me"), headers=auth())
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")


def test_site_that_strips_the_authorization_header(http: httpx.Client):
    """Valid credentials arrive as anonymous: creating a post is 401 rest_cannot_create."""
    assert error(publish(http, site="/stripped")) == (401, "rest_cannot_create")


def test_sites_are_separate(http: httpx.Client, sim: WordPressSimulator):
    """Each site has its own users and posts."""
    assert error(publish(http, site="/other")) == (401, "incorrect_password")
    assert publish(http, site="/other", who=auth("ada", "othe rSIT Epas swor d123 4567")).status_code == 201
    assert http.get(api("/blog", "/wp/v2/posts")).json() == []


def test_custom_sites():
    """A test can serve its own sites and users."""
    sim = WordPressSimulator([SimSite("/mine", [SimUser("me", "pass word", "author")])])
    assert sim.site_of("/mine/wp-json/wp/v2/posts") is not None
    assert sim.site_of("/blog/wp-json/") is None


# ---- faults ------------------------------------------------------------------------------------
def test_faults(http: httpx.Client, sim: WordPressSimulator):
    """Faults answer with WordPress-shaped errors; error_after_apply creates the post first."""
    sim.inject("server_error", step="posts")
    assert error(publish(http)) == (500, "internal_server_error")
    sim.inject("rate_limit", step="posts")
    limited = publish(http)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "120")
    sim.inject("error_after_apply", step="posts")
    assert publish(http).status_code == 500
    assert len(sim.created) == 1


def test_site_printing_php_notices(http: httpx.Client):
    """A site with debug display on prints an HTML notice before its JSON."""
    response = http.get(api("/noisy", "/wp/v2/users/me"), headers=auth())
    assert response.text.startswith("<br />")
    assert response.text.endswith('"slug": "ada"}')


def test_site_answering_a_login_page(http: httpx.Client):
    """The login-page site answers 200 with HTML, even to the API."""
    response = http.post(api("/login", "/wp/v2/posts"), json={"title": "x"}, headers=auth())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
