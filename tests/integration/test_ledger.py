"""The ledger on real PostgreSQL through the real supabase-py client and the PostgREST stand-in:
the claim race, leases renewed in one statement, outcomes and what they keep, notes conditional on
the claim, and a run's threads sharing one client."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from devstack import seed
from devstack.stack import Stack
from services.ledger import ClaimLostError, Ledger
from services.outcomes import Deferred, Expired, Failed, Published, Unconfirmed
from tests.integration.test_store import bare, new_ledger, new_store

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
CC, CP = "created_content", "content_posts"
OLD_CLAIM = '{"_publishing_at": "2000-01-01T00:00:00+00:00"}'


def claimed_meta(metadata: dict[str, object], run: str = "run-w") -> dict[str, object]:
    return {
        **metadata,
        "_publishing": True,
        "_publishing_at": "2026-01-01T00:00:00+00:00",
        "_publishing_run": run,
    }


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
        ledger = new_ledger(stack, name)
        barrier.wait()
        mine: list[str] = []
        for start in range(0, len(ids), 10):
            mine += [post.id for post in ledger.claim(bare(CC, *ids[start : start + 10]))]
        won[name] = mine

    threads = [threading.Thread(target=claimer, args=(f"run-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [post for posts in won.values() for post in posts]
    assert len(claimed) == len(set(claimed)) == 115
    assert set(claimed) == set(ids) - set(held_elsewhere)


def test_threads_sharing_one_ledger_each_win_their_own_rows(stack: Stack):
    """Sixteen lane threads on one client and ledger: every claim, note and outcome lands on its row."""
    with stack.connect() as conn:
        user = seed.user(conn, "lanes@example.com")
        ids = [seed.created_content(conn, user, scheduled_at=NOW, content=f"l{i}") for i in range(64)]
    ledger = new_ledger(stack, "run-lanes")
    posts = ledger.claim(bare(CC, *ids))
    assert len(posts) == 64
    errors: list[BaseException] = []

    def lane(chunk: list[object]) -> None:
        try:
            for post in chunk:
                ledger.progress(post).remember(mark=post.id)  # type: ignore[attr-defined]
                ledger.settle(post, Published(f"pid-{post.id}", None))  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=lane, args=(posts[i::16],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with stack.connect() as conn:
        rows = conn.execute(
            "SELECT id::text, status, metadata->>'facebook_post_id' FROM created_content "
            "WHERE id = ANY(%s::uuid[])",
            (ids,),
        ).fetchall()
    assert {(pid, status, post_id) for pid, status, post_id in rows} == {
        (pid, "published", f"pid-{pid}") for pid in ids
    }


def test_stale_claim_is_recovered_after_the_lease(stack: Stack):
    """A claim older than the lease (a crashed run) can be taken; a live one cannot."""
    with stack.connect() as conn:
        user = seed.user(conn, "stale@example.com")
        post = seed.created_content(conn, user, scheduled_at=NOW, metadata=claimed_meta({}, "dead"))
    assert len(new_ledger(stack, "run-a").claim(bare(CC, post))) == 1
    assert new_ledger(stack, "run-b").claim(bare(CC, post)) == []


def test_a_run_may_claim_again_what_it_holds(stack: Stack):
    """A claim retried after its answer was lost wins the same rows again (nobody else can)."""
    with stack.connect() as conn:
        user = seed.user(conn, "again@example.com")
        post = seed.created_content(conn, user, scheduled_at=NOW)
    ledger = new_ledger(stack, "run-r")
    assert len(ledger.claim(bare(CC, post))) == 1
    assert len(ledger.claim(bare(CC, post))) == 1
    assert new_ledger(stack, "run-s").claim(bare(CC, post)) == []


def test_renewal_keeps_claims_alive_past_the_lease_and_reports_lost_ones(stack: Stack):
    """One renewal call extends every held claim in both tables; a claim taken over is reported lost."""
    with stack.connect() as conn:
        user = seed.user(conn, "renew@example.com")
        cc = [seed.created_content(conn, user, scheduled_at=NOW) for _ in range(3)]
        cp = seed.content_post(
            conn, seed.campaign(conn, user), scheduled_date=NOW.date(), scheduled_time="00:00"
        )
    store = new_store(stack)
    calls: list[str] = []
    real_rpc = store.rpc

    def counted(fn: str, params: dict[str, object]) -> object:
        calls.append(fn)
        return real_rpc(fn, params)

    store.rpc = counted  # type: ignore[method-assign]
    ledger = Ledger(store, run_id="run-keeper", lease=timedelta(seconds=60), now=lambda: datetime.now(UTC))
    held = ledger.claim([*bare(CC, *cc), *bare(CP, cp)])
    with stack.connect() as conn:
        # Age every claim past the lease, and let another run take one of them over.
        conn.execute("UPDATE created_content SET metadata = metadata || %s::jsonb", (OLD_CLAIM,))
        conn.execute("UPDATE content_posts SET metadata = metadata || %s::jsonb", (OLD_CLAIM,))
        conn.execute(
            "UPDATE created_content SET metadata = metadata || %s::jsonb WHERE id = %s",
            ('{"_publishing_run": "thief"}', cc[0]),
        )
    calls.clear()
    lost = ledger.renew()
    assert [post.id for post in lost] == [cc[0]]
    assert calls == ["publisher_renew"]  # one statement for every claim, in both tables
    assert new_ledger(stack, "run-other", lease=60).claim([*bare(CC, *cc[1:]), *bare(CP, cp)]) == []
    lost_post = next(post for post in held if post.id == cc[0])
    with pytest.raises(ClaimLostError):
        ledger.progress(lost_post).sending()


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
    ledger = new_ledger(stack, "run-w")
    posts = {p.id: p for p in ledger.claim([*bare(CC, cc_pub, cc_fail), *bare(CP, cp_pub, cp_exp, cp_def)])}
    linkedin = posts[cp_pub].__class__(**{**posts[cp_pub].__dict__, "platform": "linkedin"})
    assert ledger.settle(posts[cc_pub], Published("1_2", "https://fb/1_2", {"youtube_privacy": "public"}))
    assert ledger.settle(linkedin, Published("urn:li:share:9", "https://li/9"))
    assert ledger.settle(posts[cc_fail], Failed("Facebook rejected the post."))
    assert ledger.settle(posts[cp_exp], Expired("Too late."))
    later = NOW + timedelta(minutes=5)
    assert ledger.settle(posts[cp_def], Deferred("Rate limited.", later, count_attempt=True))
    assert not ledger.settle(posts[cp_def], Failed("claim already dropped"))
    with stack.connect() as conn:
        pub = seed.row(conn, CC, cc_pub)
        assert (pub["status"], pub["channel_post_id"]) == ("published", "1_2")
        assert pub["published_at"] is not None
        assert pub["metadata"]["facebook_post_id"] == "1_2"
        assert pub["metadata"]["post_url"] == "https://fb/1_2"
        assert pub["metadata"]["youtube_privacy"] == "public"  # notes the adapter returned
        assert pub["metadata"]["keep"] == 1
        assert "_publishing" not in pub["metadata"]
        cp = seed.row(conn, CP, cp_pub)
        assert cp["status"] == "published"
        assert cp["metadata"]["linkedin_post_id"] == "urn:li:share:9"
        failed = seed.row(conn, CC, cc_fail)
        assert failed["status"] == "draft"
        assert failed["published_at"] is None
        assert failed["channel_post_id"] is None
        assert failed["metadata"]["publish_error"] == "Facebook rejected the post."
        assert "publish_failed_at" in failed["metadata"]
        expired = seed.row(conn, CP, cp_exp)
        assert (expired["status"], expired["metadata"]["expired_reason"]) == ("expired", "Too late.")
        deferred = seed.row(conn, CP, cp_def)
        assert deferred["status"] == "scheduled"
        assert deferred["published_at"] is None
        assert deferred["metadata"]["_publish_attempts"] == 1
        assert deferred["metadata"]["_publish_next_attempt_at"].startswith(later.strftime("%Y-%m-%dT%H:%M"))


WORKING = {
    "_publish_sending_at": "2026-11-30T09:00:00+00:00",
    "_publish_remote": {"upload_url": "https://upload.example/old", "container_id": "17"},
    "_publish_attempts": 2,
    "_publish_next_attempt_at": "2026-11-30T09:05:00+00:00",
    "_publish_last_error": "YouTube had a temporary problem",
}


@pytest.mark.parametrize(
    ("outcome", "status", "kept"),
    [
        (Published("1_1", None), "published", set()),
        (Failed("No."), "draft", set()),
        (Expired("Late."), "expired", set()),
        # May be live: the sending mark and remote ids are the evidence a reschedule reconciles with.
        (Unconfirmed("Check your account."), "draft", {"_publish_sending_at", "_publish_remote"}),
        (Unconfirmed("Check.", expired=True), "expired", {"_publish_sending_at", "_publish_remote"}),
    ],
)
def test_an_ended_post_keeps_only_the_evidence_it_may_be_live(stack: Stack, outcome, status, kept):
    """When a post ends, its working keys go, except the evidence that it may be live."""
    with stack.connect() as conn:
        user = seed.user(conn, "end@example.com")
        post = seed.created_content(conn, user, scheduled_at=NOW, metadata=dict(WORKING))
    ledger = new_ledger(stack, "run-end")
    [claimed] = ledger.claim(bare(CC, post))
    assert ledger.settle(claimed, outcome)
    with stack.connect() as conn:
        row = seed.row(conn, CC, post)
    assert row["status"] == status
    assert set(WORKING) & set(row["metadata"]) == kept
    if isinstance(outcome, Unconfirmed):
        assert "_publish_unconfirmed_at" in row["metadata"]
        key = "expired_reason" if outcome.expired else "publish_error"
        assert row["metadata"][key] == outcome.message


def test_writes_require_this_runs_claim(stack: Stack):
    """A run cannot write the outcome or notes of a post it does not hold."""
    with stack.connect() as conn:
        user = seed.user(conn, "h@example.com")
        post = seed.created_content(conn, user, scheduled_at=NOW)
    stranger = new_ledger(stack, "run-x")
    [unclaimed] = bare(CC, post)
    assert not stranger.settle(unclaimed, Published("1_1", None))
    owner = new_ledger(stack, "run-y")
    [claimed] = owner.claim(bare(CC, post))
    assert not stranger.settle(claimed, Published("1_1", None))
    with pytest.raises(ClaimLostError):
        stranger.note(claimed, {"a": 1})
    with stack.connect() as conn:
        claimed_at = seed.row(conn, CC, post)["metadata"]["_publishing_at"]
    owner.note(claimed, {"a": 1})
    with stack.connect() as conn:
        meta = seed.row(conn, CC, post)["metadata"]
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
    posts = new_ledger(stack, "run-n").claim(bare(CP, null_meta, garbage))
    by_id = {post.id: post for post in posts}
    assert by_id[null_meta].metadata["_publishing"] is True
    assert by_id[null_meta].owner_id == user
    assert by_id[garbage].metadata["_original_metadata"] == [1, 2]


def test_unscheduled_post_is_not_claimed(stack: Stack):
    """A post the user unscheduled or deleted after our read is simply not claimed."""
    with stack.connect() as conn:
        user = seed.user(conn, "u@example.com")
        unscheduled = seed.created_content(conn, user, scheduled_at=NOW)
        deleted = seed.created_content(conn, user, scheduled_at=NOW)
        conn.execute("UPDATE created_content SET status = 'draft' WHERE id = %s", (unscheduled,))
        conn.execute("DELETE FROM created_content WHERE id = %s", (deleted,))
    assert new_ledger(stack, "run-u").claim(bare(CC, unscheduled, deleted)) == []


def test_claims_are_never_cut_by_a_low_max_rows(stack: Stack):
    """With "Max rows" at 3, a claim of 10 posts still returns all 10 (the answer is one JSON value)."""
    with stack.connect() as conn:
        user = seed.user(conn, "cap@example.com")
        ids = [seed.created_content(conn, user, scheduled_at=NOW) for _ in range(10)]
    stack.api.max_rows = 3
    assert len(new_ledger(stack, "run-cap").claim(bare(CC, *ids))) == 10


def test_ledger_is_usable_as_the_adapters_progress(stack: Stack):
    """PostProgress refuses to send when only reconciling is allowed (past the lateness limit)."""
    from services.ledger import SendingNotAllowedError

    with stack.connect() as conn:
        user = seed.user(conn, "rec@example.com")
        post = seed.created_content(conn, user, scheduled_at=NOW)
    ledger: Ledger = new_ledger(stack, "run-rec")
    [claimed] = ledger.claim(bare(CC, post))
    progress = ledger.progress(claimed, may_send=False)
    progress.remember(container_id="c1")
    with pytest.raises(SendingNotAllowedError):
        progress.sending()
    with stack.connect() as conn:
        meta = seed.row(conn, CC, post)["metadata"]
    assert meta["_publish_remote"] == {"container_id": "c1"}
    assert "_publish_sending_at" not in meta
