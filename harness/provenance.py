# SPDX-License-Identifier: GPL-2.0-only
"""Which harness made a run: its version, and the git commit when it runs from a checkout.

results.json, `--version` and the exports carry both, so a nightly `compare` across a harness upgrade
can tell a harness change from a kernel change.  The version is the package's, with the commit as a
PEP 440 local part (`0.1.0+g1a2b3c4d5e6f`, `.dirty` when the tree has uncommitted changes).
"""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata

from . import __version__, paths


@functools.cache
def commit() -> str | None:
    """The checkout's HEAD (12 hex digits, `-dirty` with uncommitted changes), or None outside a checkout."""
    if not (paths.REPO_ROOT / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(paths.REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(paths.REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


@functools.cache
def version() -> str:
    try:
        base = metadata.version("devmem-harness")
    except metadata.PackageNotFoundError:
        base = __version__
    sha = commit()
    return f"{base}+g{sha.replace('-dirty', '.dirty')}" if sha else base
