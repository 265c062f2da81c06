# SPDX-License-Identifier: GPL-2.0-only
"""`qemu fetch`: Debian's newer QEMU and confidential firmware in the cache, run with `--qemu next`."""

from __future__ import annotations

import subprocess

from ..guests.qemu_next import SUITES, fetch
from .options import Parser


def add_parsers(sub) -> None:
    qemu = sub.add_parser("qemu", help="a newer QEMU than the host's, in the cache")
    qsub = qemu.add_subparsers(dest="qemu_command", required=True, parser_class=Parser)
    qfetch = qsub.add_parser("fetch", help="debootstrap Debian's qemu-system-x86 into the cache (--qemu next runs it)")
    qfetch.add_argument("--suite", default="sid", choices=SUITES, help="the Debian suite (default sid)")
    qfetch.set_defaults(handler=_cmd_qemu)


def _cmd_qemu(args) -> int:
    wrapper, built, seconds = fetch(args.suite)
    version = subprocess.run([str(wrapper), "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    print(f"qemu: {wrapper} ({version[0] if version else 'version unknown'})")
    print(f"{'debootstrapped' if built else 'cache hit'} in {seconds:.1f} s; run with --qemu next")
    return 0
