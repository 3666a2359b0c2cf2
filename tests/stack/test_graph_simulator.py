"""The Graph simulators (graph.facebook.com and graph.instagram.com) checked with plain httpx against
the platform behaviour described in docs/platforms/facebook.md and docs/platforms/instagram.md."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from devstack.server import serve
from devstack.simulators.graph import SERVER_ERROR_MESSAGE, GraphSimulator
from devstack.simulators.media import MediaHost

PAGE = "104958162837461"
IG = "17841400000000001"
TOKEN = "page-token"
TLS = ssl.create_default_context()  # one for the module: building one costs ~50 ms


class FakeClock:
    """A clock the test moves by hand (container expiry, quota window)."""

    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Graph:
    """A served simulator, an httpx client for it and a media host."""

    sim: GraphSimulator
    http: httpx.Client
    media: str
    clock: FakeClock

    def post(self, path: str, token: str | None = TOKEN, **data: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.post(path, data={k: str(v) for k, v in data.items()}, headers=headers)

    def get(self, path: str, token: str | None = TOKEN, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.get(path, params=params, headers=headers)

    def image(self, name: str = "photo.jpg") -> str:
        return f"{self.media}/media/{name}"


@pytest.fixture
def graph() -> Iterator[Graph]:
    clock = FakeClock()
    sim = GraphSimulator(video_polls=2, clock=clock)
    with (
        serve(sim) as server,
        serve(MediaHost()) as media,
        httpx.Client(base_url=f"{server.url}/v27.0", timeout=5, verify=TLS) as http,
    ):
        yield Graph(sim, http, media.url, clock)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `error` object, after checking it has the Graph error shape."""
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code", "fbtrace_id"}
    assert isinstance(error["code"], int)
    assert error["type"] in ("OAuthException", "GraphMethodException")
    assert error["fbtrace_id"]
    return error


# ---- tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["form", "query", "bearer"])
def test_token_is_accepted_in_form_query_or_header(graph: Graph, where: str) -> None:
    """The token may come as access_token (form or query) or as Authorization: Bearer."""
    if where == "form":
        reply = graph.http.post(f"/{PAGE}/feed", data={"message": "hi", "access_token": "t0ken"})
    elif where == "query":
        reply = graph.http.post(f"/{PAGE}/feed", params={"access_token": "t0ken"}, data={"message": "hi"})
    else:
        reply = graph.post(f"/{PAGE}/feed", message="hi")
    assert reply.status_code == 200, reply.text


def test_missing_token_is_code_104(graph: Graph) -> None:
    """A call without any token gets code 104 and publishes nothing."""
    reply = graph.post(f"/{PAGE}/feed", token=None, message="hi")
    assert reply.status_code == 400
    assert error_of(reply)["code"] == 104
    assert graph.sim.created == []


@pytest.mark.parametrize(
    ("token", "status", "code", "subcode"),
    [("expired-abc", 400, 190, 463), ("revoked-abc", 400, 190, 460), ("ratelimited-abc", 403, 4, None)],
)
def test_token_conventions(graph: Graph, token: str, status: int, code: int, subcode: int | None) -> None:
    """expired-/revoked-/ratelimited- tokens get 190/463, 190/460 and code 4; nothing is applied."""
    reply = graph.post(f"/{PAGE}/feed", token=token, message="hi")
    assert reply.status_code == status
    error = error_of(reply)
    assert (error["code"], error.get("error_subcode")) == (code, subcode)
    assert graph.sim.created == []
    assert graph.sim.posts == {}


def test_rate_limited_token_says_when_access_returns(graph: Graph) -> None:
    """Code 4 is transient and comes with a BUC header naming the wait in minutes."""
    reply = graph.post(f"/{PAGE}/feed", token="ratelimited-abc", message="hi")
    error = error_of(reply)
    assert error["is_transient"] is True
    assert error["message"] == "(#4) Application request limit reached"
    usage = json.loads(reply.headers["X-Business-Use-Case-Usage"])
    (entry,) = usage[PAGE]
    assert entry["type"] == "pages"
    assert entry["estimated_time_to_regain_access"] == graph.sim.regain_minutes


def test_every_reply_reports_app_usage(graph: Graph) -> None:
    """X-App-Usage is a JSON object of percentages on every reply."""
    usage = json.loads(graph.post(f"/{PAGE}/feed", message="hi").headers["X-App-Usage"])
    assert set(usage) == {"call_count", "total_cputime", "total_time"}


def test_tokens_are_never_in_created(graph: Graph) -> None:
    """created holds what became public, never the token that published it."""
    graph.post(f"/{PAGE}/feed", token="EAAsecret-token-value", message="hi")
    assert "EAAsecret-token-value" not in json.dumps(graph.sim.created)


# ---- Facebook posts --------------------------------------------------------------------------


def test_feed_post_id_is_page_underscore_post(graph: Graph) -> None:
    """POST /feed answers {"id": "{page}_{post}"} and the post becomes public once."""
    reply = graph.post(f"/{PAGE}/feed", message="Hello")
    post_id = reply.json()["id"]
    page, _, number = post_id.partition("_")
    assert (page, number.isdigit()) == (PAGE, True)
    assert list(reply.json()) == ["id"]
    assert graph.sim.created == [{"platform": "facebook", "id": post_id, "text": "Hello", "media": []}]


def test_feed_accepts_json_bodies_and_any_version(graph: Graph) -> None:
    """Bodies may be JSON; paths may carry any /vNN.N version."""
    url = str(graph.http.base_url).replace("/v27.0", "/v25.0")
    reply = httpx.post(
        f"{url}/{PAGE}/feed", json={"message": "json"}, headers={"Authorization": "Bearer t0ken"}
    )
    assert reply.status_code == 200
    assert graph.sim.created[0]["text"] == "json"


def test_feed_needs_content(graph: Graph) -> None:
    """A /feed call with neither message, link nor media is code 100."""
    reply = graph.post(f"/{PAGE}/feed")
    assert (reply.status_code, error_of(reply)["code"]) == (400, 100)


def test_duplicate_status_is_506(graph: Graph) -> None:
    """Posting the Page's last text again is refused with (#506) Duplicate status message."""
    graph.post(f"/{PAGE}/feed", message="Same")
    reply = graph.post(f"/{PAGE}/feed", message="Same")
    error = error_of(reply)
    assert (reply.status_code, error["code"], error["message"]) == (
        400,
        506,
        "(#506) Duplicate status message",
    )
    assert len(graph.sim.created) == 1


def test_published_photo_returns_id_and_post_id(graph: Graph) -> None:
    """POST /photos (published by default) answers {"id", "post_id"} and publishes a post."""
    reply = graph.post(f"/{PAGE}/photos", url=graph.image(), caption="Look")
    body = reply.json()
    assert set(body) == {"id", "post_id"}
    assert body["id"].isdigit()
    assert body["post_id"].startswith(f"{PAGE}_")
    assert graph.sim.created == [
        {"platform": "facebook", "id": body["post_id"], "text": "Look", "media": [graph.image()]}
    ]


def test_unpublished_photo_returns_only_id(graph: Graph) -> None:
    """POST /photos published=false answers {"id"} only and publishes nothing."""
    reply = graph.post(f"/{PAGE}/photos", url=graph.image(), published="false")
    assert list(reply.json()) == ["id"]
    assert graph.sim.created == []


def test_photo_media_is_downloaded(graph: Graph) -> None:
    """A photo URL that cannot be downloaded is refused (code 324); a missing url too."""
    missing = graph.post(f"/{PAGE}/photos", url=f"{graph.media}/missing/x.jpg")
    assert error_of(missing)["code"] == 324
    assert error_of(graph.post(f"/{PAGE}/photos"))["code"] == 324
    assert graph.sim.created == []


def test_multi_photo_post(graph: Graph) -> None:
    """Unpublished photos attached with attached_media[i] make one post with every image."""
    ids = [
        graph.post(f"/{PAGE}/photos", url=graph.image(f"{n}.jpg"), published="false").json()["id"]
        for n in "ab"
    ]
    data = {f"attached_media[{i}]": json.dumps({"media_fbid": pid}) for i, pid in enumerate(ids)}
    reply = graph.post(f"/{PAGE}/feed", message="Two", **data)
    assert reply.status_code == 200
    assert graph.sim.created == [
        {
            "platform": "facebook",
            "id": reply.json()["id"],
            "text": "Two",
            "media": [graph.image("a.jpg"), graph.image("b.jpg")],
        }
    ]


def test_multi_photo_in_a_json_body(graph: Graph) -> None:
    """A JSON body may carry attached_media as a list of objects; malformed entries are code 100."""
    photo = graph.post(f"/{PAGE}/photos", url=graph.image(), published="false").json()["id"]
    headers = {"Authorization": "Bearer t0ken"}
    bad = graph.http.post(f"/{PAGE}/feed", json={"message": "x", "attached_media": "{nope"}, headers=headers)
    assert error_of(bad)["code"] == 100
    body = {"message": "json", "attached_media": [{"media_fbid": photo}]}
    assert graph.http.post(f"/{PAGE}/feed", json=body, headers=headers).status_code == 200
    assert graph.sim.created[0]["media"] == [graph.image()]


def test_multi_photo_rejects_unknown_used_or_published_photos(graph: Graph) -> None:
    """A media_fbid never issued, already used, or of a published photo is code 100."""
    unknown = graph.post(f"/{PAGE}/feed", message="x", **{"attached_media[0]": '{"media_fbid":"999"}'})
    assert error_of(unknown)["code"] == 100
    photo = graph.post(f"/{PAGE}/photos", url=graph.image(), published="false").json()["id"]
    attach = {"attached_media[0]": json.dumps({"media_fbid": photo})}
    assert graph.post(f"/{PAGE}/feed", message="first", **attach).status_code == 200
    reused = graph.post(f"/{PAGE}/feed", message="second", **attach)
    assert error_of(reused)["code"] == 100
    public = graph.post(f"/{PAGE}/photos", url=graph.image()).json()["id"]
    attached_public = graph.post(
        f"/{PAGE}/feed", message="third", **{"attached_media[0]": json.dumps({"media_fbid": public})}
    )
    assert error_of(attached_public)["code"] == 100
    assert [c["text"] for c in graph.sim.created] == ["first", ""]


def test_video_returns_id_and_relative_permalink(graph: Graph) -> None:
    """POST /videos answers {"id"}; the Video node's permalink_url is relative to facebook.com."""
    reply = graph.post(f"/{PAGE}/videos", file_url=f"{graph.media}/media/clip.mp4", description="Watch")
    video_id = reply.json()["id"]
    assert list(reply.json()) == ["id"]
    assert video_id.isdigit()
    assert (
        graph.get(f"/{video_id}", fields="permalink_url").json()["permalink_url"]
        == f"/{PAGE}/videos/{video_id}/"
    )
    assert graph.sim.created[0]["id"] == video_id
    unreachable = graph.post(f"/{PAGE}/videos", file_url=f"{graph.media}/missing/clip.mp4")
    assert error_of(unreachable)["code"] == 389


def test_permalink_of_a_post_and_fields_of_a_photo(graph: Graph) -> None:
    """A post has permalink_url; a photo has no such field (code 100, as on the real node)."""
    photo = graph.post(f"/{PAGE}/photos", url=graph.image()).json()
    post = graph.get(f"/{photo['post_id']}", fields="permalink_url").json()
    assert post["permalink_url"].startswith("https://www.facebook.com/")
    assert post["id"] == photo["post_id"]
    reply = graph.get(f"/{photo['id']}", fields="permalink_url")
    assert "nonexisting field (permalink_url)" in error_of(reply)["message"]


def test_unknown_object_is_graph_method_exception(graph: Graph) -> None:
    """GET of an id that does not exist is code 100 subcode 33, GraphMethodException."""
    error = error_of(graph.get("/123456", fields="id"))
    assert (error["code"], error["error_subcode"], error["type"]) == (100, 33, "GraphMethodException")


def test_published_posts_lists_newest_first_since(graph: Graph) -> None:
    """published_posts gives id, message, created_time, newest first, filtered by `since`."""
    graph.post(f"/{PAGE}/feed", message="old")
    graph.clock.now += 600
    newer = graph.post(f"/{PAGE}/feed", message="new").json()["id"]
    graph.clock.now += 600
    latest = graph.post(f"/{PAGE}/photos", url=graph.image(), caption="photo").json()["post_id"]
    graph.post(f"/{PAGE}/feed", message="draft", published="false")
    data = graph.get(f"/{PAGE}/published_posts", since=int(graph.clock.now) - 900).json()["data"]
    assert [(d["id"], d["message"]) for d in data] == [(latest, "photo"), (newer, "new")]
    assert set(data[0]) == {"id", "message", "created_time"}


def test_page_videos_list(graph: Graph) -> None:
    """GET /{page}/videos lists the Page's videos with their descriptions."""
    video = graph.post(
        f"/{PAGE}/videos", file_url=f"{graph.media}/media/clip.mp4", description="Watch"
    ).json()["id"]
    data = graph.get(f"/{PAGE}/videos", fields="id,description,created_time").json()["data"]
    assert [(d["id"], d["description"]) for d in data] == [(video, "Watch")]


# ---- Instagram -------------------------------------------------------------------------------


def create(graph: Graph, **data: Any) -> httpx.Response:
    """POST /{ig-user}/media."""
    return graph.post(f"/{IG}/media", **data)


def status_of(graph: Graph, container: str) -> str:
    """The container's status_code (a status read, so it advances video processing)."""
    return str(graph.get(f"/{container}", fields="status_code,status").json()["status_code"])


def publish(graph: Graph, container: str) -> httpx.Response:
    """POST /{ig-user}/media_publish."""
    return graph.post(f"/{IG}/media_publish", creation_id=container)


def test_publishing_limit_counts_publishes(graph: Graph) -> None:
    """content_publishing_limit reports quota_usage and config; a publish counts once."""
    limit = graph.get(f"/{IG}/content_publishing_limit", fields="quota_usage,config").json()
    assert limit == {"data": [{"quota_usage": 0, "config": {"quota_total": 50, "quota_duration": 86400}}]}
    publish(graph, create(graph, image_url=graph.image(), caption="c").json()["id"])
    assert graph.get(f"/{IG}/content_publishing_limit").json()["data"][0]["quota_usage"] == 1


def test_image_container_publish_and_permalink(graph: Graph) -> None:
    """An image container is FINISHED at once; publishing gives a media id with a /p/ permalink."""
    reply = create(graph, image_url=graph.image(), caption="Hello")
    container = reply.json()["id"]
    assert list(reply.json()) == ["id"]
    assert status_of(graph, container) == "FINISHED"
    media_id = publish(graph, container).json()["id"]
    assert media_id != container
    assert status_of(graph, container) == "PUBLISHED"
    media = graph.get(f"/{media_id}", fields="permalink,shortcode").json()
    assert media["permalink"] == f"https://www.instagram.com/p/{media['shortcode']}/"
    assert graph.sim.created == [
        {"platform": "instagram", "id": media_id, "text": "Hello", "media": [graph.image()]}
    ]


def test_a_published_container_is_never_published_again(graph: Graph) -> None:
    """A second media_publish of the same container is refused and publishes nothing."""
    container = create(graph, image_url=graph.image(), caption="once").json()["id"]
    assert publish(graph, container).status_code == 200
    again = publish(graph, container)
    assert (again.status_code, error_of(again)["code"]) == (400, 100)
    assert len(graph.sim.created) == 1


def test_images_must_be_jpeg(graph: Graph) -> None:
    """A PNG image_url is 36001/2207005."""
    error = error_of(create(graph, image_url=graph.image("photo.png"), caption="c"))
    assert (error["code"], error["error_subcode"]) == (36001, 2207005)
    assert "JPEG" in error["error_user_msg"]


@pytest.mark.parametrize(
    ("caption", "code", "subcode"),
    [
        ("x" * 2201, 36004, 2207010),
        (" ".join(f"#t{i}" for i in range(31)), 36004, 2207010),
        (" ".join(f"@u{i}" for i in range(21)), 100, 2207040),
    ],
)
def test_caption_limits(graph: Graph, caption: str, code: int, subcode: int) -> None:
    """Captions over 2,200 characters, 30 hashtags or 20 mentions are refused."""
    error = error_of(create(graph, image_url=graph.image(), caption=caption))
    assert (error["code"], error["error_subcode"]) == (code, subcode)


def test_caption_at_the_limits_is_accepted(graph: Graph) -> None:
    """2,200 characters with 30 hashtags is fine."""
    tags = " ".join(f"#t{i}" for i in range(30))
    caption = tags + " " + "x" * (2200 - len(tags) - 1)
    assert create(graph, image_url=graph.image(), caption=caption).status_code == 200


def test_unreachable_image_is_9004(graph: Graph) -> None:
    """An image Meta cannot download is 9004/2207052."""
    error = error_of(create(graph, image_url=f"{graph.media}/missing/photo.jpg", caption="c"))
    assert (error["code"], error["error_subcode"]) == (9004, 2207052)


def test_video_container_processes_over_polls(graph: Graph) -> None:
    """A REELS container is IN_PROGRESS for k status reads; publishing early is 9007/2207027."""
    container = create(
        graph, media_type="REELS", video_url=f"{graph.media}/media/clip.mp4", caption="r"
    ).json()["id"]
    early = error_of(publish(graph, container))
    assert (early["code"], early["error_subcode"]) == (9007, 2207027)
    assert [status_of(graph, container) for _ in range(3)] == ["IN_PROGRESS", "IN_PROGRESS", "FINISHED"]
    media_id = publish(graph, container).json()["id"]
    permalink = graph.get(f"/{media_id}", fields="permalink").json()["permalink"]
    assert permalink.startswith("https://www.instagram.com/reel/")


@pytest.mark.parametrize(
    ("video", "status"),
    [("/media/clip.webm", "2207026"), ("/missing/clip.mp4", "Media download has failed")],
)
def test_bad_videos_end_in_error(graph: Graph, video: str, status: str) -> None:
    """A video Meta cannot process ends in ERROR with the reason in `status`."""
    container = create(graph, media_type="REELS", video_url=graph.media + video, caption="r").json()["id"]
    for _ in range(2):
        status_of(graph, container)
    body = graph.get(f"/{container}", fields="status_code,status").json()
    assert body["status_code"] == "ERROR"
    assert status in body["status"]


def test_feed_video_must_be_a_reel(graph: Graph) -> None:
    """media_type=VIDEO outside a carousel is refused (every feed video is a reel)."""
    reply = create(graph, media_type="VIDEO", video_url=f"{graph.media}/media/clip.mp4", caption="v")
    assert error_of(reply)["error_subcode"] == 2207023


def test_containers_expire_after_a_day(graph: Graph) -> None:
    """An unpublished container is EXPIRED after 24 h; publishing it then is -2/2207020."""
    container = create(graph, image_url=graph.image(), caption="late").json()["id"]
    graph.clock.now += 24 * 3600 + 1
    assert status_of(graph, container) == "EXPIRED"
    error = error_of(publish(graph, container))
    assert (error["code"], error["error_subcode"]) == (-2, 2207020)


def test_quota_full_refuses_publish(graph: Graph) -> None:
    """With the quota used up, media_publish is 9/2207042; the window is 24 h."""
    graph.sim.use_quota(IG, 50)
    container = create(graph, image_url=graph.image(), caption="c").json()["id"]
    error = error_of(publish(graph, container))
    assert (error["code"], error["error_subcode"]) == (9, 2207042)
    graph.clock.now += 24 * 3600 + 1
    container = create(graph, image_url=graph.image(), caption="c").json()["id"]
    assert publish(graph, container).status_code == 200


@pytest.mark.parametrize("count", [1, 11])
def test_carousel_needs_2_to_10_children(graph: Graph, count: int) -> None:
    """A carousel with fewer than 2 or more than 10 children is 100/2207028."""
    children = [
        create(graph, image_url=graph.image(), is_carousel_item="true").json()["id"] for _ in range(count)
    ]
    reply = create(graph, media_type="CAROUSEL", children=",".join(children), caption="c")
    assert (error_of(reply)["code"], error_of(reply)["error_subcode"]) == (100, 2207028)


def test_carousel_children_must_be_unused_items(graph: Graph) -> None:
    """Unknown children, non-items and items already in a carousel are refused."""
    items = [create(graph, image_url=graph.image(), is_carousel_item="true").json()["id"] for _ in range(2)]
    single = create(graph, image_url=graph.image(), caption="c").json()["id"]
    for children in (["999", items[0]], [single, items[0]]):
        reply = create(graph, media_type="CAROUSEL", children=",".join(children), caption="c")
        assert error_of(reply)["code"] == 24
    assert create(graph, media_type="CAROUSEL", children=",".join(items), caption="c").status_code == 200
    reused = create(graph, media_type="CAROUSEL", children=",".join(items), caption="c")
    assert error_of(reused)["code"] == 24


def test_video_carousel_items_are_polled_like_reels(graph: Graph) -> None:
    """A VIDEO item processes over status reads; the parent is refused (9007/2207027) until it is FINISHED."""
    image = create(graph, image_url=graph.image(), is_carousel_item="true").json()["id"]
    video = create(
        graph, media_type="VIDEO", video_url=f"{graph.media}/media/clip.mp4", is_carousel_item="true"
    ).json()["id"]
    early = create(graph, media_type="CAROUSEL", children=f"{image},{video}", caption="mix")
    assert (error_of(early)["code"], error_of(early)["error_subcode"]) == (9007, 2207027)
    assert [status_of(graph, video) for _ in range(3)] == ["IN_PROGRESS", "IN_PROGRESS", "FINISHED"]
    parent = create(graph, media_type="CAROUSEL", children=f"{image},{video}", caption="mix").json()["id"]
    assert status_of(graph, parent) == "FINISHED"
    media_id = publish(graph, parent).json()["id"]
    assert graph.sim.created[0]["id"] == media_id
    assert len(graph.sim.created[0]["media"]) == 2
    assert graph.get(f"/{media_id}", fields="media_type").json()["media_type"] == "CAROUSEL_ALBUM"


def test_account_media_list(graph: Graph) -> None:
    """GET /{ig-user}/media lists published media newest first with caption and permalink."""
    for caption in ("first", "second"):
        graph.clock.now += 60
        publish(graph, create(graph, image_url=graph.image(), caption=caption).json()["id"])
    data = graph.get(f"/{IG}/media", fields="id,caption,permalink").json()["data"]
    assert [d["caption"] for d in data] == ["second", "first"]
    assert all(d["permalink"].startswith("https://www.instagram.com/p/") for d in data)


def test_instagram_faults(graph: Graph) -> None:
    """rate_limit on an Instagram step is code 4 with an instagram BUC entry; error_after_apply publishes."""
    container = create(graph, image_url=graph.image(), caption="c").json()["id"]
    graph.sim.inject("rate_limit", step="media_publish")
    limited = publish(graph, container)
    assert (error_of(limited)["code"], error_of(limited)["is_transient"]) == (4, True)
    assert json.loads(limited.headers["X-Business-Use-Case-Usage"])[IG][0]["type"] == "instagram"
    graph.sim.inject("error_after_apply", step="media_publish")
    failed = publish(graph, container)
    assert (failed.status_code, error_of(failed)["code"]) == (500, 2)
    assert status_of(graph, container) == "PUBLISHED"
    assert len(graph.sim.created) == 1


def test_not_ready_publishes_knob(graph: Graph) -> None:
    """not_ready_publishes makes a FINISHED container answer 9007 that many times first."""
    graph.sim.not_ready_publishes = 1
    container = create(graph, image_url=graph.image(), caption="c").json()["id"]
    assert error_of(publish(graph, container))["error_subcode"] == 2207027
    assert publish(graph, container).status_code == 200


# ---- scripted faults -------------------------------------------------------------------------


def test_fault_replies_have_the_graph_shape(graph: Graph) -> None:
    """permanent → 100/400, auth → 190/463/400, rate_limit → 80001 + BUC, server_error → 2/500."""
    for fault in ("permanent", "auth", "rate_limit", "server_error"):
        graph.sim.inject(fault, step="feed")
    permanent, auth, limited, server = (graph.post(f"/{PAGE}/feed", message=f"m{i}") for i in range(4))
    assert (permanent.status_code, error_of(permanent)["code"]) == (400, 100)
    assert (auth.status_code, error_of(auth)["code"], error_of(auth)["error_subcode"]) == (400, 190, 463)
    assert (limited.status_code, error_of(limited)["code"]) == (400, 80001)
    assert json.loads(limited.headers["X-Business-Use-Case-Usage"])[PAGE][0]["type"] == "pages"
    error = error_of(server)
    assert (server.status_code, error["code"], error["message"], error["is_transient"]) == (
        500,
        2,
        SERVER_ERROR_MESSAGE,
        True,
    )
    assert graph.sim.created == []


def test_error_after_apply_creates_the_post(graph: Graph) -> None:
    """error_after_apply answers code 2 / HTTP 500 although the post now exists."""
    graph.sim.inject("error_after_apply", step="feed")
    reply = graph.post(f"/{PAGE}/feed", message="there anyway")
    assert (reply.status_code, error_of(reply)["code"]) == (500, 2)
    assert [c["text"] for c in graph.sim.created] == ["there anyway"]


def test_resets_before_and_after(graph: Graph) -> None:
    """reset_before publishes nothing; reset_after publishes, both drop the connection."""
    graph.sim.inject("reset_before", step="feed")
    with pytest.raises(httpx.TransportError):
        graph.post(f"/{PAGE}/feed", message="one")
    assert graph.sim.created == []
    graph.sim.inject("reset_after", step="feed")
    with pytest.raises(httpx.TransportError):
        graph.post(f"/{PAGE}/feed", message="two")
    assert [c["text"] for c in graph.sim.created] == ["two"]


def test_faults_match_their_step_only(graph: Graph) -> None:
    """A fault on published_posts leaves /feed alone, and X-Fake-Scenario works per request."""
    graph.sim.inject("server_error", step="published_posts")
    assert graph.post(f"/{PAGE}/feed", message="fine").status_code == 200
    assert graph.get(f"/{PAGE}/published_posts").status_code == 500
    reply = graph.http.post(
        f"/{PAGE}/feed",
        data={"message": "x"},
        headers={"Authorization": "Bearer t", "X-Fake-Scenario": "auth:feed"},
    )
    assert error_of(reply)["code"] == 190


@pytest.mark.parametrize(
    ("method", "path", "step", "form"),
    [
        ("POST", f"/v27.0/{PAGE}/video_reels", "reels_start", {"upload_phase": "start"}),
        ("POST", f"/v27.0/{PAGE}/video_reels", "reels_finish", {"upload_phase": "finish"}),
        ("POST", f"/v27.0/{PAGE}/video_stories", "video_stories_start", {"upload_phase": "start"}),
        ("POST", f"/v27.0/{PAGE}/video_stories", "video_stories_finish", {"upload_phase": "finish"}),
        ("POST", f"/v27.0/{PAGE}/video_reels", "other", {}),
        ("POST", "/video-upload/v27.0/123", "video_upload", {}),
        ("POST", f"/v27.0/{PAGE}/photo_stories", "photo_stories", {}),
        ("GET", f"/v27.0/{PAGE}/stories", "stories", {}),
    ],
)
def test_new_step_names(method: str, path: str, step: str, form: dict[str, str]) -> None:
    """Reels and stories calls map to their step names (the upload phase decides start or finish)."""
    from devstack.simulators.base import Request

    request = Request(method=method, path=path, query={}, headers={}, body=b"", form=form)
    assert GraphSimulator().step_of(request) == step


@pytest.mark.parametrize(
    ("method", "path", "step"),
    [
        ("POST", f"/v27.0/{PAGE}/feed", "feed"),
        ("POST", f"/v27.0/{PAGE}/photos", "photos"),
        ("POST", f"/v27.0/{PAGE}/videos", "videos"),
        ("GET", f"/v27.0/{PAGE}/published_posts", "published_posts"),
        ("GET", f"/v27.0/{PAGE}/videos", "published_posts"),
        ("GET", f"/v27.0/{PAGE}_1", "permalink"),
        ("GET", f"/v27.0/{IG}/content_publishing_limit", "publishing_limit"),
        ("POST", f"/v27.0/{IG}/media", "media"),
        ("POST", f"/v27.0/{IG}/media_publish", "media_publish"),
        ("GET", f"/v27.0/{IG}/media", "ig_media"),
        ("DELETE", f"/v27.0/{PAGE}_1", "other"),
    ],
)
def test_step_names(method: str, path: str, step: str) -> None:
    """Each documented call maps to its documented step name."""
    from devstack.simulators.base import Request

    request = Request(method=method, path=path, query={}, headers={}, body=b"")
    assert GraphSimulator().step_of(request) == step


# ---- Facebook reels, stories and links -------------------------------------------------------


def start(graph: Graph, edge: str = "video_reels", page: str = PAGE) -> dict[str, str]:
    """upload_phase=start on a Page's video_reels / video_stories."""
    reply = graph.post(f"/{page}/{edge}", upload_phase="start")
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def upload(graph: Graph, upload_url: str, scheme: str = "OAuth", **headers: str) -> httpx.Response:
    """POST to an upload_url the simulator handed out, with the token under `scheme`."""
    return graph.http.post(upload_url, headers={"Authorization": f"{scheme} {TOKEN}", **headers})


def finish(graph: Graph, video_id: str, edge: str = "video_reels", **data: Any) -> httpx.Response:
    """upload_phase=finish (reels publish with video_state=PUBLISHED)."""
    if edge == "video_reels":
        data.setdefault("video_state", "PUBLISHED")
    return graph.post(f"/{PAGE}/{edge}", upload_phase="finish", video_id=video_id, **data)


def test_reel_start_upload_finish_and_status_phases(graph: Graph) -> None:
    """start gives a video id and an upload_url back to the simulator; finish publishes; status advances."""
    started = start(graph)
    video_id = started["video_id"]
    assert set(started) == {"video_id", "upload_url"}
    served = str(graph.http.base_url).removesuffix("/").removesuffix("/v27.0")
    assert started["upload_url"] == f"{served}/video-upload/v27.0/{video_id}"
    clip = f"{graph.media}/media/clip.mp4"
    reply = upload(graph, started["upload_url"], file_url=clip)
    assert reply.json() == {"success": True}
    status = graph.get(f"/{video_id}", fields="status").json()["status"]
    assert status["video_status"] == "upload_complete"
    assert status["publishing_phase"]["status"] == "not_started"
    assert graph.sim.created == []
    assert finish(graph, video_id, description="Watch").json() == {"success": True}
    phases = [graph.get(f"/{video_id}", fields="status").json()["status"] for _ in range(3)]
    assert [p["processing_phase"]["status"] for p in phases] == ["in_progress", "in_progress", "complete"]
    assert [p["publishing_phase"]["status"] for p in phases] == ["not_started", "not_started", "complete"]
    assert phases[-1]["publishing_phase"]["publish_status"] == "published"
    assert graph.sim.created == [
        {"platform": "facebook", "id": video_id, "kind": "reel", "text": "Watch", "media": [clip]}
    ]


def test_reel_finish_takes_only_its_own_uploaded_videos_once(graph: Graph) -> None:
    """Unknown ids, another edge's or Page's ids, finish before upload and a second finish are all 100."""
    assert error_of(finish(graph, "999"))["code"] == 100
    story = start(graph, "video_stories")
    assert error_of(finish(graph, story["video_id"]))["code"] == 100
    other_page = start(graph, page="555")
    upload(graph, other_page["upload_url"], file_url=f"{graph.media}/media/clip.mp4")
    assert error_of(finish(graph, other_page["video_id"]))["code"] == 100
    started = start(graph)
    early = finish(graph, started["video_id"])
    assert (error_of(early)["code"], error_of(early)["message"]) == (
        100,
        "(#100) The video has not been uploaded yet",
    )
    upload(graph, started["upload_url"], file_url=f"{graph.media}/media/clip.mp4")
    assert finish(graph, started["video_id"]).status_code == 200
    assert error_of(finish(graph, started["video_id"]))["code"] == 100
    assert len(graph.sim.created) == 1


def test_upload_wants_oauth_and_a_file_url_or_the_bytes(graph: Graph) -> None:
    """The upload host needs Authorization: OAuth; it takes file_url, or bytes with offset 0 and file_size."""
    started = start(graph)
    clip = f"{graph.media}/media/clip.mp4"
    bearer = upload(graph, started["upload_url"], scheme="Bearer", file_url=clip)
    assert bearer.status_code == 401
    assert bearer.json()["debug_info"]["retriable"] is False
    assert upload(graph, started["upload_url"]).status_code == 400
    wrong_size = graph.http.post(
        started["upload_url"],
        content=b"0123456789",
        headers={"Authorization": "OAuth page-token", "offset": "0", "file_size": "11"},
    )
    assert wrong_size.status_code == 400
    assert not graph.sim.upload_videos[started["video_id"]].uploaded
    raw = graph.http.post(
        started["upload_url"],
        content=b"0123456789",
        headers={"Authorization": "OAuth page-token", "offset": "0", "file_size": "10"},
    )
    assert raw.json() == {"success": True}
    missing = upload(graph, start(graph)["upload_url"], file_url=f"{graph.media}/missing/clip.mp4")
    assert (missing.status_code, missing.json()["debug_info"]["type"]) == (400, "FetchFailed")


def test_video_story_is_listed_with_its_media_id(graph: Graph) -> None:
    """A finished video story answers its post_id and shows on /{page}/stories with the video id."""
    started = start(graph, "video_stories")
    clip = f"{graph.media}/media/clip.mp4"
    upload(graph, started["upload_url"], file_url=clip)
    reply = finish(graph, started["video_id"], edge="video_stories")
    body = reply.json()
    assert body["success"] is True
    assert body["post_id"].startswith(f"{PAGE}_")
    (story,) = graph.get(f"/{PAGE}/stories").json()["data"]
    assert (story["post_id"], story["media_id"], story["media_type"], story["status"]) == (
        body["post_id"],
        started["video_id"],
        "video",
        "PUBLISHED",
    )
    assert graph.sim.created == [
        {"platform": "facebook", "id": body["post_id"], "kind": "video_story", "text": "", "media": [clip]}
    ]


def test_photo_stories_take_an_unpublished_photo_of_the_page_once(graph: Graph) -> None:
    """photo_stories refuses unknown, published, other Pages' and used photos (100); a good one once."""
    assert error_of(graph.post(f"/{PAGE}/photo_stories", photo_id="999"))["code"] == 100
    public = graph.post(f"/{PAGE}/photos", url=graph.image()).json()["id"]
    assert error_of(graph.post(f"/{PAGE}/photo_stories", photo_id=public))["code"] == 100
    elsewhere = graph.post("/555/photos", url=graph.image(), published="false").json()["id"]
    assert error_of(graph.post(f"/{PAGE}/photo_stories", photo_id=elsewhere))["code"] == 100
    photo = graph.post(f"/{PAGE}/photos", url=graph.image("story.jpg"), published="false").json()["id"]
    body = graph.post(f"/{PAGE}/photo_stories", photo_id=photo).json()
    assert body["success"] is True
    assert error_of(graph.post(f"/{PAGE}/photo_stories", photo_id=photo))["code"] == 100
    assert graph.sim.created[-1] == {
        "platform": "facebook",
        "id": body["post_id"],
        "kind": "photo_story",
        "text": "",
        "media": [graph.image("story.jpg")],
    }
    (story,) = graph.get(f"/{PAGE}/stories", fields="post_id,media_id").json()["data"]
    assert (story["post_id"], story["media_id"]) == (body["post_id"], photo)


def test_feed_keeps_the_link(graph: Graph) -> None:
    """A feed post with a link is recorded as a link post carrying the link."""
    post_id = graph.post(f"/{PAGE}/feed", message="Read this", link="https://example.com/a").json()["id"]
    assert graph.sim.created == [
        {
            "platform": "facebook",
            "id": post_id,
            "kind": "link",
            "text": "Read this",
            "media": ["https://example.com/a"],
        }
    ]


# ---- Instagram stories and reel options ------------------------------------------------------


def test_image_story_ignores_the_caption(graph: Graph) -> None:
    """STORIES with an image: no caption check or record; published on /stories, not /media."""
    container = create(graph, media_type="STORIES", image_url=graph.image(), caption="x" * 3000).json()["id"]
    media_id = publish(graph, container).json()["id"]
    assert graph.sim.created == [
        {"platform": "instagram", "id": media_id, "text": "", "media": [graph.image()], "kind": "story"}
    ]
    assert graph.get(f"/{IG}/media").json()["data"] == []
    stories = graph.get(f"/{IG}/stories", fields="id,media_type,timestamp").json()["data"]
    assert [(s["id"], s["media_type"]) for s in stories] == [(media_id, "IMAGE")]


def test_video_story_processes_like_a_reel(graph: Graph) -> None:
    """STORIES with a video is IN_PROGRESS for k reads; a PNG story is refused like any image."""
    clip = f"{graph.media}/media/clip.mp4"
    container = create(graph, media_type="STORIES", video_url=clip).json()["id"]
    assert [status_of(graph, container) for _ in range(3)] == ["IN_PROGRESS", "IN_PROGRESS", "FINISHED"]
    media_id = publish(graph, container).json()["id"]
    assert graph.get(f"/{media_id}", fields="media_type").json()["media_type"] == "VIDEO"
    png = create(graph, media_type="STORIES", image_url=graph.image("photo.png"))
    assert error_of(png)["error_subcode"] == 2207005
    item = create(graph, media_type="STORIES", image_url=graph.image(), is_carousel_item="true")
    assert error_of(item)["error_subcode"] == 2207023


def test_reel_records_cover_thumb_offset_and_share_to_feed(graph: Graph) -> None:
    """A reel's cover_url, thumb_offset and share_to_feed are kept on its record."""
    clip = f"{graph.media}/media/clip.mp4"
    cover = graph.image("cover.jpg")
    container = create(
        graph,
        media_type="REELS",
        video_url=clip,
        caption="r",
        cover_url=cover,
        thumb_offset="1500",
        share_to_feed="false",
    ).json()["id"]
    for _ in range(3):
        status_of(graph, container)
    media_id = publish(graph, container).json()["id"]
    assert graph.sim.created == [
        {
            "platform": "instagram",
            "id": media_id,
            "text": "r",
            "media": [clip],
            "kind": "reel",
            "cover_url": cover,
            "thumb_offset": 1500,
            "share_to_feed": False,
        }
    ]


@pytest.mark.parametrize(
    ("field", "value", "subcode"), [("thumb_offset", "soon", 2207057), ("cover_url", "cover.png", 2207005)]
)
def test_reel_options_are_checked(graph: Graph, field: str, value: str, subcode: int) -> None:
    """A thumb_offset that is no number (100/2207057) or a non-JPEG cover (2207005) is refused."""
    clip = f"{graph.media}/media/clip.mp4"
    reply = create(graph, media_type="REELS", video_url=clip, caption="r", **{field: value})
    assert error_of(reply)["error_subcode"] == subcode


# ---- graph.instagram.com (Instagram Login) ---------------------------------------------------


@pytest.fixture
def login() -> Iterator[Graph]:
    clock = FakeClock()
    sim = GraphSimulator(video_polls=2, clock=clock, instagram_login=True)
    with (
        serve(sim) as server,
        serve(MediaHost()) as media,
        httpx.Client(base_url=f"{server.url}/v27.0", timeout=5, verify=TLS) as http,
    ):
        yield Graph(sim, http, media.url, clock)


IG_LOGIN_TOKEN = "IGAAlogin-token"


def test_each_host_takes_only_its_own_tokens(graph: Graph, login: Graph) -> None:
    """graph.instagram.com refuses EAA… tokens and graph.facebook.com IG… tokens, both with 190."""
    eaa = login.get(f"/{IG}/content_publishing_limit", token="EAAfacebook-token")
    assert (eaa.status_code, error_of(eaa)["code"]) == (400, 190)
    ig = graph.get(f"/{IG}/content_publishing_limit", token=IG_LOGIN_TOKEN)
    assert (ig.status_code, error_of(ig)["code"]) == (400, 190)
    assert login.get(f"/{IG}/content_publishing_limit", token=IG_LOGIN_TOKEN).status_code == 200


def test_instagram_login_publishes_like_the_graph(login: Graph) -> None:
    """Containers, publish and permalink work the same on graph.instagram.com."""
    container = create(login, image_url=login.image(), caption="Hi", token=IG_LOGIN_TOKEN)
    media_id = login.post(f"/{IG}/media_publish", token=IG_LOGIN_TOKEN, creation_id=container.json()["id"])
    assert media_id.status_code == 200
    assert [c["id"] for c in login.sim.created] == [media_id.json()["id"]]


@pytest.mark.parametrize("edge", ["feed", "photos", "videos", "video_reels", "photo_stories"])
def test_instagram_login_has_no_page_edges(login: Graph, edge: str) -> None:
    """Page edges do not exist on graph.instagram.com: 100/33, nothing created."""
    reply = login.post(f"/{PAGE}/{edge}", token=IG_LOGIN_TOKEN, message="x", url=login.image())
    error = error_of(reply)
    assert (error["code"], error["error_subcode"]) == (100, 33)
    assert login.sim.created == []


def test_me_gives_the_professional_account_id(login: Graph, graph: Graph) -> None:
    """GET /me answers user_id (the account id used in paths) and username; not on the Facebook host."""
    me = login.get("/me", token=IG_LOGIN_TOKEN, fields="user_id,username").json()
    assert me["user_id"] == login.sim.me_user_id
    assert me["username"]
    assert error_of(graph.get("/me", fields="user_id"))["code"] == 100


def test_refresh_access_token(login: Graph) -> None:
    """refresh_access_token trades a live or stale token for a new one; an expired one gets 190."""
    root = str(login.http.base_url).replace("/v27.0", "")
    stale = "IGAAstale-abc"
    assert error_of(login.get(f"/{IG}/content_publishing_limit", token=stale))["code"] == 190
    reply = login.http.get(
        f"{root}/refresh_access_token",
        params={"grant_type": "ig_refresh_token"},
        headers={"Authorization": f"Bearer {stale}"},
    )
    body = reply.json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", 5183944)
    assert body["access_token"].startswith("IGAA")
    assert login.sim.refreshes == [body["access_token"]]
    assert login.get(f"/{IG}/content_publishing_limit", token=body["access_token"]).status_code == 200
    expired = login.http.get(
        f"{root}/refresh_access_token",
        params={"grant_type": "ig_refresh_token", "access_token": "IGAAexpired-abc"},
    )
    assert (error_of(expired)["code"], error_of(expired)["error_subcode"]) == (190, 463)
    wrong_grant = login.get("/refresh_access_token", token=IG_LOGIN_TOKEN, grant_type="nope")
    assert error_of(wrong_grant)["code"] == 100
