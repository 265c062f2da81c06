# SPDX-License-Identifier: GPL-2.0-only
"""What every boot of a run shares: the guest image, the accelerator, the stage timeouts, the QEMU spec.

Decided once per run, before the first boot, and recorded in results.json:
the probe binary and initramfs (or the disk image of an SSH guest), the
accelerator and why, and the stage timeouts sized from memory, vCPUs and
the accelerator.  `vm_spec` turns them, a boot's command line and the
profile into the frozen VMSpec that QEMU's argv and repro.sh come from.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..kernels.kernel import Kernel
from ..kernels.spare import SpareChoice, guest_modules
from ..records.record import RunRecord
from ..vocabulary import Outcome
from . import firmware
from .image import DiskImage, build_image
from .initramfs import build_initramfs
from .probe_binary import build_probe, list_probes
from .profiles import DEFAULT_CBITPOS, Profile, read_cbitpos
from .qemu_cmd import Timeouts, VMSpec, pick_accel


@dataclass
class GuestSetup:
    initrd: Path
    accel: str
    accel_reason: str
    timeouts: Timeouts
    all_probes: list[str]
    profile: Profile
    spare: SpareChoice
    probe: Path | None = None
    disk: DiskImage | None = None  # transport ssh


def prepare_guest(
    opts, kernel: Kernel, profile: Profile, spare: SpareChoice, record: RunRecord, log, warn
) -> GuestSetup:
    """Build (or find cached) what the guest boots, pick the accelerator, size the timeouts; record them."""
    for warning in kernel.warnings:
        warn(warning)
    if spare.tried or spare.forced:  # the default e1000 goes unsaid; any other choice says why
        log(f"spare PCI device: {spare.summary()}")
    probe = build_probe()
    initrd = build_initramfs(probe, guest_modules(kernel, spare), kernel.load)
    disk = disk_image(opts, kernel, log) if opts.transport == "ssh" else None
    if profile.accelerator == "kvm":
        accel, accel_reason = "kvm", f"profile {profile.name} needs KVM"
    else:
        accel, accel_reason = pick_accel(opts.accel, opts.qemu)
    timeouts = stage_timeouts(opts, accel, ssh=disk is not None)
    record.update(qemu_version=qemu_version(opts.qemu))
    fw = firmware.choose(profile.firmware, profile.name, opts.firmware, opts.qemu)
    if fw is not None:
        record.update(firmware={"path": str(fw.path), "from": fw.source})
    record.update(
        outcome=Outcome.RUNNING,
        detail="the guest was started; the harness did not finish",
        kernel=kernel_record(kernel),
        accel=accel,
        accel_reason=accel_reason,
        timeouts={"boot": timeouts.boot, "probes": timeouts.probes, "shutdown": timeouts.shutdown},
        initramfs=str(initrd),
        transport=opts.transport,
        spare=spare.record(),
    )
    if disk is not None:
        record.update(
            image={
                "path": str(disk.path),
                "initrd": str(disk.initrd) if disk.initrd else None,
                "user": disk.user,
                "host_key": disk.host_key or "trust on first use",
                "built_by_harness": disk.built,
            }
        )
    all_probes = [p.name for p in list_probes(probe)]
    return GuestSetup(initrd, accel, accel_reason, timeouts, all_probes, profile, spare, probe, disk)


def qemu_version(binary: str) -> str | None:
    """'11.1.3' from `qemu --version`: which QEMU a run used, beside its binary (a wrapper says nothing)."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else None


def stage_timeouts(opts, accel: str, ssh: bool) -> Timeouts:
    """Sized from memory, vCPUs and the accelerator, stretched by --timeout-scale, then the overrides."""
    timeouts = Timeouts.sized(opts.memory_mib, opts.vcpus, accel, opts.timeout_scale, ssh=ssh)
    return dataclasses.replace(
        timeouts,
        boot=opts.boot_timeout if opts.boot_timeout is not None else timeouts.boot,
        shutdown=opts.shutdown_timeout if opts.shutdown_timeout is not None else timeouts.shutdown,
    )


def fall_back_to_tcg(setup: GuestSetup, opts, record: RunRecord, why: str) -> None:
    """--accel auto chose KVM on a paused QEMU's word, and a real guest proved it wrong: TCG from now on."""
    setup.accel = "tcg"
    setup.accel_reason = f"KVM chosen, then {why}; retried under TCG"
    setup.timeouts = stage_timeouts(opts, "tcg", ssh=setup.disk is not None)
    t = setup.timeouts
    record.update(
        accel=setup.accel,
        accel_reason=setup.accel_reason,
        timeouts={"boot": t.boot, "probes": t.probes, "shutdown": t.shutdown},
    )


def kernel_record(kernel: Kernel) -> dict:
    return {
        "release": kernel.release,
        "version": kernel.version,
        "source": kernel.source,
        "image": str(kernel.image),
        "config": str(kernel.config_path),
        "packages": ["=".join(p) for p in kernel.packages],
        "modules": [m.name for m in kernel.modules],
        "modules_from": kernel.modules_from,
        "fetched": kernel.fetched,
    }


def disk_image(opts, kernel: Kernel, log) -> DiskImage:
    """The harness's Debian image for this kernel (built once), or the user's --image."""
    if opts.image is None:
        log("disk image: the harness's Debian bookworm image for this kernel (built once, then cached)")
        image, built, seconds = build_image(kernel)
        if built:
            log(f"disk image built in {seconds:.0f} s: {image.path}")
        return image
    return DiskImage(opts.image.resolve(), None, opts.ssh_user, opts.ssh_key, None, None, built=False)


def short_socket_path(directory: Path) -> Path:
    """Unix socket paths are limited to 107 bytes; fall back to /tmp for deep run dirs."""
    path = directory / "qmp.sock"
    if len(str(path)) < 100:
        return path
    return Path("/tmp") / f"devmem-harness-{abs(hash(str(directory))):x}.qmp"


def vm_spec(
    kernel: Kernel,
    initrd: Path,
    append: list[str],
    opts,
    accel: str,
    profile: Profile,
    qmp_socket: Path | None,
    pidfile: Path | None = None,
    spare: SpareChoice | None = None,
) -> VMSpec:
    """The QEMU spec for this run: the plain machine plus whatever the profile adds."""
    cbitpos = (read_cbitpos(Path("/")) or DEFAULT_CBITPOS) if "{cbitpos}" in "".join(profile.objects) else 0
    fw = firmware.choose(profile.firmware, profile.name, opts.firmware, opts.qemu)
    return VMSpec(
        kernel=kernel.image,
        initrd=initrd,
        append=tuple(append),
        memory_mib=opts.memory_mib,
        vcpus=opts.vcpus,
        accel=accel,
        qemu=opts.qemu,
        qmp_socket=qmp_socket,
        cpu=profile.cpu,
        machine_options=profile.machine_options,
        objects=tuple(profile.object_args(opts.memory_mib, cbitpos)),
        firmware_flag=profile.firmware.flag if fw else None,
        firmware=fw.path if fw else None,
        pidfile=pidfile,
        spare=spare,
    )
