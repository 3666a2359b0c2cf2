"""The store on real PostgreSQL through the real supabase-py client and the PostgREST stand-in:
candidate reads past the 1,000-row cap, test-mode filtering, the claim race, outcome writes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from devstack import seed
from devstack.stack import Stack
from services.config import load_config
from services.posts import CONTENT_POSTS, CREATED_CONTENT
from services.store import Scope, Store, make_client

pytestmark = pytest.mark.integration

# Fixed for the module: every row below is seeded relative to it, whenever the test runs.
NOW = datetime.now(UTC)
TOMORROW = (NOW.date() + timedelta(days=1)).isoformat()
LEASE = 900


def new_store(stack: Stack) -> Store:
    return Store(make_client(load_config(stack.env())))


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
    assert store.claim(CONTENT_POSTS, [b2], "run-t", LEASE, alice) == []
    assert len(store.claim(CONTENT_POSTS, [a2], "run-t", LEASE, alice)) == 1


def test_claim_race_each_row_won_once(stack: Stack):
    """Six concurrent claimers over the same 120 rows: every eligible row is won exactly once."""
    with stack.connect() as conn:
        user = seed.user(conn, "race@example.com")
        ids = [seed.created_content(conn, user, scheduled_at=NOW, content=f"r{i}") for i in range(120)]
        held_elsewhere = ids[:5]
        conn.execute(
            "UPDATE created_content SET metadata = jsonb_build_object('_publishing', true, "
            "'_publishing_at', publisher_iso(now()), '_publishing_run', 'other') WHERE id = ANY(%s::uuid[])",
            (held_elsewhere,),
        )
    won: dict[str, list[str]] = {}
    barrier = threading.Barrier(6)

    def claimer(name: str) -> None:
        store = new_store(stack)
        barrier.wait()
        mine: list[str] = []
        for start in range(0, len(ids), 10):
            mine += [
                row["id"] for row in store.claim(CREATED_CONTENT, ids[start : start + 10], name, LEASE, None)
            ]
        won[name] = mine

    threads = [threading.Thread(target=claimer, args=(f"run-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [post for posts in won.values() for post in posts]
    assert len(claimed) == len(set(claimed)) == 115
    assert set(claimed) == set(ids) - set(held_elsewhere)


def test_stale_claim_is_recovered_after_the_lease(stack: Stack):
    """A claim older than the lease (a crashed run) can be taken; a live one cannot."""
    with stack.connect() as conn:
        user = seed.user(conn, "stale@example.com")
        post = seed.created_content(
            conn,
            user,
            scheduled_at=NOW,
            metadata={
                "_publishing": True,
                "_publishing_at": "2026-01-01T00:00:00+00:00",
                "_publishing_run": "dead",
            },
        )
    store = new_store(stack)
    assert len(store.claim(CREATED_CONTENT, [post], "run-a", LEASE, None)) == 1
    assert store.claim(CREATED_CONTENT, [post], "run-b", LEASE, None) == []


def test_outcome_writes_both_tables(stack: Stack):
    """Published, failed, expired and deferred writes set what the app reads and drop the claim."""
    with stack.connect() as conn:
        user = seed.user(conn, "w@example.com")
        cc_pub = seed.created_content(conn, user, scheduled_at=NOW, metadata={"keep": 1})
        cc_fail = seed.created_content(conn, user, scheduled_at=NOW)
        campaign = seed.campaign(conn, user)
        cp_pub = seed.content_post(conn, campaign, scheduled_date=NOW.date(), scheduled_time="00:00")
        cp_exp = seed.content_post(conn, campaign, scheduled_date=NOW.date(), scheduled_time="00:00")
        cp_def = seed.content_post(conn, campaign, scheduled_date=NOW.date(), scheduled_time="00:00")
    store = new_store(stack)
    store.claim(CREATED_CONTENT, [cc_pub, cc_fail], "run-w", LEASE, None)
    store.claim(CONTENT_POSTS, [cp_pub, cp_exp, cp_def], "run-w", LEASE, None)
    assert store.mark_published(CREATED_CONTENT, cc_pub, "run-w", "facebook", "1_2", "https://fb/1_2")
    assert store.mark_published(CONTENT_POSTS, cp_pub, "run-w", "linkedin", "urn:li:share:9", "https://li/9")
    assert store.mark_failed(CREATED_CONTENT, cc_fail, "run-w", "Facebook rejected the post.")
    assert store.mark_expired(CONTENT_POSTS, cp_exp, "run-w", "Too late.")
    later = NOW + timedelta(minutes=5)
    assert store.defer(CONTENT_POSTS, cp_def, "run-w", later, "Rate limited.", True)
    assert not store.mark_failed(CONTENT_POSTS, cp_def, "run-w", "claim already dropped")
    with stack.connect() as conn:
        pub = seed.row(conn, CREATED_CONTENT, cc_pub)
        assert (pub["status"], pub["channel_post_id"]) == ("published", "1_2")
        assert pub["published_at"] is not None
        assert pub["metadata"]["facebook_post_id"] == "1_2"
        assert pub["metadata"]["post_url"] == "https://fb/1_2"
        assert pub["metadata"]["keep"] == 1
        assert "_publishing" not in pub["metadata"]
        cp = seed.row(conn, CONTENT_POSTS, cp_pub)
        assert cp["status"] == "published"
        assert cp["metadata"]["linkedin_post_id"] == "urn:li:share:9"
        failed = seed.row(conn, CREATED_CONTENT, cc_fail)
        assert failed["status"] == "draft"
        assert failed["published_at"] is None
        assert failed["channel_post_id"] is None
        assert failed["metadata"]["publish_error"] == "Facebook rejected the post."
        assert "publish_failed_at" in failed["metadata"]
        expired = seed.row(conn, CONTENT_POSTS, cp_exp)
        assert (expired["status"], expired["metadata"]["expired_reason"]) == ("expired", "Too late.")
        deferred = seed.row(conn, CONTENT_POSTS, cp_def)
        assert deferred["status"] == "scheduled"
        assert deferred["published_at"] is None
        assert deferred["metadata"]["_publish_attempts"] == 1
        assert deferred["metadata"]["_publish_next_attempt_at"].startswith(later.strftime("%Y-%m-%dT%H:%M"))


def test_writes_require_this_runs_claim(stack: Stack):
    """A run cannot write the outcome of a post it does not hold."""
    with stack.connect() as conn:
        user = seed.user(conn, "h@example.com")
        post = seed.created_content(conn, user, scheduled_at=NOW)
    store = new_store(stack)
    assert not store.mark_published(CREATED_CONTENT, post, "run-x", "facebook", "1_1", None)
    store.claim(CREATED_CONTENT, [post], "run-y", LEASE, None)
    assert not store.mark_published(CREATED_CONTENT, post, "run-x", "facebook", "1_1", None)
    assert not store.note(CREATED_CONTENT, post, "run-x", {"a": 1})
    with stack.connect() as conn:
        claimed_at = seed.row(conn, CREATED_CONTENT, post)["metadata"]["_publishing_at"]
    assert store.note(CREATED_CONTENT, post, "run-y", {"a": 1})
    with stack.connect() as conn:
        meta = seed.row(conn, CREATED_CONTENT, post)["metadata"]
    assert meta["a"] == 1
    assert meta["_publishing_at"] > claimed_at  # progress renews the lease


def test_null_and_garbage_metadata_are_merged_not_lost(stack: Stack):
    """NULL metadata is claimable; a non-object value is kept under _original_metadata."""
    with stack.connect() as conn:
        user = seed.user(conn, "n@example.com")
        campaign = seed.campaign(conn, user)
        null_meta = seed.content_post(conn, campaign, scheduled_date=NOW.date(), scheduled_time="00:00")
        garbage = seed.content_post(
            conn, campaign, scheduled_date=NOW.date(), scheduled_time="00:00", metadata=[1, 2]
        )
    store = new_store(stack)
    rows = store.claim(CONTENT_POSTS, [null_meta, garbage], "run-n", LEASE, None)
    assert len(rows) == 2
    by_id = {row["id"]: row for row in rows}
    assert by_id[null_meta]["metadata"]["_publishing"] is True
    assert by_id[null_meta]["content_campaigns"] == {"user_id": user}
    assert by_id[garbage]["metadata"]["_original_metadata"] == [1, 2]


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
    [claimed] = store.claim(CREATED_CONTENT, [post], "run-e", LEASE, None)
    assert claimed["content"] == "edited"
    assert claimed["metadata"]["app_note"] == 7
    assert claimed["metadata"]["media_type"] == "image"
    store.mark_published(CREATED_CONTENT, post, "run-e", "facebook", "1_9", None)
    with stack.connect() as conn:
        final = seed.row(conn, CREATED_CONTENT, post)
    assert final["metadata"]["app_note"] == 7
    assert final["metadata"]["facebook_post_id"] == "1_9"


def test_unscheduled_post_is_not_claimed(stack: Stack):
    """A post the user unscheduled or deleted after our read is simply not claimed."""
    with stack.connect() as conn:
        user = seed.user(conn, "u@example.com")
        unscheduled = seed.created_content(conn, user, scheduled_at=NOW)
        deleted = seed.created_content(conn, user, scheduled_at=NOW)
        conn.execute("UPDATE created_content SET status = 'draft' WHERE id = %s", (unscheduled,))
        conn.execute("DELETE FROM created_content WHERE id = %s", (deleted,))
    assert new_store(stack).claim(CREATED_CONTENT, [unscheduled, deleted], "run-u", LEASE, None) == []
