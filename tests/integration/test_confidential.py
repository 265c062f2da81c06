# SPDX-License-Identifier: GPL-2.0-only
"""Confidential profiles: the real suite on a TDX or SEV-SNP host, else exact refusals; documented command
lines, the launch path as far as QEMU, and guest termination recorded as an observation."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.guests import host_checks
from harness.guests.host_checks import first_missing, run_checks
from harness.guests.profiles import load_profile

from ..conftest import REPO, harness, qemu_processes_for
from ..ovmf_packages import CONFIDENTIAL, unpacked_root
from ..unit.guests.test_profiles_and_doctor import NEW_QEMU, fake_root

pytestmark = pytest.mark.guest


def missing_here(profile: str):
    """The first requirement this host lacks for `profile`, or None on a TDX or SEV-SNP host."""
    return first_missing(load_profile(profile), run_checks())


@pytest.mark.parametrize("profile", ["tdx", "sev-snp"])
def test_a_confidential_run_runs_the_suite_where_it_can_and_exits_4_naming_why_where_not(profile, tmp_path):
    expected = missing_here(profile)
    run = harness("run", "--profile", profile, runs_dir=tmp_path, timeout=3600)
    if expected is None:  # the nightly's confidential runners: the real suite, in a guest that proves it is one
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        r = run.results
        assert r["confidential_proof"]["status"] == "proven" and r["outcome"] == "completed", r["confidential_proof"]
        assert r["counts"]["error"] == 0 and r["counts"]["not-run"] == 0 and r["counts"]["fail"] == 0
        assert run.probe("devmem.open")["verdict"] in ("pass", "known-issue")
        return
    assert run.returncode == 4
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert lines[0].startswith(f"devmem-harness: error: profile {profile} cannot run here: {expected.detail}")
    assert not any(tmp_path.iterdir()), "nothing ran, so no run directory"


@pytest.mark.parametrize("target, profile", [("test-tdx", "tdx"), ("test-snp", "sev-snp")])
def test_make_target_fails_with_that_line_where_the_host_cannot(target, profile):
    if missing_here(profile) is None:
        pytest.skip(f"this host runs {profile} guests: the run test above runs the real suite, not this refusal")
    proc = subprocess.run(["make", "-s", target], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert f"devmem-harness: error: profile {profile} cannot run here" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_doctor_prints_every_check_and_json():
    table = harness("doctor")
    assert table.returncode == 0
    for name in ("kvm-device", "tdx-host", "sev-snp-host", "tdx-qemu", "sev-snp-qemu", "tdx-firmware", "busybox"):
        assert name in table.stdout
    assert "kernel-build" in table.stdout and "ssh-image-tools" in table.stdout
    # cc-sim needs no hardware: QEMU, busybox, gcc and the kernel build tools.
    runnable = sorted(["cc-sim", "plain", *(p for p in ("sev-snp", "tdx") if missing_here(p) is None)])
    assert f"profiles runnable here: {', '.join(runnable)}" in table.stdout
    data = json.loads(harness("doctor", "--json").stdout)
    assert data["runnable"] == runnable
    assert harness("doctor", "--profile", "tdx").returncode == (0 if "tdx" in runnable else 4)


@pytest.mark.parametrize(
    "profile, wanted",
    [
        (
            "tdx",
            [
                "-accel kvm",
                "-cpu host",
                "-object tdx-guest,id=tdx0",
                "-machine q35,kernel-irqchip=split,confidential-guest-support=tdx0",
                "-bios ",
            ],
        ),
        (
            "sev-snp",
            [
                "-machine q35,confidential-guest-support=sev0,memory-backend=ram1",
                "-object memory-backend-memfd,id=ram1,size=2048M,share=true,prealloc=false",
                "-object sev-snp-guest,id=sev0,cbitpos=",
                "reduced-phys-bits=1",
                "-bios ",
            ],
        ),
    ],
)
def test_dry_run_prints_the_documented_form(profile, wanted, tmp_path):
    root = unpacked_root(tmp_path / "root", CONFIDENTIAL)  # the firmware a confidential host installs
    run = harness("run", "--profile", profile, "--dry-run", env={"DEVMEM_HARNESS_HOST_ROOT": str(root)})
    assert run.returncode == 0, run.stderr
    for piece in wanted:
        assert piece in run.stdout, piece


def test_tdx_launch_gets_as_far_as_qemu(tmp_path, monkeypatch):
    """With a host that says TDX is on (fake root) and a QEMU that claims 10.1, the real QEMU 7.2 is launched
    and refuses: the run records that as a host failure, with QEMU's own message and a repro.sh."""
    from harness.guests.runner import RunOptions, run

    monkeypatch.setenv("DEVMEM_HARNESS_HOST_ROOT", str(fake_root(tmp_path, tdx=True)))
    monkeypatch.setattr(host_checks, "qemu_info", lambda binary: NEW_QEMU)
    firmware = tmp_path / "OVMF.fd"
    firmware.write_bytes(b"not really TDVF")
    report = run(
        RunOptions(
            profile="tdx", firmware=str(firmware), runs_dir=tmp_path / "runs", quiet=True, probes=["devmem.open"]
        )
    )
    r = report.results
    assert r["outcome"] == "qemu-failed" and r["cause"] == "host"
    assert "QEMU" in r["detail"]
    assert "tdx-guest,id=tdx0" in (report.run_dir / "repro.sh").read_text()
    assert report.exit_code == 2


def test_guest_killed_under_a_probe_is_recorded_and_the_rest_still_runs(tmp_path):
    probes = "devmem.open,devmem.read.bios-rom,devport.open,pcisysfs.read.config"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--runs-dir",
            str(tmp_path),
            "--probe",
            probes,
            "--append",
            "harness.stall=devmem.read.bios-rom",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        run_dir = qemu = None
        while time.monotonic() < deadline and qemu is None:
            # The run directory itself, not the `latest` link to it: QEMU's command line names the former.
            for log in (p / "console.log" for p in tmp_path.iterdir() if not p.is_symlink()):
                if log.is_file() and b"# running: 2 devmem.read.bios-rom" in log.read_bytes():
                    run_dir = log.parent
                    qemu = next(iter(qemu_processes_for(run_dir)), None)
            time.sleep(0.05)
        assert qemu is not None, "the guest never reached the stalled probe"
        os.kill(int(qemu.split()[0]), signal.SIGKILL)  # the guest dies under devmem.read.bios-rom
    except BaseException:
        proc.send_signal(signal.SIGINT)  # the harness stops its QEMU on the way out
        proc.wait(timeout=60)
        raise
    out, err = proc.communicate(timeout=300)
    r = json.loads((run_dir / "results.json").read_text())
    by_name = {p["name"]: p for p in r["probes"]}
    assert by_name["devmem.read.bios-rom"]["observation"]["outcome"] == "guest-terminated"
    # QEMU was SIGKILLed from outside: the host's doing, so no verdict on the kernel (exit 2, not 1).
    assert by_name["devmem.read.bios-rom"]["verdict"] == "error"
    assert "QEMU was killed by signal 9 (SIGKILL)" in by_name["devmem.read.bios-rom"]["reason"]
    assert by_name["devmem.open"]["verdict"] == "pass"
    assert by_name["devport.open"]["verdict"] == "pass"  # ran in a fresh boot
    assert by_name["pcisysfs.read.config"]["verdict"] == "pass"
    assert [b["name"] for b in r["boots"]] == ["main", "resume-1"]
    (term,) = r["terminations"]
    assert term["probe"] == "devmem.read.bios-rom" and term["qemu_signal"] == signal.SIGKILL
    assert any("# running: 2 devmem.read.bios-rom" in line for line in term["last_console_lines"])
    assert proc.returncode == 2, err
    assert qemu_processes_for(run_dir) == []
