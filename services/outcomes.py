"""How one attempt at one post ended: small typed values, and the one enum of their statuses.

The runner counts them, the ledger writes them, the log and `status` name them by `Status`.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import ClassVar


class Status(StrEnum):
    """What became of a post this run (the `outcome=` of its log line)."""

    PUBLISHED = "published"  # live on the platform; ids and URL written back
    FAILED = "failed"  # back to draft with an error the user understands
    EXPIRED = "expired"  # more overdue than the lateness limit: never published stale
    DEFERRED = "deferred"  # stays scheduled, tried again after `not_before`
    RELEASED = "released"  # given back untouched (not ours to act on now, or out of time)
    UNCONFIRMED = "unconfirmed"  # may be live, the platform cannot tell: surfaced, never re-sent


@dataclass(frozen=True)
class Published:
    """The post is live: the platform's id, its public URL, and facts worth keeping."""

    post_id: str
    url: str | None
    # Extra facts the adapter learnt (e.g. the privacy YouTube really applied), kept in metadata.
    notes: Mapping[str, str] = field(default_factory=dict)
    status: ClassVar[Status] = Status.PUBLISHED


@dataclass(frozen=True)
class Failed:
    """The post goes back to draft with `message` (for the user); `detail` is for the log."""

    message: str
    detail: str = ""
    disconnect: str | None = None  # connection_status to set: the connection must be dropped
    stop_account: bool = False  # the account's other posts this run would fail the same way
    status: ClassVar[Status] = Status.FAILED


@dataclass(frozen=True)
class Deferred:
    """The post stays scheduled until `not_before`; `message` says why."""

    message: str
    not_before: datetime
    count_attempt: bool = False  # does this wait use one of the post's attempts
    detail: str = ""
    stop_platform: bool = False  # class C: every other post of the platform waits too this run
    status: ClassVar[Status] = Status.DEFERRED


@dataclass(frozen=True)
class Expired:
    """Too late to publish: `message` is the reason the user sees."""

    message: str
    detail: str = ""
    status: ClassVar[Status] = Status.EXPIRED


@dataclass(frozen=True)
class Unconfirmed:
    """An attempt may have published the post and the platform cannot tell: say so, never re-send.

    `expired`: the post is also past the lateness limit (written as expired, not draft).
    """

    message: str
    detail: str = ""
    expired: bool = False
    status: ClassVar[Status] = Status.UNCONFIRMED


@dataclass(frozen=True)
class Released:
    """Given back untouched; `why` is for the log."""

    why: str
    message: str = ""
    detail: str = ""
    status: ClassVar[Status] = Status.RELEASED


Outcome = Published | Failed | Deferred | Expired | Unconfirmed | Released
