# SPDX-License-Identifier: GPL-2.0-only
"""One boot of a run's guest, by either transport, and what it left behind: a `Boot`.

Most runs are one boot.  Probes marked dangerous run in boots of their own when
the guest kind can be taken down by them, and the probes after one the guest
died under run on in a fresh boot.  Whichever way the guest is reached (the
serial console of a busybox initramfs, or SSH into a disk image), a boot ends
in the same finish step: repro.sh, the console parsed into sections, dmesg.txt,
probe.ktap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..judging.console import GuestTranscript, normalize, parse_console
from ..judging.ktap import parse_ktap
from ..judging.observed import Boot, VMResult
from ..kernels.kernel import Kernel
from ..records.record import RunRecord
from ..vocabulary import Outcome, Stage
from . import host_memory
from .guest_setup import GuestSetup, short_socket_path, vm_spec
from .probe_binary import ProbeInfo
from .qemu_cmd import VMSpec
from .serial_guest import run_serial_guest

CONSOLE_TAIL = 15


def kvm_failed_early(b: Boot) -> bool:
    """KVM could not run the guest: QEMU stopped it (a KVM internal error) before the kernel printed
    anything, or the boot stage ran out with not one byte on the console (seen on a nested host: a
    tinyconfig kernel under KVM, silent, where Debian's kernel gets the internal error)."""
    if b.kernel_spoke:
        return False
    if b.vm.outcome == Outcome.QEMU_FAILED and "internal-error" in b.vm.detail:
        return True
    return b.vm.outcome == Outcome.HANG and b.vm.stage == Stage.BOOT and not any(b.console_tail)


def plan_boots(selection: list[str], infos: list[ProbeInfo], isolate: bool) -> list[tuple[str, list[str]]]:
    """(boot name, probes) in order: the safe probes together first, then each dangerous one alone."""
    if not isolate:
        return [("main", list(selection))]
    dangerous = {p.name for p in infos if p.dangerous}
    safe = [n for n in selection if n not in dangerous]
    plan = [("main", safe)] if safe else []
    return plan + [(n, [n]) for n in selection if n in dangerous]


def boot_directory(run_dir: Path, name: str) -> Path:
    if name == "main":
        return run_dir
    return run_dir / name if name.startswith("resume-") else run_dir / "isolated" / name


@dataclass(frozen=True)
class BootContext:
    """What every boot of a run needs from the run."""

    kernel: Kernel
    setup: GuestSetup
    opts: object  # runner.RunOptions
    record: RunRecord
    log: object
    warn: object


def wants_host_memory_check(setting: str, confidential: bool) -> bool:
    """auto: in confidential profiles (the proof needs it); always: any guest (plain shows what the host sees)."""
    return setting == "always" or (setting == "auto" and confidential)


def boot(ctx: BootContext, name: str, probes: list[str]) -> Boot:
    """Boot the guest once for `probes`; QEMU is gone when this returns or raises."""
    opts, setup = ctx.opts, ctx.setup
    directory = boot_directory(ctx.record.run_dir, name)
    directory.mkdir(parents=True, exist_ok=True)
    append = [*setup.profile.append, *opts.append]
    if probes != setup.all_probes:
        append.append("harness.probes=" + ",".join(probes))
    if opts.floor:
        append.append("harness.mode=floor")
    elif wants_host_memory_check(opts.host_memory_check, setup.profile.confidential):
        append.append(f"{host_memory.MARKER_WORD}={host_memory.new_marker()}")
    spec = vm_spec(
        ctx.kernel,
        setup.initrd,
        append,
        opts,
        setup.accel,
        setup.profile,
        short_socket_path(directory),
        directory / "qemu.pid",
        spare=setup.spare,
    )
    if setup.disk is not None:
        return _over_ssh(ctx, name, probes, directory, spec)
    _write_repro(directory, spec)  # before the boot: an interrupted run keeps it too
    ctx.record.first_boot_command(spec.cmdline, opts.qemu, spec.argv())
    what = "" if name == "main" else f" [isolated: {name}]"
    what += " [EMULATED confidential guest]" if setup.profile.emulated else ""
    ctx.log(
        f"booting {ctx.kernel.label} ({setup.accel}, {opts.memory_mib} MiB, {opts.vcpus} vCPU){what} in {directory}"
    )
    vm = run_serial_guest(spec, directory, setup.timeouts)
    return _finish(ctx, name, probes, directory, spec, vm)


def _over_ssh(ctx: BootContext, name: str, probes: list[str], directory: Path, spec: VMSpec) -> Boot:
    """A disk-image guest: the same probes and sections, reached over SSH (harness/guests/disk_guest.py)."""
    # SSH guests only: paramiko costs 150 ms at every start of the harness, so it is imported here.
    from .disk_guest import run_disk_guest
    from .transport import REMOTE_DIR

    setup, disk = ctx.setup, ctx.setup.disk
    probe_args = [f"{REMOTE_DIR}/devmem-probe", *setup.spare.probe_args()]
    if probes != setup.all_probes:
        probe_args += ["--only", ",".join(probes)]
    files = {
        f"{REMOTE_DIR}/devmem-probe": setup.probe,
        f"{REMOTE_DIR}/collect-facts.sh": paths.GUEST_IMAGES / "collect-facts.sh",
    }
    if disk.built:  # the probes bind the spare device with these (a user's kernel has its own)
        files.update({f"/lib/modules/{m.name}": m for m in setup.spare.modules})
    ctx.record.data.setdefault("ssh", {})
    ctx.record.save()
    ctx.log(f"booting {ctx.kernel.label} from {disk.path} ({setup.accel}, over SSH) in {directory}")
    facts_args = [] if disk.built else ["--kconfig"]
    vm, session, dspec = run_disk_guest(spec, directory, setup.timeouts, disk, probe_args, files, facts_args, ctx.warn)
    ctx.record.data["ssh"][name] = {"port": session.port if session else None, "reached": session is not None}
    ssh_text = session.text if session else ""
    paths.write_text(directory / "ssh-session.log", ssh_text)
    return _finish(ctx, name, probes, directory, dspec, vm, ssh_text)


def _finish(
    ctx: BootContext, name: str, probes: list[str], directory: Path, spec: VMSpec, vm: VMResult, ssh_text: str = ""
) -> Boot:
    """The step both transports end in: repro.sh, the sections parsed, dmesg.txt and probe.ktap written."""
    _write_repro(directory, spec)
    ctx.record.first_boot_command(spec.cmdline, ctx.opts.qemu, spec.argv())
    console_text = (directory / "console.log").read_bytes().decode(errors="replace")
    t = record_console(directory, console_text, ssh_text)
    if ctx.setup.disk is not None and not ctx.setup.disk.built:  # a user's image: its config comes from the guest
        kconfig = t.sections.get("kconfig", "").strip()
        if kconfig in ("", "absent"):
            ctx.warn("the guest has no /proc/config.gz or /boot/config-<release>: every CONFIG_ reads unset")
            kconfig = ""
        paths.write_text(directory / "guest.config", kconfig + "\n")
    ctx.record.save()
    return console_boot(name, directory, probes, vm, t, console_text)


def record_console(directory: Path, console_text: str, ssh_text: str = "") -> GuestTranscript:
    """Parse what the guest printed and write dmesg.txt and probe.ktap from it (any transport, LAVA too)."""
    # Panics and oopses from the console; the sections from the console or from the SSH session.
    t = parse_console(console_text + ("\n" + ssh_text if ssh_text else ""))
    _write_dmesg(directory, t, console_text)
    paths.write_text(directory / "probe.ktap", normalize(t.sections.get("ktap", "")).strip() + "\n")
    return t


def console_boot(
    name: str, directory: Path, probes: list[str], vm: VMResult, t: GuestTranscript, console_text: str
) -> Boot:
    tail = tuple(normalize(console_text).strip().split("\n")[-CONSOLE_TAIL:])
    spoke = "Linux version" in console_text
    return Boot(name, directory, probes, vm, t, parse_ktap(t.sections.get("ktap", "")), tail, spoke)


def _write_repro(directory: Path, spec: VMSpec) -> None:
    where = "on stdio" if spec.serial == "stdio" else "in console.log"
    paths.write_text(
        directory / "repro.sh",
        f'#!/bin/sh\n# The exact QEMU command of this boot; the serial console is {where}.\nexec {spec.shell()} "$@"\n',
    )
    (directory / "repro.sh").chmod(0o755)


def _write_dmesg(directory: Path, t: GuestTranscript, console_text: str) -> None:
    dmesg = t.sections.get("dmesg")
    if dmesg is not None and "dmesg" not in t.incomplete:
        text = normalize(dmesg).strip() + "\n"
    else:
        # The guest never dumped dmesg: what the kernel printed on the console is all there is.
        text = "# dmesg was not dumped by the guest; this is the kernel's console output so far\n" + normalize(
            console_text
        )
    paths.write_text(directory / "dmesg.txt", text)
