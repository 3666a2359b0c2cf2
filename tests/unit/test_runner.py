"""The runner's lanes against fakes of the ledger, the store and the publisher: due order per
account, the caps, a stalled account that holds up nobody else, stopped lanes and platforms, the
budget, and rescans while long work goes on."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.candidates import RunOptions
from services.ledger import ClaimLostError
from services.outcomes import Deferred, Expired, Failed, Outcome, Published, Released, Status
from services.posts import CREATED_CONTENT, Post
from services.runner import Runner, RunSettings

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def row(post_id: str, account: str, minute: int = 0, platform: str = "facebook") -> dict[str, Any]:
    """A due created_content row for `account`, due `minute` minutes past NOW - 10 min."""
    return {
        "id": post_id,
        "user_id": "u1",
        "platform": platform,
        "content_type": "post",
        "content": f"text {post_id}",
        "status": "scheduled",
        "metadata": {"account": account},
        "scheduled_at": (NOW - timedelta(minutes=10 - minute)).isoformat(),
    }


@dataclass
class FakeStore:
    """The run's reads: rows per table (a test may add rows between reads)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    reads: int = 0

    def candidates(self, table: str, now: datetime, tomorrow: str, scope: Any) -> list[dict[str, Any]]:
        if table != CREATED_CONTENT:
            return []
        self.reads += 1
        return [r for r in self.rows if r["status"] == "scheduled"]

    def timezones(self, user_ids: list[str]) -> dict[str, Any]:
        return {}


@dataclass
class FakeLedger:
    """Claims and outcomes in memory; a row is claimed once and settled once."""

    store: FakeStore
    run_id: str = "run-test"
    claimed: list[str] = field(default_factory=list)
    settled: dict[str, Outcome] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, posts: list[Post]) -> list[Post]:
        with self.lock:
            won = [p for p in posts if p.id not in self.claimed]
            self.claimed += [p.id for p in won]
        return won

    def settle(self, post: Post, outcome: Outcome) -> bool:
        with self.lock:
            assert post.id not in self.settled, f"{post.id} settled twice"
            self.settled[post.id] = outcome
            for r in self.store.rows:
                if r["id"] == post.id and not isinstance(outcome, Deferred | Released):
                    r["status"] = outcome.status.value
        return True

    def renew(self) -> list[Post]:
        return []

    def release_all(self, why: str) -> int:
        return 0

    def flush_touched(self) -> None:
        pass


@dataclass
class FakePublisher:
    """Publishes instantly unless told otherwise; records when each post ran."""

    delays: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    runs: dict[str, tuple[float, float]] = field(default_factory=dict)
    in_flight: int = 0
    in_flight_by_platform: dict[str, int] = field(default_factory=dict)
    most_in_flight: int = 0
    most_by_platform: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load_connections(self, owner_ids: list[str]) -> list[dict[str, Any]]:
        return []

    def verify_key(self, rows: list[dict[str, Any]]) -> None:
        pass

    def prime(self, rows: list[dict[str, Any]]) -> None:
        pass

    def lane_key(self, post: Post) -> str:
        return f"connection:{post.metadata['account']}"

    def publish(self, post: Post, *, may_send: bool = True) -> Outcome:
        with self.lock:
            self.in_flight += 1
            self.in_flight_by_platform[post.platform] = self.in_flight_by_platform.get(post.platform, 0) + 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.most_by_platform[post.platform] = max(
                self.most_by_platform.get(post.platform, 0), self.in_flight_by_platform[post.platform]
            )
        started = time.monotonic()
        time.sleep(self.delays.get(post.id, 0.01))
        with self.lock:
            self.in_flight -= 1
            self.in_flight_by_platform[post.platform] -= 1
            self.runs[post.id] = (started, time.monotonic())
        return self.outcomes.get(post.id, Published(f"p-{post.id}", None))


def make_runner(
    rows: list[dict[str, Any]], **settings: Any
) -> tuple[Runner, FakeStore, FakeLedger, FakePublisher]:
    store = FakeStore(rows)
    ledger = FakeLedger(store)
    publisher = FakePublisher()
    defaults: dict[str, Any] = {"claim_lease": timedelta(minutes=15), "caps": {}}
    runner = Runner(
        store,  # type: ignore[arg-type]
        ledger,  # type: ignore[arg-type]
        publisher,  # type: ignore[arg-type]
        RunSettings(**{**defaults, **settings}),
        now=lambda: NOW,
    )
    return runner, store, ledger, publisher


def test_posts_to_one_account_go_one_at_a_time_in_due_order():
    """Five posts of one account, read in shuffled order, run in due order and never overlap."""
    rows = [row(f"a{m}", "A", minute=m) for m in (3, 1, 4, 0, 2)] + [row(f"b{m}", "B", m) for m in range(5)]
    runner, _, ledger, publisher = make_runner(rows, concurrency=8)
    summary = runner.run(RunOptions())
    assert summary.count(Status.PUBLISHED) == 10
    for account in "ab":
        spans = sorted((publisher.runs[f"{account}{m}"], m) for m in range(5))
        assert [m for _, m in spans] == [0, 1, 2, 3, 4]  # started in due order
        for (first, _), (second, _) in itertools.pairwise(spans):
            assert first[1] <= second[0]  # the next began after the previous ended
    assert sorted(ledger.claimed) == sorted(r["id"] for r in rows)


def test_concurrency_and_platform_caps_are_respected():
    """Never more than PUBLISH_CONCURRENCY posts in flight, nor more YouTube uploads than its cap."""
    rows = [row(f"f{i}", f"fb{i}") for i in range(30)] + [
        row(f"y{i}", f"yt{i}", platform="youtube") for i in range(6)
    ]
    runner, _, _, publisher = make_runner(rows, concurrency=5, caps={"youtube": 2})
    publisher.delays = {r["id"]: 0.05 for r in rows}
    summary = runner.run(RunOptions())
    assert summary.count(Status.PUBLISHED) == 36
    assert publisher.most_in_flight == 5
    assert publisher.most_by_platform["youtube"] <= 2


def test_a_stalled_account_does_not_delay_the_others():
    """One post that takes long holds up only its own account's next post."""
    rows = [row("slow", "A", 0), row("after-slow", "A", 1)] + [
        row(f"o{i}", f"other{i}", 1) for i in range(20)
    ]
    runner, _, _, publisher = make_runner(rows, concurrency=4)
    publisher.delays = {"slow": 0.6}
    runner.run(RunOptions())
    slow_end = publisher.runs["slow"][1]
    assert all(publisher.runs[f"o{i}"][1] < slow_end for i in range(20))
    assert publisher.runs["after-slow"][0] >= slow_end


def test_an_account_stopped_by_auth_fails_its_own_posts_without_sending():
    """An auth failure stops that account's lane: its other posts fail with the same advice, unsent."""
    rows = [row(f"a{m}", "A", m) for m in range(3)] + [row(f"b{m}", "B", m) for m in range(3)]
    runner, _, ledger, publisher = make_runner(rows, concurrency=1)
    publisher.outcomes["a0"] = Failed(
        "Reconnect your Facebook account.", disconnect="expired", stop_account=True
    )
    summary = runner.run(RunOptions())
    assert set(publisher.runs) == {"a0", "b0", "b1", "b2"}
    assert all(isinstance(ledger.settled[f"a{m}"], Failed) for m in range(3))
    assert ledger.settled["a2"].message == "Reconnect your Facebook account."  # type: ignore[union-attr]
    assert summary.count(Status.PUBLISHED) == 3


def test_a_platform_stopped_by_configuration_defers_only_its_posts():
    """A class-C error defers the platform's other posts unsent; other platforms publish."""
    rows = [row(f"l{i}", f"li{i}", i, platform="linkedin") for i in range(4)] + [
        row(f"f{i}", f"fb{i}") for i in range(4)
    ]
    runner, _, ledger, publisher = make_runner(rows, concurrency=1)
    stop = Deferred(
        "LinkedIn no longer accepts API version 202401.", NOW + timedelta(minutes=30), stop_platform=True
    )
    publisher.outcomes["l0"] = stop
    summary = runner.run(RunOptions())
    assert [p for p in publisher.runs if p.startswith("l")] == ["l0"]
    assert all(ledger.settled[f"l{i}"] == stop for i in range(4))
    assert summary.count(Status.PUBLISHED) == 4


def test_posts_not_started_within_the_budget_are_given_back():
    """When the budget runs out, waiting posts are released for the next run; running ones finish."""
    rows = [row(f"a{m}", "A", m) for m in range(5)]
    runner, _, ledger, publisher = make_runner(rows, concurrency=2, budget=timedelta(seconds=0.25))
    publisher.delays = {f"a{m}": 0.2 for m in range(5)}
    summary = runner.run(RunOptions())
    published = summary.count(Status.PUBLISHED)
    assert 1 <= published < 5
    assert summary.count(Status.RELEASED) == 5 - published
    assert all(isinstance(ledger.settled[f"a{m}"], Released) for m in range(published, 5))


def test_a_run_with_long_work_picks_up_posts_that_fall_due_meanwhile():
    """While a long upload goes on, a rescan publishes what became due; the run ends with the upload."""
    rows = [row("upload", "YT", platform="youtube")]
    runner, store, _, publisher = make_runner(rows, concurrency=4, rescan_interval=timedelta(seconds=0.2))
    publisher.delays = {"upload": 0.9}

    def later() -> None:
        time.sleep(0.3)
        store.rows.append(row("late", "FB"))

    threading.Thread(target=later).start()
    summary = runner.run(RunOptions())
    assert summary.count(Status.PUBLISHED) == 2
    assert publisher.runs["late"][1] < publisher.runs["upload"][1]
    assert store.reads >= 2


def test_a_post_whose_claim_is_lost_is_left_alone():
    """ClaimLostError during publishing: nothing is written for that post, the others go on."""
    rows = [row("lost", "A"), row("fine", "B")]
    runner, _, ledger, publisher = make_runner(rows, concurrency=2)

    def publish(post: Post, *, may_send: bool = True) -> Outcome:
        if post.id == "lost":
            raise ClaimLostError(post.ref)
        return Published("p", None)

    publisher.publish = publish  # type: ignore[method-assign]
    summary = runner.run(RunOptions())
    assert "lost" not in ledger.settled
    assert summary.count(Status.PUBLISHED) == 1


@pytest.mark.parametrize("limit", [1, 3])
def test_limit_caps_the_posts_settled(limit):
    """--limit N settles at most N posts, the earliest due first."""
    rows = [row(f"p{m}", f"acct{m}", m) for m in range(5)]
    runner, _, ledger, _ = make_runner(rows, concurrency=4)
    runner.run(RunOptions(limit=limit))
    assert sorted(ledger.settled) == [f"p{m}" for m in range(limit)]


def test_a_post_a_quota_held_past_the_limit_says_so_when_it_expires():
    """Expired after waiting on a platform's quota: the reason names the wait, not just the lateness."""
    late = row("held", "YT", platform="youtube")
    late["scheduled_at"] = (NOW - timedelta(days=2)).isoformat()
    late["metadata"]["_publish_last_error"] = "YouTube's daily upload quota for this app is used up."
    runner, _, ledger, publisher = make_runner([late])
    runner.run(RunOptions())
    outcome = ledger.settled["held"]
    assert isinstance(outcome, Expired)
    assert outcome.message.startswith("Not published: it was due")
    assert "It was waiting because: YouTube's daily upload quota" in outcome.message
    assert publisher.runs == {}  # never sent


def test_an_ambiguous_post_past_the_limit_is_only_reconciled():
    """Past the limit with a sending mark: the publisher is asked to look, never allowed to send."""
    late = row("doubt", "FB")
    late["scheduled_at"] = (NOW - timedelta(days=2)).isoformat()
    late["metadata"]["_publish_sending_at"] = (NOW - timedelta(days=2)).isoformat()
    runner, _, _, publisher = make_runner([late])
    calls: list[bool] = []

    def publish(post: Post, *, may_send: bool = True) -> Outcome:
        calls.append(may_send)
        return Published("found", None)

    publisher.publish = publish  # type: ignore[method-assign]
    assert runner.run(RunOptions()).count(Status.PUBLISHED) == 1
    assert calls == [False]


def test_every_thread_gets_an_account_when_accounts_have_many_posts():
    """Ten posts per account do not starve the lanes: all threads run at once."""
    rows = [row(f"a{a}-{m}", f"acct{a}", m) for a in range(8) for m in range(10)]
    runner, _, _, publisher = make_runner(rows, concurrency=8)
    publisher.delays = {r["id"]: 0.02 for r in rows}
    assert runner.run(RunOptions()).count(Status.PUBLISHED) == 80
    assert publisher.most_in_flight == 8
