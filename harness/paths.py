# SPDX-License-Identifier: GPL-2.0-only
"""Where the harness keeps its files: the checkout, the per-user cache, run directories."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
GUEST_IMAGES = REPO_ROOT / "guest-images"


def cache_dir() -> Path:
    """Per-user cache for kernels, probe binaries and initramfs images.

    DEVMEM_HARNESS_CACHE overrides it (CI points it at a persistent directory).
    """
    env = os.environ.get("DEVMEM_HARNESS_CACHE")
    if env:
        path = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "devmem-harness"
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_dir() -> Path:
    """What the harness learned about this host (a KVM that cannot run guests): $XDG_STATE_HOME, not the
    cache, so that a run with a private cache (DEVMEM_HARNESS_CACHE) knows it too."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "devmem-harness"


def default_runs_dir() -> Path:
    """Runs go under the checkout, never the current directory (it may be a kernel tree)."""
    return REPO_ROOT / "runs"


@contextmanager
def cache_lock(path: Path):
    """An exclusive lock on a file in the cache, so parallel runs fetch or build a thing once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def host_root() -> Path:
    """/, or DEVMEM_HARNESS_HOST_ROOT: where the host's /sys, /proc, /dev and firmware are (tests, containers)."""
    return Path(os.environ.get("DEVMEM_HARNESS_HOST_ROOT", "/"))


def write_text(path: Path, text: str) -> None:
    """Path.write_text, but a failed write names the file: open() succeeds on a full disk and the
    write() that fails has no file name, so "host fault: No space left on device" would not say where."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        if exc.filename:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from None
