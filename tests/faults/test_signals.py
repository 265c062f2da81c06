# SPDX-License-Identifier: GPL-2.0-only
"""Signals from outside, in each stage of a guest: QEMU killed, the harness killed, terminated or hung up."""

import os
import signal

import pytest

from .conftest import assert_left_whole, console_has, finish, qemu_pid, run_dir_of, start_harness, wait_for

pytestmark = pytest.mark.guest

# How to hold the guest in each stage, and the console text that says it is there.
STAGES = {
    "boot": ((), b"Linux version"),
    "probes": (("--append", "harness.stall=devmem.open"), b"# running: 1 devmem.open"),
    "shutdown": (("--append", "harness.mode=no-poweroff", "--shutdown-timeout", "120"), b"@@harness done"),
}
PROBES = ("--probe", "devmem.open,devport.open")


def start_in(stage, runs):
    args, marker = STAGES[stage]
    proc = start_harness(runs, *PROBES, *args)
    try:
        wait_for(console_has(runs, marker), 120, f"the {stage} stage")
    except BaseException:
        proc.send_signal(signal.SIGINT)
        finish(proc)
        raise
    return proc


@pytest.mark.parametrize("stage", STAGES)
def test_qemu_killed(stage, tmp_path):
    runs = tmp_path / "runs"
    proc = start_in(stage, runs)
    os.kill(qemu_pid(run_dir_of(runs)), signal.SIGKILL)
    code, out, err = finish(proc)
    r = assert_left_whole(run_dir_of(runs))
    assert "Traceback" not in err
    by_name = {p["name"]: p for p in r["probes"]}
    if stage == "boot":
        assert (code, r["outcome"], r["cause"]) == (2, "qemu-failed", "host"), err[-2000:]
        assert r["detail"] == "QEMU was killed by signal 9 (SIGKILL)"
        assert f"outcome: qemu-failed ({r['detail']})" in out
    elif stage == "probes":
        assert code == 2, err[-2000:]
        killed = by_name["devmem.open"]
        assert killed["observation"]["outcome"] == "guest-terminated" and killed["verdict"] == "error"
        assert "a host fault, not a claim about the kernel" in killed["reason"]
        assert by_name["devport.open"]["verdict"] == "pass"  # ran on in a fresh boot
        assert [b["name"] for b in r["boots"]] == ["main", "resume-1"]
    else:
        assert (code, r["outcome"], r["verdict"]) == (0, "completed", "pass"), err[-2000:]
        assert r["detail"] == "QEMU was killed by signal 9 (SIGKILL) after the probes finished"


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_harness_signalled(sig, stage, tmp_path):
    runs = tmp_path / "runs"
    proc = start_in(stage, runs)
    run_dir = run_dir_of(runs)
    qemu_pid(run_dir)
    proc.send_signal(sig)
    code, out, err = finish(proc)
    r = assert_left_whole(run_dir)  # also: no QEMU left, even when the harness was SIGKILLed
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
        assert (r["outcome"], r["detail"]) == ("running", "the guest was started; the harness did not finish")
    else:
        assert code == 130, err[-2000:]
        assert (r["outcome"], r["cause"], r["verdict"]) == ("interrupted", "host", "error")
        # Before the probes reported, every probe is an error; once they had, their verdicts stand.
        assert {p["verdict"] for p in r["probes"]} == ({"pass"} if stage == "shutdown" else {"error"})
        assert "outcome: interrupted" in out and "Traceback" not in err
