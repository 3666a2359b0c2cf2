"""One bad row must never stop everyone: a run's worth of malformed rows in both tables, through
the real cron wrapper. The run exits 0, every good post is published exactly once, every bad one
goes back to draft with a sentence saying what to fix, and nothing else changes.

It covers what only a run can judge (connections: none, inactive, two active Pages, an empty
token, no Page id) besides what the pure path judges (tests/unit/test_row_corpus.py).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import timezone as fixed_zone
from typing import Any

import pytest
import pytz
from psycopg.types.json import Jsonb

from devstack import seed
from devstack.stack import Stack
from tests.acceptance.conftest import Runner
from tests.acceptance.every_outcome import dump
from tests.cli_process import PUBLISHER, run_cli

pytestmark = pytest.mark.acceptance

POST_TABLES = ("public.created_content", "public.content_posts")


@dataclass
class Seeded:
    """What was seeded: posts by name, with what must become of them."""

    tag: str
    good: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (table, id)
    bad: dict[str, tuple[str, str, tuple[str, ...]]] = field(default_factory=dict)  # + words
    untouched: dict[str, tuple[str, str]] = field(default_factory=dict)  # not candidates now
    pages: dict[str, str] = field(default_factory=dict)  # connection name -> page id
    connections: dict[str, str] = field(default_factory=dict)  # connection name -> id


def _afternoon_offset(now: datetime) -> int:
    """A whole-hour UTC offset (-12..+11) in which it is now 13:xx, so that noon has just passed."""
    return (13 - now.hour + 12) % 24 - 12


def seed_run(stack: Stack) -> Seeded:
    """Good and malformed posts of several users, all due now unless said otherwise."""
    tag = secrets.token_hex(4)
    seeded = Seeded(tag)
    now = datetime.now(UTC)
    due = now - timedelta(minutes=2)
    key = stack.encryption_key
    with stack.connect() as conn:
        owner = seed.user(conn, f"owner-{tag}@example.com", "Europe/Berlin")

        def page(name: str, user: str, platform: str = "facebook", **columns: Any) -> None:
            page_id = columns.pop("page_id", f"{name}-{tag}")
            seeded.pages[name] = page_id
            seeded.connections[name] = seed.connection(
                conn, key, user, platform, access_token=f"token-{name}-{tag}", page_id=page_id, **columns
            )

        # Two active Facebook Pages: the most recently connected one is used unless a post names one.
        page("older", owner, connected_at=now - timedelta(days=30), page_name="Older Page")
        page("newer", owner, connected_at=now - timedelta(days=1), page_name="Newer Page")
        page("inactive", owner, "linkedin", is_active=False, connection_status="expired")
        seeded.connections["empty token"] = seed.connection(
            conn, key, owner, "instagram", access_token="", page_id=f"ig-{tag}"
        )

        def cc(name: str, good: bool | None, *words: str, user: str = owner, **columns: Any) -> None:
            columns.setdefault("scheduled_at", due)
            columns.setdefault("content", f"{name} {tag}")
            post_id = seed.created_content(conn, user, **columns)
            _remember(seeded, name, "created_content", post_id, good, words)

        def cp(name: str, good: bool | None, *words: str, campaign: str, **columns: Any) -> None:
            columns.setdefault("content", f"{name} {tag}")
            post_id = seed.content_post(conn, campaign, **columns)
            _remember(seeded, name, "content_posts", post_id, good, words)

        # ---- good posts --------------------------------------------------------------------
        cc("newest page by default", True)
        cc("named older page", True, metadata={"page_id": seeded.pages["older"]})
        cc(
            "mixed-case platform, emoji, right-to-left, repeated hashtags",
            True,
            platform=" FaceBook ",
            content=f"خبز طازج 🍞 לחם {tag}",
            hashtags=["#Bread", "bread", "rye", "#RYE"],
        )
        cc("metadata is an array", True, metadata=[1, 2])
        cc("metadata is a string", True, metadata=Jsonb("oops"))
        # Our own keys, garbled: a retry stamp beyond the calendar, a claim stamp that is no time.
        cc(
            "next attempt before the year 1",
            True,
            metadata={"_publish_next_attempt_at": "0001-01-01T00:00+14:00"},
        )
        cc("claim stamp that is no time", True, metadata={"_publishing": True, "_publishing_at": "yesterday"})
        offset = _afternoon_offset(now)
        afternoon = seed.user(conn, f"afternoon-{tag}@example.com", f"{offset:+03d}:00")
        page("afternoon", afternoon)
        cc(
            "date without time is noon in the owner's zone",
            True,
            user=afternoon,
            scheduled_at=None,
            scheduled_date=(now + timedelta(hours=offset)).date(),
        )
        windows = seed.user(conn, f"windows-{tag}@example.com", "W. Europe Standard Time")
        page("windows", windows)
        berlin = due.astimezone(pytz.timezone("Europe/Berlin"))
        cp(
            "Windows timezone name",
            True,
            campaign=seed.campaign(conn, windows),
            scheduled_date=berlin.date(),
            scheduled_time=berlin.time(),
        )
        human = seed.user(conn, f"gmt-{tag}@example.com", "GMT-5")
        page("human", human)
        west = due.astimezone(fixed_zone(timedelta(hours=-5)))
        cp(
            "human offset GMT-5",
            True,
            campaign=seed.campaign(conn, human),
            scheduled_date=west.date(),
            scheduled_time=west.time(),
        )

        # ---- malformed rows ----------------------------------------------------------------
        cc("unknown platform", False, "Publishing to Myspace is not supported", platform="myspace")
        cc("empty platform", False, "names no platform", platform="")
        cc(
            "carousel images as a number",
            False,
            "carousel images are not a list of texts: 3",
            metadata={"carousel_images": 3},
        )
        cc("media_type as a list", False, "media_type (['video'])", metadata={"media_type": ["video"]})
        cc("privacy garbage", False, "privacy ('friends')", metadata={"privacy": "friends"})
        cc("empty content, no title", False, "is empty", content="", title="")
        cc("media that is not an address", False, "('loaf.jpg') is not a web address", media_url="loaf.jpg")
        jpgs = [stack.media_url(f"{n}-{tag}.jpg") for n in range(11)]
        cc(
            "Instagram carousel of 1",
            False,
            "Instagram carousels need at least 2 images",
            platform="instagram",
            content_type="carousel",
            images=jpgs[:1],
        )
        cc(
            "Instagram carousel of 11",
            False,
            "Instagram carousels are limited to 10 images; this one has 11",
            platform="instagram",
            content_type="carousel",
            images=jpgs,
        )
        cc("LinkedIn text over its limit", False, "3,000 characters", platform="linkedin", content="x" * 3001)
        cc(
            "YouTube title over its limit",
            False,
            "YouTube titles are limited to 100 characters",
            platform="youtube",
            content_type="video",
            title="T" * 101,
            media_url=stack.media_url(f"clip-{tag}.mp4"),
        )
        cc("no schedule", False, "no scheduled date or time", scheduled_at=None)
        cc("scheduled_at -infinity", False, "'-infinity' is not a usable date", scheduled_at="-infinity")
        cc(
            "scheduled_at before the year 1 in UTC",
            False,
            "BC' is not a usable date",
            scheduled_at="0001-01-01 00:00:00+05",
        )
        cc(
            "no connection at all",
            False,
            "No active YouTube connection",
            platform="youtube",
            content_type="video",
            title="Clip",
            media_url=stack.media_url(f"clip-{tag}.mp4"),
        )
        cc("inactive connection only", False, "No active LinkedIn connection", platform="linkedin")
        cc(
            "connection with an empty token",
            False,
            "Instagram connection has no saved login",
            platform="instagram",
            media_url=stack.media_url(f"ig-{tag}.jpg"),
        )
        cc(
            "named page no longer connected",
            False,
            "no longer connected",
            metadata={"page_id": f"gone-{tag}"},
        )
        pageless = seed.user(conn, f"pageless-{tag}@example.com", "Europe/Berlin")
        page("pageless", pageless, page_id=None)
        cc("connection without a Page id", False, "has no Page", user=pageless)
        tokyo = seed.user(conn, f"tokyo-{tag}@example.com", "Asia/Tokyo")
        cp(
            "date at the start of the calendar in Tokyo",
            False,
            "0001-01-01 00:00 in Asia/Tokyo falls before the year 1",
            campaign=seed.campaign(conn, tokyo),
            scheduled_date=date(1, 1, 1),
            scheduled_time="00:00",
        )
        martian = seed.user(conn, f"mars-{tag}@example.com", "Mars/Olympus")
        cp(
            "unknown timezone",
            False,
            "profile timezone 'Mars/Olympus' is not a time zone",
            "profile settings",
            campaign=seed.campaign(conn, martian),
            scheduled_date=due.date(),
            scheduled_time=due.time(),
        )
        cp(
            "campaign without owner",
            False,
            "no owner",
            campaign=seed.campaign(conn, None),
            scheduled_date=due.date(),
            scheduled_time="00:00",
        )

        # ---- rows that are not due: the run must leave them exactly as they are ----------------
        cc("due tomorrow", None, scheduled_at=now + timedelta(days=1))
        cc("a draft", None, status="draft")
        cc("scheduled_at infinity", None, scheduled_at="infinity")
        pacific = seed.user(conn, f"pago-{tag}@example.com", "Pacific/Pago_Pago")
        cc(
            "date at the end of the calendar in the Pacific",
            None,
            user=pacific,
            scheduled_at=None,
            scheduled_date=date(9999, 12, 31),
            scheduled_time="23:00",
        )
    return seeded


def _remember(
    seeded: Seeded, name: str, table: str, post_id: str, good: bool | None, words: tuple[str, ...]
) -> None:
    if good is None:
        seeded.untouched[name] = (table, post_id)
    elif good:
        seeded.good[name] = (table, post_id)
    else:
        seeded.bad[name] = (table, post_id, words)


def _rows_by_id(snapshot: dict[str, list[str]], table: str) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in map(json.loads, snapshot[table])}


def test_a_run_full_of_malformed_rows_settles_each_and_publishes_the_good_ones(
    stack: Stack, run_wrapper: Runner
):
    """Malformed rows of both tables fail one by one with precise errors; good ones are published once."""
    seeded = seed_run(stack)
    before = dump(stack)

    run = run_wrapper()

    assert run.returncode == 0, run.log
    after = dump(stack)
    created = stack.graph.created
    # Read from the JSON dump: psycopg cannot load the rows holding -infinity or BC dates.
    by_table = {
        table: _rows_by_id(after, f"public.{table}") for table in ("created_content", "content_posts")
    }
    rows = {
        name: by_table[table][post_id] for name, (table, post_id, *_) in {**seeded.good, **seeded.bad}.items()
    }
    # Every good post is published exactly once, on the Page it should be.
    problems = {
        n: rows[n]["metadata"].get("publish_error") for n in seeded.good if rows[n]["status"] != "published"
    }
    assert problems == {}
    for name in seeded.good:
        post_id = rows[name]["metadata"]["facebook_post_id"]
        assert [post["id"] for post in created].count(post_id) == 1, name
    assert len(created) == len(seeded.good)
    page_of = {name: rows[name]["metadata"]["facebook_post_id"].split("_")[0] for name in seeded.good}
    assert page_of["newest page by default"] == seeded.pages["newer"]
    assert page_of["named older page"] == seeded.pages["older"]
    assert page_of["Windows timezone name"] == seeded.pages["windows"]
    texts = {post["id"]: post["text"] for post in created}
    mixed = rows["mixed-case platform, emoji, right-to-left, repeated hashtags"]
    assert texts[mixed["metadata"]["facebook_post_id"]] == f"خبز طازج 🍞 לחם {seeded.tag}\n\n#Bread #rye"
    # Every malformed post is back to draft with a sentence saying what is wrong.
    wrong = {}
    for name, (_, _, words) in seeded.bad.items():
        error = rows[name]["metadata"].get("publish_error") or ""
        if rows[name]["status"] != "draft" or not all(word in error for word in words):
            wrong[name] = (rows[name]["status"], error)
    assert wrong == {}
    assert f"published={len(seeded.good)} failed={len(seeded.bad)} expired=0" in run.log
    # Nothing else changed: rows that were not due, other tables, connections but the page-less one.
    for table in POST_TABLES:
        old, new = _rows_by_id(before, table), _rows_by_id(after, table)
        for name, (short, post_id) in seeded.untouched.items():
            if table.endswith(short):
                assert new[post_id] == old[post_id], name
    assert {
        t: rows for t, rows in after.items() if t not in (*POST_TABLES, "public.platform_connections")
    } == {t: rows for t, rows in before.items() if t not in (*POST_TABLES, "public.platform_connections")}
    old_links, new_links = (_rows_by_id(s, "public.platform_connections") for s in (before, after))
    changed = {
        cid
        for cid in old_links
        if {k: v for k, v in old_links[cid].items() if k not in ("last_posted_at", "updated_at")}
        != {k: v for k, v in new_links[cid].items() if k not in ("last_posted_at", "updated_at")}
    }
    assert changed == {seeded.connections["pageless"]}
    assert new_links[seeded.connections["pageless"]]["is_active"] is False


def test_status_and_dry_run_read_the_same_malformed_rows(stack: Stack):
    """`status` and `--dry-run` read a table full of malformed rows without crashing, naming each problem."""
    seeded = seed_run(stack)
    before = dump(stack)

    status = run_cli(PUBLISHER, "status", "--json", env=stack.env())
    dry = run_cli(PUBLISHER, "--dry-run", env=stack.env())

    assert status.returncode == 0, status.stderr
    assert dry.returncode == 0, dry.stderr
    report = json.loads(status.stdout)
    unreadable = (
        "no schedule",
        "scheduled_at -infinity",
        "scheduled_at before the year 1 in UTC",
        "date at the start of the calendar in Tokyo",
        "unknown timezone",
    )
    assert set(unreadable) <= set(seeded.bad)
    assert sum(row["invalid"] for row in report["rows"]) == len(unreadable)
    for words in (
        "0001-01-01 00:00 in Asia/Tokyo falls before the year 1",
        "'Mars/Olympus' is not a time zone",
        "Instagram carousels are limited to 10 images",
        "('loaf.jpg') is not a web address",
    ):
        assert words in dry.stdout
    verdicts = _dry_run_verdicts(dry.stdout)
    assert {n for n, (_, post_id) in seeded.good.items() if verdicts[post_id] != "would publish"} == set()
    assert {
        n
        for n, (_, post_id, _) in seeded.bad.items()
        if verdicts[post_id] != "would fail" and n != "connection without a Page id"
    } == set()
    assert dump(stack) == before


def _dry_run_verdicts(output: str) -> dict[str, str]:
    """Post id -> the dry run's verdict ("would publish", "would fail", ...)."""
    verdicts = {}
    for line in output.splitlines():
        if "  -> " in line and "/" in line:
            ref, verdict = line.split("  -> ", 1)
            verdicts[ref.split()[1].split("/", 1)[1]] = verdict.strip()
    return verdicts


def test_dry_run_foresees_that_a_page_less_connection_fails(stack: Stack):
    """--dry-run says a post whose Facebook connection has no Page id would fail, as the run does."""
    with stack.connect() as conn:
        user = seed.user(conn, "pageless@example.com", "Europe/Berlin")
        seed.connection(conn, stack.encryption_key, user, "facebook", access_token="token", page_id=None)
        post = seed.created_content(conn, user, scheduled_at=datetime.now(UTC) - timedelta(minutes=1))
    dry = run_cli(PUBLISHER, "--dry-run", env=stack.env())
    assert dry.returncode == 0, dry.stderr
    assert _dry_run_verdicts(dry.stdout)[post] == "would fail"
