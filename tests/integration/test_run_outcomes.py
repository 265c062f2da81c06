# SPDX-License-Identifier: GPL-2.0-only
"""Panics, hangs, QEMU failures and Ctrl-C: real guests, and nothing lost."""

import json
import signal
import subprocess
import sys
import time

import pytest

from ..conftest import REPO, harness, qemu_processes_for

pytestmark = pytest.mark.guest


def test_panic_before_init_is_a_kernel_panic(tmp_path):
    run = harness("run", "--append", "rdinit=/nonexistent", runs_dir=tmp_path)
    assert run.returncode == 2
    r = run.results
    assert r["outcome"] == "panic" and r["cause"] == "kernel"
    assert "Kernel panic" in r["detail"]
    assert all(p["verdict"] == "error" for p in r["probes"])
    assert "Kernel panic - not syncing" in (run.run_dir / "console.log").read_text(errors="replace")
    assert "Kernel panic" in (run.run_dir / "dmesg.txt").read_text()
    assert qemu_processes_for(run.run_dir) == []


def test_panic_after_init_goes_through_pvpanic(tmp_path):
    run = harness("run", "--append", "harness.mode=crash", runs_dir=tmp_path)
    assert run.returncode == 2
    r = run.results
    assert r["outcome"] == "panic" and r["cause"] == "kernel"
    assert r["exit"]["qemu"] == 1  # -action panic=exit-failure
    assert "GUEST_PANICKED" in [e["event"] for e in r["events"]]


def test_boot_timeout_is_a_hang_and_qemu_is_gone(tmp_path):
    run = harness("run", "--boot-timeout", "0.5", runs_dir=tmp_path)
    assert run.returncode == 2
    r = run.results
    assert r["outcome"] == "hang" and r["stage"] == "boot"
    assert "boot stage" in r["detail"]
    assert (run.run_dir / "console.log").exists()
    assert qemu_processes_for(run.run_dir) == []


def test_qemu_refusing_the_machine_is_a_host_failure(tmp_path):
    run = harness("run", "--vcpus", "9999", runs_dir=tmp_path)
    assert run.returncode == 2
    r = run.results
    assert r["outcome"] == "qemu-failed" and r["cause"] == "host"
    assert "9999" in r["detail"]


def test_ctrl_c_leaves_results_and_no_qemu(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--runs-dir", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    console = None
    while time.monotonic() < deadline:
        logs = list(tmp_path.glob("*/console.log"))
        if logs and logs[0].stat().st_size > 2000:  # the kernel is booting
            console = logs[0].resolve()  # the run directory, not `latest`: QEMU's command line names it
            break
        time.sleep(0.1)
    assert console is not None, "the guest never started printing"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    r = json.loads((console.parent / "results.json").read_text())
    assert r["outcome"] == "interrupted" and r["cause"] == "host"
    assert console.stat().st_size > 2000
    assert (console.parent / "dmesg.txt").exists()
    assert qemu_processes_for(console.parent) == []


def test_probe_selection_and_floor(tmp_path):
    run = harness("run", "--probe", "devport.open", "--probe", "pcisysfs.read.config", runs_dir=tmp_path / "a")
    assert run.returncode == 0, run.stderr
    assert [p["name"] for p in run.results["probes"]] == ["devport.open", "pcisysfs.read.config"]
    floor = harness("run", "--floor", runs_dir=tmp_path / "b")
    assert floor.returncode == 0, floor.stderr
    assert floor.results["outcome"] == "completed" and floor.results["probes"] == []


def test_dangerous_probes_can_run_in_boots_of_their_own(tmp_path):
    run = harness(
        "run",
        "--isolate",
        "always",
        "--probe",
        "devmem.open,devmem.read.bios-rom,devmem.mmap.ram-below-1m",
        runs_dir=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    boots = run.results["boots"]
    assert [b["name"] for b in boots] == ["main", "devmem.read.bios-rom", "devmem.mmap.ram-below-1m"]
    assert [b["probes"] for b in boots] == [["devmem.open"], ["devmem.read.bios-rom"], ["devmem.mmap.ram-below-1m"]]
    assert all(b["outcome"] == "completed" for b in boots)
    isolated = run.run_dir / "isolated" / "devmem.read.bios-rom"
    assert "harness-probe: begin 1 devmem.read.bios-rom" in (isolated / "dmesg.txt").read_text()
    assert run.probe("devmem.read.bios-rom")["observation"]["data"] == "nonzero"
    assert run.probe("devmem.mmap.ram-below-1m")["verdict"] == "known-issue"


def test_a_kernel_panic_under_a_probe_is_its_observation_and_the_rest_run_on(tmp_path):
    """harness.crash=NAME: the probe binary triggers a real panic (sysrq-c) while NAME runs."""
    probes = "devmem.open,devmem.read.bios-rom,devport.open"
    run = harness("run", "--probe", probes, "--append", "harness.crash=devmem.read.bios-rom", runs_dir=tmp_path)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    r = run.results
    assert run.probe("devmem.read.bios-rom")["observation"] == {
        "outcome": "guest-terminated",
        "how": "panic",
        "boot": "main",
    }
    assert run.probe("devport.open")["verdict"] == "pass"
    assert [(b["name"], b["outcome"]) for b in r["boots"]] == [("main", "panic"), ("resume-1", "completed")]
    assert r["boots"][0]["detail"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert "GUEST_PANICKED" in [e["event"] for e in r["terminations"][0]["events"]]
    assert qemu_processes_for(run.run_dir) == []
