# SPDX-License-Identifier: GPL-2.0-only
"""The QEMU command line for a guest, built from a small frozen spec.

One place decides every option so that repro.sh, the runner and the unit
tests all see the same argv.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadInput, RequirementMissing
from ..kernels.spare import SpareChoice, default_choice
from . import kvm_memory

DEFAULT_QEMU = "qemu-system-x86_64"
RHEL_QEMU = "/usr/libexec/qemu-kvm"  # CentOS Stream and RHEL ship QEMU only there, under this name


def host_qemu() -> str:
    """$QEMU, else QEMU as the host ships it: qemu-system-x86_64 on PATH (Debian, Ubuntu, Fedora), else
    /usr/libexec/qemu-kvm (CentOS, RHEL); the Debian name when neither is there, so the error names it."""
    named = os.environ.get("QEMU")
    if named:
        return named
    if shutil.which(DEFAULT_QEMU) is None and os.access(RHEL_QEMU, os.X_OK):
        return RHEL_QEMU
    return DEFAULT_QEMU


BASE_APPEND = ("console=ttyS0,115200", "panic=-1")


@functools.cache
def kvm_check(qemu: str = DEFAULT_QEMU) -> tuple[bool, str]:
    """(usable, why): /dev/kvm must open read-write *and* QEMU must be able to start a KVM vCPU.

    The second check matters on nested or half-broken hosts, where /dev/kvm
    exists but QEMU aborts while setting up the vCPU (seen here: "failed to
    set MSR 0x10a").  It costs one paused QEMU start, about 50 ms.
    """
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return False, f"/dev/kvm: {exc.strerror}"
    os.close(fd)
    try:
        proc = subprocess.run(
            [
                qemu,
                "-accel",
                "kvm",
                "-cpu",
                "host",
                "-machine",
                "q35",
                "-nodefaults",
                "-no-user-config",
                "-display",
                "none",
                "-S",
                "-qmp",
                "stdio",
            ],
            input='{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n',
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"QEMU KVM smoke test failed: {exc}"
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        return False, f"QEMU cannot start a KVM vCPU: {lines[0] if lines else f'exit {proc.returncode}'}"
    return True, "KVM usable"


def pick_accel(requested: str, qemu: str = DEFAULT_QEMU) -> tuple[str, str]:
    """The accelerator to use and why."""
    if requested not in ("auto", "kvm", "tcg"):
        raise BadInput(f"--accel {requested}: unknown accelerator", "choose auto, kvm or tcg")
    if requested == "tcg":
        return "tcg", "requested"
    usable, why = kvm_check(qemu)
    if requested == "kvm" and not usable:
        raise RequirementMissing(f"--accel kvm: {why}", "use --accel tcg or auto")
    if usable and requested == "auto" and (failed := kvm_memory.remembered(qemu)):
        return "tcg", (
            f"KVM failed a real guest on this host on {failed['at']} ({failed['detail']}); using TCG"
            " (a new QEMU or host kernel, or --accel kvm, tries KVM again)"
        )
    if usable:
        return "kvm", why
    return "tcg", f"KVM not usable ({why}); using TCG"


WC_TARGET = "bochs-display,vgamem=4M,romfile="


@dataclass(frozen=True)
class Timeouts:
    """Stage timeouts in seconds, sized from memory, vCPUs and the accelerator."""

    boot: float
    probes: float
    shutdown: float

    @classmethod
    def sized(cls, memory_mib: int, vcpus: int, accel: str, scale: float = 1.0, ssh: bool = False) -> Timeouts:
        """`ssh`: a full distribution's boot to sshd (systemd, udev) instead of a busybox init."""
        gib = max(1.0, memory_mib / 1024)
        if accel == "tcg":
            boot = 60 + 20 * gib + 15 * (vcpus - 1)
            probes = 120 + 10 * vcpus
        else:
            boot = 30 + 5 * gib + 2 * vcpus
            probes = 60
        if ssh:
            boot *= 2.5
        return cls(boot=boot * scale, probes=probes * scale, shutdown=30 * scale)


@dataclass(frozen=True)
class VMSpec:
    kernel: Path
    initrd: Path
    append: tuple[str, ...] = ()
    memory_mib: int = 512
    vcpus: int = 1
    accel: str = "tcg"
    qemu: str = DEFAULT_QEMU
    qmp_socket: Path | None = None
    extra_args: tuple[str, ...] = field(default=())
    # From the guest profile (confidential guests):
    cpu: str | None = None
    machine_options: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    firmware_flag: str | None = None
    firmware: Path | str | None = None
    pidfile: Path | None = None  # in the run directory: tests and users find the QEMU process by it
    serial: str = "stdio"  # or file:PATH (disk-image guests, whose console nobody reads live)
    boot_files: bool = True  # False: a disk image that boots without -kernel/-initrd
    spare: SpareChoice | None = None  # the probes' spare PCI device (harness/kernels/spare.py); None: e1000

    @property
    def spare_device(self) -> SpareChoice:
        return self.spare or default_choice()

    @property
    def cmdline(self) -> str:
        return " ".join((*BASE_APPEND, *self.spare_device.append, *self.append))

    def argv(self) -> list[str]:
        cpu = self.cpu or ("host" if self.accel == "kvm" else "max")
        argv = [
            self.qemu,
            "-machine",
            ",".join(["q35", *self.machine_options]),
            "-accel",
            self.accel,
            "-cpu",
            cpu,
            "-m",
            str(self.memory_mib),
            "-smp",
            str(self.vcpus),
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-serial",
            self.serial,
            "-no-reboot",
            # A guest panic (through pvpanic) ends QEMU with status 1, unlike a poweroff.
            "-action",
            "panic=exit-failure",
            "-device",
            "pvpanic",
            *self.spare_device.device.qemu_args(),
            # An idle prefetchable BAR (no driver in the initramfs) for the resourceN_wc probes: its framebuffer.
            "-device",
            WC_TARGET,
        ]
        if self.boot_files:
            argv += ["-kernel", str(self.kernel), "-initrd", str(self.initrd), "-append", self.cmdline]
        for obj in self.objects:
            argv += ["-object", obj]
        if self.firmware_flag and self.firmware:
            argv += [self.firmware_flag, str(self.firmware)]
        if self.qmp_socket is not None:
            argv += ["-qmp", f"unix:{self.qmp_socket},server=on,wait=off"]
        if self.pidfile is not None:
            argv += ["-pidfile", str(self.pidfile)]
        return argv + list(self.extra_args)

    def shell(self) -> str:
        return shlex.join(self.argv())
