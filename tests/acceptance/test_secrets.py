"""No secret leaves the process: a real wrapper run meeting every kind of outcome, at DEBUG, with
a platform that quotes the token back, plus the operator commands; every secret the test knows is
searched for in the log files, stdout, stderr and every database row."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.server import serve
from devstack.stack import Stack
from tests.acceptance.conftest import Runner, wrapper_env
from tests.acceptance.every_outcome import (
    EXPECTED_STATUS,
    dump_text,
    echo_graph,
    inject_faults,
    known_secrets,
    occurrences,
    seed_matrix,
    statuses,
)
from tests.cli_process import PUBLISHER, run_cli

pytestmark = pytest.mark.acceptance


def test_no_secret_in_logs_output_or_database(stack: Stack, run_wrapper: Runner, tmp_path: Path):
    """Keys, client secrets, stored and refreshed tokens appear in no log, output or database row."""
    matrix = seed_matrix(stack, "owner@example.com", echo=True)
    legacy = next(t for t in matrix.tokens if t.startswith("EAA"))  # stored in plaintext by the app
    inject_faults(stack)
    database_before = dump_text(stack)
    with serve(echo_graph(stack.graph)) as graph:
        settings = {
            "META_GRAPH_URL": f"{graph.url}/v27.0",
            "META_GRAPH_VIDEO_URL": f"{graph.url}/v27.0",
            "LOG_LEVEL": "DEBUG",
        }
        env = wrapper_env(stack, tmp_path, **settings)
        outputs = [run_cli(PUBLISHER, "--dry-run", env=env)]
        run = run_wrapper(**settings)
        outputs += [run_cli(PUBLISHER, "status", env=env), run_cli(PUBLISHER, "check", env=env)]

    assert run.returncode == 0, run.log
    assert [p.returncode for p in outputs] == [0, 0, 0], [p.stdout + p.stderr for p in outputs]
    # The run really met what the secrets are about: refreshed tokens and an echoed one.
    assert stack.linkedin.issued_tokens, "no LinkedIn token was refreshed"
    assert stack.google.issued, "no Google token was refreshed"
    assert statuses(stack, matrix) == {k: EXPECTED_STATUS[k] for k in matrix.posts}
    _, echoed = matrix.posts["echoed"]
    secrets = known_secrets(stack, matrix)
    logs = "\n".join(path.read_text() for path in sorted(tmp_path.glob("publisher.log*")))
    printed = "\n".join([run.stdout, run.stderr] + [p.stdout + p.stderr for p in outputs])
    assert echoed in logs
    assert occurrences(logs, secrets) == {}, "a secret reached the log file"
    assert occurrences(printed, secrets) == {}, "a secret reached stdout or stderr"
    database_after = dump_text(stack)
    assert occurrences(database_after, [s for s in secrets if s != legacy]) == {}, "a secret was written"
    assert database_after.count(legacy) == database_before.count(legacy)
