# SPDX-License-Identifier: GPL-2.0-only
"""`run` (boot a guest and run the probe suite) and `probes` (the catalogue the suite runs)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ..errors import BadInput, RequirementMissing
from ..guests.probe_binary import list_probes
from ..guests.profiles import load_profile
from ..guests.qemu_cmd import host_qemu
from ..guests.qemu_next import resolve_qemu
from ..guests.runner import RunOptions, run
from ..host_packages import install_hint
from ..kernels.kbuild import resolve_fragment, resolve_patch
from .options import (
    add_build_options,
    add_spare_option,
    available_profiles,
    names,
    positive_float,
    positive_int,
    require_file,
    words,
)


def add_parsers(sub) -> None:
    run_parser = sub.add_parser("run", help="boot a guest and run the probe suite")
    _add_kernel_options(run_parser)
    _add_guest_options(run_parser)
    _add_output_options(run_parser)
    run_parser.set_defaults(handler=_cmd_run)
    sub.add_parser("probes", help="list the probes with what each does").set_defaults(handler=_cmd_probes)


def _add_kernel_options(run: argparse.ArgumentParser) -> None:
    """Which kernel a run boots, and what it probes."""
    run.add_argument(
        "--kernel",
        help="deb:[SUITE/]PACKAGE (e.g. deb:sid/linux-image-amd64) or PATH to a bzImage (default: pinned Debian 6.12)",
    )
    run.add_argument("--kernel-config", help="the .config of a --kernel PATH")
    run.add_argument(
        "--modules",
        metavar="DIR",
        help="where a --kernel PATH's modules are (default: its build tree or a lib/modules/<release> beside it)",
    )
    add_build_options(run, required=False)
    add_spare_option(run)
    run.add_argument(
        "--append",
        action="append",
        default=[],
        metavar="ARGS",
        help="extra kernel command line words, e.g. lockdown=integrity (repeatable)",
    )
    run.add_argument(
        "--probe",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help="run only these probes (repeatable; default: all)",
    )
    run.add_argument(
        "--expectations", type=Path, metavar="YAML", help="extra expectation rules, tried before the built-in ones"
    )


def _add_guest_options(run: argparse.ArgumentParser) -> None:
    """The guest's machine, profile and transport."""
    run.add_argument("--memory", type=positive_int, metavar="MIB", help="guest memory (default: the profile's)")
    run.add_argument("--vcpus", type=positive_int, default=1, help="guest vCPUs (default 1)")
    run.add_argument("--accel", default="auto", choices=("auto", "kvm", "tcg"), help="accelerator (default auto)")
    run.add_argument(
        "--qemu", default=None, help="QEMU binary (default $QEMU, else qemu-system-x86_64, else /usr/libexec/qemu-kvm)"
    )
    run.add_argument(
        "--profile",
        default="plain",
        choices=available_profiles(),
        help="guest kind (default plain): " + ", ".join(available_profiles()),
    )
    run.add_argument("--firmware", help="firmware for confidential guests (TDVF, SNP OVMF); default: the profile's")
    run.add_argument(
        "--transport",
        default="serial",
        choices=("serial", "ssh"),
        help="serial: busybox initramfs on the console (default); ssh: a disk-image guest reached over SSH",
    )
    run.add_argument(
        "--image", type=Path, help="with --transport ssh: your qcow2 (default: the harness's Debian image)"
    )
    run.add_argument("--ssh-user", default="root", help="with --image: the user to log in as (default root)")
    run.add_argument("--ssh-key", type=Path, help="with --image: the private key for --ssh-user (never a password)")
    run.add_argument(
        "--timeout-scale", type=positive_float, default=1.0, help="multiply every stage timeout (slow hosts)"
    )
    run.add_argument("--boot-timeout", type=positive_float, help="override the boot stage timeout, seconds")
    run.add_argument(
        "--shutdown-timeout", type=positive_float, help="override the shutdown stage timeout (poweroff), seconds"
    )
    run.add_argument(
        "--isolate",
        default="auto",
        choices=("auto", "always", "never"),
        help="run dangerous probes in boots of their own (auto: in guest kinds they can kill)",
    )
    run.add_argument(
        "--host-memory-check",
        default="auto",
        choices=("auto", "always", "never"),
        help="pause the guest once and search a dump of its RAM for a marker it planted"
        " (auto: in confidential profiles, where the host must not find it)",
    )
    run.add_argument(
        "--floor",
        action="store_true",
        help="boot to an init that powers off at once (the benchmark's floor; no probes)",
    )


def _add_output_options(run: argparse.ArgumentParser) -> None:
    """Where a run's results go and how much it says."""
    run.add_argument("--dry-run", action="store_true", help="print the QEMU command line and stop")
    run.add_argument("--runs-dir", type=Path, help="where run directories go (default: <checkout>/runs)")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _cmd_run(args) -> int:
    if (args.kconfig or args.patch) and not args.source and not load_profile(args.profile).build:
        raise BadInput("--kconfig and --patch need --source (the tree to build)")
    require_file("--expectations", args.expectations)
    opts = RunOptions(
        kernel=args.kernel,
        kernel_config=args.kernel_config,
        modules=args.modules,
        spare=args.spare,
        append=words(args.append),
        probes=names(args.probe),
        memory_mib=args.memory,
        vcpus=args.vcpus,
        accel=args.accel,
        qemu=resolve_qemu(args.qemu or host_qemu()),
        runs_dir=args.runs_dir,
        expectations=args.expectations,
        timeout_scale=args.timeout_scale,
        boot_timeout=args.boot_timeout,
        shutdown_timeout=args.shutdown_timeout,
        isolate=args.isolate,
        host_memory_check=args.host_memory_check,
        firmware=args.firmware,
        dry_run=args.dry_run,
        source=args.source,
        kconfig=[resolve_fragment(k) for k in args.kconfig],
        patches=[resolve_patch(p) for p in args.patch],
        base=args.base,
        profile=args.profile,
        floor=args.floor,
        quiet=args.quiet,
        transport=args.transport,
        image=args.image,
        ssh_user=args.ssh_user,
        ssh_key=args.ssh_key,
    )
    require_file("--image", args.image)
    require_file("--ssh-key", args.ssh_key)
    if not shutil.which(opts.qemu):
        raise RequirementMissing(f"QEMU binary {opts.qemu!r} not found", f"{install_hint('qemu')}, or set QEMU=")
    return run(opts).exit_code


def _cmd_probes(args) -> int:
    for p in list_probes():
        print(f"{p.name:<30} {'dangerous' if p.dangerous else '':<9}  {p.what}")
    return 0
