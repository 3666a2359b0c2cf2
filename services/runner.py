"""One publishing run: the lanes, the time budget and the counts.

The order of events for every post is what makes "exactly once" hold:
1. read: only rows that can be due (server-side filter, keyset pages), decided with the run's
   clock (services.decisions);
2. claim: whole accounts at a time, one statement per table (services.ledger); only posts this
   run won go on, and their leases are renewed while the run works;
3. decide again on the claimed row (the app may have rescheduled it meanwhile);
4. publish in the account's lane (services.lanes: one post at a time per account, in due order;
   a cap per platform and for the whole run), the adapter noting "sending" before any call that
   can publish;
5. write the outcome, conditional on still holding the claim.

A run keeps starting the posts it read for `budget`; posts it could not start by then are given
back for the next run. While work is still going (a long video upload), it reads again every
`rescan_interval` and publishes what has fallen due since, because cron's next run on this host
is skipped while this one holds the host's lock. It ends when no work is left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.candidates import RunOptions, read_candidates
from services.content_publisher import ContentPublisher
from services.decisions import LAST_ERROR_KEY, Action, Candidate, evaluate, expiry_reason, to_settle
from services.errors import StoreError
from services.lanes import Lanes
from services.ledger import RENEWALS_PER_LEASE, ClaimLostError, Ledger
from services.outcomes import Deferred, Expired, Failed, Outcome, Published, Released, Status
from services.posts import Post
from services.store import Store

log = logging.getLogger("publisher")


@dataclass(frozen=True)
class RunSettings:
    """The timing and concurrency rules of a run (from configuration)."""

    max_lateness: timedelta = timedelta(hours=24)
    claim_lease: timedelta = timedelta(minutes=15)
    budget: timedelta = timedelta(seconds=50)
    batch_size: int = 25
    concurrency: int = 16
    caps: dict[str, int] = field(default_factory=dict)  # per platform; configuration sets YouTube 2
    rescan_interval: timedelta = timedelta(minutes=1)


@dataclass
class Summary:
    """Counts of one run, for its closing log line."""

    run_id: str
    claimed: int = 0
    counts: dict[Status, int] = field(default_factory=lambda: dict.fromkeys(Status, 0))
    seconds: float = 0.0
    # --post-id: the requested posts this run settled (the CLI reports the others).
    settled_refs: set[str] = field(default_factory=set)

    def count(self, status: Status) -> int:
        """How many posts ended with `status`."""
        return self.counts[status]

    def line(self) -> str:
        """The closing line of a run."""
        parts = " ".join(f"{status.value}={self.counts[status]}" for status in Status)
        return f"run {self.run_id} finished: claimed={self.claimed} {parts} duration={self.seconds:.2f}s"


class Runner:
    """Runs one publishing pass over both tables."""

    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        publisher: ContentPublisher,
        settings: RunSettings,
        *,
        now: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._publisher = publisher
        self._settings = settings
        self._now = now
        self._monotonic = monotonic

    @property
    def run_id(self) -> str:
        """This run's id (in every claim it takes)."""
        return self._ledger.run_id

    # ---- the run -------------------------------------------------------------------------------
    def run(self, options: RunOptions) -> Summary:
        """Publish everything due; return the counts."""
        started = self._monotonic()
        summary = Summary(self.run_id)
        pass_ = _Pass(self, options, summary)
        try:
            with self._lease_keeper():
                pass_.go()
        finally:
            summary.counts[Status.RELEASED] += self._ledger.release_all("the run ended")
            self._ledger.flush_touched()
            summary.seconds = self._monotonic() - started
        return summary

    @contextmanager
    def _lease_keeper(self) -> Iterator[None]:
        """Renew every held claim's lease in the background while the run works."""
        stop = threading.Event()
        period = max(1.0, self._settings.claim_lease.total_seconds() / RENEWALS_PER_LEASE)

        def keep() -> None:
            while not stop.wait(period):
                try:
                    self._ledger.renew()
                except StoreError as exc:
                    log.warning("run %s: renewing claims failed (%s); retrying", self.run_id, exc)

        keeper = threading.Thread(target=keep, name="lease-keeper", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            stop.set()
            keeper.join(timeout=30)


class _Pass:
    """The state of one run's work: what was read, what is claimed, what runs where."""

    def __init__(self, runner: Runner, options: RunOptions, summary: Summary) -> None:
        self.runner = runner
        self.options = options
        self.summary = summary
        self.lock = threading.Lock()  # guards the summary, written by lane threads
        settings = runner._settings
        self.settings = settings
        self.lanes = Lanes(settings.concurrency, settings.caps)
        self.pending: OrderedDict[str, list[Candidate]] = OrderedDict()  # lane key → read, unclaimed
        self.known: set[str] = set()  # refs read this run (a rescan adds only new ones)
        self.futures: dict[Future[Outcome | None], tuple[str, Post]] = {}
        self.platform_stops: dict[str, Deferred] = {}
        self.round_started = 0.0
        self.force = bool(options.post_ids)

    # ---- reading and claiming -----------------------------------------------------------------
    def read(self, *, first: bool) -> int:
        """Read what can be due now and queue what is new; how many posts were queued."""
        runner = self.runner
        now = runner._now()
        candidates = read_candidates(
            runner._store, self.options, now, self.settings.max_lateness, quiet=not first
        )
        acting = [c for c in to_settle(candidates, self.options.limit) if c.post.ref not in self.known]
        if self.options.limit is not None:
            acting = acting[: max(0, self.options.limit - len(self.known))]
        if not acting:
            return 0
        rows = runner._publisher.load_connections([c.post.owner_id for c in acting if c.post.owner_id])
        if first:
            runner._publisher.verify_key(rows)
        runner._publisher.prime(rows)
        for candidate in acting:
            self.known.add(candidate.post.ref)
            key = runner._publisher.lane_key(candidate.post)
            if candidate.action in (Action.INVALID, Action.EXPIRE):
                key = f"post:{candidate.post.ref}"  # settled without the platform: no need to queue
            self.pending.setdefault(key, []).append(candidate)
        self.round_started = runner._monotonic()
        log.info("run %s: %d post(s) to settle", runner.run_id, len(acting))
        return len(acting)

    def claim_more(self) -> None:
        """Claim whole accounts' posts until there are twice as many accounts with work as threads.

        Counted in accounts, not posts: an account's posts run one at a time, so ten posts of one
        account keep one thread busy, not ten.
        """
        target = 2 * self.settings.concurrency
        while self.pending and self.lanes.accounts < target:
            batch: list[tuple[str, Candidate]] = []
            while self.pending and len(batch) < self.settings.batch_size:
                key, candidates = self.pending.popitem(last=False)
                batch += [(key, c) for c in candidates]
            won = {post.ref: post for post in self.runner._ledger.claim([c.post for _, c in batch])}
            self.summary.claimed += len(won)
            for key, candidate in batch:
                post = won.get(candidate.post.ref)
                if post is None:
                    continue  # another run holds it, or it is no longer scheduled
                stop = self.platform_stops.get(post.platform)
                if stop is not None:
                    self.record(post, stop, self.runner._monotonic())
                    continue
                self.lanes.add(key, post)

    # ---- one post (runs in a lane thread) ------------------------------------------------------
    def settle_one(self, post: Post, force: bool) -> Outcome | None:
        """Decide again on the claimed row and act on it; None when the claim was lost."""
        started = self.runner._monotonic()
        now = self.runner._now()
        candidate = evaluate(post, now, self.settings.max_lateness, force=force)
        try:
            outcome = self._act(candidate)
        except ClaimLostError:
            log.warning("%s: claim lost during publishing; another run owns it now", post.ref)
            return None
        self.record(post, outcome, started)
        return outcome

    def _act(self, candidate: Candidate) -> Outcome:
        post = candidate.post
        if candidate.action is Action.INVALID:
            return Failed(candidate.error)
        if candidate.action is Action.EXPIRE:
            assert candidate.due_at is not None  # noqa: S101 (EXPIRE is only decided with a due time)
            waited = post.metadata.get(LAST_ERROR_KEY)
            return Expired(
                expiry_reason(
                    candidate.due_at, self.settings.max_lateness, waited if isinstance(waited, str) else ""
                )
            )
        if candidate.action is Action.RECONCILE:
            return self.runner._publisher.publish(post, may_send=False)
        if candidate.action is Action.PUBLISH:
            return self.runner._publisher.publish(post)
        return Released("rescheduled or deferred between the read and the claim")

    def record(self, post: Post, outcome: Outcome, started: float) -> None:
        """Write the outcome (conditional on the claim), count it and log it."""
        try:
            held = self.runner._ledger.settle(post, outcome)
        except StoreError:
            if isinstance(outcome, Published):
                log.error(
                    "%s was PUBLISHED on %s as %s (%s) but the database write failed; its claim and "
                    "sending mark stay, so it will not be sent again. Record it by hand.",
                    post.ref,
                    post.platform,
                    outcome.post_id,
                    outcome.url,
                )
            raise
        if not held and isinstance(outcome, Published):
            log.error(
                "%s was PUBLISHED on %s as %s but this run no longer held its claim",
                post.ref,
                post.platform,
                outcome.post_id,
            )
        with self.lock:
            self.summary.counts[outcome.status] += 1
        if not isinstance(outcome, Released):
            self._log_outcome(post, outcome, started)

    def _log_outcome(self, post: Post, outcome: Outcome, started: float) -> None:
        fields: dict[str, Any] = {
            "run": self.runner.run_id,
            "table": post.table,
            "post": post.id,
            "owner": post.owner_id,
            "platform": post.platform,
            "kind": post.kind,
            "outcome": outcome.status.value,
        }
        if isinstance(outcome, Published):
            fields.update(platform_post_id=outcome.post_id, url=outcome.url, **outcome.notes)
        else:
            fields["error"] = outcome.message
            if outcome.detail:
                fields["detail"] = outcome.detail
            if isinstance(outcome, Deferred):
                fields["next_attempt"] = outcome.not_before.isoformat()
        fields["seconds"] = round(self.runner._monotonic() - started, 3)
        quiet = (Status.PUBLISHED, Status.DEFERRED, Status.EXPIRED)
        level = logging.INFO if outcome.status in quiet else logging.WARNING
        log.log(level, "post %s", outcome.status.value, extra={"fields": fields})

    # ---- the loop ------------------------------------------------------------------------------
    def go(self) -> None:
        runner, settings = self.runner, self.settings
        self.read(first=True)
        next_scan = runner._monotonic() + settings.rescan_interval.total_seconds()
        with ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="lane") as pool:
            try:
                while True:
                    if runner._monotonic() - self.round_started <= settings.budget.total_seconds():
                        self.claim_more()
                    else:
                        self.out_of_time()
                    while (item := self.lanes.next()) is not None:
                        key, post = item
                        self.futures[pool.submit(self.settle_one, post, self.force)] = (key, post)
                    if not self.futures:
                        if self.pending or self.lanes.waiting:
                            continue  # claimed or pending work that could not start: go round again
                        return
                    timeout = max(0.05, next_scan - runner._monotonic())
                    done, _ = wait(list(self.futures), timeout=min(timeout, 1.0), return_when=FIRST_COMPLETED)
                    for future in done:
                        self.finished(future)
                    if self.futures and runner._monotonic() >= next_scan:
                        # Long work is still going and cron's next run on this host is skipped:
                        # publish what has fallen due meanwhile.
                        next_scan += settings.rescan_interval.total_seconds()
                        if not self.options.post_ids:
                            self.read(first=False)
            except BaseException:
                self.abandon()
                raise

    def finished(self, future: Future[Outcome | None]) -> None:
        key, post = self.futures.pop(future)
        self.lanes.done(key)
        outcome = future.result()  # a StoreError stops the run here
        if post.ref in self.known:
            self.summary.settled_refs.add(post.ref)
        if isinstance(outcome, Failed) and outcome.stop_account:
            rest = self.lanes.stop_lane(key)
            for other in rest:
                self.record(other, Failed(outcome.message, detail=outcome.detail), self.runner._monotonic())
        if isinstance(outcome, Deferred) and outcome.stop_platform:
            if post.platform not in self.platform_stops:
                log.error(
                    "run %s: %s publishing stopped for this run: %s (%s)",
                    self.runner.run_id,
                    post.platform,
                    outcome.message,
                    outcome.detail,
                )
            self.platform_stops[post.platform] = outcome
            for other in self.lanes.stop_platform(post.platform):
                self.record(other, outcome, self.runner._monotonic())

    def out_of_time(self) -> None:
        """Give back what could not be started within the budget (the next run takes it)."""
        waiting = self.lanes.take_waiting()
        unclaimed = sum(len(c) for c in self.pending.values())
        self.pending.clear()
        if waiting or unclaimed:
            log.warning(
                "run %s: time budget of %ss used; %d post(s) left for the next run",
                self.runner.run_id,
                int(self.settings.budget.total_seconds()),
                len(waiting) + unclaimed,
            )
        for post in waiting:
            self.record(post, Released("out of time"), self.runner._monotonic())

    def abandon(self) -> None:
        """The run is failing: start nothing more, let running posts end, give the rest back."""
        self.pending.clear()
        self.lanes.take_waiting()
        for future in list(self.futures):
            try:
                future.result()
            except Exception:
                log.debug("a lane ended with an error while the run was failing", exc_info=True)
