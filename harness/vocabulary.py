# SPDX-License-Identifier: GPL-2.0-only
"""The words a run is described in, once: how a guest ended, whose fault, where, and the verdicts.

Every module that writes or reads these words imports them from here, so a new
outcome (a new host fault, say) is spelled once.  They are `StrEnum`s: in
results.json, JUnit and KTAP they are the same strings as before.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """How a run, or one boot of it, ended."""

    PREPARING = "preparing"  # the run directory exists; nothing was started
    RUNNING = "running"  # the guest was started; the harness did not finish
    NOT_STARTED = "not-started"  # a problem before the guest was started
    COMPLETED = "completed"  # the guest ran its probes and powered off (or was stopped after them)
    PANIC = "panic"
    HANG = "hang"
    QEMU_FAILED = "qemu-failed"  # QEMU could not start, stopped the guest (internal-error) or died
    HOST_FAULT = "host-fault"  # the host failed the harness: a full or read-only disk, a corrupt cache
    NO_HARDWARE = "no-hardware"  # QEMU refused the guest at the hardware (no TDX/SNP in KVM): exit 4
    INTERRUPTED = "interrupted"


class Cause(StrEnum):
    """Whose fault an end other than `completed` is: a verdict is a claim about the kernel only."""

    KERNEL = "kernel"
    HOST = "host"
    INPUT = "input"  # the user's options or files, found bad after the run directory was made


NOT_THE_KERNEL = (Cause.HOST, Cause.INPUT)  # ends that say nothing about the kernel


class Stage(StrEnum):
    """A guest's stages, each with its own deadline."""

    BOOT = "boot"  # QEMU start to the init's first marker (or SSH answering)
    PROBES = "probes"  # to the init's last marker (or the end of the SSH session)
    SHUTDOWN = "shutdown"  # to QEMU's exit


class Verdict(StrEnum):
    """What a probe's observation means for the kernel."""

    PASS = "pass"
    FAIL = "fail"
    KNOWN_ISSUE = "known-issue"
    SKIP = "skip"
    NOT_RUN = "not-run"
    ERROR = "error"


# The observation a probe gets when the guest died under it (in any boot).
GUEST_TERMINATED = "guest-terminated"

# Guest kinds judged by the confidential-guest policy unless their profile says otherwise.
CONFIDENTIAL_KINDS = frozenset({"tdx", "sev-snp"})
