# SPDX-License-Identifier: GPL-2.0-only
"""`setup`: install (or name) the host packages a run, a kernel build, SSH images or LAVA need."""

from __future__ import annotations

from .. import host_packages


def add_parsers(sub) -> None:
    parser = sub.add_parser("setup", help="install the host packages the harness needs (apt or dnf)")
    host_packages.add_arguments(parser)
    parser.set_defaults(handler=host_packages.setup)
