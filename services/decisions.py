"""What a run does with each post it reads: the schedule decisions, in one pure module.

`status` and `--dry-run` import this module too, so they never disagree with what the next run
will do. Pure: time is a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.due import (
    Decision,
    DueTime,
    ScheduleError,
    content_posts_due,
    created_content_due,
    decide,
    parse_timestamp,
)
from services.posts import CREATED_CONTENT, NEXT_ATTEMPT_KEY, SENDING_KEY, Post


class Action(StrEnum):
    """What a run does with a candidate now."""

    PUBLISH = "publish"
    EXPIRE = "expire"  # overdue beyond the lateness limit, never sent
    # Overdue beyond the limit, but an earlier attempt may have published it: ask the platform
    # (never send); published if found, else surfaced as "may be live".
    RECONCILE = "reconcile"
    RETRY_WAIT = "retry_wait"  # due, but an earlier attempt asked to wait until later
    WAIT = "wait"  # not due yet
    INVALID = "invalid"  # the schedule cannot be read


# Why the post waited, written with each deferral (an expiry reason repeats it).
LAST_ERROR_KEY = "_publish_last_error"

# Actions a run settles now (claims the post for); the others it leaves alone.
SETTLED_NOW = (Action.INVALID, Action.PUBLISH, Action.EXPIRE, Action.RECONCILE)


@dataclass(frozen=True)
class Candidate:
    """A post read this run, with what the run should do about it."""

    post: Post
    action: Action
    due_at: datetime | None = None
    error: str = ""  # INVALID: the sentence for publish_error
    warning: str | None = None


def due_time(post: Post) -> DueTime:
    """A post's due time from its table's rules."""
    scheduled_at, scheduled_date, scheduled_time = post.schedule
    if post.table == CREATED_CONTENT:
        return created_content_due(scheduled_at, scheduled_date, scheduled_time, post.owner_timezone)
    return content_posts_due(scheduled_date, scheduled_time, post.owner_timezone)


def _not_before(post: Post) -> datetime | None:
    raw = post.metadata.get(NEXT_ATTEMPT_KEY)
    if not raw:
        return None
    try:
        return parse_timestamp(raw, NEXT_ATTEMPT_KEY)
    except ScheduleError:
        return None  # garbage in our own key must not block the post forever


_ACTIONS = {
    Decision.PUBLISH: Action.PUBLISH,
    Decision.EXPIRE: Action.EXPIRE,
    Decision.DEFERRED: Action.RETRY_WAIT,
    Decision.WAIT: Action.WAIT,
}


def evaluate(post: Post, now: datetime, max_lateness: timedelta, *, force: bool = False) -> Candidate:
    """What to do with `post` at `now` (force: an operator asked for this post now)."""
    try:
        due = due_time(post)
    except ScheduleError as exc:
        return Candidate(post, Action.INVALID, error=f"{exc} {exc.fix}".rstrip())
    if force:
        return Candidate(post, Action.PUBLISH, due.at, warning=due.warning)
    action = _ACTIONS[decide(due.at, now, max_lateness, _not_before(post))]
    if action is Action.EXPIRE and post.metadata.get(SENDING_KEY):
        action = Action.RECONCILE
    return Candidate(post, action, due.at, warning=due.warning)


def processing_order(candidate: Candidate) -> tuple[object, ...]:
    """Invalid rows first (cheap to settle), then oldest due first; ties by table and id."""
    due = candidate.due_at.timestamp() if candidate.due_at else float("-inf")
    return (candidate.action != Action.INVALID, due, candidate.post.table, candidate.post.id)


def to_settle(candidates: Sequence[Candidate], limit: int | None) -> list[Candidate]:
    """What a run settles now, in processing order (within --limit)."""
    acting = sorted((c for c in candidates if c.action in SETTLED_NOW), key=processing_order)
    return acting if limit is None else acting[:limit]


def lateness_text(delta: timedelta) -> str:
    """A lateness limit as people say it: '24 hours', '1 hour', '90 minutes'."""
    hours = delta.total_seconds() / 3600
    if hours >= 1:
        return f"{hours:g} hours" if hours != 1 else "1 hour"
    return f"{delta.total_seconds() / 60:g} minutes"


def expiry_reason(due_at: datetime, max_lateness: timedelta, waited_for: str = "") -> str:
    """The sentence an expired post carries (`waited_for`: why it waited, when a platform made it)."""
    reason = (
        f"Not published: it was due {due_at.isoformat(sep=' ', timespec='minutes')[:16]} UTC, more than "
        f"{lateness_text(max_lateness)} "
        "before the scheduler could publish it."
    )
    if waited_for:
        reason += f" It was waiting because: {waited_for}"
    return reason
