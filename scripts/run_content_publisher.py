#!/usr/bin/env python3
"""Publish every scheduled post that is due, exactly once. See README.md and `--help`."""

import sys
from pathlib import Path

# Run as a file by the wrapper and by cron: make the project importable from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.cli import main

if __name__ == "__main__":
    sys.exit(main())
