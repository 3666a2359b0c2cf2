"""`status`: what the old monitoring SQL showed, per table and platform, as text or JSON.

For each table and platform: posts scheduled, due now, waiting for a retry, overdue (beyond
PUBLISH_MAX_LATENESS: cron has not run for a while), unreadable schedules, claims held and the
oldest claim's age, and what was published, failed or expired in the last 24 hours; then the
oldest due post, and every post whose outcome is unconfirmed (it may be live: the user must
check the platform). "Due" is decided exactly as a run decides it (services.candidates and
services.decisions), so status never disagrees with what the next run will do. Reads only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.decisions import Action, Candidate
from services.due import parse_timestamp
from services.operator_reads import OperatorReads
from services.store import Scope

RECENT = timedelta(hours=24)
_NO_PLATFORM = "(none)"


@dataclass
class Row:
    """The counts of one table and platform."""

    table: str
    platform: str
    scheduled: int = 0
    due_now: int = 0
    waiting_retry: int = 0
    overdue: int = 0
    invalid: int = 0
    held_claims: int = 0
    stale_claims: int = 0  # older than PUBLISH_CLAIM_LEASE: left by a run that crashed
    oldest_claim_age_seconds: int | None = None
    published_24h: int = 0
    failed_24h: int = 0
    expired_24h: int = 0
    unconfirmed_24h: int = 0  # may be live: an attempt could not be confirmed either way
    unconfirmed: int = 0  # such posts not yet published or rescheduled
    oldest_due_at: str | None = None


@dataclass(frozen=True)
class DuePost:
    """The post that has waited longest."""

    table: str
    id: str
    platform: str
    due_at: str
    late_seconds: int


@dataclass(frozen=True)
class Claim:
    """A claim a run holds (or a crashed run left behind)."""

    table: str
    id: str
    platform: str
    run: str | None
    age_seconds: int | None  # None: the claim time cannot be read
    stale: bool  # older than PUBLISH_CLAIM_LEASE: the next run takes the post over


@dataclass(frozen=True)
class UnconfirmedPost:
    """A post that may be live although the platform could not confirm it."""

    table: str
    id: str
    platform: str
    status: str
    since: str | None
    message: str


@dataclass
class Report:
    """Everything `status` shows."""

    generated_at: str
    test_user_id: str | None
    max_lateness_seconds: int
    claim_lease_seconds: int
    rows: list[Row] = field(default_factory=list)
    oldest_due: DuePost | None = None
    claims: list[Claim] = field(default_factory=list)  # every held claim, oldest first
    unconfirmed: list[UnconfirmedPost] = field(default_factory=list)


def _platform(row: dict[str, Any]) -> str:
    # The same normalisation as services.posts.post_from_row, so both views count alike.
    return str(row.get("platform") or "").strip().lower() or _NO_PLATFORM


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def collect(
    store: OperatorReads,
    candidates: Sequence[Candidate],
    *,
    tables: Iterable[str],
    scope: Scope,
    now: datetime,
    max_lateness: timedelta,
    claim_lease: timedelta,
) -> Report:
    """Read the counts; `candidates` are the run's own view of what can be due at `now`."""
    report = Report(
        generated_at=_iso(now),
        test_user_id=scope.user_id,
        max_lateness_seconds=int(max_lateness.total_seconds()),
        claim_lease_seconds=int(claim_lease.total_seconds()),
    )
    rows: dict[tuple[str, str], Row] = {}

    def row_for(table: str, platform: str) -> Row:
        return rows.setdefault((table, platform), Row(table, platform))

    since = now - RECENT
    for table in tables:
        for found in store.scheduled_posts(table, scope):
            row_for(table, _platform(found)).scheduled += 1
        for found in store.recent(table, "published", since, scope):
            row_for(table, _platform(found)).published_24h += 1
        for found in store.recent(table, "failed", since, scope):
            row_for(table, _platform(found)).failed_24h += 1
        for found in store.recent(table, "expired", since, scope):
            row_for(table, _platform(found)).expired_24h += 1
        for found in store.recent(table, "unconfirmed", since, scope):
            row_for(table, _platform(found)).unconfirmed_24h += 1
        for found in store.unconfirmed(table, scope):
            row_for(table, _platform(found)).unconfirmed += 1
            report.unconfirmed.append(
                UnconfirmedPost(
                    table,
                    str(found.get("id")),
                    _platform(found),
                    str(found.get("status") or ""),
                    found.get("_publish_unconfirmed_at"),
                    str(found.get("publish_error") or found.get("expired_reason") or ""),
                )
            )
        for claim in store.held_claims(table, scope):
            _count_claim(report, row_for(table, _platform(claim)), claim, now, claim_lease)
    oldest: Candidate | None = None
    for candidate in candidates:
        post = candidate.post
        row = row_for(post.table, post.platform or _NO_PLATFORM)
        if candidate.action is Action.INVALID:
            row.invalid += 1
            continue
        if candidate.action is Action.PUBLISH:
            row.due_now += 1
        elif candidate.action is Action.RETRY_WAIT:
            row.waiting_retry += 1
        elif candidate.action in (Action.EXPIRE, Action.RECONCILE):
            row.overdue += 1
        else:
            continue  # not due yet
        assert candidate.due_at is not None  # noqa: S101 (every decision but INVALID has a due time)
        if row.oldest_due_at is None or _iso(candidate.due_at) < row.oldest_due_at:
            row.oldest_due_at = _iso(candidate.due_at)
        if oldest is None or (oldest.due_at is not None and candidate.due_at < oldest.due_at):
            oldest = candidate
    if oldest is not None and oldest.due_at is not None:
        report.oldest_due = DuePost(
            oldest.post.table,
            oldest.post.id,
            oldest.post.platform,
            _iso(oldest.due_at),
            int((now - oldest.due_at).total_seconds()),
        )
    report.rows = sorted(rows.values(), key=lambda r: (r.table, r.platform))
    # Oldest first; an unreadable claim time counts as the oldest (the claim is abandoned).
    report.claims.sort(key=lambda c: -(c.age_seconds if c.age_seconds is not None else 10**9))
    return report


def _count_claim(report: Report, row: Row, claim: dict[str, Any], now: datetime, lease: timedelta) -> None:
    try:
        age: int | None = int(
            (now - parse_timestamp(claim.get("_publishing_at"), "_publishing_at")).total_seconds()
        )
    except ValueError:
        age = None  # unreadable: the claim function treats it as abandoned too
    row.held_claims += 1
    stale = age is None or age > lease.total_seconds()
    row.stale_claims += int(stale)
    if age is not None and (row.oldest_claim_age_seconds is None or age > row.oldest_claim_age_seconds):
        row.oldest_claim_age_seconds = age
    run = claim.get("_publishing_run")
    report.claims.append(
        Claim(row.table, str(claim.get("id")), row.platform, str(run) if run else None, age, stale)
    )


def as_json(report: Report) -> str:
    """The report for machines: one JSON object."""
    return json.dumps(asdict(report), indent=2, sort_keys=False)


def age_text(seconds: int | None) -> str:
    """A duration as a person reads it: 45s, 12m, 3h05m, 2d04h."""
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


_COLUMNS = (
    ("table", "table"),
    ("platform", "platform"),
    ("scheduled", "scheduled"),
    ("due", "due_now"),
    ("retry", "waiting_retry"),
    ("overdue", "overdue"),
    ("invalid", "invalid"),
    ("held", "held_claims"),
    ("oldest held", "oldest_claim_age_seconds"),
    ("published 24h", "published_24h"),
    ("failed 24h", "failed_24h"),
    ("expired 24h", "expired_24h"),
    ("unconfirmed", "unconfirmed"),
)


def _cell(name: str, value: Any) -> str:
    if value is None:
        return "-"
    return age_text(value) if name == "oldest_claim_age_seconds" else str(value)


def as_text(report: Report) -> str:
    """The report for a person at a terminal."""
    lines = [
        f"Status at {report.generated_at} (overdue = more than {age_text(report.max_lateness_seconds)} "
        f"late; a claim older than {age_text(report.claim_lease_seconds)} is stale)"
    ]
    if report.test_user_id:
        lines.append(f"TEST MODE: only user {report.test_user_id}")
    if not report.rows:
        lines.append("Nothing scheduled, and nothing published, failed or expired in the last 24 hours.")
        return "\n".join(lines)
    table = [[title for title, _ in _COLUMNS]]
    table += [[_cell(name, getattr(row, name)) for _, name in _COLUMNS] for row in report.rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(_COLUMNS))]
    for cells in table:
        lines.append(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
    if report.oldest_due:
        due = report.oldest_due
        lines.append(
            f"Oldest due post: {due.table}/{due.id} ({due.platform}), due {due.due_at}, "
            f"{age_text(due.late_seconds)} late"
        )
    else:
        lines.append("No post is due.")
    for item in report.unconfirmed:
        lines.append(
            f"UNCONFIRMED: {item.table}/{item.id} ({item.platform}, now {item.status}) may be live since "
            f"{item.since or '?'}: the platform could not confirm it; the user was told to check the "
            "account before rescheduling"
        )
    for claim in report.claims:
        state = "STALE (left by a crashed run; the next run takes it over)" if claim.stale else "held"
        lines.append(
            f"Claim: {claim.table}/{claim.id} ({claim.platform}) {state} for "
            f"{age_text(claim.age_seconds)} by run {claim.run or '?'}"
        )
    return "\n".join(lines)
