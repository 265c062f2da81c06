"""Boot one guest and watch it to the end: console through pexpect, events through QMP.

The guest goes through three stages, each with its own deadline: boot (QEMU
start to the init's first marker), probes (to the init's "done") and shutdown
(to QEMU's exit).  Whatever happens — poweroff, panic, hang, QEMU dying,
Ctrl-C — QEMU is gone when `run_vm` returns or raises, and console.log holds
every byte the guest printed.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pexpect

from .qemu_cmd import Timeouts, VMSpec
from .qmp_watch import QMPWatcher

INIT_STARTED = re.compile(rb"@@harness init-started")
DONE = re.compile(rb"@@harness done")
PANIC = re.compile(rb"Kernel panic - not syncing")
POLL_S = 0.25
PANIC_GRACE_S = 5.0


@dataclass
class VMResult:
    """What happened to the guest, independent of what the probes observed."""

    outcome: str  # completed | panic | hang | qemu-failed | interrupted
    cause: str | None  # kernel | host | None when completed
    detail: str
    stage: str  # the stage the guest was in when it ended
    qemu_exit: int | None
    qemu_signal: int | None
    durations: dict[str, float] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)


def run_vm(spec: VMSpec, rundir: Path, timeouts: Timeouts) -> VMResult:
    console_path = rundir / "console.log"
    stderr_path = rundir / "qemu-stderr.log"
    argv = spec.argv()
    started = time.monotonic()
    marks: dict[str, float] = {}
    stage = "boot"
    outcome = cause = None
    detail = ""
    watcher = QMPWatcher(spec.qmp_socket) if spec.qmp_socket else None
    with open(console_path, "wb", buffering=0) as console:
        # sh keeps QEMU's own messages out of the console transcript; exec keeps one process.
        child = pexpect.spawn(
            "/bin/sh",
            ["-c", 'exec "$@" 2>>"$0"', str(stderr_path), *argv],
            logfile=console,
            timeout=None,
            maxread=65536,
        )
        if watcher:
            watcher.start()
        try:
            deadline = started + timeouts.boot
            waiting_for = INIT_STARTED
            while True:
                if watcher and watcher.seen("GUEST_PANICKED"):
                    outcome, cause, detail = "panic", "kernel", "GUEST_PANICKED event (pvpanic)"
                    break
                idx = child.expect([waiting_for, PANIC, pexpect.EOF, pexpect.TIMEOUT], timeout=POLL_S)
                now = time.monotonic()
                if idx == 0 and stage == "boot":
                    marks["boot"] = now
                    stage, waiting_for, deadline = "probes", DONE, now + timeouts.probes
                elif idx == 0 and stage == "probes":
                    marks["probes"] = now
                    stage, deadline = "shutdown", now + timeouts.shutdown
                    waiting_for = re.compile(rb"(?!x)x")  # nothing more to wait for but EOF
                elif idx == 1:
                    outcome, cause, detail = "panic", "kernel", _panic_line(child)
                    _drain(child, PANIC_GRACE_S)
                    break
                elif idx == 2:
                    break
                elif now > deadline:
                    outcome, cause = "hang", "kernel"
                    detail = f"no progress in the {stage} stage within {getattr(timeouts, stage):.0f} s"
                    if stage == "shutdown":
                        outcome, cause = "completed", None
                        detail = f"guest did not power off within {timeouts.shutdown:.0f} s; QEMU was stopped"
                    break
        except KeyboardInterrupt:
            outcome, cause, detail = "interrupted", "host", "interrupted by the user (SIGINT/SIGTERM)"
        finally:
            _stop(child, watcher)
            marks["end"] = time.monotonic()
    exit_status, signal_status = child.exitstatus, child.signalstatus
    if outcome is None:
        outcome, cause, detail = _classify_exit(stage, exit_status, signal_status, stderr_path)
    return VMResult(
        outcome=outcome,
        cause=cause,
        detail=detail,
        stage=stage,
        qemu_exit=exit_status,
        qemu_signal=signal_status,
        durations=_durations(started, marks),
        events=list(watcher.events) if watcher else [],
    )


def _panic_line(child: pexpect.spawn) -> str:
    try:
        child.expect(rb"\n", timeout=2)
        rest = child.before.decode(errors="replace").strip()
    except (pexpect.TIMEOUT, pexpect.EOF):
        rest = ""
    return f"Kernel panic - not syncing{rest}"


def _drain(child: pexpect.spawn, seconds: float) -> None:
    """Let the panic's backtrace reach console.log, and QEMU exit on its own."""
    try:
        child.expect(pexpect.EOF, timeout=seconds)
    except pexpect.TIMEOUT:
        pass


def _stop(child: pexpect.spawn, watcher: QMPWatcher | None) -> None:
    if child.isalive() and watcher:
        watcher.execute("quit")
        try:
            child.expect(pexpect.EOF, timeout=3)
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass
    if child.isalive():
        child.terminate(force=True)
    child.close(force=True)
    if watcher:
        watcher.stop()


def _classify_exit(stage: str, exit_status: int | None, signal_status: int | None, stderr_path: Path):
    stderr = stderr_path.read_text(errors="replace").strip() if stderr_path.exists() else ""
    last = stderr.splitlines()[-1] if stderr else ""
    if stage == "shutdown":
        if exit_status == 0:
            return "completed", None, "guest powered off"
        if exit_status == 1 and not last:
            return "panic", "kernel", "QEMU exited with status 1 after the probes (panic action)"
    if signal_status is not None:
        return "qemu-failed", "host", f"QEMU was killed by signal {signal_status}"
    if exit_status not in (0, None) and last:
        return "qemu-failed", "host", f"QEMU exited with status {exit_status}: {last}"
    if exit_status == 1:
        return "panic", "kernel", "QEMU exited with status 1 (panic action) before the probes finished"
    # A clean exit before "done": -no-reboot turned a reset (triple fault, reboot) into an exit.
    return "panic", "kernel", f"guest reset or powered off during the {stage} stage without a panic message"


def _durations(started: float, marks: dict[str, float]) -> dict[str, float]:
    out = {}
    prev = started
    for name in ("boot", "probes"):
        if name in marks:
            out[name] = round(marks[name] - prev, 3)
            prev = marks[name]
    if "probes" in marks:
        out["shutdown"] = round(marks["end"] - marks["probes"], 3)
    out["total"] = round(marks["end"] - started, 3)
    return out
