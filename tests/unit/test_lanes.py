"""Lanes: which claimed post starts next, per account and within the caps."""

from __future__ import annotations

from services.lanes import Lanes
from services.posts import CREATED_CONTENT, Post, post_from_row


def post(name: str, platform: str = "facebook") -> Post:
    return post_from_row(CREATED_CONTENT, {"id": name, "platform": platform})


def drain(lanes: Lanes) -> list[str]:
    """Start everything that may start now; the started post ids in order."""
    started = []
    while (item := lanes.next()) is not None:
        started.append(item[1].id)
    return started


def test_one_post_at_a_time_per_account_in_the_order_added():
    """An account's second post starts only after its first is done."""
    lanes = Lanes(concurrency=8, caps={})
    for name in ("a1", "a2", "a3"):
        lanes.add("acct-a", post(name))
    lanes.add("acct-b", post("b1"))
    assert drain(lanes) == ["a1", "b1"]
    lanes.done("acct-a")
    assert drain(lanes) == ["a2"]
    lanes.done("acct-b")
    lanes.done("acct-a")
    assert drain(lanes) == ["a3"]


def test_total_and_platform_caps_hold():
    """No more than `concurrency` in flight, nor more than a platform's cap."""
    lanes = Lanes(concurrency=3, caps={"youtube": 1})
    for i in range(3):
        lanes.add(f"yt{i}", post(f"y{i}", "youtube"))
    for i in range(5):
        lanes.add(f"fb{i}", post(f"f{i}"))
    assert drain(lanes) == ["y0", "f0", "f1"]
    lanes.done("fb0")
    assert drain(lanes) == ["f2"]  # YouTube is at its cap: the next Facebook lane goes
    lanes.done("yt0")
    assert drain(lanes) == ["y1"]


def test_a_stopped_lane_gives_back_its_waiting_posts_and_starts_nothing():
    """Stopping an account returns its waiting posts; other accounts go on."""
    lanes = Lanes(concurrency=4, caps={})
    for name in ("a1", "a2", "a3"):
        lanes.add("acct-a", post(name))
    lanes.add("acct-b", post("b1"))
    assert drain(lanes) == ["a1", "b1"]
    assert [p.id for p in lanes.stop_lane("acct-a")] == ["a2", "a3"]
    lanes.done("acct-a")
    lanes.done("acct-b")
    assert drain(lanes) == []
    assert lanes.waiting == 0
    assert lanes.in_flight == 0


def test_a_stopped_platform_stops_only_its_lanes():
    """A platform stopped for the run gives back its waiting posts; other platforms go on."""
    lanes = Lanes(concurrency=1, caps={})
    lanes.add("li-1", post("l1", "linkedin"))
    lanes.add("li-2", post("l2", "linkedin"))
    lanes.add("fb-1", post("f1"))
    assert drain(lanes) == ["l1"]
    assert [p.id for p in lanes.stop_platform("linkedin")] == ["l2"]
    assert lanes.stopped_platform("linkedin")
    lanes.done("li-1")
    assert drain(lanes) == ["f1"]


def test_out_of_time_takes_every_waiting_post_but_not_the_running_ones():
    """The budget's end gives back what did not start; running posts finish."""
    lanes = Lanes(concurrency=1, caps={})
    lanes.add("a", post("a1"))
    lanes.add("a", post("a2"))
    lanes.add("b", post("b1"))
    assert drain(lanes) == ["a1"]
    assert sorted(p.id for p in lanes.take_waiting()) == ["a2", "b1"]
    assert lanes.in_flight == 1
    lanes.done("a")
    assert drain(lanes) == []
