"""A post that may be live is never reported as unpublished: an ambiguous send is reconciled with
the platform before the post expires, and what cannot be confirmed is said, counted and logged
(through the real wrapper against the local stack)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from devstack import seed
from devstack.stack import Stack
from tests.acceptance.conftest import Runner, facebook_user
from tests.cli_process import PUBLISHER, run_cli

pytestmark = pytest.mark.acceptance

TOKEN = "EAAGm0PX4ZCpsBAmaybeLiveToken0123456789"


def make_overdue(stack: Stack, post: str) -> None:
    """Move the post's due time three days back, keeping what the first attempt left in metadata."""
    with stack.connect() as conn:
        conn.execute(
            "UPDATE created_content SET scheduled_at = now() - interval '3 days', "
            "metadata = metadata - '_publish_next_attempt_at' WHERE id = %s",
            (post,),
        )


def test_an_ambiguous_post_found_on_the_page_is_published_not_expired(stack: Stack, run_wrapper: Runner):
    """Past the lateness limit, a post whose send may have worked is looked for first: found, published."""
    user = facebook_user(stack, TOKEN)
    with stack.connect() as conn:
        post = seed.created_content(conn, user, scheduled_at=datetime.now(UTC), content="Applied, then a 500")
    stack.graph.inject("error_after_apply", step="feed")
    stack.graph.inject("server_error", step="published_posts", times=5)  # the first look fails too
    first = run_wrapper()
    assert first.returncode == 0, first.log
    with stack.connect() as conn:
        meta = seed.row(conn, "created_content", post)["metadata"]
    assert "_publish_sending_at" in meta  # left ambiguous, with its evidence
    stack.graph.clear_faults()
    make_overdue(stack, post)

    second = run_wrapper()

    assert second.returncode == 0, second.log
    with stack.connect() as conn:
        row = seed.row(conn, "created_content", post)
    assert row["status"] == "published"
    assert row["metadata"]["facebook_post_id"] == stack.graph.created[0]["id"]
    assert len(stack.graph.created) == 1


def test_an_ambiguous_post_not_found_past_the_limit_is_surfaced_as_maybe_live(
    stack: Stack, run_wrapper: Runner
):
    """Not found on the last look past the limit: expired saying it may be live, never re-sent,
    counted by status, logged at WARNING, its evidence kept."""
    user = facebook_user(stack, TOKEN)
    with stack.connect() as conn:
        post = seed.created_content(conn, user, scheduled_at=datetime.now(UTC), content="Never arrived")
    stack.graph.inject("server_error", step="feed")
    first = run_wrapper()
    assert first.returncode == 0, first.log
    assert stack.graph.created == []
    make_overdue(stack, post)
    feed_calls = sum(1 for r in stack.graph.requests if r.path.endswith("/feed"))

    second = run_wrapper()

    assert second.returncode == 0, second.log
    assert sum(1 for r in stack.graph.requests if r.path.endswith("/feed")) == feed_calls  # not sent again
    with stack.connect() as conn:
        row = seed.row(conn, "created_content", post)
    assert row["status"] == "expired"
    reason = row["metadata"]["expired_reason"]
    assert "Not published" not in reason
    assert "check your Facebook account" in reason
    assert "_publish_unconfirmed_at" in row["metadata"]
    assert "_publish_sending_at" in row["metadata"]  # the evidence a reschedule reconciles with
    warning = next(line for line in second.log.splitlines() if "post unconfirmed" in line)
    assert " WARNING " in warning
    status = run_cli(PUBLISHER, "status", "--json", env=stack.env())
    report = json.loads(status.stdout)
    [facebook] = [r for r in report["rows"] if r["platform"] == "facebook"]
    assert (facebook["unconfirmed"], facebook["unconfirmed_24h"]) == (1, 1)
    assert [u["id"] for u in report["unconfirmed"]] == [post]
    text = run_cli(PUBLISHER, "status", env=stack.env()).stdout
    assert f"UNCONFIRMED: created_content/{post}" in text


def test_a_rescheduled_maybe_live_post_is_looked_for_before_it_is_sent(stack: Stack, run_wrapper: Runner):
    """The user reschedules an unconfirmed post: the next run looks on the Page first (it is there)."""
    user = facebook_user(stack, TOKEN)
    with stack.connect() as conn:
        post = seed.created_content(conn, user, scheduled_at=datetime.now(UTC), content="Was live after all")
    stack.graph.inject("error_after_apply", step="feed")
    stack.graph.inject("server_error", step="published_posts", times=50)
    assert run_wrapper(PUBLISH_MAX_ATTEMPTS="1").returncode == 0
    with stack.connect() as conn:
        row = seed.row(conn, "created_content", post)
    assert row["status"] == "draft"
    assert "_publish_unconfirmed_at" in row["metadata"]
    stack.graph.clear_faults()
    time.sleep(0.1)
    with stack.connect() as conn:
        conn.execute(
            "UPDATE created_content SET status = 'scheduled', scheduled_at = now() WHERE id = %s", (post,)
        )
    assert run_wrapper().returncode == 0
    with stack.connect() as conn:
        row = seed.row(conn, "created_content", post)
    assert row["status"] == "published"
    assert len(stack.graph.created) == 1
    assert row["metadata"]["facebook_post_id"] == stack.graph.created[0]["id"]
    assert "_publish_unconfirmed_at" not in row["metadata"]
