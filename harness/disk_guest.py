"""Boot a disk-image guest, reach it over SSH, run the probes, bring everything back.

Stages as for initramfs guests, each with its deadline: boot (QEMU start to
SSH answering, polled with backoff), probes (the SSH session), shutdown
(poweroff over SSH to QEMU's exit; QMP quit, then a kill, as fallbacks).  The
serial console goes to console.log the whole time.  SSH is forwarded from
127.0.0.1 on a port chosen here, so parallel guests never share one.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import paramiko

from .image import DiskImage
from .qemu_cmd import Timeouts, VMSpec
from .qmp_watch import QMPWatcher
from .transport import SshTransport, collect_sections, free_port, load_private_key
from .vm import VMResult

PANIC = re.compile(r"Kernel panic - not syncing:?\s*(.*)")
PORT_TRIES = 3
HOSTFWD_CLASH = re.compile(r"(?i)could not set up host forwarding|address already in use")


@dataclass
class SshSession:
    """What the SSH side of a boot brought back."""

    text: str  # "@@harness" sections, as the console of an initramfs guest would have them
    port: int
    host_key: str | None


def disk_spec(spec: VMSpec, image: DiskImage, port: int, console: Path) -> VMSpec:
    """The initramfs guest's machine plus the disk, a virtio NIC with SSH forwarded, the console to a file."""
    extra = [
        "-drive",
        f"file={image.path},if=virtio,format=qcow2,snapshot=on",
        "-netdev",
        f"user,id=ssh0,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device",
        "virtio-net-pci,netdev=ssh0",
    ]
    return replace(
        spec,
        initrd=image.initrd or spec.initrd,
        boot_files=image.initrd is not None,
        serial=f"file:{console}",
        extra_args=(*spec.extra_args, *extra),
    )


def run_disk_guest(
    spec: VMSpec,
    rundir: Path,
    timeouts: Timeouts,
    image: DiskImage,
    probe_args: list[str],
    files: dict[str, Path],
    facts_args: list[str],
    warn,
) -> tuple[VMResult, SshSession | None, VMSpec]:
    """Boot, reach, probe, power off. QEMU is gone when this returns or raises."""
    console = rundir / "console.log"
    stderr_path = rundir / "qemu-stderr.log"
    key = load_private_key(image.key)
    for _ in range(PORT_TRIES):  # another process may take the free port before QEMU binds it
        port = free_port()
        dspec = disk_spec(spec, image, port, console)
        result, session = _one_boot(
            dspec, console, stderr_path, timeouts, image, key, port, probe_args, files, facts_args, warn
        )
        if not (result.outcome == "qemu-failed" and HOSTFWD_CLASH.search(result.detail or "")):
            break
    return result, session, dspec


def _one_boot(spec, console, stderr_path, timeouts, image, key, port, probe_args, files, facts_args, warn):
    console.write_bytes(b"")
    started = time.monotonic()
    marks: dict[str, float] = {}
    stage, outcome, cause, detail = "boot", None, None, ""
    session: SshSession | None = None
    watcher = QMPWatcher(spec.qmp_socket) if spec.qmp_socket else None
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(spec.argv(), stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    if watcher:
        watcher.start()
    transport: SshTransport | None = None
    try:
        deadline = started + timeouts.boot
        backoff = 0.5
        while transport is None:
            outcome, cause, detail = _guest_state(proc, watcher, console, stderr_path)
            if outcome:
                break
            try:
                transport = SshTransport.connect(
                    port, image.user, key, image.host_key, console.parent / "known_hosts", warn, timeout=5
                )
            except paramiko.BadHostKeyException as exc:
                outcome, cause = "qemu-failed", "host"
                detail = f"the guest's SSH host key is not the one recorded for the image ({exc.key.get_name()})"
                break
            except paramiko.AuthenticationException:
                outcome, cause = "qemu-failed", "host"
                detail = f"SSH refused the key {image.key} for user {image.user}"
                break
            except (paramiko.SSHException, OSError, EOFError):
                if time.monotonic() > deadline:
                    outcome, cause = "hang", "kernel"
                    detail = (
                        f"SSH on 127.0.0.1:{port} did not answer within the boot stage's "
                        f"{timeouts.boot:.0f} s (sshd never came up?)"
                    )
                    break
                time.sleep(backoff)
                backoff = min(backoff * 1.5, 4.0)
        if transport is not None:
            marks["boot"] = time.monotonic()
            stage = "probes"
            text = collect_sections(transport, probe_args, files, facts_args, timeout=timeouts.probes)
            session = SshSession(text, port, image.host_key)
            marks["probes"] = time.monotonic()
            stage = "shutdown"
            if "@@harness probe-timeout" in text:
                outcome, cause = "hang", "kernel"
                detail = f"the probes did not finish within {timeouts.probes:.0f} s"
            else:
                outcome, cause, detail = _guest_state(proc, watcher, console, stderr_path)
            transport.poweroff()
            transport.close()
            transport = None
            try:
                code = proc.wait(timeout=timeouts.shutdown)
                if outcome is None:
                    outcome, cause, detail = (
                        ("completed", None, "guest powered off")
                        if code == 0
                        else ("panic", "kernel", f"QEMU exited with status {code} at poweroff")
                    )
            except subprocess.TimeoutExpired:
                if outcome is None:
                    outcome, cause = "completed", None
                    detail = f"guest did not power off within {timeouts.shutdown:.0f} s; QEMU was stopped"
    except (paramiko.SSHException, OSError, EOFError) as exc:
        outcome = outcome or _guest_state(proc, watcher, console, stderr_path)[0] or "qemu-failed"
        cause = cause or ("kernel" if outcome in ("panic", "hang") else "host")
        detail = detail or f"the SSH session broke during the {stage} stage: {exc}"
    except KeyboardInterrupt:
        outcome, cause, detail = "interrupted", "host", "interrupted by the user (SIGINT/SIGTERM)"
    finally:
        if transport is not None:
            transport.close()
        _stop(proc, watcher)
        marks["end"] = time.monotonic()
    if outcome == "qemu-failed" and not detail:
        detail = _last_line(stderr_path)
    durations = {"total": round(marks["end"] - started, 3)}
    if "boot" in marks:
        durations["boot"] = round(marks["boot"] - started, 3)
    if "probes" in marks:
        durations["probes"] = round(marks["probes"] - marks["boot"], 3)
        durations["shutdown"] = round(marks["end"] - marks["probes"], 3)
    result = VMResult(
        outcome=outcome or "qemu-failed",
        cause=cause,
        detail=detail,
        stage=stage,
        qemu_exit=proc.returncode if proc.returncode is None or proc.returncode >= 0 else None,
        qemu_signal=-proc.returncode if proc.returncode is not None and proc.returncode < 0 else None,
        durations=durations,
        events=list(watcher.events) if watcher else [],
    )
    return result, session


def _guest_state(proc: subprocess.Popen, watcher: QMPWatcher | None, console: Path, stderr_path: Path):
    """(outcome, cause, detail) if the guest has ended badly, else (None, None, "")."""
    if watcher and watcher.seen("GUEST_PANICKED"):
        return "panic", "kernel", "GUEST_PANICKED event (pvpanic)"
    text = console.read_bytes().decode(errors="replace") if console.exists() else ""
    if m := PANIC.search(text):
        return "panic", "kernel", f"Kernel panic - not syncing: {m.group(1).strip()}"
    code = proc.poll()
    if code is not None:
        if last := _last_line(stderr_path):  # QEMU's own complaint (a port taken, a bad option)
            return "qemu-failed", "host", f"QEMU exited with status {code}: {last}"
        if code == 1:
            return "panic", "kernel", "QEMU exited with status 1 (panic action)"
        return "qemu-failed", "host", f"QEMU exited with status {code} before the guest was reached"
    return None, None, ""


def _stop(proc: subprocess.Popen, watcher: QMPWatcher | None) -> None:
    if proc.poll() is None and watcher:
        watcher.execute("quit")
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if watcher:
        watcher.stop()


def _last_line(path: Path) -> str:
    text = path.read_text(errors="replace").strip() if path.exists() else ""
    return text.splitlines()[-1] if text else ""
