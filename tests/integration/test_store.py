"""The store's reads on real PostgreSQL through the real supabase-py client and the PostgREST
stand-in: candidate reads past the row cap (whatever the project sets it to), test-mode filtering,
and what a claim sees of the app's edits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devstack import seed
from devstack.stack import Stack
from services.config import load_config
from services.ledger import Ledger
from services.outcomes import Published
from services.posts import CONTENT_POSTS, CREATED_CONTENT, Post, post_from_row
from services.store import Scope, Store, make_client

pytestmark = pytest.mark.integration

# Fixed for the module: every row below is seeded relative to it, whenever the test runs.
NOW = datetime.now(UTC)
TOMORROW = (NOW.date() + timedelta(days=1)).isoformat()
LEASE = 900


def new_store(stack: Stack) -> Store:
    return Store(make_client(load_config(stack.env())))


def new_ledger(stack: Stack, run_id: str, *, user_id: str | None = None, lease: int = LEASE) -> Ledger:
    return Ledger(
        new_store(stack),
        run_id=run_id,
        lease=timedelta(seconds=lease),
        now=lambda: datetime.now(UTC),
        sleep=lambda _: None,
        user_id=user_id,
    )


def bare(table: str, *ids: str) -> list[Post]:
    """Posts as a claim needs them: table and id."""
    return [post_from_row(table, {"id": post_id}) for post_id in ids]


def bulk_due(stack: Stack, user_id: str, count: int) -> None:
    """Insert `count` due rows in each table with one statement each."""
    with stack.connect() as conn:
        conn.execute(
            "INSERT INTO created_content (user_id, platform, content_type, content, status, scheduled_at) "
            "SELECT %s, 'facebook', 'post', 'bulk ' || g, 'scheduled', %s::timestamptz - interval '1 minute' "
            "FROM generate_series(1, %s) g",
            (user_id, NOW, count),
        )
        campaign = seed.campaign(conn, user_id)
        conn.execute(
            "INSERT INTO content_posts (campaign_id, platform, post_type, content, scheduled_date, "
            "scheduled_time, status) SELECT %s, 'facebook', 'text', 'bulk ' || g, %s::date, '00:00', "
            "'scheduled' FROM generate_series(1, %s) g",
            (campaign, NOW.date(), count),
        )


def test_candidates_page_past_the_row_cap(stack: Stack):
    """More than 1,000 due rows per table are all read, in id order, despite the silent cap."""
    with stack.connect() as conn:
        user = seed.user(conn, "bulk@example.com")
    bulk_due(stack, user, 1234)
    store = new_store(stack)
    for table in (CREATED_CONTENT, CONTENT_POSTS):
        rows = list(store.candidates(table, NOW, TOMORROW, Scope()))
        ids = [row["id"] for row in rows]
        assert len(ids) == 1234
        assert ids == sorted(ids)
        assert len(set(ids)) == 1234


def test_candidates_skip_rows_that_cannot_be_due(stack: Stack):
    """Future scheduled_at, dates after tomorrow and other statuses are filtered on the server."""
    with stack.connect() as conn:
        user = seed.user(conn, "f@example.com")
        due = seed.created_content(conn, user, scheduled_at=NOW - timedelta(minutes=5))
        seed.created_content(conn, user, scheduled_at=NOW + timedelta(hours=2))
        seed.created_content(conn, user, scheduled_at=None, scheduled_date=NOW.date() + timedelta(days=3))
        local = seed.created_content(
            conn, user, scheduled_at=None, scheduled_date=NOW.date(), scheduled_time="10:00"
        )
        broken = seed.created_content(conn, user, scheduled_at=None)  # no schedule at all: must be seen
        seed.created_content(conn, user, scheduled_at=NOW - timedelta(minutes=5), status="draft")
        campaign = seed.campaign(conn, user)
        cp_due = seed.content_post(conn, campaign, scheduled_date=NOW.date(), scheduled_time="00:00")
        seed.content_post(
            conn, campaign, scheduled_date=NOW.date() + timedelta(days=2), scheduled_time="00:00"
        )
    store = new_store(stack)
    found = {row["id"] for row in store.candidates(CREATED_CONTENT, NOW, TOMORROW, Scope())}
    assert found == {due, local, broken}
    assert [row["id"] for row in store.candidates(CONTENT_POSTS, NOW, TOMORROW, Scope())] == [cp_due]


def test_test_user_scope_filters_both_tables_on_the_server(stack: Stack):
    """In test mode only the test user's posts are read (content_posts through the campaign owner)."""
    with stack.connect() as conn:
        alice = seed.user(conn, "alice@example.com")
        bob = seed.user(conn, "bob@example.com")
        a1 = seed.created_content(conn, alice, scheduled_at=NOW)
        seed.created_content(conn, bob, scheduled_at=NOW)
        a2 = seed.content_post(
            conn, seed.campaign(conn, alice), scheduled_date=NOW.date(), scheduled_time="00:00"
        )
        b2 = seed.content_post(
            conn, seed.campaign(conn, bob), scheduled_date=NOW.date(), scheduled_time="00:00"
        )
        orphan = seed.content_post(
            conn, seed.campaign(conn, None), scheduled_date=NOW.date(), scheduled_time="00:00"
        )
    store = new_store(stack)
    scope = Scope(user_id=alice)
    assert [r["id"] for r in store.candidates(CREATED_CONTENT, NOW, TOMORROW, scope)] == [a1]
    assert [r["id"] for r in store.candidates(CONTENT_POSTS, NOW, TOMORROW, scope)] == [a2]
    everyone = {r["id"] for r in store.candidates(CONTENT_POSTS, NOW, TOMORROW, Scope())}
    assert everyone == {a2, b2, orphan}  # an ownerless post is still seen, so it gets an error
    ledger = new_ledger(stack, "run-t", user_id=alice)
    assert ledger.claim(bare(CONTENT_POSTS, b2)) == []
    assert len(ledger.claim(bare(CONTENT_POSTS, a2))) == 1


def test_app_edits_between_read_and_claim_are_kept(stack: Stack):
    """The claim merges on the server: keys and text the app wrote after our read survive."""
    with stack.connect() as conn:
        user = seed.user(conn, "e@example.com")
        post = seed.created_content(conn, user, scheduled_at=NOW, metadata={"media_type": "image"})
    store = new_store(stack)
    [read] = list(store.candidates(CREATED_CONTENT, NOW, TOMORROW, Scope()))
    assert read["metadata"] == {"media_type": "image"}
    with stack.connect() as conn:
        conn.execute(
            "UPDATE created_content SET content = 'edited', metadata = metadata || '{\"app_note\": 7}' "
            "WHERE id = %s",
            (post,),
        )
    ledger = new_ledger(stack, "run-e")
    [claimed] = ledger.claim(bare(CREATED_CONTENT, post))
    assert claimed.content == "edited"
    assert claimed.metadata["app_note"] == 7
    assert claimed.metadata["media_type"] == "image"
    assert ledger.settle(claimed, Published("1_9", None))
    with stack.connect() as conn:
        final = seed.row(conn, CREATED_CONTENT, post)
    assert final["metadata"]["app_note"] == 7
    assert final["metadata"]["facebook_post_id"] == "1_9"


def test_candidates_are_all_read_when_max_rows_is_below_the_page_size(stack: Stack):
    """A project whose "Max rows" is 7 still has every due row read: paging stops at an empty page."""
    with stack.connect() as conn:
        user = seed.user(conn, "cap@example.com")
    bulk_due(stack, user, 30)
    stack.api.max_rows = 7
    store = new_store(stack)
    for table in (CREATED_CONTENT, CONTENT_POSTS):
        assert len({row["id"] for row in store.candidates(table, NOW, TOMORROW, Scope())}) == 30
