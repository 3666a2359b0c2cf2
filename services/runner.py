"""One publishing run: read candidates, decide, claim, publish, write outcomes, summarise.

The order of events for every post is what makes "exactly once" hold:
1. read: only rows that can be due (server-side filter, keyset pages);
2. decide with the run's clock (pure, services.due);
3. claim: one SQL statement; only rows won by this run go on;
4. decide again on the claimed row (the app may have rescheduled it meanwhile);
5. publish (the adapter notes "sending" in the row before any call that can publish);
6. write the outcome, conditional on still holding the claim; retried, and logged at ERROR with
   the platform's post id if it still fails.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from services.content_publisher import ClaimLostError, ContentPublisher
from services.due import (
    Decision,
    DueTime,
    ScheduleError,
    candidate_window,
    content_posts_due,
    created_content_due,
    decide,
    parse_timestamp,
)
from services.errors import EncryptionKeyError, StoreError
from services.policy import DEFERRED, FAILED, PUBLISHED, Outcome
from services.posts import CONTENT_POSTS, CREATED_CONTENT, NEXT_ATTEMPT_KEY, TABLES, Post, post_from_row
from services.store import Scope, Store

log = logging.getLogger("publisher")

INVALID = "invalid"  # a candidate whose schedule cannot be read
PUBLISH, EXPIRE, WAITING = Decision.PUBLISH.value, Decision.EXPIRE.value, Decision.DEFERRED.value
WRITE_RETRY_DELAYS = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class RunOptions:
    """What this run covers."""

    tables: tuple[str, ...] = TABLES
    post_ids: tuple[str, ...] = ()  # publish these now if scheduled, due or not
    limit: int | None = None
    user_id: str | None = None  # test mode


@dataclass(frozen=True)
class RunSettings:
    """The timing rules of a run (from configuration)."""

    max_lateness: timedelta = timedelta(hours=24)
    claim_lease: timedelta = timedelta(minutes=15)
    budget: timedelta = timedelta(seconds=50)
    batch_size: int = 10


@dataclass(frozen=True)
class Candidate:
    """A post read this run, with what the run should do about it."""

    post: Post
    action: str  # a Decision value, or INVALID
    due_at: datetime | None = None
    error: str = ""  # INVALID: the sentence for publish_error
    warning: str | None = None


@dataclass
class Summary:
    """Counts of one run, for its closing log line."""

    run_id: str
    claimed: int = 0
    published: int = 0
    failed: int = 0
    expired: int = 0
    deferred: int = 0
    released: int = 0
    seconds: float = 0.0


def due_time(post: Post) -> DueTime:
    """A post's due time from its table's rules."""
    scheduled_at, scheduled_date, scheduled_time = post.schedule
    if post.table == CREATED_CONTENT:
        return created_content_due(scheduled_at, scheduled_date, scheduled_time, post.owner_timezone)
    return content_posts_due(scheduled_date, scheduled_time, post.owner_timezone)


def evaluate(post: Post, now: datetime, max_lateness: timedelta, *, force: bool = False) -> Candidate:
    """What to do with `post` at `now` (force: an operator asked for this post now)."""
    try:
        due = due_time(post)
    except ScheduleError as exc:
        return Candidate(
            post, INVALID, error=f"{exc} Fix the schedule in the app and schedule the post again."
        )
    if force:
        return Candidate(post, Decision.PUBLISH.value, due.at, warning=due.warning)
    not_before = None
    raw = post.metadata.get(NEXT_ATTEMPT_KEY)
    if raw:
        try:
            not_before = parse_timestamp(raw, NEXT_ATTEMPT_KEY)
        except ScheduleError:
            not_before = None  # garbage in our own key must not block the post forever
    return Candidate(post, decide(due.at, now, max_lateness, not_before).value, due.at, warning=due.warning)


def _sort_key(candidate: Candidate) -> tuple[Any, ...]:
    # Invalid rows first (cheap to settle), then oldest due first; ties by table and id.
    due = candidate.due_at.timestamp() if candidate.due_at else float("-inf")
    return (candidate.action != INVALID, due, candidate.post.table, candidate.post.id)


def to_settle(candidates: list[Candidate], limit: int | None) -> list[Candidate]:
    """What a run settles now, in processing order: publish, expire or fail (within --limit)."""
    acting = [c for c in candidates if c.action in (INVALID, PUBLISH, EXPIRE)]
    return acting if limit is None else acting[:limit]


def _chunks(items: list[Candidate], size: int) -> Iterable[list[Candidate]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Runner:
    """Runs one publishing pass over both tables."""

    def __init__(
        self,
        store: Store,
        publisher: ContentPublisher,
        settings: RunSettings,
        *,
        run_id: str,
        now: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._settings = settings
        self._run_id = run_id
        self._now = now
        self._monotonic = monotonic
        self._sleep = sleep
        # Platforms stopped by a configuration error (class C) this run, with the outcome that
        # stopped them: their remaining posts are deferred the same way, never failed.
        self._stopped: dict[str, Outcome] = {}

    # ---- reading and deciding ------------------------------------------------------------------
    def candidates(self, options: RunOptions, now: datetime) -> list[Candidate]:
        """Every post of the run's scope that can be due, evaluated at `now`, in processing order."""
        _, tomorrow = candidate_window(now)
        scope = Scope(user_id=options.user_id, post_ids=options.post_ids)
        posts = [
            post_from_row(table, row)
            for table in options.tables
            for row in self._store.candidates(table, now, tomorrow, scope)
        ]
        # One profiles read for both tables: an owner's posts often sit in both.
        zones = self._store.timezones([p.owner_id for p in posts if p.owner_id]) if posts else {}
        found: list[Candidate] = []
        for bare in posts:
            post = replace(bare, owner_timezone=zones.get(bare.owner_id or ""))
            candidate = evaluate(post, now, self._settings.max_lateness, force=bool(options.post_ids))
            if candidate.warning:
                log.warning("%s: %s", post.ref, candidate.warning)
            found.append(candidate)
        return sorted(found, key=_sort_key)

    # ---- the run -------------------------------------------------------------------------------
    def run(self, options: RunOptions) -> Summary:
        """Publish everything due; return the counts."""
        started = self._monotonic()
        now = self._now()
        summary = Summary(self._run_id)
        try:
            actionable = to_settle(self.candidates(options, now), options.limit)
            if actionable:
                log.info("run %s: %d post(s) to settle", self._run_id, len(actionable))
            for batch in _chunks(actionable, self._settings.batch_size):
                if self._monotonic() - started > self._settings.budget.total_seconds():
                    log.warning(
                        "run %s: time budget of %ss used; %d post(s) left for the next run",
                        self._run_id,
                        int(self._settings.budget.total_seconds()),
                        len(actionable) - summary.claimed,
                    )
                    break
                self._batch(batch, now, options, summary, started)
        finally:
            summary.seconds = self._monotonic() - started
        return summary

    def _batch(
        self, batch: list[Candidate], now: datetime, options: RunOptions, summary: Summary, started: float
    ) -> None:
        order = {(c.post.table, c.post.id): i for i, c in enumerate(batch)}
        zones = {c.post.ref: c.post.owner_timezone for c in batch}
        won: list[Post] = []
        for table in (CREATED_CONTENT, CONTENT_POSTS):
            ids = [c.post.id for c in batch if c.post.table == table]
            if not ids:
                continue
            rows = self._store.claim(
                table, ids, self._run_id, int(self._settings.claim_lease.total_seconds()), options.user_id
            )
            for row in rows:
                post = post_from_row(table, row)
                won.append(replace(post, owner_timezone=zones.get(post.ref)))
        won.sort(key=lambda p: order.get((p.table, p.id), len(order)))
        summary.claimed += len(won)
        for index, post in enumerate(won):
            if self._monotonic() - started > self._settings.budget.total_seconds():
                for rest in won[index:]:
                    self._write(
                        rest, "release", partial(self._store.release, rest.table, rest.id, self._run_id)
                    )
                    summary.released += 1
                return
            try:
                self._settle(post, now, options, summary)
            except EncryptionKeyError:
                for rest in won[index:]:
                    self._store.release(rest.table, rest.id, self._run_id)
                raise

    def _settle(self, post: Post, now: datetime, options: RunOptions, summary: Summary) -> None:
        """Decide again on the claimed row (it is the truth now) and act on it."""
        candidate = evaluate(post, now, self._settings.max_lateness, force=bool(options.post_ids))
        started = self._monotonic()
        if candidate.action == INVALID:
            self._write(
                post,
                "failed",
                lambda: self._store.mark_failed(post.table, post.id, self._run_id, candidate.error),
            )
            summary.failed += 1
            self._log_outcome(post, Outcome(FAILED, message=candidate.error), started)
            return
        if candidate.action == EXPIRE:
            assert candidate.due_at is not None  # noqa: S101 (EXPIRE is only decided with a due time)
            reason = (
                f"Not published: it was due {candidate.due_at:%Y-%m-%d %H:%M} UTC, more than "
                f"{_hours(self._settings.max_lateness)} before the scheduler could publish it."
            )
            self._write(
                post,
                "expired",
                lambda: self._store.mark_expired(post.table, post.id, self._run_id, reason),
            )
            summary.expired += 1
            self._log_outcome(post, Outcome("expired", message=reason), started)
            return
        if candidate.action != PUBLISH:
            # Rescheduled or deferred between our read and our claim: not ours to act on now.
            self._write(post, "release", lambda: self._store.release(post.table, post.id, self._run_id))
            summary.released += 1
            return
        outcome = self._stopped.get(post.platform)
        if outcome is None:
            try:
                outcome = self._publisher.publish(post)
            except ClaimLostError:
                log.warning("%s: claim lost during publishing; another run owns it now", post.ref)
                return
            if outcome.stop_platform:
                log.error(
                    "run %s: %s publishing stopped for this run: %s (%s)",
                    self._run_id,
                    post.platform,
                    outcome.message,
                    outcome.detail,
                )
                self._stopped[post.platform] = outcome
        self._record(post, outcome, summary)
        self._log_outcome(post, outcome, started)

    def _record(self, post: Post, outcome: Outcome, summary: Summary) -> None:
        if outcome.status == PUBLISHED:
            assert outcome.platform_post_id is not None  # noqa: S101 (adapters always return an id)
            post_id = outcome.platform_post_id
            try:
                held = self._write(
                    post,
                    "published",
                    lambda: self._store.mark_published(
                        post.table, post.id, self._run_id, post.platform, post_id, outcome.url
                    ),
                )
            except StoreError:
                log.error(
                    "%s was PUBLISHED on %s as %s (%s) but the database write failed; its claim and "
                    "sending mark stay, so it will not be sent again. Record it by hand.",
                    post.ref,
                    post.platform,
                    post_id,
                    outcome.url,
                )
                raise
            if not held:
                log.error(
                    "%s was PUBLISHED on %s as %s but this run no longer held its claim",
                    post.ref,
                    post.platform,
                    post_id,
                )
            summary.published += 1
        elif outcome.status == DEFERRED:
            assert outcome.not_before is not None  # noqa: S101 (policy always sets it)
            not_before = outcome.not_before
            self._write(
                post,
                "deferred",
                lambda: self._store.defer(
                    post.table, post.id, self._run_id, not_before, outcome.message, outcome.count_attempt
                ),
            )
            summary.deferred += 1
        else:
            self._write(
                post,
                "failed",
                lambda: self._store.mark_failed(post.table, post.id, self._run_id, outcome.message),
            )
            summary.failed += 1

    def _write(self, post: Post, what: str, write: Callable[[], bool]) -> bool:
        """Run one outcome write, retrying transient database failures a few times."""
        for delay in (*WRITE_RETRY_DELAYS, None):
            try:
                return write()
            except StoreError as exc:
                if delay is None:
                    raise
                log.warning("%s: writing %s failed (%s); retrying in %ss", post.ref, what, exc, delay)
                self._sleep(delay)
        return False  # unreachable: the loop returns or raises

    def _log_outcome(self, post: Post, outcome: Outcome, started: float) -> None:
        fields: dict[str, Any] = {
            "run": self._run_id,
            "table": post.table,
            "post": post.id,
            "owner": post.owner_id,
            "platform": post.platform,
            "kind": post.kind,
            "outcome": outcome.status,
        }
        if outcome.status == PUBLISHED:
            fields.update(platform_post_id=outcome.platform_post_id, url=outcome.url)
        else:
            fields["error"] = outcome.message
            if outcome.detail:
                fields["detail"] = outcome.detail
            if outcome.not_before:
                fields["next_attempt"] = outcome.not_before.isoformat()
        fields["seconds"] = round(self._monotonic() - started, 3)
        level = logging.INFO if outcome.status in (PUBLISHED, DEFERRED, "expired") else logging.WARNING
        log.log(level, "post %s", outcome.status, extra={"fields": fields})


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} hours" if hours != 1 else "1 hour"
