# SPDX-License-Identifier: GPL-2.0-only
"""Where the harness keeps its files: its own (checkout or wheel), the per-user cache, run directories."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"
# A checkout has the top-level folders the design names; an installed wheel carries the same files
# inside the package (pyproject.toml maps guest-images/ to harness.guest_images, kconfigs/ to harness.kconfigs).
FROM_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "guest-images").is_dir()


def _own_files(checkout_dir: str, packaged: str) -> Path:
    """One folder of the tool's own files: the checkout's when it runs from one, else the wheel's copy.

    Asked of the regular package `harness` (a folder without __init__.py is a namespace package, whose
    files() is no Path)."""
    if FROM_CHECKOUT:
        return REPO_ROOT / checkout_dir
    return Path(str(resources.files("harness").joinpath(packaged)))


GUEST_IMAGES = _own_files("guest-images", "guest_images")
KCONFIGS = _own_files("kconfigs", "kconfigs")


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
    """Runs go under the checkout, never the current directory (it may be a kernel tree).

    Installed from a wheel there is no checkout: $DEVMEM_HARNESS_RUNS, else
    $XDG_DATA_HOME/devmem-harness/runs (~/.local/share/devmem-harness/runs).
    """
    env = os.environ.get("DEVMEM_HARNESS_RUNS")
    if env:
        return Path(env)
    if FROM_CHECKOUT:
        return REPO_ROOT / "runs"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "devmem-harness" / "runs"


@contextmanager
def cache_lock(path: Path, shared: bool = False):
    """An exclusive lock on a file in the cache, so parallel runs fetch or build a thing once (shared:
    many holders at once, while nobody holds it exclusively)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield lock


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
