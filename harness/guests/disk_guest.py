# SPDX-License-Identifier: GPL-2.0-only
"""Boot a disk-image guest, reach it over SSH, run the probes, bring everything back.

Stages as for initramfs guests, each with its deadline: boot (QEMU start to
SSH answering, polled with backoff), probes (the SSH session), shutdown
(poweroff over SSH to QEMU's exit; the Guest's QMP quit, then a kill, as
fallbacks).  QEMU writes the serial console to console.log the whole time.  SSH is forwarded from
127.0.0.1 on a port chosen here, so parallel guests never share one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import paramiko

from ..judging.observed import VMResult
from ..vocabulary import Cause, Outcome, Stage
from .guest import INTERRUPTED, Ending, Guest, QemuFailed
from .image import DiskImage
from .qemu_cmd import Timeouts, VMSpec
from .transport import SshTransport, collect_sections, free_port, load_private_key

PORT_TRIES = 3
SSH_ERRORS = (paramiko.SSHException, OSError, EOFError)
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


@dataclass(frozen=True)
class SshPlan:
    """What the SSH side of a boot needs: who logs in, and what runs there."""

    image: DiskImage
    key: paramiko.PKey
    probe_args: list[str]
    files: dict[str, Path]
    facts_args: list[str]
    warn: object


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
    plan = SshPlan(image, load_private_key(image.key), probe_args, files, facts_args, warn)
    for _ in range(PORT_TRIES):  # another process may take the free port before QEMU binds it
        port = free_port()
        dspec = disk_spec(spec, image, port, rundir / "console.log")
        result, session = _one_boot(dspec, rundir, timeouts, plan, port)
        if not (result.outcome == Outcome.QEMU_FAILED and HOSTFWD_CLASH.search(result.detail or "")):
            break
    return result, session, dspec


def _one_boot(spec: VMSpec, rundir: Path, timeouts: Timeouts, plan: SshPlan, port: int):
    guest = Guest(spec, rundir)
    session: SshSession | None = None
    ending: Ending | None = None
    try:
        with guest:
            try:
                transport, ending = _reach(guest, timeouts, plan, port)
                if transport is not None:
                    session, ending = _session(guest, transport, timeouts, plan, port)
            except SSH_ERRORS as exc:
                ending = guest.ended_badly() or Ending(
                    Outcome.QEMU_FAILED, Cause.HOST, f"the SSH session broke during the {guest.stage} stage: {exc}"
                )
    except QemuFailed as exc:
        ending = exc.ending()
    except KeyboardInterrupt:
        ending = INTERRUPTED
    return guest.result(ending or guest.ending()), session


def _reach(guest: Guest, timeouts: Timeouts, plan: SshPlan, port: int) -> tuple[SshTransport | None, Ending | None]:
    """The boot stage: poll SSH with backoff until it answers, the guest ends, or the stage overruns."""
    deadline = guest.deadline(timeouts.boot)
    backoff = 0.5
    known_hosts = guest.console_path.parent / "known_hosts"
    while True:
        if ending := guest.ended_badly():
            return None, ending
        try:
            image = plan.image
            return SshTransport.connect(port, image.user, plan.key, image.host_key, known_hosts, plan.warn, 5), None
        except paramiko.BadHostKeyException as exc:
            detail = f"the guest's SSH host key is not the one recorded for the image ({exc.key.get_name()})"
            return None, Ending(Outcome.QEMU_FAILED, Cause.HOST, detail)
        except paramiko.AuthenticationException:
            detail = f"SSH refused the key {plan.image.key} for user {plan.image.user}"
            return None, Ending(Outcome.QEMU_FAILED, Cause.HOST, detail)
        except SSH_ERRORS:
            if time.monotonic() > deadline:
                detail = (
                    f"SSH on 127.0.0.1:{port} did not answer within the boot stage's "
                    f"{timeouts.boot:.0f} s (sshd never came up?)"
                )
                return None, Ending(Outcome.HANG, Cause.KERNEL, detail)
            time.sleep(backoff)
            backoff = min(backoff * 1.5, 4.0)


def _session(guest: Guest, transport: SshTransport, timeouts: Timeouts, plan: SshPlan, port: int):
    """The probes and shutdown stages: the sections over SSH, then poweroff and QEMU's exit."""
    guest.advance(Stage.PROBES)
    try:
        text = collect_sections(transport, plan.probe_args, plan.files, plan.facts_args, timeout=timeouts.probes)
        guest.advance(Stage.SHUTDOWN)
        if "@@harness probe-timeout" in text:
            ending = Ending(Outcome.HANG, Cause.KERNEL, f"the probes did not finish within {timeouts.probes:.0f} s")
        else:
            ending = guest.ended_badly()
        transport.poweroff()
    finally:
        transport.close()
    session = SshSession(text, port, plan.image.host_key)
    if guest.wait_exit(timeouts.shutdown):
        return session, ending or guest.ending()
    return session, ending or Ending(
        Outcome.COMPLETED, None, f"guest did not power off within {timeouts.shutdown:.0f} s; QEMU was stopped"
    )
