# SPDX-License-Identifier: GPL-2.0-only
"""The confidential launch paths proven on a real QEMU new enough to parse them: Debian sid's QEMU 11
(`make qemu-next`), with the firmware its own packages installed.

Each confidential profile's full command line must be refused only where the hardware is missing —
KVM's `vm-type ... not supported by KVM`, or `KVM required` under TCG — never at an option; the
harness turns the refusal into exit 4 with QEMU's line.  The plain suite on QEMU 11 under TCG must
give the verdicts and observations QEMU 7.2 gives.  None of this needs KVM to work: on these
machines QEMU 11's KVM guests die with an internal error, a host fault of its own.
"""

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from ..conftest import harness, qemu_processes_for
from ..unit.guests.test_profiles_and_doctor import fake_root

pytestmark = [pytest.mark.guest, pytest.mark.slow]

REFUSAL = {"tdx": "vm-type TDX not supported by KVM", "sev-snp": "vm-type SEV-SNP not supported by KVM"}
HOST_PARAMETER = {"tdx": "/sys/module/kvm_intel/parameters/tdx", "sev-snp": "/sys/module/kvm_amd/parameters/sev_snp"}


def hardware_present(profile: str) -> bool:
    try:
        return Path(HOST_PARAMETER[profile]).read_text().strip() in ("Y", "1")
    except OSError:
        return False


@pytest.mark.parametrize("profile", sorted(REFUSAL))
def test_kvm_refuses_only_at_the_hardware_and_the_run_exits_4(profile, qemu_next, tmp_path):
    if hardware_present(profile):
        pytest.skip(f"this host has {profile}: the guest would really start (tests/integration/test_confidential.py)")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no /dev/kvm: QEMU stops before KVM can say which vm-type it lacks")
    # The host checks are told TDX/SNP are on (a fake root), so the real QEMU 11 is launched and KVM answers.
    env = {"DEVMEM_HARNESS_HOST_ROOT": str(fake_root(tmp_path, tdx=True, snp=True, firmware=False))}
    run = harness("run", "--profile", profile, "--qemu", "next", "--probe", "devmem.open", runs_dir=tmp_path, env=env)
    assert run.returncode == 4, run.stderr[-2000:]
    r = run.results
    assert (r["outcome"], r["cause"]) == ("no-hardware", "host")
    assert r["detail"] == f"QEMU refused the guest at the hardware: qemu-system-x86_64: -accel kvm: {REFUSAL[profile]}"
    assert REFUSAL[profile] in run.stdout and "Traceback" not in run.stderr
    assert r["firmware"]["from"].startswith("descriptor /usr/share/qemu/firmware/60-edk2-x86_64-")
    assert (run.run_dir / "repro.sh").is_file() and (run.run_dir / "console.log").is_file()
    assert qemu_processes_for(run.run_dir) == []


@pytest.mark.parametrize("profile", sorted(REFUSAL))
def test_tcg_refuses_only_for_want_of_kvm(profile, qemu_next, tmp_path):
    dry = harness("run", "--profile", profile, "--qemu", "next", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    argv = shlex.split(dry.stdout.strip().splitlines()[-1])
    assert argv[0] == qemu_next
    # The same line under TCG (which cannot emulate the host CPU model): only the accelerator differs.
    argv[argv.index("-accel") + 1], argv[argv.index("-cpu") + 1] = "tcg", "max"
    argv = [a for a in argv if not a.startswith("unix:")][:-1]  # no QMP socket to leave behind
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 1
    assert errors == [f"qemu-system-x86_64: cannot set up private guest memory for {profile}-guest: KVM required"]


def test_plain_suite_on_qemu_11_gives_qemu_7s_verdicts(qemu_next, default_run, tmp_path):
    run = harness("run", "--qemu", "next", "--accel", "tcg", runs_dir=tmp_path)
    assert run.returncode == default_run.returncode == 0, run.stderr[-2000:]
    assert run.results["qemu_version"].startswith("11.") and default_run.results["qemu_version"].startswith("7.")

    def seen(r):
        return {p["name"]: (p["verdict"], p["observed"]) for p in r.results["probes"]}

    assert seen(run) == seen(default_run)
