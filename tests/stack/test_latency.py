"""The latency middleware: added delay within bounds, seeded jitter, body throttle, counters."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx

from devstack.latency import LatencyApp, with_latency
from devstack.server import serve
from devstack.stack import Stack


class Echo:
    """Answers the length of the request body, sized; a GET also reports 10 rows, as PostgREST."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        self.bodies.append(body)
        payload = str(len(body)).encode()
        start_response(
            "200 OK",
            [("Content-Length", str(len(payload))), ("Content-Range", "20-29/*")],
        )
        return [payload]


def unsized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    """A generator app with no Content-Length (the server sends it as one block)."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"a"
    yield b"b"


def test_latency_is_added_within_bounds() -> None:
    """Every request takes at least mean - jitter longer, and not much more than mean + jitter."""
    app = with_latency(Echo(), mean_s=0.05, jitter_s=0.02, seed=7)
    with serve(app) as server, httpx.Client() as client:
        client.get(server.url)  # connect outside the measurement
        for _ in range(10):
            started = time.perf_counter()
            client.get(server.url)
            elapsed = time.perf_counter() - started
            assert 0.03 <= elapsed < 0.07 + 0.05
    assert app.requests == 11
    assert 0.03 * 11 <= app.delayed_s <= 0.07 * 11
    assert 0 < app.busy_s < 0.03 * 11  # the app's own time, the added latency not included


def test_jitter_is_deterministic_with_a_seed() -> None:
    """The same seed draws the same delays in the same order; another seed draws others."""

    def draws(seed: int) -> list[float]:
        app = with_latency(Echo(), mean_s=0.15, jitter_s=0.05, seed=seed)
        return [app.next_delay() for _ in range(50)]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    assert all(0.10 <= delay <= 0.20 for delay in draws(3))
    assert len(set(draws(3))) > 40  # jitter, not a constant


def test_no_jitter_means_exactly_the_mean() -> None:
    """Without jitter every delay is the mean, and a negative draw is clamped to zero."""
    assert with_latency(Echo(), mean_s=0.15).next_delay() == 0.15
    clamped = with_latency(Echo(), mean_s=0.01, jitter_s=0.05, seed=1)
    assert min(clamped.next_delay() for _ in range(50)) == 0.0


def test_body_throttle_holds_the_rate() -> None:
    """A 1 MB body at 4 MB/s takes about 0.25 s to read and arrives intact."""
    echo = Echo()
    app = with_latency(echo, body_bytes_per_s=4_000_000)
    body = bytes(range(256)) * 4000  # 1,024,000 bytes
    with serve(app) as server, httpx.Client() as client:
        started = time.perf_counter()
        answer = client.post(server.url, content=body)
        elapsed = time.perf_counter() - started
    assert answer.text == str(len(body))
    assert echo.bodies == [body]
    assert 0.25 <= elapsed < 0.25 + 0.25


def test_inflight_counter_sees_concurrent_requests() -> None:
    """Eight requests at once are all in flight together; none is left counted afterwards."""
    app = with_latency(Echo(), mean_s=0.3)
    with serve(app) as server:
        barrier = threading.Barrier(8)

        def one() -> None:
            with httpx.Client() as client:
                barrier.wait()
                client.get(server.url)

        threads = [threading.Thread(target=one) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert app.requests == 8
    assert app.inflight_max == 8
    assert app.inflight == 0


def test_sequential_requests_are_one_in_flight() -> None:
    """Requests one after another on one connection never overlap, also with unsized bodies."""
    sized, generated = LatencyApp(Echo()), LatencyApp(unsized)
    with serve(sized) as one, serve(generated) as two, httpx.Client() as client:
        for _ in range(5):
            client.get(one.url)
            assert client.get(two.url).text == "ab"
    assert (sized.inflight_max, sized.inflight) == (1, 0)
    assert (generated.inflight_max, generated.inflight) == (1, 0)


def test_rows_served_counts_get_content_ranges_only() -> None:
    """Rows are counted from the Content-Range of GET answers; writes are not reads."""
    app = LatencyApp(Echo())
    with serve(app) as server, httpx.Client() as client:
        client.get(server.url)
        client.get(server.url)
        client.post(server.url, content=b"x")
    assert app.rows_served == 20
    app.reset()
    assert (app.rows_served, app.requests) == (0, 0)


def test_stack_meters_every_app(stack: Stack) -> None:
    """The stack counts requests per app, so tests read calls and overlap from it."""
    httpx.get(f"{stack.urls['graph']}/v27.0/me")
    httpx.get(stack.media_url("a.jpg", 10))
    assert stack.request_counts["graph"] == 1
    assert stack.request_counts["media"] == 1
    assert stack.inflight_max["graph"] == 1
    assert stack.request_counts["api"] == 0
