"""The posts a run reads, evaluated: shared by the run, `status` and `--dry-run`, so the three
never disagree about what is due."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.decisions import Candidate, evaluate
from services.due import candidate_window
from services.posts import TABLES, post_from_row
from services.store import Scope, Store

log = logging.getLogger("publisher")


@dataclass(frozen=True)
class RunOptions:
    """What a run covers."""

    tables: tuple[str, ...] = TABLES
    post_ids: tuple[str, ...] = ()  # publish these now if scheduled, due or not
    limit: int | None = None
    user_id: str | None = None  # test mode


def read_candidates(
    store: Store, options: RunOptions, now: datetime, max_lateness: timedelta, *, quiet: bool = False
) -> list[Candidate]:
    """Every post of the run's scope that can be due, evaluated at `now`.

    One profiles read covers both tables: an owner's posts often sit in both. `quiet` keeps
    schedule warnings out of the log (a rescan would repeat them every minute).
    """
    _, tomorrow = candidate_window(now)
    scope = Scope(user_id=options.user_id, post_ids=options.post_ids)
    posts = [
        post_from_row(table, row)
        for table in options.tables
        for row in store.candidates(table, now, tomorrow, scope)
    ]
    zones = store.timezones([p.owner_id for p in posts if p.owner_id]) if posts else {}
    found: list[Candidate] = []
    for bare in posts:
        post = replace(bare, owner_timezone=zones.get(bare.owner_id or ""))
        candidate = evaluate(post, now, max_lateness, force=bool(options.post_ids))
        if candidate.warning and not quiet:
            log.warning("%s: %s", post.ref, candidate.warning)
        found.append(candidate)
    return found
