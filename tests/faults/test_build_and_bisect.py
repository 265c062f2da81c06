# SPDX-License-Identifier: GPL-2.0-only
"""Faults around kernel builds: Ctrl-C or SIGKILL in the middle of one, and a host fault in the middle of a
bisection."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import paths
from harness.kernels.patching import CARRIES

from ..conftest import REPO, harness
from ..integration.test_bisect import assert_tree_restored, kernel_repo, run_bisect, step_log  # noqa: F401 - a fixture
from .conftest import assert_cache_clean, wait_for

pytestmark = [pytest.mark.guest, pytest.mark.kbuild, pytest.mark.slow]

SOURCE = "deb:linux-source-6.12"


def processes() -> list[tuple[int, int, int, str]]:
    """(pid, ppid, process group, command line) of every live process, from /proc (zombies are gone)."""
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            if fields[0] == "Z":  # exited, its parent not told yet
                continue
            out.append((int(proc.name), int(fields[1]), int(fields[2]), cmd))
    return out


def makes_of(pid: int) -> list[int]:
    """The make processes `pid` started: each leads a process group of its own (kbuild._make)."""
    return [p for p, ppid, _, cmd in processes() if ppid == pid and cmd.startswith("make ")]


def in_groups(groups: set[int]) -> list[str]:
    """What still runs in these process groups: this build's, not another test run's on the machine."""
    return [cmd for _, _, group, cmd in processes() if group in groups]


def compiling(groups: set[int]) -> list[str]:
    """gcc's compiler proper at work (ccache or not) under this build's make: past configuring."""
    return [cmd for cmd in in_groups(groups) if "/cc1 " in cmd or cmd.startswith("cc1 ")]


def one_file_patch(path: Path, marker: str) -> Path:
    """A change no earlier build had (a real, incremental build) that leaves `marker` in vmlinux."""
    path.write_text(
        "--- a/drivers/char/mem.c\n+++ b/drivers/char/mem.c\n@@ -1,3 +1,4 @@\n"
        " // SPDX-License-Identifier: GPL-2.0\n"
        f'+static const char devmem_harness_marker[] __attribute__((used)) = "{marker}";\n'
        " /*\n  *  linux/drivers/char/mem.c\n"
    )
    return path


BUILD = [sys.executable, "-m", "harness", "kernel", "build", "--source", SOURCE, "--kconfig", "strict"]


def build_until_compiling(patch: Path) -> tuple[subprocess.Popen, set[int]]:
    """A patched build started and caught compiling; its make process groups."""
    proc = subprocess.Popen(
        [*BUILD, "--patch", str(patch)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    groups: set[int] = set()  # each make kbuild starts (configure, then build) leads a process group

    def build_compiling() -> bool:
        groups.update(makes_of(proc.pid))
        return bool(compiling(groups))

    wait_for(build_compiling, 600, "a compiler to run under the build's make")  # in the middle of compiling
    return proc, groups


def sources_mem_c() -> tuple[Path, Path]:
    """drivers/char/mem.c in the cached source and in its kept copy (patching.py)."""
    (mem_c,) = (paths.cache_dir() / "sources").glob("linux-source-6.12_*/linux-source-6.12/drivers/char/mem.c")
    return mem_c, mem_c.parents[3] / "linux-source-6.12.patched" / "drivers/char/mem.c"


def test_ctrl_c_during_a_kernel_build(tmp_path):
    marker = f"interrupted build {time.time_ns()}"  # ours alone: another run may patch the same tree meanwhile
    patch = one_file_patch(tmp_path / "one-file.patch", marker)
    proc, groups = build_until_compiling(patch)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130 and "devmem-harness: interrupted" in err, err[-2000:]
    assert "Traceback" not in err
    wait_for(lambda: not in_groups(groups), 10, "nothing of the build left running")
    mem_c, copied = sources_mem_c()
    assert marker not in mem_c.read_text()  # the source was never written
    assert copied.read_text() == mem_c.read_text()  # its kept copy is restored
    assert_cache_clean(paths.cache_dir())
    # The next build of the same change succeeds and its kernel boots and passes.
    run = harness(
        "run",
        "--source",
        SOURCE,
        "--kconfig",
        "strict",
        "--patch",
        str(patch),
        "--probe",
        "devmem.open",
        runs_dir=tmp_path / "runs",
        timeout=3000,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]


def locks_held(groups: set[int]) -> set[str]:
    """The lock files that processes of these groups have open."""
    held = set()
    for pid, _, group, _ in processes():
        if group in groups:
            try:
                fds = list(Path(f"/proc/{pid}/fd").iterdir())
            except OSError:
                continue
            for fd in fds:
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.endswith(".lock"):
                    held.add(Path(target).name)
    return held


def test_a_patched_build_whose_harness_is_killed_outright(tmp_path):
    """SIGKILL to the harness alone (the OOM killer, `kill -9`): no cleanup of its own runs, and its makes,
    each in a session of its own, go on.  They hold the build's locks (handed down), so the next build
    waits for them instead of running beside them in one O= directory; the source was never patched;
    the kept copy, left patched, is restored before the next build patches it."""
    killed = f"killed build {time.time_ns()}"
    proc, groups = build_until_compiling(one_file_patch(tmp_path / "killed.patch", killed))
    held = locks_held(groups)
    assert len([name for name in held if name.startswith("build-")]) == 1 and len(held) == 2, held  # O=, copy
    proc.kill()
    proc.communicate(timeout=60)
    mem_c, copied = sources_mem_c()
    assert killed not in mem_c.read_text(), "the source was patched"
    after = f"after the kill {time.time_ns()}"
    following = subprocess.Popen(
        [*BUILD, "--patch", str(one_file_patch(tmp_path / "after.patch", after))],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    waited = False
    try:
        while in_groups(groups):  # the orphaned makes still build
            assert killed in copied.read_text(), "the copy was restored under a running build"
            assert not makes_of(following.pid), "the next build ran beside the orphaned one"
            waited = waited or following.poll() is None
            time.sleep(0.05)
    except AssertionError:
        following.send_signal(signal.SIGINT)  # it stops its makes: nothing of ours is left running
        following.communicate(timeout=180)
        raise
    assert waited, "the orphaned build ended before the next one started: nothing was tested"
    out, err = following.communicate(timeout=1800)
    assert following.returncode == 0, err[-2000:]
    assert killed not in copied.read_text() and copied.read_text() == mem_c.read_text()
    assert not (copied.parents[2] / CARRIES).exists()
    vmlinux = Path(re.search(r"^kernel: (\S+)$", out, re.M).group(1)).parents[2] / "vmlinux"
    built = vmlinux.read_bytes()
    assert after.encode() in built and killed.encode() not in built, "built from what the killed build left"


FAULTY_QEMU = """#!/bin/sh
# A QEMU that fails as a host would (no memory for the guest) whenever the tree is at one commit.
if [ "$(git -C "$FAULT_TREE" rev-parse HEAD)" = "$FAULT_COMMIT" ] && echo " $* " | grep -q -- " -kernel "; then
    echo "qemu-system-x86_64: cannot set up guest memory 'pc.ram': Cannot allocate memory" >&2
    exit 1
fi
exec qemu-system-x86_64 "$@"
"""


def test_host_fault_in_a_bisection(kernel_repo, tmp_path):  # noqa: F811 - the fixture
    """QEMU fails for the host's reasons at one step (after the culprit): retried, skipped, culprit still found."""
    repo, shas = kernel_repo
    qemu = tmp_path / "qemu-with-a-fault"
    qemu.write_text(FAULTY_QEMU)
    qemu.chmod(0o755)
    env = {"QEMU": str(qemu), "FAULT_TREE": str(repo), "FAULT_COMMIT": shas["unbroken"]}
    run = run_bisect(repo, shas["base"], shas["tip"], "devmem.read.ram-below-1m", "data=zeros", tmp_path, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"first bad commit: {shas['culprit'][:12]} x86/mm: show low RAM" in run.stdout
    log = step_log(run)  # this bisection's, not the newest on the machine
    steps = {s["commit"]: s for s in map(json.loads, log.read_text().splitlines())}
    faulted = steps[shas["unbroken"]]
    assert (faulted["verdict"], faulted["retries"]) == ("skip", 1), faulted
    assert "host failure twice" in faulted["reason"] and "Cannot allocate memory" in faulted["reason"]
    assert_tree_restored(repo)
