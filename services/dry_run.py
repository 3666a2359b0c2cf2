"""`--dry-run`: what a run would do now, post by post, without doing any of it.

It reads exactly what a run reads (services.candidates) and goes through the same preparation as
publishing (ContentPublisher.prepare, choose_connection, connection), which stops before the
first network call to a platform. Nothing is claimed or written; the command line gives it an
HTTP client that refuses every request, so no code path can reach a platform by accident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.content_publisher import ContentPublisher
from services.decisions import Action, Candidate
from services.errors import EncryptionKeyError, PlatformError
from services.posts import NEXT_ATTEMPT_KEY, InvalidPostError, build_job
from services.status import age_text

PUBLISH, FAIL, EXPIRE, RECONCILE, WAIT_RETRY, STOP = (
    "would publish",
    "would fail",
    "would expire",
    "would look for it on the platform (never send)",
    "waits for a retry",
    "would stop the run",
)


@dataclass(frozen=True)
class Preview:
    """What the run would do with one post, and everything it would send."""

    ref: str
    owner: str | None
    platform: str
    verdict: str  # one of PUBLISH, FAIL, EXPIRE, WAIT_RETRY, STOP
    due_at: datetime | None
    late_seconds: int | None
    kind: str = ""
    text_length: int | None = None
    media_count: int | None = None
    connection: str = ""  # page name, page id and connection id: never a token
    problem: str = ""


def preview(candidate: Candidate, publisher: ContentPublisher, now: datetime, *, stop: str = "") -> Preview:
    """The verdict on one candidate, found with the publisher's own checks (no network).

    `stop`: why the run would stop before publishing anything (a wrong ENCRYPTION_KEY).
    """
    post = candidate.post
    seen = Preview(
        ref=post.ref,
        owner=post.owner_id,
        platform=post.platform or "(none)",
        verdict=PUBLISH,
        due_at=candidate.due_at,
        late_seconds=int((now - candidate.due_at).total_seconds()) if candidate.due_at else None,
        kind=post.kind,
    )
    if candidate.action is Action.INVALID:
        return replace(seen, verdict=FAIL, problem=candidate.error)
    if candidate.action is Action.EXPIRE:
        return replace(seen, verdict=EXPIRE, problem="more overdue than PUBLISH_MAX_LATENESS")
    if candidate.action is Action.RECONCILE:
        return replace(
            seen,
            verdict=RECONCILE,
            problem="more overdue than PUBLISH_MAX_LATENESS, but an earlier attempt may have published it",
        )
    if candidate.action is Action.RETRY_WAIT:
        until = post.metadata.get(NEXT_ATTEMPT_KEY)
        return replace(seen, verdict=WAIT_RETRY, problem=f"next attempt not before {until}")
    try:
        adapter, job = publisher.prepare(post)
    except InvalidPostError as exc:
        return replace(seen, verdict=FAIL, problem=str(exc))
    except PlatformError as exc:
        # A broken limit: describe what would have been sent all the same.
        job = build_job(post)
        return replace(
            seen,
            verdict=FAIL,
            kind=job.kind,
            text_length=len(job.text),
            media_count=len(job.media_urls),
            problem=exc.message,
        )
    seen = replace(seen, kind=job.kind, text_length=len(job.text), media_count=len(job.media_urls))
    try:
        row = publisher.choose_connection(post, adapter)
        seen = replace(
            seen,
            connection=(
                f"{row.get('page_name') or '(no name)'} (page {row.get('page_id') or '?'}, "
                f"connection {row.get('id')})"
            ),
        )
        adapter.check_connection(publisher.connection(row, adapter))  # decrypts: proves it is usable
    except InvalidPostError as exc:
        return replace(seen, verdict=FAIL, problem=str(exc))
    except PlatformError as exc:
        return replace(seen, verdict=FAIL, problem=exc.message)
    if stop:
        return replace(seen, verdict=STOP, problem=stop)
    return seen


def key_problem(publisher: ContentPublisher, candidates: Sequence[Candidate]) -> str:
    """Why a run would stop before claiming anything ("" when it would not): a wrong ENCRYPTION_KEY."""
    rows = publisher.load_connections([c.post.owner_id for c in candidates if c.post.owner_id])
    try:
        publisher.verify_key(rows)
    except EncryptionKeyError as exc:
        return str(exc)
    return ""


def render(previews: Sequence[Preview], *, now: datetime, test_user: str | None) -> str:
    """The dry run for a person: a header, then one block per post."""
    lines = [f"DRY RUN at {now:%Y-%m-%dT%H:%M:%SZ}: nothing is claimed, written or sent."]
    if test_user:
        lines.append(f"TEST MODE: only user {test_user}")
    waiting = sum(p.verdict == WAIT_RETRY for p in previews)
    if previews:
        lines.append(f"{len(previews) - waiting} post(s) to settle, {waiting} waiting for a retry.")
    else:
        lines.append("Nothing is due.")
    for number, item in enumerate(previews, start=1):
        lines.append("")
        lines.append(f"{number}. {item.ref}  {item.platform}  -> {item.verdict}")
        lines.append(f"   owner       {item.owner or '(none)'}")
        if item.due_at is not None and item.late_seconds is not None:
            # Only --post-id makes a post that is not due yet part of a run.
            when = (
                f"{age_text(item.late_seconds)} late"
                if item.late_seconds >= 0
                else f"due in {age_text(-item.late_seconds)}"
            )
            lines.append(f"   due         {item.due_at:%Y-%m-%d %H:%M:%S} UTC ({when})")
        else:
            lines.append("   due         (unreadable schedule)")
        if item.text_length is not None:
            lines.append(
                f"   post        {item.kind}, {item.text_length} characters, {item.media_count} media file(s)"
            )
        else:
            lines.append(f"   post        {item.kind or '(no kind)'}")
        if item.connection:
            lines.append(f"   connection  {item.connection}")
        if item.problem:
            lines.append(f"   problem     {item.problem}")
    return "\n".join(lines)
