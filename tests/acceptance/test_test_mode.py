"""Test mode through the real cron wrapper: a run with TEST_USER_ID reads, claims and writes only
that user's posts and connections, whatever happens to them."""

from __future__ import annotations

import pytest

from devstack import seed
from devstack.stack import Stack
from tests.acceptance.conftest import Runner
from tests.acceptance.every_outcome import (
    EXPECTED_STATUS,
    dump,
    inject_faults,
    occurrences,
    requests_text,
    seed_matrix,
    statuses,
)

pytestmark = pytest.mark.acceptance


def test_test_mode_leaves_every_other_users_rows_byte_identical(stack: Stack, run_wrapper: Runner):
    """Other users' rows (all tables) are byte-identical after a test-mode run with every failure kind."""
    tester = seed_matrix(stack, "services@atsnai.com")
    other = seed_matrix(stack, "customer@example.com")
    inject_faults(stack)
    before = dump(stack, except_user=tester.user_id)

    run = run_wrapper(TEST_USER_ID=tester.user_id)

    assert run.returncode == 0, run.log
    assert dump(stack, except_user=tester.user_id) == before
    first = run.log.splitlines()[0]
    assert "TEST MODE" in first
    assert tester.user_id in first
    sent = requests_text(stack)
    assert occurrences(sent, other.tokens) == {}, "a platform saw another user's token"
    assert occurrences(sent, tester.tokens), "the test user's connections were not used at all"
    # Every kind of outcome happened to the tester, so the comparison above means something.
    assert statuses(stack, tester) == {k: EXPECTED_STATUS[k] for k in tester.posts}


def test_user_id_option_limits_a_run_like_test_user_id(stack: Stack, run_wrapper: Runner):
    """`--user-id` passed through the wrapper confines the run just as TEST_USER_ID does."""
    tester = seed_matrix(stack, "services@atsnai.com")
    other = seed_matrix(stack, "customer@example.com")
    inject_faults(stack)
    before = dump(stack, except_user=tester.user_id)

    run = run_wrapper("--user-id", tester.user_id, "--table", "created_content")

    assert run.returncode == 0, run.log
    assert dump(stack, except_user=tester.user_id) == before
    assert f"TEST MODE: only user {tester.user_id}" in run.log.splitlines()[0]
    assert occurrences(requests_text(stack), other.tokens) == {}
    with stack.connect() as conn:
        table, post_id = tester.posts["published"]
        assert seed.row(conn, table, post_id)["status"] == "published"
