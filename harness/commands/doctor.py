# SPDX-License-Identifier: GPL-2.0-only
"""`doctor`: what this host can run, and why not; `--pick-qemu` says which QEMU launches a profile."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import EXIT_REQUIREMENT
from ..guests.host_checks import as_json, first_missing, offer_checks, pick_qemu, qemu_offers, render, run_checks
from ..guests.profiles import load_profile
from ..guests.qemu_cmd import host_qemu
from ..guests.qemu_next import NEXT, resolve_qemu
from .options import available_profiles


def add_parsers(sub) -> None:
    doc = sub.add_parser("doctor", help="what this host can run, and why not")
    doc.add_argument("--json", action="store_true", help="JSON instead of a table")
    doc.add_argument("--root", type=Path, default=Path("/"), help="read /sys, /proc and /dev under this root")
    doc.add_argument("--profile", choices=available_profiles(), help="exit 4 unless this profile can run here")
    doc.add_argument(
        "--qemu", default=None, help="QEMU binary (default $QEMU, else qemu-system-x86_64, else /usr/libexec/qemu-kvm)"
    )
    doc.add_argument("--firmware", help="firmware file to check for the confidential profiles")
    doc.add_argument(
        "--pick-qemu",
        metavar="PROFILE",
        choices=available_profiles(),
        help="print the --qemu to use for PROFILE: the host's QEMU if it can launch it, else next",
    )
    doc.set_defaults(handler=_cmd_doctor)


def _cmd_doctor(args) -> int:
    named = args.qemu or host_qemu()
    qemu = resolve_qemu(named)
    offers = qemu_offers(args.root, host_qemu() if named == NEXT else named)
    if args.pick_qemu:
        print(pick_qemu(args.pick_qemu, offers))
        return 0
    checks = run_checks(args.root, qemu, firmware=args.firmware)
    print(as_json(checks, offers) if args.json else render([*checks, *offer_checks(offers)]))
    if args.profile:
        missing = first_missing(load_profile(args.profile), checks)
        if missing:
            print(
                f"devmem-harness: profile {args.profile} cannot run here: {missing.detail}"
                + (f" ({missing.hint})" if missing.hint else ""),
                file=sys.stderr,
            )
            return EXIT_REQUIREMENT
    return 0
