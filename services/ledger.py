"""The ledger: everything a run writes about a post, from its claim to its outcome.

"Exactly once" lives here and in the SQL functions it calls (sql/migration.sql):
- `claim` takes posts in one statement per table; only the posts this run won go on;
- `progress(post)` is what an adapter writes while it works: remote ids the moment they exist,
  and the sending mark right before the first call that can publish. Both are conditional on
  this run still holding the claim, so a post whose claim was lost stops before it can be sent;
- `renew` extends the lease of every claim the run holds in one statement, so no upload however
  long is ever taken over by another server;
- `settle` writes an outcome (published, failed, deferred, expired, unconfirmed, released) in one
  statement conditional on the claim, which also drops the claim.
Writes that are safe to repeat are retried a few times; the claim itself is re-entrant for the
same run, so a claim whose answer was lost can be taken again.

The ledger is shared by every lane of a run: its bookkeeping is guarded by one lock, and the
database calls themselves go through the thread-safe store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from services.errors import StoreError
from services.outcomes import Deferred, Expired, Failed, Outcome, Published, Released, Unconfirmed
from services.posts import (
    CONTENT_POSTS,
    CREATED_CONTENT,
    REMOTE_KEY,
    SENDING_KEY,
    TABLES,
    Post,
    post_from_row,
)
from services.store import Store

log = logging.getLogger("publisher")

T = TypeVar("T")
WRITE_RETRY_DELAYS = (0.5, 1.0, 2.0)
# A claim is renewed this many times per lease, so a renewal or two can fail without losing it.
RENEWALS_PER_LEASE = 4


class ClaimLostError(Exception):
    """This run no longer holds the post's claim, so it must not send anything."""


class SendingNotAllowedError(Exception):
    """The post may only be reconciled with the platform now (it is past the lateness limit)."""


@dataclass
class PostProgress:
    """An adapter's durable notes about one post (the adapters' `Progress`)."""

    ledger: Ledger
    post: Post
    may_send: bool = True
    remote: dict[str, Any] = field(default_factory=dict)
    sending_started: bool = False

    def remember(self, **remote_ids: Any) -> None:
        """Store remote ids (container, upload session, image urn) the moment they exist."""
        self.remote.update(remote_ids)
        self.ledger.note(self.post, {REMOTE_KEY: self.remote})

    def sending(self, **remote_ids: Any) -> None:
        """Record that a call that can publish is about to be made; refuse when it must not be.

        Remote ids given here are stored in the same write: the steady path costs one note.
        """
        if not self.may_send:
            raise SendingNotAllowedError(self.post.ref)
        patch: dict[str, Any] = {SENDING_KEY: self.ledger.now().astimezone(UTC).isoformat()}
        if remote_ids:
            self.remote.update(remote_ids)
            patch[REMOTE_KEY] = self.remote
        self.ledger.note(self.post, patch)
        self.sending_started = True


class Ledger:
    """The run's writes about posts, conditional on its claims."""

    def __init__(
        self,
        store: Store,
        *,
        run_id: str,
        lease: timedelta,
        now: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        user_id: str | None = None,
    ) -> None:
        self._store = store
        self.run_id = run_id
        self.lease = lease
        self.now = now
        self._sleep = sleep
        self._monotonic = monotonic
        self._user_id = user_id
        self._lock = threading.Lock()
        self._held: dict[str, Post] = {}  # ref → post, every claim this run holds
        self._lost: set[str] = set()
        # When the run last knew every held claim to be alive: past that plus the lease, another
        # server may have taken them over, so nothing may be sent.
        self._alive_since = monotonic()
        self._touched: set[str] = set()

    # ---- claims --------------------------------------------------------------------------------
    def claim(self, posts: Sequence[Post]) -> list[Post]:
        """Claim these posts; return the ones this run won, as the database has them now.

        The rows are read back from the claim itself (the app may have edited a post since the
        run read it); the owner's time zone, which is not in the row, is carried over.
        """
        zones = {post.ref: post.owner_timezone for post in posts}
        won: list[Post] = []
        for table in TABLES:
            ids = [post.id for post in posts if post.table == table]
            if not ids:
                continue
            rows = self._retry(
                f"claim {table}",
                lambda table=table, ids=ids: self._store.rpc(  # type: ignore[misc]
                    "publisher_claim_batch",
                    {
                        "p_table": table,
                        "p_ids": ids,
                        "p_run_id": self.run_id,
                        "p_lease_seconds": int(self.lease.total_seconds()),
                        "p_user_id": self._user_id,
                    },
                ),
            )
            for row in rows if isinstance(rows, list) else []:
                if isinstance(row, dict) and row.get("id"):
                    post = post_from_row(table, row)
                    won.append(replace(post, owner_timezone=zones.get(post.ref)))
        with self._lock:
            self._held.update({post.ref: post for post in won})
        return won

    def held(self) -> list[Post]:
        """Every post this run holds now."""
        with self._lock:
            return list(self._held.values())

    def lost(self, post: Post) -> bool:
        """Whether this run can no longer be sure it holds the post's claim."""
        with self._lock:
            if post.ref in self._lost:
                return True
            return self._monotonic() - self._alive_since > self.lease.total_seconds() * 0.9

    def renew(self) -> list[Post]:
        """Extend the lease of every claim held, in one statement; return the posts whose claim is lost."""
        held = self.held()
        if not held:
            with self._lock:
                self._alive_since = self._monotonic()
            return []
        asked = self._monotonic()
        answer = self._store.rpc(
            "publisher_renew",
            {
                "p_run_id": self.run_id,
                "p_created_content": [p.id for p in held if p.table == CREATED_CONTENT],
                "p_content_posts": [p.id for p in held if p.table == CONTENT_POSTS],
            },
        )
        kept = {
            f"{table}/{post_id}"
            for table in TABLES
            for post_id in (answer.get(table) or [] if isinstance(answer, dict) else [])
        }
        with self._lock:
            # A post settled while the renewal ran is no longer held: it is not lost either.
            gone = [post for post in held if post.ref not in kept and post.ref in self._held]
            self._lost.update(post.ref for post in gone)
            self._alive_since = asked
        for post in gone:
            log.warning(
                "%s: claim lost (another run took it over); it will not be sent by this run", post.ref
            )
        return gone

    # ---- notes ---------------------------------------------------------------------------------
    def progress(self, post: Post, *, may_send: bool = True) -> PostProgress:
        """The progress notes of one attempt at `post` (its remembered remote ids preloaded)."""
        remote = post.metadata.get(REMOTE_KEY)
        return PostProgress(self, post, may_send, dict(remote) if isinstance(remote, dict) else {})

    def note(self, post: Post, patch: Mapping[str, Any]) -> None:
        """Merge `patch` into the post's metadata; ClaimLostError when this run no longer holds it."""
        if self.lost(post):
            raise ClaimLostError(post.ref)
        held = self._retry(
            "note",
            lambda: self._store.rpc(
                "publisher_note",
                {"p_table": post.table, "p_id": post.id, "p_run_id": self.run_id, "p_patch": dict(patch)},
            ),
        )
        if not held:
            with self._lock:
                self._lost.add(post.ref)
            raise ClaimLostError(post.ref)

    # ---- outcomes ------------------------------------------------------------------------------
    def settle(self, post: Post, outcome: Outcome) -> bool:
        """Write the outcome and drop the claim; False when the claim was no longer this run's."""
        fn, params = _write_for(post, outcome)
        base = {"p_table": post.table, "p_id": post.id, "p_run_id": self.run_id}
        try:
            held = bool(self._retry(outcome.status.value, lambda: self._store.rpc(fn, {**base, **params})))
        finally:
            with self._lock:
                self._held.pop(post.ref, None)
        return held

    def release(self, post: Post, why: str) -> bool:
        """Give the post back untouched."""
        return self.settle(post, Released(why))

    def release_all(self, why: str) -> int:
        """Give back every post still held (a run ending early); how many were released."""
        released = 0
        for post in self.held():
            try:
                released += self.release(post, why)
            except StoreError as exc:
                log.error(
                    "%s: could not release its claim (%s); it is taken over after the lease", post.ref, exc
                )
        return released

    # ---- connections ---------------------------------------------------------------------------
    def touched(self, connection_id: str) -> None:
        """Note that a connection published (written in one call by `flush_touched`)."""
        with self._lock:
            self._touched.add(connection_id)

    def flush_touched(self) -> None:
        """Record `last_posted_at` of every connection that published since the last flush."""
        with self._lock:
            ids, self._touched = sorted(self._touched), set()
        if ids:
            try:
                self._store.touch_connections(ids)
            except StoreError as exc:
                log.warning("could not update last_posted_at of %d connection(s): %s", len(ids), exc)

    # ---- retries -------------------------------------------------------------------------------
    def _retry(self, what: str, write: Callable[[], T]) -> T:
        """Run one write, retrying transient database failures a few times (writes are idempotent)."""
        for delay in (*WRITE_RETRY_DELAYS, None):
            try:
                return write()
            except StoreError as exc:
                if delay is None:
                    raise
                log.warning("writing %s failed (%s); retrying in %ss", what, exc, delay)
                self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")


def _write_for(post: Post, outcome: Outcome) -> tuple[str, dict[str, Any]]:
    """The SQL function and its arguments that record `outcome`."""
    if isinstance(outcome, Published):
        return "publisher_mark_published", {
            "p_platform": post.platform,
            "p_post_id": outcome.post_id,
            "p_post_url": outcome.url,
            "p_notes": dict(outcome.notes),
        }
    if isinstance(outcome, Failed):
        return "publisher_mark_failed", {"p_error": outcome.message}
    if isinstance(outcome, Deferred):
        return "publisher_defer", {
            "p_next_attempt_at": outcome.not_before.isoformat(),
            "p_reason": outcome.message,
            "p_count_attempt": outcome.count_attempt,
        }
    if isinstance(outcome, Expired):
        return "publisher_mark_expired", {"p_reason": outcome.message}
    if isinstance(outcome, Unconfirmed):
        return "publisher_mark_unconfirmed", {"p_message": outcome.message, "p_expired": outcome.expired}
    return "publisher_release", {}
