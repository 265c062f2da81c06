"""One QEMU process from launch to a guaranteed end: the guest lifecycle both transports share.

Modelled on QEMU's own `QEMUMachine`: `launch()` starts QEMU with its QMP
watcher and console capture, `shutdown()` asks QMP to quit, then kills, and
always cleans up, and a `with Guest(...)` block guarantees that no QEMU is
left whatever raised inside it.  The guest moves through stages (`advance`),
each timed.  `ending()` is the one place that says how a guest ended, from
what QEMU and the guest left behind: QMP events, the console, QEMU's exit
status and its stderr.  The serial-console guest (serial_guest.py) and the SSH
guest (disk_guest.py) differ only in how they wait for and talk to the guest.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pexpect

from .console import PANIC
from .errors import HarnessError
from .qemu_cmd import VMSpec
from .qmp_watch import QMPWatcher
from .vocabulary import Cause, Outcome, Stage

PANIC_BYTES = re.compile(PANIC.pattern.encode())
QUIT_GRACE_S = 3.0


@dataclass
class VMResult:
    """What happened to the guest, independent of what the probes observed."""

    outcome: Outcome
    cause: Cause | None  # None when completed
    detail: str
    stage: Stage  # the stage the guest was in when it ended
    qemu_exit: int | None
    qemu_signal: int | None
    durations: dict[str, float] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Ending:
    """How a guest ended, and whose fault it was."""

    outcome: Outcome
    cause: Cause | None
    detail: str


INTERRUPTED = Ending(Outcome.INTERRUPTED, Cause.HOST, "interrupted by the user (SIGINT/SIGTERM)")


class QemuFailed(HarnessError):
    """QEMU exited before its QMP socket answered: a bad option, a missing file, a host that cannot run it."""

    def __init__(self, argv: list[str], exit_status: int | None, stderr_tail: list[str]):
        last = stderr_tail[-1] if stderr_tail else ""
        super().__init__(f"QEMU exited with status {exit_status}" + (f": {last}" if last else ""))
        self.argv = argv
        self.exit_status = exit_status
        self.stderr_tail = stderr_tail

    def ending(self) -> Ending:
        return Ending(Outcome.QEMU_FAILED, Cause.HOST, self.message)


def classify_exit(stage: Stage, exit_status: int | None, signal_status: int | None, stderr_last: str) -> Ending:
    """How a guest ended from QEMU's exit alone (no panic seen): the one exit classifier.

    `-action panic=exit-failure` makes a pvpanic panic exit 1 with nothing on stderr; `-no-reboot`
    turns a reset (a triple fault, a reboot) into a clean exit.  QEMU's own complaint on stderr, or a
    signal from outside, is the host's fault.
    """
    if stage == Stage.SHUTDOWN:
        if exit_status == 0:
            return Ending(Outcome.COMPLETED, None, "guest powered off")
        if exit_status == 1 and not stderr_last:
            return Ending(Outcome.PANIC, Cause.KERNEL, "QEMU exited with status 1 after the probes (panic action)")
    if signal_status is not None:
        return Ending(Outcome.QEMU_FAILED, Cause.HOST, f"QEMU was killed by signal {signal_status}")
    if exit_status not in (0, None) and stderr_last:
        return Ending(Outcome.QEMU_FAILED, Cause.HOST, f"QEMU exited with status {exit_status}: {stderr_last}")
    if exit_status == 1:
        return Ending(
            Outcome.PANIC, Cause.KERNEL, "QEMU exited with status 1 (panic action) before the probes finished"
        )
    if exit_status not in (0, None):
        return Ending(Outcome.QEMU_FAILED, Cause.HOST, f"QEMU exited with status {exit_status}")
    return Ending(
        Outcome.PANIC, Cause.KERNEL, f"guest reset or powered off during the {stage} stage without a panic message"
    )


def panic_detail(message: str) -> str:
    return f"Kernel panic - not syncing: {message.strip()}".rstrip(": ")


class Guest:
    """A QEMU guest whose console goes to `console.log` and whose QEMU messages go to `qemu-stderr.log`.

    With `-serial stdio` the console is read live through a pty (`expect_console`); with
    `-serial file:` QEMU writes it itself and `panic()` reads the file.
    """

    def __init__(self, spec: VMSpec, rundir: Path):
        self.spec = spec
        self.argv = spec.argv()
        self.console_path = rundir / "console.log"
        self.stderr_path = rundir / "qemu-stderr.log"
        self.live_console = spec.serial == "stdio"
        self.watcher = QMPWatcher(spec.qmp_socket) if spec.qmp_socket else None
        self.stage = Stage.BOOT
        self.started = time.monotonic()
        self.marks: dict[str, float] = {}
        self._child: pexpect.spawn | None = None
        self._console = None

    # ------------------------------------------------------------ life

    def __enter__(self) -> Guest:
        self.launch()
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    def launch(self) -> None:
        """Start QEMU and its QMP watcher. Raises QemuFailed when QEMU exits before QMP answers."""
        self.started = time.monotonic()
        if self.live_console:
            self._console = open(self.console_path, "wb", buffering=0)  # closed by shutdown()
        else:  # QEMU writes the file itself; the pty carries nothing
            self.console_path.write_bytes(b"")
        try:
            # sh keeps QEMU's own messages out of the console transcript; exec keeps one process.
            self._child = pexpect.spawn(
                "/bin/sh",
                ["-c", 'exec "$@" 2>>"$0"', str(self.stderr_path), *self.argv],
                logfile=self._console,
                timeout=None,
                maxread=65536,
            )
            if self.watcher:
                self.watcher.start()
                self._await_qmp()
        except BaseException:
            self.shutdown()
            raise

    def _await_qmp(self) -> None:
        while not self.watcher.connected.wait(0.02):
            if self.watcher.error:  # no QMP after its timeout: run on without events, as QEMU still may
                return
            if not self._child.isalive():
                raise QemuFailed(self.argv, self._child.exitstatus, self.stderr_lines()[-5:])

    def shutdown(self) -> None:
        """QMP quit, then kill; always close the console and stop the watcher. Safe to call twice."""
        child = self._child
        if child is not None:
            if child.isalive() and self.watcher:
                self.watcher.execute("quit")
                self.wait_exit(QUIT_GRACE_S)
            if child.isalive():
                child.terminate(force=True)
            child.close(force=True)
        if self.watcher:
            self.watcher.stop()
        if self._console is not None:
            self._console.close()
            self._console = None
        self.marks.setdefault("end", time.monotonic())

    # ------------------------------------------------------------ stages

    def advance(self, stage: Stage) -> None:
        """The current stage is over (timed); the guest is now in `stage`."""
        self.marks[str(self.stage)] = time.monotonic()
        self.stage = stage

    def deadline(self, seconds: float) -> float:
        """The current stage's deadline: `seconds` from its start."""
        return self.marks.get(_previous(self.stage), self.started) + seconds

    def expect_console(self, patterns: list, timeout: float) -> int:
        """pexpect on the live console: the index of what matched (EOF and TIMEOUT may be in `patterns`)."""
        return self._child.expect(patterns, timeout=timeout)

    def console_line_after_match(self) -> str:
        """The rest of the console line after the last match (a panic's message)."""
        head = self._child.match.group(1).decode(errors="replace") if self._child.match.groups() else ""
        try:
            self._child.expect(rb"\n", timeout=2)
            rest = self._child.before.decode(errors="replace")
        except (pexpect.TIMEOUT, pexpect.EOF):
            rest = ""
        return (head + rest).strip()

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to `timeout` s for QEMU to exit (reading the live console meanwhile)."""
        if self._child is None:
            return True
        try:
            self._child.expect(pexpect.EOF, timeout=timeout)
        except pexpect.TIMEOUT:
            pass
        return not self._child.isalive()

    # ------------------------------------------------------------ how it ended

    def stderr_lines(self) -> list[str]:
        text = self.stderr_path.read_text(errors="replace").strip() if self.stderr_path.exists() else ""
        return text.splitlines()

    def panic(self) -> str | None:
        """The kernel's panic, if it panicked: the pvpanic event, else the panic line a file console holds."""
        if self.watcher and self.watcher.seen("GUEST_PANICKED"):
            return "GUEST_PANICKED event (pvpanic)"
        if not self.live_console and self.console_path.exists():
            if m := PANIC.search(self.console_path.read_bytes().decode(errors="replace")):
                return panic_detail(m.group(1))
        return None

    def ended_badly(self) -> Ending | None:
        """The guest's end if it panicked or QEMU is gone; None while it runs on."""
        if detail := self.panic():
            return Ending(Outcome.PANIC, Cause.KERNEL, detail)
        if self._child is not None and self._child.isalive():
            return None
        return self.ending()

    def ending(self) -> Ending:
        """How the guest ended, once QEMU is gone."""
        if detail := self.panic():
            return Ending(Outcome.PANIC, Cause.KERNEL, detail)
        lines = self.stderr_lines()
        exit_status, signal_status = self.exit_status()
        return classify_exit(self.stage, exit_status, signal_status, lines[-1] if lines else "")

    def exit_status(self) -> tuple[int | None, int | None]:
        if self._child is None:
            return None, None
        return self._child.exitstatus, self._child.signalstatus

    def result(self, ending: Ending) -> VMResult:
        exit_status, signal_status = self.exit_status()
        return VMResult(
            outcome=ending.outcome,
            cause=ending.cause,
            detail=ending.detail,
            stage=self.stage,
            qemu_exit=exit_status,
            qemu_signal=signal_status,
            durations=self.durations(),
            events=list(self.watcher.events) if self.watcher else [],
        )

    def durations(self) -> dict[str, float]:
        end = self.marks.get("end", time.monotonic())
        out, prev = {}, self.started
        for name in (Stage.BOOT, Stage.PROBES):
            if name in self.marks:
                out[str(name)] = round(self.marks[name] - prev, 3)
                prev = self.marks[name]
        if Stage.PROBES in self.marks:
            out["shutdown"] = round(end - self.marks[Stage.PROBES], 3)
        out["total"] = round(end - self.started, 3)
        return out


def _previous(stage: Stage) -> str:
    """The mark that starts `stage` (the boot stage starts at launch)."""
    return {Stage.PROBES: Stage.BOOT, Stage.SHUTDOWN: Stage.PROBES}.get(stage, "launch")
