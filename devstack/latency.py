"""Make a loopback app as slow as the real service, and count what it served.

On loopback every call costs well under a millisecond, so a run that waits on the network in
production looks CPU-bound here, and concurrency cannot show. `with_latency(app, ...)` wraps any
WSGI app (the PostgREST stand-in, a simulator, the media host):

- every request waits `mean_s ± jitter_s` (uniform, from a seeded generator, so two runs with the
  same seed draw the same delays in the same order) before the app sees it;
- `body_bytes_per_s` throttles how fast the request body can be read, as a platform's ingest
  link does for uploads (the app still reads the body as it always did);
- counters: requests, requests in flight now and at most, rows served (the rows PostgREST
  reports in the `Content-Range` of a GET answer) and the time the app itself spent answering,
  so benchmarks count calls instead of assuming them and concurrency tests can see how many
  requests overlapped.

A request is in flight from the moment it arrives (its latency included) until the server
closes its response, so a streamed body counts until its last byte is written.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from devstack.server import WSGIApp

_CONTENT_RANGE = re.compile(r"(\d+)-(\d+)/")
_READ_BLOCK = 64 * 1024


@dataclass(frozen=True)
class Latency:
    """How slow one app is: per-request delay, its jitter, the seed, the request-body rate."""

    mean_s: float = 0.0
    jitter_s: float = 0.0
    seed: int = 0
    body_bytes_per_s: float | None = None


class ThrottledInput:
    """A request body that cannot be read faster than `rate` bytes per second."""

    def __init__(self, raw: BinaryIO, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._raw, self._rate, self._clock = raw, rate, clock
        self._started: float | None = None
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while block := self._block(_READ_BLOCK):
                parts.append(block)
            return b"".join(parts)
        parts = []
        while size > 0 and (block := self._block(min(size, _READ_BLOCK))):
            parts.append(block)
            size -= len(block)
        return b"".join(parts)

    def readline(self, size: int = -1) -> bytes:
        return self._account(self._raw.readline(size))

    def _block(self, size: int) -> bytes:
        return self._account(self._raw.read(size))

    def _account(self, data: bytes) -> bytes:
        if self._started is None:
            self._started = self._clock()
        self._read += len(data)
        # Sleep until the bytes so far could have arrived at `rate`: the average rate holds over
        # the whole body, whatever block sizes the app asks for.
        wait = self._started + self._read / self._rate - self._clock()
        if wait > 0:
            time.sleep(wait)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class _Response:
    """The app's response iterable, reporting when the server closes it."""

    def __init__(self, result: Iterable[bytes], done: Callable[[], None]) -> None:
        self._result, self._done, self._closed = result, done, False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._done()


class LatencyApp:
    """A WSGI app with added latency, an optional body throttle, and counters."""

    def __init__(self, app: WSGIApp, latency: Latency | None = None) -> None:
        self.app = app
        self.latency = latency or Latency()
        self._random = random.Random(self.latency.seed)  # noqa: S311 (reproducible jitter, not secrecy)
        self._lock = threading.Lock()
        self.requests = 0
        self.inflight = 0
        self.inflight_max = 0
        self.rows_served = 0
        self.delayed_s = 0.0  # latency added so far
        self.busy_s = 0.0  # time the app itself took to answer (body streaming excluded)

    def next_delay(self) -> float:
        """The delay of the next request (draws from the seeded generator)."""
        mean, jitter = self.latency.mean_s, self.latency.jitter_s
        with self._lock:
            drawn = self._random.uniform(mean - jitter, mean + jitter) if jitter else mean
        return max(0.0, drawn)

    def reset(self) -> None:
        """Zero the counters (between the phases of a benchmark); the generator keeps its place."""
        with self._lock:
            self.requests = self.rows_served = 0
            self.inflight_max = self.inflight
            self.delayed_s = self.busy_s = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            self.requests += 1
            self.inflight += 1
            self.inflight_max = max(self.inflight_max, self.inflight)
        try:
            delay = self.next_delay()
            if delay:
                time.sleep(delay)
                with self._lock:
                    self.delayed_s += delay
            if self.latency.body_bytes_per_s:
                environ["wsgi.input"] = ThrottledInput(environ["wsgi.input"], self.latency.body_bytes_per_s)
            reading = environ.get("REQUEST_METHOD") == "GET"
            sized = False

            def counting(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
                nonlocal sized
                sized = any(name.lower() == "content-length" for name, _ in headers)
                if reading:
                    self._count_rows(headers)
                return start_response(status, headers, *exc)

            called = time.perf_counter()
            result = self.app(environ, counting)
            answered = time.perf_counter() - called
            with self._lock:
                self.busy_s += answered
        except BaseException:
            self._leave()
            raise
        response = _Response(result, self._leave)
        if sized:
            return response
        # The server sends an unsized body as one block and never closes our wrapper, so the
        # request ends here, once the body exists.
        try:
            return [b"".join(response)]
        finally:
            response.close()

    def _count_rows(self, headers: list[tuple[str, str]]) -> None:
        for name, value in headers:
            if name.lower() == "content-range" and (match := _CONTENT_RANGE.match(value)):
                with self._lock:
                    self.rows_served += int(match[2]) - int(match[1]) + 1

    def _leave(self) -> None:
        with self._lock:
            self.inflight -= 1


def with_latency(
    app: WSGIApp,
    mean_s: float = 0.0,
    jitter_s: float = 0.0,
    seed: int = 0,
    *,
    body_bytes_per_s: float | None = None,
) -> LatencyApp:
    """`app` slowed down by `mean_s ± jitter_s` per request (and its body throttle), counted."""
    return LatencyApp(app, Latency(mean_s, jitter_s, seed, body_bytes_per_s))
