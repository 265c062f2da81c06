# SPDX-License-Identifier: GPL-2.0-only
"""The one thing every benchmark here does: run a harness command, time it, stop on failure."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(argv: list[str], env: dict | None = None) -> float:
    """Wall seconds of `argv` run from the checkout; a failing command ends the benchmark with its error."""
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return wall
