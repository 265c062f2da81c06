# SPDX-License-Identifier: GPL-2.0-only
"""Guests and accelerators that misbehave: no poweroff, a console flood, a KVM that cannot run the guest."""

import os

import pytest

from harness.guests import kvm_memory

from ..conftest import harness
from .conftest import assert_left_whole

pytestmark = pytest.mark.guest


def test_guest_that_never_powers_off(tmp_path):
    run = harness(
        "run",
        "--probe",
        "devmem.open",
        "--append",
        "harness.mode=no-poweroff",
        "--shutdown-timeout",
        "3",
        runs_dir=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    r = assert_left_whole(run.run_dir)
    assert (r["outcome"], r["verdict"]) == ("completed", "pass")
    assert r["detail"] == "guest did not power off within 3 s; QEMU was stopped"


def test_console_flood(tmp_path):
    """256 KiB of random bytes (not UTF-8) on the console before the probes: kept, and the run passes."""
    run = harness("run", "--probe", "devmem.open,devport.open", "--append", "harness.mode=flood", runs_dir=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    r = assert_left_whole(run.run_dir)
    console = (run.run_dir / "console.log").read_bytes()
    assert len(console) > 256 * 1024 and b"\xff\xfe not UTF-8 \xc0\xaf" in console
    assert r["verdict"] == "pass" and [p["verdict"] for p in r["probes"]] == ["pass", "pass"]


@pytest.mark.slow
def test_kvm_internal_error(qemu_next, tmp_path):
    # Debian sid's QEMU 11 starts KVM guests where the host's QEMU 7.2 cannot.
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm: a KVM internal error cannot be provoked here")
    strict = harness("run", "--qemu", qemu_next, "--accel", "kvm", "--probe", "devmem.open", runs_dir=tmp_path / "kvm")
    r = assert_left_whole(strict.run_dir)
    if strict.returncode == 0:
        pytest.skip("KVM runs this guest on this host: there is no internal error to provoke")
    # --accel kvm never falls back: a host fault with QEMU's own words, seen at once through QMP.
    assert (strict.returncode, r["outcome"], r["cause"]) == (2, "qemu-failed", "host"), strict.stderr[-2000:]
    assert r["detail"].startswith("QEMU stopped the guest (internal-error): KVM internal error")
    assert "STOP" in [e["event"] for e in r["events"]]
    assert r["durations"]["total"] < r["timeouts"]["boot"] / 2  # not a hang waiting out the boot stage
    # --accel auto: the same host fault, then the same boot again under TCG, which passes.
    kvm_memory.forget()  # an earlier run may have recorded it already
    auto = harness("run", "--qemu", qemu_next, "--probe", "devmem.open", runs_dir=tmp_path / "auto")
    assert auto.returncode == 0, auto.stderr[-2000:]
    r = assert_left_whole(auto.run_dir)
    assert r["accel"] == "tcg" and "internal-error" in r["accel_reason"] and "retried under TCG" in r["accel_reason"]
    # ... and remembered: the next auto run goes straight to TCG, one boot, saying why.
    again = harness("run", "--qemu", qemu_next, "--probe", "devmem.open", runs_dir=tmp_path / "again")
    r = assert_left_whole(again.run_dir)
    assert again.returncode == 0 and r["accel"] == "tcg", again.stderr[-2000:]
    assert "KVM failed a real guest on this host" in r["accel_reason"] and len(r["boots"]) == 1
