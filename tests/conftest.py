# SPDX-License-Identifier: GPL-2.0-only
"""Shared helpers: run the real harness CLI against real QEMU guests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.guests.qemu_next import fetch

REPO = Path(__file__).resolve().parent.parent
# Every process this test session starts carries it (orphans too): checks of the shared cache tell this
# session's leftovers from another `make test`'s work in progress on the same machine.
SESSION = "DEVMEM_HARNESS_TEST_SESSION"
os.environ.setdefault(SESSION, str(os.getpid()))


def ours(pid: int) -> bool:
    """Whether process `pid` was started by this test session (a process gone or unreadable counts as ours)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return True
    return f"{SESSION}={os.environ[SESSION]}".encode() in environ


def pytest_addoption(parser):
    parser.addoption("--nightly", action="store_true", help="also run the tests marked nightly (make test-nightly)")


def pytest_collection_modifyitems(config, items):
    """Whole matrices of cases run nightly; `make test` keeps one representative and says where the rest run."""
    if config.getoption("--nightly"):
        return
    skip = pytest.mark.skip(reason="nightly: `make test-nightly` runs it")
    for item in items:
        if "nightly" in item.keywords:
            item.add_marker(skip)


@dataclass
class HarnessRun:
    returncode: int
    stdout: str
    stderr: str
    run_dir: Path | None

    @property
    def results(self) -> dict:
        return json.loads((self.run_dir / "results.json").read_text())

    def probe(self, name: str) -> dict:
        return next(p for p in self.results["probes"] if p["name"] == name)


def harness(*args: str, runs_dir: Path | None = None, timeout: float = 600, env: dict | None = None) -> HarnessRun:
    """Run `python -m harness ...` as a user would; return its exit code, output and run directory."""
    cmd = [sys.executable, "-m", "harness", *args]
    if runs_dir is not None:
        cmd[4:4] = ["--runs-dir", str(runs_dir)] if args and args[0] == "run" else []
    proc = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
    run_dir = None
    if runs_dir is not None and (runs_dir / "latest").exists():
        run_dir = (runs_dir / "latest").resolve()
    return HarnessRun(proc.returncode, proc.stdout, proc.stderr, run_dir)


def qemu_processes_for(run_dir: Path) -> list[str]:
    """QEMU processes of this run ("PID ARGS"): their command line names the run directory (-pidfile).

    Read from /proc, since ps cuts long command lines when its output is not a terminal.
    """
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(a.decode(errors="replace") for a in args if a)
        if "qemu-system" in (args[0].decode(errors="replace") if args else "") and f"{run_dir}/" in line:
            found.append(f"{proc.name} {line}")
    return found


@pytest.fixture(scope="session")
def qemu_next() -> str:
    """Debian sid's QEMU 11 with the confidential firmware (`make qemu-next`), fetched once into the cache."""
    return str(fetch("sid")[0])


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> HarnessRun:
    """One boot of the default guest, shared by the tests that only read its results."""
    return harness("run", runs_dir=tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def lockdown_run(tmp_path_factory) -> HarnessRun:
    """The default guest booted with lockdown=integrity."""
    return harness("run", "--append", "lockdown=integrity", runs_dir=tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def relaxed_run(tmp_path_factory) -> HarnessRun:
    """The default guest booted with iomem=relaxed."""
    return harness("run", "--append", "iomem=relaxed", runs_dir=tmp_path_factory.mktemp("runs"))
