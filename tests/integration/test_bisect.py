# SPDX-License-Identifier: GPL-2.0-only
"""Bisection over a real kernel git tree made from Debian's 6.12 source, with planted commits.

The first step builds the tree cold (one full build); every later step is an
incremental build in the same O= directory.  Marked `kbuild`: `make test`
and CI run it, `make test-quick` does not.
"""

import fcntl
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ..conftest import REPO, harness

pytestmark = [pytest.mark.guest, pytest.mark.kbuild, pytest.mark.slow]

DEBIAN_GITIGNORE_BLOCK = "#\n# Debian packaging: ignore everything at the top level"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def edit(repo: Path, rel: str, old: str, new: str) -> None:
    path = repo / rel
    text = path.read_text()
    assert old in text, f"{rel}: {old!r} not found"
    path.write_text(text.replace(old, new, 1))


def commit(repo: Path, message: str) -> str:
    git(repo, "commit", "-qam", message)
    return git(repo, "rev-parse", "HEAD")


def visited_after_skip(repo: Path, shas: dict) -> str:
    """The commit `git bisect` tests once the middle one (`broken`) is skipped, asked of a throwaway clone.

    The culprit and `unbroken` lie equally far from the middle, and git breaks that tie by their
    hashes: which one it visits changes with every fixture built.  The host-fault test
    (tests/faults/test_build_and_bisect.py) plants its fault on `unbroken`, so git must go there.
    """
    with tempfile.TemporaryDirectory() as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "-q", "--no-checkout", "--shared", str(repo), str(clone)], check=True)
        git(clone, "bisect", "start", "--no-checkout", shas["tip"], shas["base"])
        git(clone, "bisect", "skip", shas["broken"])
        return git(clone, "rev-parse", "BISECT_HEAD")


# One config for every bisection here, so the tree is built in full once: cc-sim's fragment is
# STRICT_DEVMEM + IO_STRICT_DEVMEM plus TDX guest support, which a plain guest never turns on
# (no cc_sim on its command line), and the cc-sim bisection needs it.
KCONFIG = "cc-sim"

FIXTURE_VERSION = "3"  # bump when the planted commits change; the directory stays (its O= stays warm)


@pytest.fixture(scope="module")
def kernel_repo():
    """A git repository of Debian's 6.12 source: base commit, then branches with planted changes.

    It lives in the harness cache and is reused across test runs (the tests always leave it on
    `main` with no bisect state), so its O= build directory stays warm: only the first run on a
    machine pays a full build.  The module holds it (a blocking lock): a second `make test` on this
    machine waits here instead of moving HEAD under this one's bisections.
    """
    from harness import paths

    lock_path = paths.cache_dir() / "fixtures" / "bisect-v2.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield _kernel_repo(paths.cache_dir() / "fixtures" / "bisect-v2" / "linux")


def _kernel_repo(repo: Path) -> tuple[Path, dict]:
    from harness.kernels.kbuild import resolve_source

    marker = repo.parent / "shas.json"
    if marker.is_file() and (repo / ".git").is_dir():
        shas = json.loads(marker.read_text())
        if shas.get("version") == FIXTURE_VERSION and visited_after_skip(repo, shas) == shas["unbroken"]:
            return repo, shas
    src = resolve_source("deb:linux-source-6.12").path
    if repo.exists():
        subprocess.run(["rm", "-rf", str(repo)], check=True)
    repo.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(src), str(repo)], check=True)
    gitignore = repo / ".gitignore"
    text = gitignore.read_text()
    if DEBIAN_GITIGNORE_BLOCK in text:  # it would make `git add -A` add nothing
        gitignore.write_text(text.split(DEBIAN_GITIGNORE_BLOCK)[0])
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "harness@example.invalid")
    git(repo, "config", "user.name", "devmem-harness test")
    git(repo, "config", "gc.auto", "0")  # no background repack competing with the builds
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Debian linux-source-6.12")
    shas = {"version": FIXTURE_VERSION, "base": git(repo, "rev-parse", "HEAD")}

    # Branch 1: low-1MB read() returns real data again; one commit in the range does not build.
    edit(repo, "README", "Linux kernel", "Linux kernel (harness: harmless 1)")
    shas["harmless1"] = commit(repo, "README: harmless change 1")
    edit(repo, "arch/x86/mm/init.c", "\t\tif (pagenr < 256)\n\t\t\treturn 2;", "\t\tif (pagenr < 256)\n\t\t\treturn 1;")
    shas["culprit"] = commit(repo, "x86/mm: show low RAM through /dev/mem reads (planted regression)")
    edit(repo, "drivers/char/mem.c", "#include <linux/mm.h>", "#include <linux/mm.h>\n#error planted build failure")
    shas["broken"] = commit(repo, "mem: a commit that does not build")
    # Six commits after base: git's first test is the middle one, the commit that does not build; its
    # next is `unbroken`, as the host-fault test needs (a salt in its message until git's tie-break says so).
    for salt in range(32):
        edit(repo, "drivers/char/mem.c", "#include <linux/mm.h>\n#error planted build failure", "#include <linux/mm.h>")
        shas["unbroken"] = commit(repo, "mem: build again" + (f" (fixture salt {salt})" if salt else ""))
        edit(repo, "README", "(harness: harmless 1)", "(harness: harmless 2)")
        shas["harmless2"] = commit(repo, "README: harmless change 2")
        edit(repo, "README", "(harness: harmless 2)", "(harness: harmless 3)")
        shas["tip"] = commit(repo, "README: harmless change 3")
        if visited_after_skip(repo, shas) == shas["unbroken"]:
            break
        git(repo, "reset", "-q", "--hard", shas["broken"])
    else:
        raise AssertionError("git bisect never went from the skipped commit to `unbroken`")

    # Branch 2 from base: revocation stops.
    git(repo, "checkout", "-q", "-b", "revoke", shas["base"])
    edit(repo, "README", "Linux kernel", "Linux kernel (harness: revoke 1)")
    shas["r1"] = commit(repo, "README: harmless change r1")
    edit(
        repo,
        "kernel/resource.c",
        "\tif (!inode)\n\t\treturn;\n\n\t/*\n\t * The expectation",
        "\tif (inode || !inode) /* planted: never revoke */\n\t\treturn;\n\n\t/*\n\t * The expectation",
    )
    shas["rculprit"] = commit(repo, "resource: stop revoking mappings (planted regression)")
    edit(repo, "README", "(harness: revoke 1)", "(harness: revoke 2)")
    shas["rtip"] = commit(repo, "README: harmless change r2")
    git(repo, "checkout", "-q", "main")
    marker.write_text(json.dumps(shas))
    return repo, shas


def ensure_cc_sim_branch(repo: Path, shas: dict) -> dict:
    """Branch `ccsim` from base: the cc-sim patch, a harmless commit, the fix, another harmless one.

    Added to an existing fixture without rebuilding it, so the tree's build directories stay warm.
    """
    if "ccfix" in shas:
        return shas
    patches = REPO / "kconfigs" / "patches"
    git(repo, "checkout", "-q", "-b", "ccsim", shas["base"])
    try:
        subprocess.run(["patch", "-p1", "--batch", "-i", str(patches / "cc-sim.patch")], cwd=repo, check=True)
        shas["ccbase"] = commit(repo, "x86/coco: cc_sim boot parameter (test-only, devmem-harness)")
        edit(repo, "README", "Linux kernel", "Linux kernel (harness: cc 1)")
        shas["cc1"] = commit(repo, "README: harmless change cc1")
        subprocess.run(["patch", "-p1", "--batch", "-i", str(patches / "devmem-cc-eperm.patch")], cwd=repo, check=True)
        shas["ccfix"] = commit(repo, "x86/devmem: refuse /dev/mem and /dev/port in confidential guests")
        edit(repo, "README", "(harness: cc 1)", "(harness: cc 2)")
        shas["cctip"] = commit(repo, "README: harmless change cc2")
    finally:
        git(repo, "checkout", "-q", "main")
    (repo.parent / "shas.json").write_text(json.dumps(shas))
    return shas


def run_bisect(repo, good, bad, probe, expect, runs, *extra, env=None):
    return harness(
        "bisect",
        "--tree",
        str(repo),
        "--good",
        good,
        "--bad",
        bad,
        "--kconfig",
        KCONFIG,
        "--probe",
        probe,
        "--expect",
        expect,
        "--runs-dir",
        str(runs),
        *extra,
        timeout=3600,
        env=env,
    )


def step_log(run) -> Path:
    """The step log of the bisection `run` ran (it says which), never merely the newest one."""
    m = re.search(r"^bisect: step log: (\S+)$", run.stderr, re.M)
    assert m, run.stderr[-2000:]
    return Path(m.group(1))


def assert_tree_restored(repo: Path) -> None:
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "main"
    assert not (repo / ".git" / "BISECT_LOG").exists()
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""


def test_bisect_finds_the_low_ram_read_regression_and_skips_the_broken_commit(kernel_repo, tmp_path):
    repo, shas = kernel_repo
    run = run_bisect(repo, shas["base"], shas["tip"], "devmem.read.ram-below-1m", "data=zeros", tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"first bad commit: {shas['culprit'][:12]} x86/mm: show low RAM" in run.stdout
    assert "data=nonzero" in run.stdout and "data=zeros" in run.stdout  # both sides' observations
    assert shas["broken"] not in run.stdout.split("first bad commit")[1]
    steps = {s["commit"]: s for s in map(json.loads, step_log(run).read_text().splitlines())}
    assert steps[shas["broken"]]["verdict"] == "skip" and "does not build" in steps[shas["broken"]]["reason"]
    # Every step says how long its build took; every step that built says how long its boot took.
    assert all("build_seconds" in s and "verdict" in s for s in steps.values())
    assert all("boot_seconds" in s for c, s in steps.items() if c != shas["broken"]), steps
    assert_tree_restored(repo)


def test_bisect_finds_the_revocation_regression(kernel_repo, tmp_path):
    repo, shas = kernel_repo
    run = run_bisect(repo, shas["base"], shas["rtip"], "devmem.revoke.bar-on-bind", "signal=SIGBUS", tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"first bad commit: {shas['rculprit'][:12]} resource: stop revoking" in run.stdout
    assert_tree_restored(repo)


def test_bad_endpoints_stop_before_bisecting_and_restore_the_tree(kernel_repo, tmp_path):
    repo, shas = kernel_repo
    # The "good" endpoint already carries the regression: the harness must say so and stop.
    run = run_bisect(repo, shas["unbroken"], shas["tip"], "devmem.read.ram-below-1m", "data=zeros", tmp_path)
    assert run.returncode == 2
    assert "good endpoint" in run.stderr and "is not good" in run.stderr
    assert_tree_restored(repo)


def test_ctrl_c_restores_the_tree(kernel_repo, tmp_path):
    repo, shas = kernel_repo
    cmd = [
        sys.executable,
        "-m",
        "harness",
        "bisect",
        "--tree",
        str(repo),
        "--good",
        shas["base"],
        "--bad",
        shas["tip"],
        "--kconfig",
        KCONFIG,
        "--probe",
        "devmem.read.ram-below-1m",
        "--expect",
        "data=zeros",
        "--runs-dir",
        str(tmp_path),
    ]
    start = git(repo, "rev-parse", "HEAD")
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    # The signal must land inside the bisection, with the tree moved off main: poll for both.

    def bisecting() -> bool:
        return (repo / ".git" / "BISECT_LOG").exists() and git(repo, "rev-parse", "HEAD") != start

    deadline = time.monotonic() + 1200
    while proc.poll() is None and time.monotonic() < deadline and not bisecting():
        time.sleep(0.2)
    started = bisecting()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert started, f"the bisection never started: {err[-2000:]}"
    assert proc.returncode != 0
    assert_tree_restored(repo)


def build_at(repo: Path, sha: str) -> str:
    """`harness kernel build` of the fixture tree at one commit (incremental in its O= directory); the bzImage."""
    try:
        git(repo, "checkout", "-q", sha)
        built = harness("kernel", "build", "--source", str(repo), "--kconfig", KCONFIG, timeout=3600)
        assert built.returncode == 0, built.stderr
    finally:
        git(repo, "checkout", "-q", "main")
    return re.search(r"kernel: (\S+)", built.stdout).group(1)


def test_list_bisection_over_prebuilt_kernels(kernel_repo, tmp_path):
    """Five kernels built from consecutive commits, the third carrying the planted change."""
    repo, shas = kernel_repo
    images = [build_at(repo, shas[name]) for name in ("base", "harmless1", "culprit", "unbroken", "tip")]
    run = harness(
        "bisect",
        "--kernels",
        *images,
        "--probe",
        "devmem.read.ram-below-1m",
        "--expect",
        "data=zeros",
        "--runs-dir",
        str(tmp_path),
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"first changed kernel: [2] {images[2]}" in run.stdout
    boots = int(re.search(r"; (\d+) boots \(bound (\d+)\)", run.stdout).group(1))
    assert boots <= math.ceil(math.log2(len(images))) + 2


def test_oracle_bisection_never_calls_a_kernel_before_a_boundary_bad(kernel_repo, tmp_path):
    """5.10 predates PCI sysfs revocation (636b21b50152, v5.12): a known issue, so good under --oracle;
    the first kernel the oracle calls bad is the one with the planted regression, built from the fixture."""
    repo, shas = kernel_repo
    broken = build_at(repo, shas["rculprit"])
    kernels = ["deb:bullseye/linux-image-amd64", "deb:linux-image-6.1.0-56-amd64-unsigned", broken]
    run = harness(
        "bisect",
        "--kernels",
        *kernels,
        "--probe",
        "pcisysfs.revoke.bar-on-bind",
        "--oracle",
        "--runs-dir",
        str(tmp_path),
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"first changed kernel: [2] {broken}" in run.stdout
    log = step_log(run)  # this bisection's, not an older one's
    steps = {s["commit"]: s for s in map(json.loads, log.read_text().splitlines())}
    assert steps[kernels[0]]["verdict"] == "good" and steps[kernels[1]]["verdict"] == "good"
    old = json.loads((Path(steps[kernels[0]]["run_dir"]) / "results.json").read_text())
    (entry,) = [p for p in old["probes"] if p["name"] == "pcisysfs.revoke.bar-on-bind"]
    assert entry["verdict"] == "known-issue" and "636b21b50152" in entry["link"]


def test_bisect_names_the_fix_commit_on_an_emulated_confidential_guest(kernel_repo, tmp_path):
    """--terms broken,fixed with --profile cc-sim: every step builds with the cc-sim fragment (the tree
    already carries the patch) and boots with cc_sim; the fix makes open(/dev/mem) fail with EPERM."""
    repo, shas = kernel_repo
    shas = ensure_cc_sim_branch(repo, shas)
    run = run_bisect(
        repo,
        shas["ccbase"],
        shas["cctip"],
        "devmem.open",
        "errno=EPERM",
        tmp_path,
        "--terms=broken,fixed",
        "--profile=cc-sim",
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"first fixed commit: {shas['ccfix'][:12]} x86/devmem: refuse /dev/mem" in run.stdout
    assert "outcome=EPERM" in run.stdout and "outcome=ok" in run.stdout  # both sides' observations
    steps = [json.loads(line) for line in step_log(run).read_text().splitlines()]
    runs = [json.loads((Path(s["run_dir"]) / "results.json").read_text()) for s in steps if s.get("run_dir")]
    assert runs and all(r["profile"] == "cc-sim" and r["confidential_proof"]["status"] == "proven" for r in runs)
    assert_tree_restored(repo)


@pytest.mark.parametrize("move", ["edit", "checkout"])
def test_a_tree_that_moves_during_its_build_gets_nothing_sealed(kernel_repo, move):
    """A real build of the fixture tree, and the tree edited (or checked out elsewhere) while make runs: what
    was built is no commit's, so nothing is sealed and one line says why; the next build is the right one."""
    from harness.kernels.source_tree import tree_identity

    repo, shas = kernel_repo
    readme = repo / "README"
    readme.write_text(readme.read_text() + f"\n(harness: a build that will move, {time.time()})\n")
    started = time.time()
    cmd = [sys.executable, "-m", "harness", "kernel", "build", "--source", str(repo), "--kconfig", KCONFIG]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while proc.poll() is None and not any(
            p.stat().st_mtime > started and p.stat().st_size > 0 for p in repo.glob(".harness-build-*/build.log")
        ):
            time.sleep(0.1)
        assert proc.poll() is None, "the build ended before the tree could move"
        if move == "edit":
            readme.write_text(readme.read_text() + "(harness: edited while it was built)\n")
        else:
            git(repo, "checkout", "-q", "-f", shas["harmless2"])
        _, stderr = proc.communicate(timeout=1800)
    finally:
        git(repo, "checkout", "-q", "-f", "main")
    lines = [ln for ln in stderr.splitlines() if ln.startswith("devmem-harness: error:")]
    assert proc.returncode == 2 and len(lines) == 1, stderr[-2000:]
    assert "the tree changed while it was built" in lines[0] and "nothing was sealed" in lines[0]
    sealed_since = [p for p in repo.glob(".harness-build-*/products/*/build.json") if p.stat().st_mtime > started]
    assert not sealed_since, sealed_since
    again = harness("kernel", "build", "--source", str(repo), "--kconfig", KCONFIG)
    assert again.returncode == 0, again.stderr[-2000:]
    built = Path(re.search(r"^kernel: (\S+)$", again.stdout, re.M).group(1)).parent
    assert json.loads((built / "build.json").read_text())["source_at_end"] == tree_identity(repo)
    assert_tree_restored(repo)


def test_a_mislabelled_product_in_the_cache_is_built_again(kernel_repo, tmp_path):
    """The cache holds, under the good endpoint's identity and with a valid seal, the culprit's kernel, as
    a build whose tree moved under it was once sealed (labelled before the build, with no `source_at_end`).
    The bisection must build that commit again, not boot the lie, and name the right culprit."""
    from harness.cache import seal_dir

    repo, shas = kernel_repo
    culprit = Path(build_at(repo, shas["culprit"])).parent
    base = Path(build_at(repo, shas["base"])).parent
    assert culprit != base
    shutil.copy2(culprit / "bzImage", base / "bzImage")
    meta = json.loads((base / "build.json").read_text())
    del meta["source_at_end"]
    (base / "build.json").write_text(json.dumps(meta))
    seal_dir(base)
    run = run_bisect(repo, shas["base"], shas["tip"], "devmem.read.ram-below-1m", "data=zeros", tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"first bad commit: {shas['culprit'][:12]} x86/mm: show low RAM" in run.stdout
    steps = [json.loads(line) for line in step_log(run).read_text().splitlines()]
    first = next(s for s in steps if s["commit"] == shas["base"])
    assert first["verdict"] == "good" and first["build_cached"] is False, first
    assert "source_at_end" in json.loads((base / "build.json").read_text())
    assert (base / "bzImage").read_bytes() != (culprit / "bzImage").read_bytes()
    assert_tree_restored(repo)


def test_a_tree_another_bisection_holds_is_refused(tmp_path):
    from harness.kernels.source_tree import hold_tree

    with hold_tree(tmp_path, "--tree"):
        run = harness(
            "bisect", "--tree", str(tmp_path), "--good", "a", "--bad", "b", "--probe", "devmem.open", "--oracle"
        )
    assert run.returncode == 2, run.stderr
    assert f"--tree {tmp_path}: another bisection holds this tree (pid {os.getpid()}" in run.stderr
    assert "git worktree add" in run.stderr
