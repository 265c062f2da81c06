# SPDX-License-Identifier: GPL-2.0-only
"""The one exit classifier and the host-fault words, on the exits and messages QEMU and the OS really give."""

import errno

import pytest

from harness.errors import HostFault, host_fault_in
from harness.guests.guest import QemuFailed, classify_exit, internal_error_detail, oom_killed
from harness.judging.verdicts import exit_code
from harness.vocabulary import Cause, Outcome, Stage, Verdict


@pytest.mark.parametrize(
    "stage, exit_status, sig, stderr, outcome, cause, detail",
    [
        (Stage.SHUTDOWN, 0, None, "", Outcome.COMPLETED, None, "guest powered off"),
        (Stage.SHUTDOWN, 1, None, "", Outcome.PANIC, Cause.KERNEL, "QEMU exited with status 1 after the probes"),
        (Stage.PROBES, 1, None, "", Outcome.PANIC, Cause.KERNEL, "before the probes finished"),
        (Stage.BOOT, 0, None, "", Outcome.PANIC, Cause.KERNEL, "guest reset or powered off during the boot stage"),
        (
            Stage.BOOT,
            1,
            None,
            "qemu-system-x86_64: -smp 9999: Invalid SMP CPUs 9999",
            Outcome.QEMU_FAILED,
            Cause.HOST,
            "QEMU exited with status 1: qemu-system-x86_64: -smp 9999",
        ),
        (Stage.BOOT, None, 9, "", Outcome.QEMU_FAILED, Cause.HOST, "QEMU was killed by signal 9 (SIGKILL)"),
        (
            Stage.PROBES,
            None,
            6,
            "qemu-system-x86_64: ../accel/kvm/kvm-all.c:1234: kvm_cpu_exec: Assertion `0' failed.",
            Outcome.QEMU_FAILED,
            Cause.HOST,
            "(SIGABRT): qemu-system-x86_64: ../accel/kvm/kvm-all.c:1234",
        ),
        (
            Stage.SHUTDOWN,
            None,
            9,
            "",
            Outcome.COMPLETED,
            None,
            "QEMU was killed by signal 9 (SIGKILL) after the probes",
        ),
        (Stage.BOOT, 2, None, "", Outcome.QEMU_FAILED, Cause.HOST, "QEMU exited with status 2"),
    ],
)
def test_classify_exit(stage, exit_status, sig, stderr, outcome, cause, detail):
    ending = classify_exit(stage, exit_status, sig, stderr)
    assert (ending.outcome, ending.cause) == (outcome, cause) and detail in ending.detail, ending


def test_the_oom_killer_is_named_from_the_host_kernels_log():
    log = "[123.4] Out of memory: Killed process 4242 (qemu-system-x86) total-vm:2097152kB, anon-rss:524288kB\n"
    assert oom_killed(4242, log) and not oom_killed(424, log) and not oom_killed(4242, "")
    ending = classify_exit(Stage.PROBES, None, 9, "", oom=True)
    assert ending.cause == Cause.HOST and ending.detail.startswith("QEMU was killed by the host's OOM killer")


def test_internal_error_keeps_qemus_words():
    stderr = ["KVM internal error. Suberror: 1", "extra data[0]: 0x0000000000000001", "emulation failure"]
    detail = internal_error_detail("internal-error", stderr)
    assert detail == "QEMU stopped the guest (internal-error): KVM internal error. Suberror: 1; emulation failure"


def test_host_faults_in_the_os_words():
    fault = HostFault.from_os_error(OSError(errno.ENOSPC, "No space left on device", "/runs/x/console.log"))
    assert fault.line().startswith("host fault: No space left on device: /runs/x/console.log (free space")
    assert fault.exit_code == 2
    ld = "/usr/bin/ld: final link failed: No space left on device\ncollect2: error: ld returned 1 exit status"
    found = host_fault_in(ld, "compiling the probe", "/cache/probe/x")
    assert found.message == "host fault while compiling the probe: No space left on device: /cache/probe/x"
    assert host_fault_in("mem.c:12: error: expected ';'", "kernel build", "/b") is None  # a real build failure


@pytest.mark.parametrize(
    "line, outcome",
    [
        ("qemu-system-x86_64: -accel kvm: vm-type TDX not supported by KVM", Outcome.NO_HARDWARE),
        ("qemu-system-x86_64: -accel kvm: vm-type SEV-SNP not supported by KVM", Outcome.NO_HARDWARE),
        ("qemu-system-x86_64: cannot set up private guest memory for tdx-guest: KVM required", Outcome.NO_HARDWARE),
        ("qemu-system-x86_64: -object tdx-guest,id=tdx0: invalid object type: tdx-guest", Outcome.QEMU_FAILED),
        ("qemu-system-x86_64: -bios /x.fd: Could not open '/x.fd': No such file or directory", Outcome.QEMU_FAILED),
    ],
)
def test_a_refusal_at_the_hardware_is_not_a_bad_option(line, outcome):
    """QEMU 11's own words (run in tests/integration/test_qemu_next.py): the hardware, exit 4; an option, exit 2."""
    ending = QemuFailed(["qemu"], 1, ["some earlier line", line]).ending()
    assert (ending.outcome, ending.cause) == (outcome, Cause.HOST)
    assert line in ending.detail
    assert exit_code(Verdict.ERROR, ending.outcome) == (4 if outcome == Outcome.NO_HARDWARE else 2)
