# SPDX-License-Identifier: GPL-2.0-only
"""The host-fault suite: real guests and real QEMU under real host faults (`make test-faults`).

Every test here provokes one fault and asserts what the harness did: the outcome and cause in
results.json, the exit code, the one line it printed, a whole run directory (results.json parses;
console.log and repro.sh are there), no QEMU left, no cache lock held and no half-written cache
entry; each module ends with a run that passes.  FAULTS (faults.py) lists them for the README.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness import paths

from ..conftest import REPO, HarnessRun, harness, ours, qemu_processes_for

CACHE_DIRS = ("apt", "debian", "kernels", "modules", "probe", "initramfs")
# Where the cache's artifacts are published: a temporary name there is a half-written entry.
ARTIFACTS = ("kernels/*", "modules/*/*", "probe/*/*", "initramfs/*", "images/*", "images/*/*", "qemu/*", "qemu/*/*")


def is_root() -> bool:
    return os.geteuid() == 0


@contextmanager
def tmpfs(where: Path, size: str, read_only: bool = False):
    """A small tmpfs of our own: a real full (or read-only) file system, unmounted afterwards."""
    if not is_root():
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "devmem-fault", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@contextmanager
def planting_in_the_shared_cache():
    """Held (machine-wide, blocking) by a test that corrupts an entry of the shared cache: the same test of
    another `make test` on this machine would flip the same byte back, or repair it first."""
    lock_path = paths.cache_dir() / "fixtures" / "shared-cache-faults.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def private_cache(tmp_path: Path) -> Path:
    """A copy of the harness cache's small parts (packaged kernels, probe, initramfs): faults planted in it
    cannot hurt other tests. Big trees (kernel sources, builds, images) are not copied."""
    src = paths.cache_dir()
    dst = tmp_path / "cache"
    dst.mkdir()
    for name in CACHE_DIRS:
        if (src / name).is_dir():
            shutil.copytree(src / name, dst / name, symlinks=True)
    return dst


def one_error_line(stderr: str) -> str:
    """The harness said what went wrong in one line, and never with a traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [ln for ln in stderr.splitlines() if ln.startswith("devmem-harness: error:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def run_dir_of(runs: Path) -> Path:
    """The run's own directory (never the `latest` link: QEMU's command line names the former)."""
    dirs = [p for p in runs.iterdir() if p.is_dir() and not p.is_symlink()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def assert_left_whole(run_dir: Path) -> dict:
    """results.json parses, console.log and repro.sh are there, no QEMU of this run is left."""
    results = json.loads((run_dir / "results.json").read_text())
    assert (run_dir / "console.log").is_file() and (run_dir / "repro.sh").is_file()
    assert not list(run_dir.glob("*.tmp*")), list(run_dir.iterdir())
    deadline = time.monotonic() + 10  # QEMU may take a moment to go once its pty hung up
    while qemu_processes_for(run_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert qemu_processes_for(run_dir) == []
    return results


def lock_holders(path: Path) -> list[int]:
    """The processes holding a flock on `path`, from /proc/locks (waiters, `->`, are not holders)."""
    st = path.stat()
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == key:
            holders.append(int(fields[4]))
    return holders


def assert_cache_clean(cache: Path) -> None:
    """No lock held and no half-written entry (a temporary name) anywhere in the cache, of this session's
    making: another `make test` on the machine may be at work in the same cache (its locks and temporary
    names are its own, and it checks them itself)."""
    others_at_work = False
    for lock in cache_locks(cache):
        try:
            f = open(lock)
        except FileNotFoundError:  # released and removed by its owner meanwhile
            continue
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holders = lock_holders(lock)
                assert holders and not any(ours(pid) for pid in holders), f"{lock} is held by {holders or '?'}"
                others_at_work = True
    entries = [p for pattern in ARTIFACTS for p in cache.glob(pattern)]
    half = [p for p in entries if ".tmp" in p.name or (p.name.startswith(".") and p.is_dir())]
    half = [p for p in half if not _someone_elses(p, others_at_work)]
    assert not half, half


def cache_locks(cache: Path):
    """The harness's lock files in the cache.  Kernel trees, their O= directories and ccache hold none of
    them and are where another run's build creates and removes files as we walk: not entered."""
    for root, dirs, files in os.walk(cache):  # a directory that vanishes under the walk is passed over
        dirs[:] = [
            d
            for d in dirs
            if d != "ccache" and not d.startswith(".harness-build-") and not Path(root, d, "Kconfig").exists()
        ]
        yield from (Path(root, name) for name in files if name.endswith(".lock") and not Path(root, name).is_symlink())


def _someone_elses(entry: Path, others_at_work: bool) -> bool:
    """A temporary name another live test session is writing: `.tmp<pid>` names their process; a dot
    directory names none, and is theirs only while they hold a lock in the cache."""
    m = re.search(r"\.tmp(\d+)$", entry.name)
    if m:
        return Path(f"/proc/{m.group(1)}").exists() and not ours(int(m.group(1)))
    return others_at_work


def wait_for(predicate, seconds: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def console_has(runs: Path, text: bytes):
    def check() -> bool:
        dirs = [p for p in runs.iterdir() if p.is_dir() and not p.is_symlink()] if runs.is_dir() else []
        return any(text in (d / "console.log").read_bytes() for d in dirs if (d / "console.log").is_file())

    return check


def qemu_pid(run_dir: Path) -> int:
    wait_for(lambda: qemu_processes_for(run_dir), 30, "the run's QEMU")
    return int(qemu_processes_for(run_dir)[0].split()[0])


def start_harness(runs: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "harness", "run", "--runs-dir", str(runs), *args]
    return subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )


def finish(proc: subprocess.Popen, timeout: float = 180) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        raise AssertionError(f"the harness did not end: {err[-2000:]}") from None
    return proc.returncode, out, err


def run_passes(tmp_path: Path, env: dict | None = None) -> HarnessRun:
    """A run after the fault, on the same host and cache: it must pass."""
    run = harness("run", "--probe", "devmem.open,devport.open", runs_dir=tmp_path / "after", env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run


@pytest.fixture(scope="module", autouse=True)
def next_run_passes(tmp_path_factory):
    """After every fault of a module, a run on the shared cache passes."""
    yield
    run_passes(tmp_path_factory.mktemp("next-run"))
    assert_cache_clean(paths.cache_dir())
