# SPDX-License-Identifier: GPL-2.0-only
"""A newer QEMU for any host: Debian sid's qemu-system-x86, debootstrapped into the cache.

`harness qemu fetch` (`make qemu-next`) debootstraps a minimal sid root with
qemu-system-x86, ovmf-inteltdx and ovmf-amdsev (the confidential firmware, with
the QEMU firmware descriptors firmware.py reads) into the cache once, and writes
a wrapper beside it that runs that QEMU with that root's own dynamic loader and libraries (sid's QEMU needs a
newer C library than the host's), its module directory and its firmware.  No
chroot and no bind mounts: every path on the command line (kernel, initramfs,
run directory, QMP socket) is the host's, so repro.sh, QMP and the run
directory work as with the host's QEMU.  `--qemu next` names the wrapper.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .. import paths
from ..cache import dir_problem, rejected, seal_dir
from ..errors import RequirementMissing, host_fault_in

NEXT = "next"  # --qemu next
SUITES = ("sid", "trixie")
# What each suite's root holds: QEMU, and the confidential firmware where the suite ships it (sid does,
# with QEMU firmware descriptors that harness/guests/firmware.py reads; trixie does not).
PACKAGES = {"sid": ("qemu-system-x86", "ovmf-inteltdx", "ovmf-amdsev"), "trixie": ("qemu-system-x86",)}
MIRROR = "http://deb.debian.org/debian"
WRAPPER = """#!/bin/sh
# QEMU from Debian {suite}, run from {root} with its own loader and libraries (harness/guests/qemu_next.py).
R={root}
export QEMU_MODULE_DIR="$R/usr/lib/x86_64-linux-gnu/qemu"
exec "$R/lib64/ld-linux-x86-64.so.2" --library-path "$R/usr/lib/x86_64-linux-gnu:$R/lib/x86_64-linux-gnu" \\
    "$R/usr/bin/qemu-system-x86_64" -L "$R/usr/share/qemu" -L "$R/usr/share/seabios" "$@"
"""
# What the seal covers besides the wrapper: QEMU and its loader (the whole 400 MB root would not be cheap).
SEALED = ("usr/bin/qemu-system-x86_64", "lib64/ld-linux-x86-64.so.2")


def qemu_dir(suite: str) -> Path:
    return paths.cache_dir() / "qemu" / suite


def wrapper_path(suite: str = "sid") -> Path:
    return qemu_dir(suite) / "qemu-system-x86_64"


def resolve_qemu(name: str) -> str:
    """--qemu next -> the cached sid QEMU's wrapper, its seal checked (rebuilt when bad); anything else as it is."""
    if name != NEXT:
        return name
    if not wrapper_path().is_file():
        raise RequirementMissing("--qemu next: no newer QEMU in the cache", "run `make qemu-next` first")
    return str(fetch()[0])


def own_root(qemu: str) -> Path | None:
    """The debootstrapped root behind a `--qemu next` wrapper (its firmware packages live there), else None."""
    for suite in SUITES:
        if qemu in (str(wrapper_path(suite)), wrapper_path(suite)):
            return qemu_dir(suite) / "root"
    return None


def fetch(suite: str = "sid", log=None) -> tuple[Path, bool, float]:
    """(wrapper, built now?, seconds): the suite's QEMU in the cache, debootstrapped once."""
    started = time.monotonic()
    directory = qemu_dir(suite)
    with paths.cache_lock(directory.parent / f".{suite}.lock"):
        if directory.is_dir():
            problem = dir_problem(directory) or _lacking(directory, suite)
            if problem is None:
                return wrapper_path(suite), False, time.monotonic() - started
            rejected(problem, f"Debian {suite}'s QEMU debootstrapped")
        if not shutil.which("debootstrap"):
            raise RequirementMissing("debootstrap is missing", "apt-get install debootstrap")
        shutil.rmtree(directory, ignore_errors=True)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{suite}."))
        try:
            _debootstrap(suite, tmp / "root", log)
            os.replace(tmp, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _seal(directory, suite)
        return wrapper_path(suite), True, time.monotonic() - started


def _lacking(directory: Path, suite: str) -> str | None:
    """A root debootstrapped before the suite's package list grew (the firmware came later) is rebuilt."""
    try:
        had = tuple((directory / "packages").read_text().split())
    except OSError:
        had = ("qemu-system-x86",)
    gone = [p for p in PACKAGES[suite] if p not in had]
    return f"{directory} lacks {', '.join(gone)}" if gone else None


def _debootstrap(suite: str, root: Path, log) -> None:
    include = ",".join(PACKAGES[suite])
    cmd = ["debootstrap", "--variant=minbase", f"--include={include}", suite, str(root), MIRROR]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if log:
        log.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        out = proc.stdout + proc.stderr
        if fault := host_fault_in(out, f"debootstrapping Debian {suite}'s QEMU", root):
            raise fault
        last = (out.strip().splitlines() or ["no output"])[-1]
        raise RequirementMissing(f"debootstrap {suite} with {include} failed: {last}", "check the Debian mirror")


def _seal(directory: Path, suite: str) -> None:
    """The wrapper, then the seal over it and what it runs: checked at every start of a run with --qemu next."""
    wrapper = wrapper_path(suite)
    (directory / "packages").write_text("\n".join(PACKAGES[suite]) + "\n")
    wrapper.write_text(WRAPPER.format(suite=suite, root=directory / "root"))
    wrapper.chmod(0o755)
    seal_dir(directory, only=(wrapper.name, "packages", *(f"root/{rel}" for rel in SEALED)))
