# SPDX-License-Identifier: GPL-2.0-only
"""What several commands share on the command line: the parser that errs in one line, number types, the
build options, the spare-device option, and the way repeatable lists are read."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import EXIT_NO_VERDICT, BadInput
from ..guests.profiles import available
from ..kernels.spare import load_catalog


class Parser(argparse.ArgumentParser):
    """argparse that reports bad options as one line with the way out, exit 2."""

    def error(self, message: str):
        self.exit(EXIT_NO_VERDICT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def available_profiles() -> list[str]:
    return available()


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def names(items: list[str]) -> list[str]:
    """`--probe a,b --probe c` as [a, b, c]."""
    return [p for item in items for p in item.split(",") if p]


def words(items: list[str]) -> list[str]:
    """`--append "a b" --append c` as [a, b, c]: kernel command line words."""
    return [w for item in items for w in item.split()]


def require_file(option: str, path: Path | None) -> None:
    """A file option that names nothing is the user's mistake, said before anything runs."""
    if path is not None and not path.is_file():
        raise BadInput(f"{option} {path}: no such file")


def add_build_options(parser: argparse.ArgumentParser, required: bool) -> None:
    what = "build from this kernel tree, or deb:linux-source-6.12" + ("" if required else " (then boot it)")
    parser.add_argument("--source", required=required, help=what)
    parser.add_argument(
        "--kconfig",
        action="append",
        default=[],
        metavar="FRAGMENT",
        help="config fragment (path, or a name from kconfigs/); repeatable",
    )
    parser.add_argument(
        "--patch",
        action="append",
        default=[],
        metavar="PATCH",
        help="apply this patch first (path, or a name from kconfigs/patches/); repeatable",
    )
    parser.add_argument(
        "--base",
        default="tinyconfig",
        choices=("tinyconfig", "defconfig"),
        help="start from tinyconfig + kconfigs/base.config (default) or defconfig",
    )


def add_spare_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--spare",
        metavar="DEVICE",
        help=f"one of {', '.join(load_catalog().names)}: the spare PCI device the revocation probes bind"
        " (default: the first whose driver the kernel has)",
    )
