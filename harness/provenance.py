# SPDX-License-Identifier: GPL-2.0-only
"""Which harness made a run: its version, and the git commit it was built from.

results.json, `--version` and the exports carry both, so a nightly `compare` across a harness upgrade
can tell a harness change from a kernel change.  The version is setuptools-scm's (the last `v*` tag, the
distance from it and the commit as a PEP 440 local part: `0.1.1.dev4+g1a2b3c4d.d20261205` when the tree
had uncommitted changes).  A wheel carries the one it was built with; a checkout asks git each time, so an
editable install does not report the commit it was installed at.
"""

from __future__ import annotations

import functools
import re
import subprocess
from importlib import metadata

from . import __version__, paths

_LOCAL = re.compile(r"\+g(?P<sha>[0-9a-f]{7,40})(?P<dirty>\.d\d{8})?")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(paths.REPO_ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _in_git_checkout() -> bool:
    return paths.FROM_CHECKOUT and (paths.REPO_ROOT / ".git").exists()


@functools.cache
def commit() -> str | None:
    """HEAD (12 hex digits, `-dirty` with uncommitted changes): the checkout's, or the one the wheel was built
    from; None when neither is known (an sdist built without git)."""
    if _in_git_checkout():
        head = _git("rev-parse", "--short=12", "HEAD")
        if head is None:
            return None
        dirty = _git("status", "--porcelain", "--untracked-files=no")
        return head + ("-dirty" if dirty else "")
    local = _LOCAL.search(_installed())
    if not local:
        return None
    return local["sha"] + ("-dirty" if local["dirty"] else "")


def _installed() -> str:
    try:
        return metadata.version("devmem-harness")
    except metadata.PackageNotFoundError:
        return __version__


@functools.cache
def version() -> str:
    if _in_git_checkout():
        try:
            # a dev dependency: in a checkout's venv; without it, the installed version and the commit
            from setuptools_scm import get_version
        except ImportError:
            get_version = None
        if get_version is not None:
            try:
                return get_version(root=str(paths.REPO_ROOT), fallback_version=__version__)
            except Exception:  # noqa: BLE001 - a version is never worth a failed run
                pass
        sha = commit()
        base = _installed().split("+", 1)[0]
        return f"{base}+g{sha.replace('-dirty', '.dirty')}" if sha else base
    return _installed()
