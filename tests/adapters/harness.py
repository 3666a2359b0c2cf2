"""What each platform provides to the shared adapter test matrix (tests/adapters/test_matrix.py).

One harness per platform, in `tests/adapters/harness_<platform>.py`, exposing `HARNESS`.
A harness serves its simulator(s) and a media host on loopback and hands out everything an
adapter needs, so the matrix can run every adapter and post kind through the same faults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from devstack.simulators.base import Simulator
from services.platforms.base import Adapter, Connection, PlatformSettings, PublishJob, TokenUpdate

# Client timeout the matrix uses, and how long "slow" faults sleep: slow must exceed the timeout.
CLIENT_TIMEOUT_S = 0.5
SLOW_DELAY_S = 1.2


@dataclass
class Running:
    """A started harness: the simulator to script and count, and what the adapter needs."""

    simulator: Simulator
    settings: PlatformSettings  # URLs point at the simulators; http_timeout_s = CLIENT_TIMEOUT_S
    connection: Connection
    adapter: Adapter


class Harness(Protocol):
    """A platform's entry in the matrix."""

    platform: str
    kinds: tuple[str, ...]  # post kinds the adapter supports (text, image, carousel, video)

    def start(self) -> AbstractContextManager[Running]:
        """Serve the simulator(s) and media host for one test; stop them afterwards."""

    def job(self, running: Running, kind: str) -> PublishJob:
        """A valid job of `kind` whose media URLs point at the running media host."""

    def publish_step(self, kind: str) -> str:
        """The simulator step name of the call that makes `kind` public (faults go there)."""


@dataclass
class ProgressRecorder:
    """An adapter's Progress notes, sleeps and token saves, recorded in call order, in memory.

    `events` holds ("remember", ids), ("sending", counter()), ("sleep", seconds) and
    ("save_token", (connection, update)). `counter` counts whatever a test needs to place the
    events against (the requests a simulator has seen, the posts it has created); its value
    is also kept for every event in `counts`. `sending` then runs `on_sending` (to script a
    later fault). Pass `remember`/`sending` as the context's progress, `sleep` and `save_token`
    as its sleep and save_token.
    """

    counter: Callable[[], int] = lambda: 0
    on_sending: Callable[[], None] = lambda: None
    events: list[tuple[str, Any]] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # counter() as each event was recorded

    def _record(self, kind: str, detail: Any) -> None:
        self.events.append((kind, detail))
        self.counts.append(self.counter())

    def remember(self, **remote_ids: Any) -> None:
        self._record("remember", dict(remote_ids))

    def sending(self, **remote_ids: Any) -> None:
        if remote_ids:
            self._record("remember", dict(remote_ids))
        self._record("sending", self.counter())
        self.on_sending()

    def sleep(self, seconds: float) -> None:
        self._record("sleep", seconds)

    def save_token(self, connection: Connection, update: TokenUpdate) -> None:
        self._record("save_token", (connection, update))

    @property
    def notes(self) -> list[tuple[str, Any]]:
        """The Progress notes only (remember and sending), in order."""
        return [(kind, detail) for kind, detail in self.events if kind in ("remember", "sending")]

    @property
    def remembered(self) -> dict[str, Any]:
        """Everything remembered so far, merged as the publisher stores it."""
        merged: dict[str, Any] = {}
        for kind, ids in self.events:
            if kind == "remember":
                merged.update(ids)
        return merged

    @property
    def sending_count(self) -> int:
        """How many times `sending` was called."""
        return sum(1 for kind, _ in self.events if kind == "sending")

    @property
    def sleeps(self) -> list[float]:
        """The seconds of every sleep, in order."""
        return [seconds for kind, seconds in self.events if kind == "sleep"]

    @property
    def saved_tokens(self) -> list[tuple[Connection, TokenUpdate]]:
        """(connection, update) of every token save, in order."""
        return [saved for kind, saved in self.events if kind == "save_token"]

    def counted(self, *kinds: str) -> list[tuple[str, int]]:
        """(kind, counter() at that moment) of every event of these kinds, in order."""
        return [(kind, n) for (kind, _), n in zip(self.events, self.counts, strict=True) if kind in kinds]


def iter_harnesses() -> Iterator[Harness]:
    """Every platform harness that exists (platform adapters land one by one)."""
    import importlib

    for platform in ("facebook", "instagram", "linkedin", "youtube", "x", "wordpress"):
        try:
            module = importlib.import_module(f"tests.adapters.harness_{platform}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tests.adapters.harness_{platform}":
                continue
            raise
        yield module.HARNESS
