# SPDX-License-Identifier: GPL-2.0-only
"""A KVM failure is remembered for the QEMU binary and host kernel it happened with, and only those."""

import shutil

from harness.guests import kvm_memory
from harness.guests.qemu_cmd import pick_accel


def test_remembered_for_the_same_qemu_and_host_kernel_only(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    qemu = tmp_path / "qemu-system-x86_64"
    shutil.copy("/bin/true", qemu)
    assert kvm_memory.remembered(str(qemu)) is None
    kvm_memory.remember(str(qemu), "QEMU stopped the guest (internal-error): KVM internal error")
    failed = kvm_memory.remembered(str(qemu))
    assert failed and "internal error" in failed["detail"]
    other = tmp_path / "other-qemu"
    shutil.copy("/bin/false", other)
    assert kvm_memory.remembered(str(other)) is None  # another QEMU tries KVM again
    with open(qemu, "ab") as f:
        f.write(b"\0" * 4096)  # the same path, upgraded
    assert kvm_memory.remembered(str(qemu)) is None
    kvm_memory.remember(str(qemu), "again")
    kvm_memory.forget()
    assert kvm_memory.remembered(str(qemu)) is None


def test_auto_goes_to_tcg_on_a_remembered_failure_and_kvm_still_tries(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr("harness.guests.qemu_cmd.kvm_check", lambda qemu: (True, "KVM usable"))
    kvm_memory.remember("/bin/true", "KVM internal error")
    accel, why = pick_accel("auto", "/bin/true")
    assert accel == "tcg" and "KVM failed a real guest on this host" in why and "KVM internal error" in why
    assert pick_accel("kvm", "/bin/true")[0] == "kvm"


def boot(outcome, stage, detail, tail, spoke=False):
    from pathlib import Path

    from harness.judging.console import GuestTranscript
    from harness.judging.ktap import parse_ktap
    from harness.judging.observed import Boot, VMResult
    from harness.vocabulary import Cause

    vm = VMResult(outcome, Cause.HOST if outcome == "qemu-failed" else Cause.KERNEL, detail, stage, None, None)
    return Boot("main", Path("."), [], vm, GuestTranscript(), parse_ktap(""), tail, spoke)


def test_what_counts_as_kvm_failing_a_guest():
    from harness.guests.boots import kvm_failed_early
    from harness.vocabulary import Outcome, Stage

    internal = "QEMU stopped the guest (internal-error): KVM internal error. Suberror: 1"
    assert kvm_failed_early(boot(Outcome.QEMU_FAILED, Stage.BOOT, internal, ()))
    silent = "no progress in the boot stage within 37 s"
    assert kvm_failed_early(boot(Outcome.HANG, Stage.BOOT, silent, ()))
    assert kvm_failed_early(boot(Outcome.HANG, Stage.BOOT, silent, ("",)))
    # A kernel that printed something and then hung is the kernel's hang, under any accelerator.
    assert not kvm_failed_early(boot(Outcome.HANG, Stage.BOOT, silent, ("[    0.0] Linux version 6.12",), spoke=True))
    assert not kvm_failed_early(boot(Outcome.HANG, Stage.BOOT, silent, ("early console in setup code",)))
    assert not kvm_failed_early(boot(Outcome.HANG, Stage.PROBES, "no progress in the probes stage", ()))
