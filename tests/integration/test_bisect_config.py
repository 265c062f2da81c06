# SPDX-License-Identifier: GPL-2.0-only
"""Config bisection on Debian's 6.12 source: real builds of every candidate, real boots, the probe's
observation against each endpoint's.

`make test` keeps one case (strict against nostrict); `make test-nightly` runs the others: the
IO_STRICT_DEVMEM pair, a set Kconfig will not split, a host fault in a step, resuming, and Debian's
generic against its cloud config (thousands of options apart).
"""

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
from harness.kernels.kbuild import resolve_source

from ..conftest import REPO, harness

pytestmark = [pytest.mark.guest, pytest.mark.kbuild, pytest.mark.slow]

SOURCE = "deb:linux-source-6.12"


def bisect_config(
    good: str, bad: str, probe: str, runs: Path, *extra: str, env=None, timeout=3600, source: str = SOURCE
):
    return harness(
        "bisect-config",
        "--good",
        good,
        "--bad",
        bad,
        "--source",
        source,
        "--probe",
        probe,
        "--runs-dir",
        str(runs),
        *extra,
        timeout=timeout,
        env=env,
    )


def directory_of(run) -> Path:
    m = re.search(r"^bisect-config: directory (\S+)$", run.stderr, re.M)
    assert m, run.stderr[-2000:]
    return Path(m.group(1))


def steps_of(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "steps.jsonl").read_text().splitlines()]


def assert_everything_kept(directory: Path) -> None:
    """Every built step keeps its config, its build log and its run directory with results.json."""
    built = [s for s in steps_of(directory) if s.get("name")]
    assert built
    for s in built:
        assert Path(s["config"]).is_file() and (Path(s["config"]).parent / "build.log").is_file(), s
        assert (Path(s["run_dir"]) / "results.json").is_file(), s
        kernel = Path(s["config"]).parent / "kernel" / "bzImage"  # kept: the bisection's O= is gone
        assert kernel.is_file() and str(kernel) in (Path(s["run_dir"]) / "repro.sh").read_text(), s
    repro = directory / "repro.sh"
    assert os.access(repro, os.X_OK) and "final-bad.config" in repro.read_text()
    assert subprocess.run(["sh", "-n", str(repro)]).returncode == 0


def test_strict_against_nostrict_names_strict_devmem(tmp_path):
    """Three options apart: STRICT_DEVMEM, IO_STRICT_DEVMEM (which depends on it) and EXCLUSIVE_SYSTEM_RAM
    (mm/Kconfig derives it from STRICT_DEVMEM, no prompt).  IO_STRICT_DEVMEM off alone still refuses the
    RAM read (good); then neither of the two left can be set alone, and the one that can is the answer."""
    run = bisect_config("strict", "nostrict", "devmem.read.ram-above-1m", tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "the option: CONFIG_STRICT_DEVMEM (y on the good side, n on the bad side)" in run.stdout
    assert "Kconfig moves CONFIG_EXCLUSIVE_SYSTEM_RAM with it (y -> n)" in run.stdout
    assert "step 1 of about 2, 3 options left: EXCLUSIVE_SYSTEM_RAM=n, IO_STRICT_DEVMEM=n (bad onto good)" in run.stderr
    directory = directory_of(run)
    result = json.loads((directory / "result.json").read_text())
    assert result["single"] and result["differing_at_start"] == 3 and result["steps"] == 1, result
    assert result["observed"]["good"] == {"devmem.read.ram-above-1m": "outcome=EPERM ret=-1"}, result
    (step,) = [s for s in steps_of(directory) if (s.get("name") or "").startswith("step-")]
    assert step["judged"] == "good" and step["reverted"] == ["EXCLUSIVE_SYSTEM_RAM"], step
    ends = [s["judged"] for s in steps_of(directory) if (s.get("name") or "").endswith("-endpoint")]
    assert ends == ["good", "bad"]
    assert "# CONFIG_STRICT_DEVMEM is not set" in (directory / "final-bad.config").read_text()
    assert_everything_kept(directory)


@pytest.mark.nightly
def test_strict_against_strict_no_io_names_io_strict_devmem(tmp_path):
    run = bisect_config("strict", "strict-no-io", "devmem.mmap.busy-mmio", tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "the option: CONFIG_IO_STRICT_DEVMEM (y on the good side, n on the bad side)" in run.stdout
    assert_everything_kept(directory_of(run))


@pytest.mark.nightly
def test_an_option_that_drags_another_along_is_the_answer(tmp_path):
    """strict against nodevmem: without /dev/mem the probe is skipped.  DEVMEM=n takes STRICT_DEVMEM with
    it (it depends on DEVMEM) and makes the bad config; STRICT_DEVMEM=n alone moves EXCLUSIVE_SYSTEM_RAM
    too and is no step closer: DEVMEM is the answer, STRICT_DEVMEM follows it."""
    run = bisect_config("strict", "nodevmem", "devmem.read.ram-above-1m", tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "the option: CONFIG_DEVMEM (y on the good side, n on the bad side)" in run.stdout
    assert "Kconfig moves CONFIG_STRICT_DEVMEM with it (y -> n)" in run.stdout


@pytest.mark.nightly
def test_the_members_of_a_choice_stay_a_set_with_why(tmp_path):
    """lockdown-forced against strict: the difference is a `choice` (LOCK_DOWN_KERNEL_FORCE_INTEGRITY
    against _NONE), whose members Kconfig will only move together: the pair is the answer, with why."""
    run = bisect_config("lockdown-forced", "strict", "devmem.open", tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (
        "the smallest set: CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY y->n, CONFIG_LOCK_DOWN_KERNEL_FORCE_NONE n->y"
        in run.stdout
    )
    why = re.search(r"^  not split: (.*)$", run.stdout, re.M).group(1)
    assert why.startswith("they are the members of one Kconfig choice (security/lockdown/Kconfig:"), why
    result = json.loads((directory_of(run) / "result.json").read_text())
    assert not result["single"] and result["why_not_split"] == why


FAULTY_QEMU = """#!/bin/sh
# A QEMU that fails as a host would (no memory for the guest) the first time it is asked to boot a kernel
# built without IO_STRICT_DEVMEM: one bisection step meets a host fault once.
for a in "$@"; do case "$prev" in -kernel) kernel=$a ;; esac; prev=$a; done
if [ -n "$kernel" ] && grep -q '^# CONFIG_IO_STRICT_DEVMEM is not set' "$(dirname "$kernel")/config" \\
   && grep -q '^CONFIG_STRICT_DEVMEM=y' "$(dirname "$kernel")/config" && [ ! -e "$FAULT_ONCE" ]; then
    touch "$FAULT_ONCE"
    echo "qemu-system-x86_64: cannot set up guest memory 'pc.ram': Cannot allocate memory" >&2
    exit 1
fi
exec qemu-system-x86_64 "$@"
"""


@pytest.mark.nightly
def test_a_host_fault_in_a_step_is_retried_for_the_same_answer(tmp_path):
    qemu = tmp_path / "qemu-with-a-fault"
    qemu.write_text(FAULTY_QEMU)
    qemu.chmod(0o755)
    env = {"QEMU": str(qemu), "FAULT_ONCE": str(tmp_path / "faulted")}
    run = bisect_config("strict", "nostrict", "devmem.read.ram-above-1m", tmp_path / "runs", env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (tmp_path / "faulted").exists()
    assert "the option: CONFIG_STRICT_DEVMEM (y on the good side, n on the bad side)" in run.stdout
    (step,) = [s for s in steps_of(directory_of(run)) if (s.get("name") or "").startswith("step-")]
    assert step["retries"] == 1 and step["judged"] == "good", step


@pytest.mark.nightly
def test_an_interrupted_bisection_resumes_from_its_directory(tmp_path):
    """Ctrl-C once the endpoints are judged; --resume DIR does not boot them again and gives the answer."""
    cmd = [sys.executable, "-m", "harness", "bisect-config", "--good", "strict", "--bad", "nodevmem"]
    cmd += ["--source", SOURCE, "--probe", "devmem.read.ram-above-1m", "--runs-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 3000
    directory = None
    while proc.poll() is None and time.monotonic() < deadline:
        dirs = list(tmp_path.glob("*/state.json"))
        if dirs:
            directory = dirs[0].parent
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert directory is not None, err[-2000:]
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    before = [s["name"] for s in steps_of(directory) if s.get("name")]
    spent = json.loads((directory / "state.json").read_text())["seconds"]  # the endpoints' builds and boots
    resumed = harness("bisect-config", "--resume", str(directory), timeout=3600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "the option: CONFIG_DEVMEM (y on the good side, n on the bad side)" in resumed.stdout  # as uninterrupted
    assert "Kconfig moves CONFIG_STRICT_DEVMEM with it (y -> n)" in resumed.stdout
    names = [s["name"] for s in steps_of(directory) if s.get("name")]
    assert names.count("good-endpoint") == 1 and names.count("bad-endpoint") == 1, names
    assert names[: len(before)] == before
    assert spent > 0 and json.loads((directory / "result.json").read_text())["seconds"] > spent  # both runs'


@pytest.mark.nightly
def test_debian_generic_against_cloud_names_devport(tmp_path):
    """Debian's own configs, thousands of options apart: the cloud flavour has no /dev/port."""
    run = bisect_config(
        "deb:bookworm-security/linux-image-6.12.107+deb12-amd64-unsigned",
        "deb:bookworm-security/linux-image-6.12.107+deb12-cloud-amd64-unsigned",
        "devport.open",
        tmp_path,
        timeout=5 * 3600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "the option: CONFIG_DEVPORT (y on the good side, n on the bad side)" in run.stdout
    result = json.loads((directory_of(run) / "result.json").read_text())
    assert result["differing_at_start"] > 1000
    print(f"generic vs cloud: {result['differing_at_start']} options, {result['steps']} steps, {result['seconds']} s")


def _carries_cc_sim(tree: Path, patch: Path) -> bool:
    return (
        subprocess.run(["patch", "-p1", "-R", "--dry-run", "-s", "-f", "-d", str(tree), "-i", str(patch)]).returncode
        == 0
    )


@pytest.mark.nightly
def test_repro_of_a_cc_sim_bisection_builds_the_patched_tree_and_shows_the_bad_side(tmp_path):
    """--profile cc-sim builds the source with kconfigs/patches/cc-sim.patch: repro.sh keeps the patch beside
    it, applies it to a copy of the tree (never to the source), builds the final bad config and boots it
    to the bad endpoint's observation."""
    probe = "devmem.read.ram-above-1m"
    run = bisect_config("strict", "nostrict", probe, tmp_path / "runs", "--profile", "cc-sim")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "the option: CONFIG_STRICT_DEVMEM (y on the good side, n on the bad side)" in run.stdout
    directory = directory_of(run)
    assert_everything_kept(directory)
    patch = directory / "patches" / "cc-sim.patch"
    source = resolve_source(SOURCE).path
    assert patch.is_file() and not _carries_cc_sim(source, patch)
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # devmem-harness of this checkout
        "CC": "ccache gcc",  # and the harness's ccache: OUT inside the copy names paths as the harness does
        "CCACHE_DIR": str(paths.cache_dir() / "ccache"),
        "CCACHE_NOHASHDIR": "1",
        "OUT": str(directory / "repro-tree" / ".harness-build-repro"),
        "DEVMEM_HARNESS_RUNS": str(tmp_path / "repro-runs"),
    }
    repro = subprocess.run(
        [str(directory / "repro.sh")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, **env},
    )
    assert repro.returncode in (0, 1), repro.stdout[-3000:] + repro.stderr[-3000:]  # 1: a probe's verdict fails
    assert _carries_cc_sim(directory / "repro-tree", patch) and not _carries_cc_sim(source, patch)
    results = json.loads((tmp_path / "repro-runs" / "latest" / "results.json").read_text())
    (seen,) = [p["observed"] for p in results["probes"] if p["name"] == probe]
    result = json.loads((directory / "result.json").read_text())
    assert seen == result["observed"]["bad"][probe] != result["observed"]["good"][probe], (seen, result["observed"])
    assert "cc_sim" in results["cmdline"], results["cmdline"]


@pytest.mark.nightly
def test_a_users_tree_without_git(tmp_path):
    """A tree that is no git checkout (a hard-linked copy of Debian's source): identified by its files,
    held for the bisection, built outside itself, and bisected to the same answer."""
    tree = tmp_path / "linux"
    subprocess.run(["cp", "-al", str(resolve_source(SOURCE).path), str(tree)], check=True)
    for build in tree.glob(".harness-build-*"):  # the harness's own O= directories are not the user's
        subprocess.run(["rm", "-rf", str(build)], check=True)
    assert not (tree / ".git").exists()
    run = bisect_config("strict", "nostrict", "devmem.read.ram-above-1m", tmp_path / "runs", source=str(tree))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "the option: CONFIG_STRICT_DEVMEM (y on the good side, n on the bad side)" in run.stdout
    assert not list(tree.glob(".harness-build-*")), "a user's tree is never written"
    assert_everything_kept(directory_of(run))
