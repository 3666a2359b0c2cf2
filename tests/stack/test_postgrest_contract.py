"""The PostgREST stand-in against PostgREST's behaviour as docs/postgrest.md describes it.

Every call goes through the real supabase-py 2.34 client, over loopback HTTP, into a fresh
database of the session's PostgreSQL cluster; raw httpx is used only where the client hides the
wire (status codes, headers, requests it cannot make). Tests that change data reset their own
table first, so they do not depend on each other's order.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import pytest
from postgrest import APIError
from psycopg import sql
from supabase import Client, ClientOptions, create_client

from devstack.postgres import Cluster
from devstack.postgrest import PostgrestStandIn
from devstack.server import serve

SERVICE_KEY = "contract-service-key"
USER_A = "00000000-0000-0000-0000-00000000000a"
STALE = "2024-05-01T12:00:00+00:00"  # also the seeded posts' base time in SCHEMA

SCHEMA = """
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text, created_at timestamptz NOT NULL);
CREATE TABLE campaigns (id bigint PRIMARY KEY, user_id uuid NOT NULL, name text);
CREATE TABLE posts (
    id bigserial PRIMARY KEY,
    campaign_id bigint REFERENCES campaigns (id),
    status text DEFAULT 'scheduled',
    scheduled_at timestamptz,
    metadata jsonb NOT NULL DEFAULT '{}',
    price numeric(10, 2),
    note text
);
CREATE TABLE claims (id bigint PRIMARY KEY, status text NOT NULL, metadata jsonb NOT NULL DEFAULT '{}',
                     claimed_by text);
CREATE TABLE jobs (id uuid PRIMARY KEY, payload jsonb NOT NULL DEFAULT '{}', note text);
CREATE TABLE events (id uuid PRIMARY KEY, at timestamptz, day date, label text);
CREATE FUNCTION claim_rows(p_ids bigint[], p_worker text) RETURNS jsonb LANGUAGE sql AS $$
    WITH won AS (
        UPDATE claims SET status = 'publishing', claimed_by = p_worker
        WHERE id = ANY(p_ids) AND status = 'scheduled' RETURNING id)
    SELECT coalesce(jsonb_agg(id ORDER BY id), '[]') FROM won
$$;
CREATE FUNCTION patch_jobs(ids uuid[], patch jsonb, note text DEFAULT 'defaulted') RETURNS jsonb
LANGUAGE sql AS $$
    WITH done AS (
        UPDATE jobs SET payload = payload || patch, note = patch_jobs.note WHERE id = ANY(ids) RETURNING *)
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'payload', payload, 'note', note) ORDER BY id),
                    '[]')
    FROM done
$$;
CREATE FUNCTION jobs_of(ids uuid[]) RETURNS SETOF jobs LANGUAGE sql AS $$
    SELECT * FROM jobs WHERE id = ANY(ids)
$$;
CREATE FUNCTION describe(at timestamptz, flag boolean, n int, label text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('at', at, 'flag', flag, 'n', n + 1, 'label', label)
$$;
CREATE FUNCTION touch() RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION small_numbers() RETURNS SETOF int LANGUAGE sql AS $$ SELECT generate_series(1, 3) $$;
CREATE FUNCTION eight_numbers() RETURNS SETOF int LANGUAGE sql AS $$ SELECT generate_series(1, 8) $$;
CREATE FUNCTION eight_as_json() RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(i) FROM generate_series(1, 8) AS i
$$;
CREATE FUNCTION refuse_table(p_table text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'unknown table %', p_table USING ERRCODE = '22023';
END;
$$;
INSERT INTO campaigns VALUES (1, '00000000-0000-0000-0000-00000000000a', 'alpha'),
    (2, '00000000-0000-0000-0000-00000000000b', 'beta');
INSERT INTO posts (campaign_id, scheduled_at, metadata, price)
SELECT 1 + i % 2, '2024-05-01T12:00:00+00:00'::timestamptz + i * interval '1 minute',
    jsonb_build_object('n', i), 1.5
FROM generate_series(1, 2500) AS i;
INSERT INTO auth.users
SELECT gen_random_uuid(), 'user' || i || '@example.com',
    '2024-01-01T00:00:00Z'::timestamptz + i * interval '1 day'
FROM generate_series(1, 7) AS i;
"""


@pytest.fixture(scope="module")
def database(pg_cluster: Cluster) -> Iterator[str]:
    """A fresh database for this module, seeded with the tables above; dropped afterwards."""
    name = f"pgrst_contract_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(pg_cluster.dsn_for(name), autocommit=True) as conn:
        conn.execute(SCHEMA)
    yield pg_cluster.dsn_for(name)
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def url(database: str) -> Iterator[str]:
    """The stand-in served on loopback."""
    app = PostgrestStandIn(database, SERVICE_KEY)
    with serve(app) as server:
        yield server.url
    app.close()


@contextmanager
def connected(
    url: str, key: str = SERVICE_KEY, hooks: list[Callable[..., Any]] | None = None
) -> Iterator[Client]:
    """The client as the publisher builds it: an injected httpx client with an exact timeout."""
    with httpx.Client(timeout=httpx.Timeout(10, connect=5), event_hooks={"response": hooks or []}) as http:
        yield create_client(url, key, options=ClientOptions(httpx_client=http))


@pytest.fixture(scope="module")
def responses() -> list[httpx.Response]:
    """Every response the module's client received, to check statuses supabase-py hides."""
    return []


@pytest.fixture(scope="module")
def sb(url: str, responses: list[httpx.Response]) -> Iterator[Client]:
    with connected(url, hooks=[responses.append]) as client:
        yield client


@pytest.fixture
def db(database: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A direct connection for seeding and for checking what the stand-in wrote."""
    with psycopg.connect(database, autocommit=True) as conn:
        yield conn


@pytest.fixture
def raw(url: str) -> Iterator[httpx.Client]:
    """Plain HTTP with the service key, for what the client does not expose."""
    headers = {"apikey": SERVICE_KEY, "Authorization": f"Bearer {SERVICE_KEY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        yield client


def reset_claims(
    db: psycopg.Connection[tuple[Any, ...]], count: int, published: tuple[int, ...] = ()
) -> None:
    db.execute("TRUNCATE claims")
    db.execute(
        "INSERT INTO claims (id, status)"
        " SELECT i, CASE WHEN i = ANY(%s) THEN 'published' ELSE 'scheduled' END"
        " FROM generate_series(1, %s) AS i",
        [list(published), count],
    )


def claim(client: Client, row_ids: list[int], worker: str) -> list[int]:
    """A claim as the publisher makes it: one RPC whose single UPDATE re-checks 'still scheduled'."""
    return list(client.rpc("claim_rows", {"p_ids": row_ids, "p_worker": worker}).execute().data)


# --- reads: the row cap, Content-Range, paging ------------------------------------------------


def test_get_without_limit_is_capped_at_1000_rows(sb: Client) -> None:
    """A GET with no limit over 2500 rows silently returns max_rows (1000) rows."""
    assert len(sb.table("posts").select("id").execute().data) == 1000


def test_limit_above_max_rows_is_silently_capped(sb: Client, responses: list[httpx.Response]) -> None:
    """limit=5000 is not an error: it still returns 1000 rows, with a 200."""
    assert len(sb.table("posts").select("id").limit(5000).execute().data) == 1000
    assert (responses[-1].status_code, responses[-1].headers["content-range"]) == (200, "0-999/*")


def test_content_range_format(raw: httpx.Client) -> None:
    """Content-Range is first-last/*, and */* for an empty page, as PostgREST sends it without a count."""
    cases = [("limit=10", "0-9/*"), ("id=eq.-1", "*/*"), ("id=in.(1,2)", "0-1/*")]
    for query, content_range in cases:
        response = raw.get(f"/rest/v1/posts?select=id&order=id&{query}")
        assert (response.status_code, response.headers["content-range"]) == (200, content_range), query


def test_keyset_paging_with_gt_visits_every_row_once(sb: Client) -> None:
    """Paging with gt(id, last) and order(id) in chunks of 1000 returns all 2500 rows exactly once."""
    seen: list[int] = []
    pages = 0
    while True:
        query = sb.table("posts").select("id").order("id").limit(1000)
        page = (query.gt("id", seen[-1]) if seen else query).execute().data
        pages += 1
        seen += [row["id"] for row in page]
        if len(page) < 1000:
            break
    assert (pages, seen) == (3, list(range(1, 2501)))


def test_order_descending(sb: Client) -> None:
    """order(desc=True) sorts descending before the limit applies."""
    rows = sb.table("posts").select("id").order("id", desc=True).limit(2).execute().data
    assert rows == [{"id": 2500}, {"id": 2499}]


def test_json_is_rendered_by_postgresql_in_utc(raw: httpx.Client) -> None:
    """Timestamps carry +00:00, numerics keep their scale and jsonb is nested JSON, as in PostgREST."""
    body = raw.get("/rest/v1/posts?select=scheduled_at,price,metadata&id=eq.1").text
    assert body == '[{"scheduled_at":"2024-05-01T12:01:00+00:00","price":1.50,"metadata":{"n": 1}}]'


def test_json_path_columns_are_labelled_with_their_last_key(sb: Client, db: psycopg.Connection[Any]) -> None:
    """select=id,metadata->>k answers {"id": ..., "k": text}: the label is the last key."""
    db.execute("TRUNCATE claims")
    db.execute("""INSERT INTO claims (id, status, metadata) VALUES (1, 's', '{"k": 5, "o": {"p": true}}')""")
    rows = sb.table("claims").select("id,metadata->>k,metadata->o->p").execute().data
    assert rows == [{"id": 1, "k": "5", "p": True}]


# --- filters ----------------------------------------------------------------------------------


def test_filter_values_are_coerced_to_the_column_type(sb: Client, db: psycopg.Connection[Any]) -> None:
    """Values are bound as unknown, so timestamptz, uuid and date compare as their type, not as text."""
    event = str(uuid.uuid4())
    db.execute("TRUNCATE events")
    db.execute("INSERT INTO events VALUES (%s, '2024-05-01T12:00:00Z', '2024-05-01', 'a')", [event])
    events = sb.table("events")
    assert len(events.select("id").eq("id", event).execute().data) == 1
    assert len(events.select("id").eq("at", "2024-05-01T14:00:00+02:00").execute().data) == 1  # same instant
    assert len(events.select("id").lte("at", "2024-05-01T11:59:59+00:00").execute().data) == 0
    assert len(events.select("id").eq("day", "2024-05-01").execute().data) == 1


def test_arrow_and_double_arrow_null_semantics(sb: Client, db: psycopg.Connection[Any]) -> None:
    """->'k' IS NULL matches only a missing key; ->>'k' IS NULL also matches a JSON null."""
    db.execute("TRUNCATE claims")
    db.execute(
        "INSERT INTO claims (id, status, metadata) VALUES"
        """ (1, 's', '{}'), (2, 's', '{"k": null}'), (3, 's', '{"k": "v"}')"""
    )

    def ids(query: Any) -> list[int]:
        return sorted(row["id"] for row in query.execute().data)

    claims = sb.table("claims")
    assert ids(claims.select("id").is_("metadata->k", None)) == [1]
    assert ids(claims.select("id").is_("metadata->>k", None)) == [1, 2]
    assert ids(claims.select("id").eq("metadata->>k", "v")) == [3]
    assert ids(claims.select("id").eq("metadata->k", '"v"')) == [3]  # -> compares JSON values
    assert ids(claims.select("id").not_.is_("metadata->>k", "null")) == [3]
    assert ids(claims.select("id").neq("metadata->>k", "v")) == []  # NULL <> 'v' is not true


def test_or_quoting_with_timestamps(sb: Client, db: psycopg.Connection[Any]) -> None:
    """or() splits on , and ) unless values are double-quoted; timestamps work quoted or bare."""
    db.execute("TRUNCATE claims")
    db.execute(
        "INSERT INTO claims (id, status, metadata) VALUES (1, 's', '{}'),"
        """ (2, 's', '{"_publishing": "2024-05-01T11:00:00+00:00"}'),"""
        """ (3, 's', '{"_publishing": "2024-05-01T13:00:00+00:00"}'),"""
        """ (4, 'a,b)c', '{}')"""
    )

    def ids(logic: str) -> list[int]:
        return sorted(row["id"] for row in sb.table("claims").select("id").or_(logic).execute().data)

    stale = f'metadata->>_publishing.is.null,metadata->>_publishing.lte."{STALE}"'
    assert ids(stale) == [1, 2, 4]
    assert ids(f"metadata->>_publishing.is.null,metadata->>_publishing.lte.{STALE}") == [1, 2, 4]
    assert ids('status.eq."a,b)c",id.eq.3') == [3, 4]
    assert ids("and(status.eq.s,metadata->>_publishing.gt.2024-05-01T12:30:00+00:00),id.eq.1") == [1, 3]
    assert ids("not.and(status.eq.s,id.lte.2),id.eq.9") == [3, 4]  # a nested not.and( negates
    events = (
        sb.table("posts").select("id").or_(f"scheduled_at.lte.{STALE},scheduled_at.eq.2024-05-01T12:01:00Z")
    )
    assert [row["id"] for row in events.execute().data] == [1]  # "+" arrives as %2B: a real offset


def test_in_filter_with_reserved_characters(sb: Client, db: psycopg.Connection[Any]) -> None:
    """in_() quotes elements containing commas, and the stand-in binds them as one array."""
    reset_claims(db, 3)
    db.execute("UPDATE claims SET status = 'a,b' WHERE id = 2")
    found = sb.table("claims").select("id").in_("status", ["a,b", "nothing"]).execute().data
    assert found == [{"id": 2}]


# --- embedding --------------------------------------------------------------------------------


def test_embeds_the_referenced_row_as_an_object(sb: Client) -> None:
    """A foreign key of the row embeds the row it points to as an object, next to `*`."""
    post = sb.table("posts").select("*,campaigns(user_id)").eq("id", 2).execute().data
    assert post[0]["campaigns"] == {"user_id": USER_A}
    assert (post[0]["id"], post[0]["campaign_id"]) == (2, 1)


def test_embedded_filter_without_inner_keeps_the_parents(sb: Client) -> None:
    """rel.col=eq.x filters only the embedded row: every parent stays, with null where none matches."""
    posts = (
        sb.table("posts")
        .select("id, campaigns(user_id)")
        .eq("campaigns.user_id", USER_A)
        .in_("id", [1, 2])
        .order("id")
        .execute()
        .data
    )
    assert posts == [{"id": 1, "campaigns": None}, {"id": 2, "campaigns": {"user_id": USER_A}}]


def test_inner_embed_drops_parents_without_a_match(sb: Client) -> None:
    """!inner turns the embedded filter into a filter on the parents."""
    posts = (
        sb.table("posts")
        .select("id, campaigns!inner(user_id)")
        .eq("campaigns.user_id", USER_A)
        .in_("id", [1, 2, 3, 4])
        .order("id")
        .execute()
        .data
    )
    assert [row["id"] for row in posts] == [2, 4]


# --- the claim through an RPC -----------------------------------------------------------------


def test_rpc_claim_wins_once_and_a_repeat_gets_an_empty_list(sb: Client, db: psycopg.Connection[Any]) -> None:
    """The first claim returns the rows won; the same claim again matches nothing and returns []."""
    reset_claims(db, 3, published=(3,))
    assert claim(sb, [1, 2, 3], "w1") == [1, 2]
    assert claim(sb, [1, 2, 3], "w2") == []
    assert db.execute("SELECT array_agg(claimed_by) FROM claims WHERE id < 3").fetchone() == (["w1", "w1"],)


def test_concurrent_claims_claim_each_eligible_row_exactly_once(
    url: str, db: psycopg.Connection[Any]
) -> None:
    """8 threads claiming the same 50 rows (48 eligible) at once win 48 claims in all, none twice.

    Each call is one UPDATE in its own transaction: a loser waits on the row lock, then re-checks
    `status = 'scheduled'` against the committed row (READ COMMITTED) and skips it.
    """
    reset_claims(db, 50, published=(7, 33))
    start = threading.Barrier(8)

    def worker(n: int) -> list[int]:
        with connected(url) as client:
            start.wait()  # all threads race for the same rows at the same moment
            won: list[int] = []
            for first in range(1, 51, 10):  # batches of 10, as the run claims
                won += claim(client, list(range(first, first + 10)), f"w{n}")
            return won

    with ThreadPoolExecutor(max_workers=8) as pool:
        won = [(n, row_id) for n, ids in enumerate(pool.map(worker, range(8))) for row_id in ids]
    assert sorted(row_id for _, row_id in won) == [i for i in range(1, 51) if i not in (7, 33)]
    stored = dict(db.execute("SELECT id, claimed_by FROM claims WHERE claimed_by IS NOT NULL").fetchall())
    assert stored == {row_id: f"w{n}" for n, row_id in won}


# --- PATCH ------------------------------------------------------------------------------------


def test_patch_matching_nothing_returns_200_and_an_empty_list(
    sb: Client, responses: list[httpx.Response]
) -> None:
    """A PATCH whose filters match no row is a 200 with [], not a 404."""
    assert sb.table("claims").update({"status": "x"}).eq("id", -1).execute().data == []
    assert responses[-1].status_code == 200


def test_patch_minimal_answers_204_with_the_span_updated(
    sb: Client, db: psycopg.Connection[Any], responses: list[httpx.Response]
) -> None:
    """return=minimal answers 204 with no body; Content-Range spans the updated rows."""
    reset_claims(db, 5)
    result = sb.table("claims").update({"status": "x"}, returning="minimal").lte("id", 2).execute()
    assert result.data == []
    assert (responses[-1].status_code, responses[-1].headers["content-range"]) == (204, "0-1/*")
    assert db.execute("SELECT count(*) FROM claims WHERE status = 'x'").fetchone() == (2,)


def test_only_reads_and_set_returning_functions_are_capped(
    database: str, db: psycopg.Connection[Any]
) -> None:
    """max_rows caps a GET and a SETOF function, never a PATCH's rows nor a scalar (jsonb) result."""
    reset_claims(db, 8)
    app = PostgrestStandIn(database, SERVICE_KEY, max_rows=5)
    with serve(app) as server, connected(server.url) as client:
        assert len(client.table("claims").select("id").execute().data) == 5
        assert client.rpc("eight_numbers", {}).execute().data == [1, 2, 3, 4, 5]
        assert client.rpc("eight_as_json", {}).execute().data == list(range(1, 9))
        assert len(client.table("claims").update({"status": "x"}).gt("id", 0).execute().data) == 8
        app.max_rows = 7  # a settable attribute: tests change it on a running stack
        assert client.rpc("eight_numbers", {}).execute().data == list(range(1, 8))
    app.close()


# --- RPC --------------------------------------------------------------------------------------


def test_rpc_arguments_are_typed_from_the_catalog(sb: Client, db: psycopg.Connection[Any]) -> None:
    """Named arguments are typed from pg_proc (uuid[], jsonb) and left-out defaults apply."""
    ids = sorted(str(uuid.uuid4()) for _ in range(3))
    db.execute("TRUNCATE jobs")
    db.execute("INSERT INTO jobs (id, payload) SELECT unnest(%s::uuid[]), '{\"a\": 1}'", [ids])
    done = sb.rpc("patch_jobs", {"ids": ids[:2], "patch": {"b": [1, 2]}}).execute().data
    assert [row["id"] for row in done] == ids[:2]
    assert [(row["payload"], row["note"]) for row in done] == [({"a": 1, "b": [1, 2]}, "defaulted")] * 2
    given = sb.rpc("patch_jobs", {"ids": ids[2:], "patch": {}, "note": "given"}).execute().data
    assert [(row["id"], row["note"]) for row in given] == [(ids[2], "given")]


def test_rpc_scalar_void_and_setof_scalar(sb: Client, responses: list[httpx.Response]) -> None:
    """A scalar function answers the bare value, void a 204, SETOF int a JSON array of values."""
    args = {"at": "2024-05-01T14:00:00+02:00", "flag": True, "n": 41, "label": "x"}
    described = sb.rpc("describe", args).execute().data
    assert described == {"at": "2024-05-01T12:00:00+00:00", "flag": True, "n": 42, "label": "x"}
    assert sb.rpc("touch", {}).execute().data == []
    assert responses[-1].status_code == 204
    assert sb.rpc("small_numbers", {}).execute().data == [1, 2, 3]


# --- errors -----------------------------------------------------------------------------------

ERRORS: dict[str, tuple[int, Callable[[Client], Any]]] = {
    "PGRST205": (404, lambda sb: sb.table("no_such_table").select("*").execute()),
    "PGRST100": (400, lambda sb: sb.table("posts").select("*").filter("id", "eqq", "1").execute()),
    "PGRST204": (400, lambda sb: sb.table("claims").update({"no_such_column": 1}).eq("id", 1).execute()),
    "22P02": (400, lambda sb: sb.table("campaigns").select("id").eq("user_id", "not-a-uuid").execute()),
    "23503": (409, lambda sb: sb.table("posts").update({"campaign_id": 999}).eq("id", 1).execute()),
    "22023": (400, lambda sb: sb.rpc("refuse_table", {"p_table": "x"}).execute()),
    "42703": (400, lambda sb: sb.table("posts").select("id").eq("no_such_column", 1).execute()),
    "PGRST202": (404, lambda sb: sb.rpc("no_such_function", {"a": 1}).execute()),
    "PGRST200": (400, lambda sb: sb.table("posts").select("id, jobs(id)").execute()),
    "PGRST108": (400, lambda sb: sb.table("posts").select("id").eq("campaigns.name", "x").execute()),
    "PGRST106": (406, lambda sb: sb.schema("private").table("posts").select("id").execute()),
}


@pytest.mark.parametrize("code", list(ERRORS))
def test_errors_round_trip_into_api_error(sb: Client, responses: list[httpx.Response], code: str) -> None:
    """Each server error reaches supabase-py as an APIError with PostgREST's code and HTTP status."""
    status, call = ERRORS[code]
    with pytest.raises(APIError) as caught:
        call(sb)
    assert (caught.value.code, responses[-1].status_code) == (code, status)
    assert responses[-1].headers["content-type"] == "application/json; charset=utf-8"
    assert set(caught.value.json()) == {"code", "details", "hint", "message"}


UNSUPPORTED: list[tuple[str, str, dict[str, str], str | None]] = [
    ("GET", "/rest/v1/posts?select=id::text", {}, None),
    ("GET", "/rest/v1/posts?select=count()", {}, None),
    ("GET", "/rest/v1/posts?select=ident:id", {}, None),
    ("GET", "/rest/v1/posts?select=id,campaigns!posts_campaign_id_fkey(name)", {}, None),
    ("GET", "/rest/v1/campaigns?select=id,posts(id)", {}, None),  # one-to-many
    ("GET", "/rest/v1/posts?select=id,campaigns(name)&campaigns=not.is.null", {}, None),
    ("GET", "/rest/v1/posts?select=id,campaigns(name)&campaigns.limit=1", {}, None),
    ("GET", "/rest/v1/posts?id=lt.3", {}, None),
    ("GET", "/rest/v1/posts?note=like.*a*", {}, None),
    ("GET", "/rest/v1/posts?note=is.true", {}, None),
    ("GET", "/rest/v1/posts?note=like(any).{a,b}", {}, None),
    ("GET", "/rest/v1/posts?select=id&offset=10", {}, None),
    ("GET", "/rest/v1/posts?select=id&order=id.nullsfirst", {}, None),
    ("GET", "/rest/v1/posts?select=id", {"Range": "0-9"}, None),
    ("GET", "/rest/v1/posts?select=id", {"Prefer": "count=exact"}, None),
    ("GET", "/rest/v1/campaigns?id=eq.1", {"Accept": "application/vnd.pgrst.object+json"}, None),
    ("POST", "/rest/v1/claims", {}, '{"id": 99, "status": "s"}'),
    ("POST", "/rest/v1/claims", {"Prefer": "resolution=merge-duplicates"}, '{"id": 1, "status": "s"}'),
    ("PATCH", "/rest/v1/claims?id=eq.1", {"Prefer": "handling=strict,max-affected=1"}, '{"status": "s"}'),
    ("DELETE", "/rest/v1/claims?id=eq.1", {}, None),
    ("GET", "/rest/v1/rpc/describe?at=2024-05-01T12:00:00Z&flag=true&n=1&label=x", {}, None),
    ("POST", "/rest/v1/rpc/jobs_of", {}, '{"ids": []}'),  # returns rows
    ("POST", "/rest/v1/rpc/small_numbers?limit=1", {}, "{}"),
]


@pytest.mark.parametrize(("method", "path", "headers", "body"), UNSUPPORTED)
def test_unsupported_syntax_is_rejected_not_guessed(
    raw: httpx.Client,
    db: psycopg.Connection[Any],
    method: str,
    path: str,
    headers: dict[str, str],
    body: str | None,
) -> None:
    """What the project does not use is outside the subset: 400 PGRST100, and nothing written."""
    reset_claims(db, 1)
    response = raw.request(method, path, headers=headers, content=body)
    assert (response.status_code, response.json()["code"]) == (400, "PGRST100"), response.text
    assert db.execute("SELECT id, status FROM claims").fetchall() == [(1, "scheduled")]


def test_head_is_rejected_without_a_body(raw: httpx.Client) -> None:
    """HEAD (select with head=True) is unsupported: a bare 400, no body to break keep-alive."""
    response = raw.head("/rest/v1/posts?select=id")
    assert (response.status_code, response.content) == (400, b"")
    assert raw.get("/rest/v1/posts?select=id&id=eq.1").json() == [{"id": 1}]  # the connection still works


def test_unknown_path_is_pgrst125(raw: httpx.Client) -> None:
    """A path outside /rest/v1 and /auth/v1/admin/users is a 404 PGRST125."""
    response = raw.get("/rest/v2/posts")
    assert (response.status_code, response.json()["code"]) == (404, "PGRST125")


def test_new_tables_are_found_without_a_restart(sb: Client, db: psycopg.Connection[Any]) -> None:
    """A table created after the catalog was loaded is found: the catalog reloads on a miss."""
    sb.table("campaigns").select("id").limit(1).execute()  # the catalog is loaded now
    db.execute(
        "CREATE TABLE IF NOT EXISTS late_arrival (id int PRIMARY KEY); INSERT INTO late_arrival VALUES (1)"
    )
    assert sb.table("late_arrival").select("id").execute().data == [{"id": 1}]


# --- the gateway and auth ---------------------------------------------------------------------


def test_missing_apikey_is_a_gateway_401(url: str) -> None:
    """Without an apikey header the gateway answers 401 'No API key found in request' (no code)."""
    response = httpx.get(f"{url}/rest/v1/posts")
    assert response.status_code == 401
    assert response.json()["message"] == "No API key found in request"
    assert "code" not in response.json()


def test_wrong_keys_are_rejected(url: str) -> None:
    """An unknown apikey is the gateway's 401; a known apikey with another Bearer is 401 PGRST301."""
    with connected(url, "wrong-key") as client, pytest.raises(APIError) as caught:
        client.table("posts").select("id").execute()
    assert (caught.value.code, caught.value.message) == (None, "Invalid API key")
    headers = {"apikey": SERVICE_KEY, "Authorization": "Bearer not-a-key"}
    response = httpx.get(f"{url}/rest/v1/posts", headers=headers)
    assert (response.status_code, response.json()["code"]) == (401, "PGRST301")


def test_auth_admin_list_users_pages_newest_first(sb: Client) -> None:
    """list_users reads auth.users: 1-based pages, created_at descending, 50 per page by default."""
    pages = [sb.auth.admin.list_users(page=page, per_page=3) for page in (1, 2, 3)]
    emails = [[user.email for user in page] for page in pages]
    assert emails == [
        ["user7@example.com", "user6@example.com", "user5@example.com"],
        ["user4@example.com", "user3@example.com", "user2@example.com"],
        ["user1@example.com"],
    ]
    everyone = sb.auth.admin.list_users()
    assert [user.email for user in everyone] == [email for page in emails for email in page]
    assert {user.aud for user in everyone} == {"authenticated"}
