"""Running the real command-line entry points as subprocesses, as an operator would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
PUBLISHER = ROOT / "scripts" / "run_content_publisher.py"
FIND_TEST_USER = ROOT / "find_test_user.py"


def run_cli(
    script: Path, *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `script` with `args` from another directory under exactly `env` (plus PATH)."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    return subprocess.run(
        [str(PYTHON), str(script), *args],
        env=full_env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
