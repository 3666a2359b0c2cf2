"""What each platform provides to the shared adapter test matrix (tests/adapters/test_matrix.py).

One harness per platform, in `tests/adapters/harness_<platform>.py`, exposing `HARNESS`.
A harness serves its simulator(s) and a media host on loopback and hands out everything an
adapter needs, so the matrix can run every adapter and post kind through the same faults.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from devstack.simulators.base import Simulator
from services.platforms.base import Adapter, Connection, PlatformSettings, PublishJob

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


def iter_harnesses() -> Iterator[Harness]:
    """Every platform harness that exists (platform adapters land one by one)."""
    import importlib

    for platform in ("facebook", "instagram", "linkedin", "youtube"):
        try:
            module = importlib.import_module(f"tests.adapters.harness_{platform}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tests.adapters.harness_{platform}":
                continue
            raise
        yield module.HARNESS
