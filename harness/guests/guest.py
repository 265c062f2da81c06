# SPDX-License-Identifier: GPL-2.0-only
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
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect

from ..errors import HarnessError
from ..judging.console import PANIC
from ..judging.observed import VMResult
from ..vocabulary import Cause, Outcome, Stage
from .qemu_cmd import VMSpec
from .qmp_watch import QMPWatcher

PANIC_BYTES = re.compile(PANIC.pattern.encode())
# QMP run states in which QEMU itself stopped the guest (query-status after a STOP event).
STOPPED_BY_QEMU = ("internal-error", "io-error")
QUIT_GRACE_S = 3.0


@dataclass(frozen=True)
class Ending:
    """How a guest ended, and whose fault it was."""

    outcome: Outcome
    cause: Cause | None
    detail: str


INTERRUPTED = Ending(
    Outcome.INTERRUPTED, Cause.HOST, "interrupted (SIGINT, SIGTERM or SIGHUP: Ctrl-C, a kill, a CI cancel)"
)


# QEMU's words when the host's KVM cannot run a confidential guest (QEMU 10.1-11.1, kvm_arch_init and
# the confidential-guest objects): an absent feature, never a bad option.  Exit 4, as for doctor's refusals.
NO_HARDWARE = re.compile(r"vm-type \S+ not supported by KVM|private guest memory for \S+: KVM required")


class QemuFailed(HarnessError):
    """QEMU exited before its QMP socket answered: a bad option, a missing file, a host that cannot run it."""

    def __init__(self, argv: list[str], exit_status: int | None, stderr_tail: list[str]):
        last = stderr_tail[-1] if stderr_tail else ""
        super().__init__(f"QEMU exited with status {exit_status}" + (f": {last}" if last else ""))
        self.argv = argv
        self.exit_status = exit_status
        self.stderr_tail = stderr_tail

    def ending(self) -> Ending:
        refusal = next((ln for ln in self.stderr_tail if NO_HARDWARE.search(ln)), None)
        if refusal:
            return Ending(Outcome.NO_HARDWARE, Cause.HOST, f"QEMU refused the guest at the hardware: {refusal}")
        return Ending(Outcome.QEMU_FAILED, Cause.HOST, self.message)


def classify_exit(
    stage: Stage, exit_status: int | None, signal_status: int | None, stderr_last: str, oom: bool = False
) -> Ending:
    """How a guest ended from QEMU's exit alone (no panic seen): the one exit classifier.

    `-action panic=exit-failure` makes a pvpanic panic exit 1 with nothing on stderr; `-no-reboot`
    turns a reset (a triple fault, a reboot) into a clean exit.  QEMU's own complaint on stderr, or a
    signal (from outside, the OOM killer, or QEMU's own abort), is the host's fault.
    """
    killed = _killed(signal_status, stderr_last, oom) if signal_status is not None else ""
    if stage == Stage.SHUTDOWN:
        if exit_status == 0:
            return Ending(Outcome.COMPLETED, None, "guest powered off")
        if exit_status == 1 and not stderr_last:
            return Ending(Outcome.PANIC, Cause.KERNEL, "QEMU exited with status 1 after the probes (panic action)")
        if killed:  # the probes and dmesg were in: the verdicts stand
            return Ending(Outcome.COMPLETED, None, f"{killed} after the probes finished")
    if killed:
        return Ending(Outcome.QEMU_FAILED, Cause.HOST, killed)
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


def _killed(signal_status: int, stderr_last: str, oom: bool) -> str:
    try:
        name = signal.Signals(signal_status).name
    except ValueError:
        name = f"signal {signal_status}"
    if oom:
        return f"QEMU was killed by the host's OOM killer (signal {signal_status}, {name})"
    said = f": {stderr_last}" if stderr_last else ""  # an abort's assertion text
    return f"QEMU was killed by signal {signal_status} ({name}){said}"


def oom_killed(pid: int, kernel_log: str) -> bool:
    """The host kernel's log says its OOM killer took this process ("Killed process 1234 (qemu-system-x86)")."""
    return re.search(rf"Killed process {pid}\b", kernel_log) is not None


def host_kernel_log() -> str:
    """The host's dmesg, where it may be read (root, or kernel.dmesg_restrict=0); empty otherwise."""
    try:
        return subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def internal_error_detail(status: str, stderr: list[str]) -> str:
    """QEMU stopped the guest itself (internal-error, io-error): its own words from stderr."""
    said = [ln.strip() for ln in stderr if "KVM internal error" in ln or "emulation failure" in ln or "error" in ln]
    return f"QEMU stopped the guest ({status})" + (f": {'; '.join(said[:2])}" if said else "")


def panic_detail(message: str) -> str:
    return f"Kernel panic - not syncing: {message.strip()}".rstrip(": ")


class ConsoleLog:
    """console.log as pexpect's logfile: a failed write names the file (a full disk says where)."""

    def __init__(self, path: Path):
        self.path = path
        self._file = open(path, "wb", buffering=0)  # a long-lived log, closed by close()

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

    def flush(self) -> None:
        pass  # unbuffered

    def close(self) -> None:
        self._file.close()


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
        self.stderr_from = 0
        self.live_console = spec.serial == "stdio"
        self.watcher = QMPWatcher(spec.qmp_socket) if spec.qmp_socket else None
        self.stage = Stage.BOOT
        self.started = time.monotonic()
        self.marks: dict[str, float] = {}
        self._child: pexpect.spawn | None = None
        self._console = None
        self._stops_checked = 0
        self.host_memory: dict | None = None  # host_memory.check(): could the host read the guest's marker?

    # ------------------------------------------------------------ life

    def __enter__(self) -> Guest:
        self.launch()
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    def launch(self) -> None:
        """Start QEMU and its QMP watcher. Raises QemuFailed when QEMU exits before QMP answers."""
        self.started = time.monotonic()
        # qemu-stderr.log keeps every boot of this directory (a KVM attempt, then its TCG retry): this
        # boot's ending is read from what this boot's QEMU wrote, after this offset.
        self.stderr_from = self.stderr_path.stat().st_size if self.stderr_path.exists() else 0
        if self.live_console:
            self._console = ConsoleLog(self.console_path)  # closed by shutdown()
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
            try:
                if child.isalive() and self.watcher:
                    self.watcher.execute("quit")
                    self.wait_exit(QUIT_GRACE_S)
            except OSError:  # console.log cannot take more (a full disk): stop QEMU all the same
                child.logfile = None
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
        """What this boot's QEMU wrote on stderr."""
        if not self.stderr_path.exists():
            return []
        with open(self.stderr_path, "rb") as f:
            f.seek(self.stderr_from)
            return f.read().decode(errors="replace").strip().splitlines()

    def trouble(self) -> Ending | None:
        """A guest that ended badly while QEMU runs on: a panic, or QEMU itself stopping it (internal-error)."""
        if detail := self.panic():
            return Ending(Outcome.PANIC, Cause.KERNEL, detail)
        return self.stopped_by_qemu()

    def stopped_by_qemu(self) -> Ending | None:
        """On each new STOP event, ask QMP why: a KVM that cannot run the guest stops it with internal-error."""
        if not self.watcher:
            return None
        stops = sum(1 for e in self.watcher.events if e["event"] == "STOP")
        if stops <= self._stops_checked:
            return None
        self._stops_checked = stops
        status = self.watcher.execute("query-status")
        state = status.get("status") if isinstance(status, dict) else None
        if state in STOPPED_BY_QEMU:
            return Ending(Outcome.QEMU_FAILED, Cause.HOST, internal_error_detail(state, self.stderr_lines()))
        return None

    def panic(self) -> str | None:
        """The kernel's panic, if it panicked: the pvpanic event, else the panic line a file console holds."""
        if self.watcher and self.watcher.seen("GUEST_PANICKED"):
            return "GUEST_PANICKED event (pvpanic)"
        if not self.live_console and self.console_path.exists():
            if m := PANIC.search(self.console_path.read_bytes().decode(errors="replace")):
                return panic_detail(m.group(1))
        return None

    def ended_badly(self) -> Ending | None:
        """The guest's end if it panicked, QEMU stopped it or QEMU is gone; None while it runs on."""
        if trouble := self.trouble():
            return trouble
        if self._child is not None and self._child.isalive():
            return None
        return self.ending()

    def ending(self) -> Ending:
        """How the guest ended, once QEMU is gone."""
        if detail := self.panic():
            return Ending(Outcome.PANIC, Cause.KERNEL, detail)
        lines = self.stderr_lines()
        exit_status, signal_status = self.exit_status()
        oom = signal_status == signal.SIGKILL and oom_killed(self._child.pid, host_kernel_log())
        return classify_exit(self.stage, exit_status, signal_status, lines[-1] if lines else "", oom)

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
            host_memory=self.host_memory,
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
