"""When the platform accepted a post but the database write fails: logged, never re-sent."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from devstack import seed
from devstack.stack import Stack
from tests.acceptance.conftest import PAST_SHORT_LEASE_S, SHORT_LEASE, Runner

pytestmark = pytest.mark.acceptance

MARK_PUBLISHED = "public.publisher_mark_published(text, uuid, text, text, text, text, jsonb)"


def test_failed_outcome_write_is_logged_and_never_republished(stack: Stack, run_wrapper: Runner):
    """The platform id is logged at ERROR, the run exits 1, and a later run records it without re-sending."""
    with stack.connect() as conn:
        user = seed.user(conn, "w@example.com")
        seed.connection(
            conn,
            stack.encryption_key,
            user,
            "facebook",
            access_token="EAAwriteFailureToken0123456789",
            page_id="555",
        )
        post = seed.created_content(conn, user, scheduled_at=datetime.now(UTC))
        conn.execute(f"ALTER FUNCTION {MARK_PUBLISHED} RENAME TO publisher_mark_published_broken")
    broken = run_wrapper()
    assert broken.returncode == 1
    [sent] = stack.graph.created
    assert f"ERROR {'created_content/' + post} was PUBLISHED on facebook as {sent['id']}" in broken.log
    assert broken.log.count("writing published failed") == 3  # retried before giving up
    with stack.connect() as conn:
        meta = seed.row(conn, "created_content", post)["metadata"]
        conn.execute(
            f"ALTER FUNCTION {MARK_PUBLISHED.replace('_published(', '_published_broken(')} "
            "RENAME TO publisher_mark_published"
        )
    assert meta["_publishing"] is True
    assert "_publish_sending_at" in meta

    assert "claimed=0" in run_wrapper().log.splitlines()[-1]  # the claim still protects it
    time.sleep(PAST_SHORT_LEASE_S)
    recovered = run_wrapper(**SHORT_LEASE)
    assert recovered.returncode == 0, recovered.log
    assert len(stack.graph.created) == 1
    with stack.connect() as conn:
        row = seed.row(conn, "created_content", post)
    assert row["status"] == "published"
    assert row["metadata"]["facebook_post_id"] == sent["id"]
