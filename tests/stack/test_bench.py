"""Smoke run of the benchmark entry point (figures are printed, never asserted)."""

from __future__ import annotations

import os
import subprocess
import sys

from devstack.stack import ROOT


def test_quick_contention_benchmark_runs_and_prints_its_table() -> None:
    """`--quick contention` runs four wrappers end to end and prints one table with no duplicate."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "contention"],
        cwd=ROOT,
        env={**os.environ, "PUBLISHER_ENV_FILE": "none"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cells = {
        tuple(cell.strip() for cell in line.strip("|").split("|"))[1:3]
        for line in result.stdout.splitlines()
        if line.startswith("| contention")
    }
    assert ("duplicates on the platform", "0") in cells
    assert ("posts published", "60 of 60") in cells
