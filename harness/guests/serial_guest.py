# SPDX-License-Identifier: GPL-2.0-only
"""The initramfs guest on a serial console: wait for the init's markers, stage by stage.

The busybox init (guest-images/init.sh) prints "@@harness init-started" when it
starts and "@@harness done" after the probes and the dmesg dump, then powers
off.  Each stage has its own deadline: boot (QEMU start to the first marker),
probes (to the last) and shutdown (to QEMU's exit).  Starting and stopping QEMU,
and saying how it ended, is the Guest's (guest.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pexpect

from ..judging.observed import VMResult
from ..vocabulary import Cause, Outcome, Stage
from . import host_memory
from .guest import INTERRUPTED, PANIC_BYTES, Ending, Guest, QemuFailed, panic_detail
from .qemu_cmd import Timeouts, VMSpec

INIT_STARTED = re.compile(rb"@@harness init-started")
DONE = re.compile(rb"@@harness done")
MARKER_PLANTED = re.compile(rb"@@harness marker-planted")  # guest-images/suite.sh, with harness.marker=
NOTHING = re.compile(rb"(?!x)x")  # after "done" there is nothing more to wait for but EOF
POLL_S = 0.25
PANIC_GRACE_S = 5.0


def run_serial_guest(spec: VMSpec, rundir: Path, timeouts: Timeouts) -> VMResult:
    """Boot, watch the console to the end, stop QEMU. QEMU is gone when this returns or raises."""
    guest = Guest(spec, rundir)
    ending: Ending | None = None
    try:
        with guest:
            ending = _watch(guest, timeouts)
    except QemuFailed as exc:
        ending = exc.ending()
    except KeyboardInterrupt:
        ending = INTERRUPTED
    return guest.result(ending or guest.ending())


def _watch(guest: Guest, timeouts: Timeouts) -> Ending | None:
    """Follow the stages; an Ending when the guest ended badly or overran, None when QEMU exited."""
    waiting_for = {Stage.BOOT: INIT_STARTED, Stage.PROBES: DONE, Stage.SHUTDOWN: NOTHING}
    following = {Stage.BOOT: Stage.PROBES, Stage.PROBES: Stage.SHUTDOWN}
    while True:
        if trouble := guest.trouble():
            return trouble
        idx = guest.expect_console(
            [waiting_for[guest.stage], PANIC_BYTES, pexpect.EOF, pexpect.TIMEOUT, MARKER_PLANTED], timeout=POLL_S
        )
        if idx == 4:
            _look_at_guest_memory(guest)
        elif idx == 0:
            guest.advance(following[guest.stage])
        elif idx == 1:
            detail = panic_detail(guest.console_line_after_match())
            guest.wait_exit(PANIC_GRACE_S)  # the backtrace reaches console.log; QEMU exits on its own
            return Ending(Outcome.PANIC, Cause.KERNEL, detail)
        elif idx == 2:
            return None
        elif _overran(guest, timeouts):
            return _overrun(guest, timeouts)


def _look_at_guest_memory(guest: Guest) -> None:
    """The guest planted its marker: the host looks for it once (host_memory.check), the VM paused meanwhile."""
    marker = host_memory.marker_in(guest.spec.append)
    if marker and guest.watcher and guest.host_memory is None:
        guest.host_memory = host_memory.check(guest.watcher, marker, guest.spec.memory_mib, guest.console_path.parent)


def _overran(guest: Guest, timeouts: Timeouts) -> bool:
    return time.monotonic() > guest.deadline(getattr(timeouts, guest.stage))


def _overrun(guest: Guest, timeouts: Timeouts) -> Ending:
    if guest.stage == Stage.SHUTDOWN:
        detail = f"guest did not power off within {timeouts.shutdown:.0f} s; QEMU was stopped"
        return Ending(Outcome.COMPLETED, None, detail)
    seconds = getattr(timeouts, guest.stage)
    return Ending(Outcome.HANG, Cause.KERNEL, f"no progress in the {guest.stage} stage within {seconds:.0f} s")
