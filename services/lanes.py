"""Which claimed post a run starts next: lanes per account, caps per platform. Pure: no I/O, no
threads; the runner asks and reports, this module decides.

Rules:
- one lane per account (connection): its posts go one at a time, in due order, so a 9:00 post
  never appears after the 9:01 one;
- at most `concurrency` posts in flight, and at most `caps[platform]` of one platform (a few
  YouTube uploads must not take every lane);
- a stopped lane (the account's login was refused) or a stopped platform (our client is
  misconfigured for it) starts nothing more; its remaining posts are given back to the runner
  with the outcome that stopped them;
- lanes whose first post is due earliest go first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from services.posts import Post


@dataclass
class _Lane:
    key: str
    platform: str
    waiting: deque[Post] = field(default_factory=deque)
    running: Post | None = None
    stopped: bool = False


class Lanes:
    """The posts a run holds and may start, per account lane."""

    def __init__(self, concurrency: int, caps: Mapping[str, int]) -> None:
        self.concurrency = concurrency
        self.caps = dict(caps)
        self._lanes: dict[str, _Lane] = {}
        self._order: list[str] = []  # lane keys in the order they were first seen (earliest due first)
        self._stopped_platforms: set[str] = set()
        self._in_flight = 0
        self._per_platform: dict[str, int] = {}

    def add(self, key: str, post: Post) -> None:
        """Queue a claimed post at the end of its lane (callers add in due order)."""
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(key, post.platform)
            self._order.append(key)
        lane.waiting.append(post)

    def next(self) -> tuple[str, Post] | None:
        """The next post to start now, with its lane key; None when nothing may start."""
        if self._in_flight >= self.concurrency:
            return None
        for key in self._order:
            lane = self._lanes[key]
            if lane.running is not None or not lane.waiting or lane.stopped:
                continue
            if lane.platform in self._stopped_platforms:
                continue
            cap = self.caps.get(lane.platform, self.concurrency)
            if self._per_platform.get(lane.platform, 0) >= cap:
                continue
            post = lane.waiting.popleft()
            lane.running = post
            self._in_flight += 1
            self._per_platform[lane.platform] = self._per_platform.get(lane.platform, 0) + 1
            return key, post
        return None

    def done(self, key: str) -> None:
        """The lane's running post has settled."""
        lane = self._lanes[key]
        if lane.running is None:
            return
        lane.running = None
        self._in_flight -= 1
        self._per_platform[lane.platform] -= 1
        if not lane.waiting:
            del self._lanes[key]
            self._order.remove(key)

    def stop_lane(self, key: str) -> list[Post]:
        """Stop one account's lane; its waiting posts, which the runner settles without sending."""
        lane = self._lanes.get(key)
        if lane is None:
            return []
        lane.stopped = True
        return self._drain([lane])

    def stop_platform(self, platform: str) -> list[Post]:
        """Stop every lane of a platform; their waiting posts."""
        self._stopped_platforms.add(platform)
        return self._drain(lane for lane in self._lanes.values() if lane.platform == platform)

    def stopped_platform(self, platform: str) -> bool:
        """Whether a platform was stopped for the rest of the run."""
        return platform in self._stopped_platforms

    def take_waiting(self) -> list[Post]:
        """Remove every post not started yet (the run is out of time); the runner releases them."""
        return self._drain(list(self._lanes.values()))

    def _drain(self, lanes: Iterable[_Lane]) -> list[Post]:
        drained: list[Post] = []
        for lane in list(lanes):
            drained.extend(lane.waiting)
            lane.waiting.clear()
            if lane.running is None:
                del self._lanes[lane.key]
                self._order.remove(lane.key)
        return drained

    @property
    def in_flight(self) -> int:
        """How many posts are running."""
        return self._in_flight

    @property
    def accounts(self) -> int:
        """How many lanes have work (running or waiting): what keeps every thread busy."""
        return len(self._lanes)

    @property
    def waiting(self) -> int:
        """How many posts wait to start."""
        return sum(len(lane.waiting) for lane in self._lanes.values())
