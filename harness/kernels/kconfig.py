# SPDX-License-Identifier: GPL-2.0-only
"""Reading a kernel's .config (the oracle keys its expectations on its symbols), and a tree's Kconfig
files: what a dropped symbol depends on (verify_config, so a fragment Kconfig ignored is said, not
built) and the `choice` blocks (config bisection reports their members together)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from ..errors import BadInput

_SET = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_UNSET = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$")
_VERSION = re.compile(r"^# Linux/\S+ (\d+\.\d+(?:\.\d+)?)\S* Kernel Configuration")


def parse_config(text: str) -> dict[str, str]:
    """Symbols (without CONFIG_) to values; 'is not set' and absent both read as 'n'."""
    symbols: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if m := _SET.match(line):
            value = m.group(2)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            symbols[m.group(1)] = value
        elif m := _UNSET.match(line):
            symbols[m.group(1)] = "n"
    return symbols


def config_version(text: str) -> str | None:
    """The kernel version from the header of a generated .config, e.g. '6.12.107'."""
    for line in text.splitlines()[:8]:
        if m := _VERSION.match(line):
            return m.group(1)
    return None


def load_config(path: Path) -> tuple[dict[str, str], str | None]:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        raise BadInput(f"{path}: cannot read kernel config: {exc.strerror}") from None
    symbols = parse_config(text)
    if not symbols:
        raise BadInput(f"{path}: not a kernel .config (no CONFIG_ lines)", "pass the .config the kernel was built with")
    return symbols, config_version(text)


def version_tuple(version: str) -> tuple[int, ...]:
    """'6.12.107+deb12-amd64' -> (6, 12, 107); missing parts count as 0."""
    m = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", version.strip())
    if not m:
        raise ValueError(f"not a kernel version: {version!r}")
    return tuple(int(part or 0) for part in m.groups())


_CHOICE = re.compile(r"^\s*choice\b")
_ENDCHOICE = re.compile(r"^\s*endchoice\b")
_CONFIG = re.compile(r"^\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$")


@cache
def choices(tree: Path) -> tuple[tuple[str, frozenset[str]], ...]:
    """Every `choice ... endchoice` of the tree: where it starts (file:line) and its member symbols."""
    found = []
    for path in kconfig_files(tree):
        start, members = None, set()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if _CHOICE.match(line):
                start, members = f"{path.relative_to(tree)}:{number}", set()
            elif _ENDCHOICE.match(line) and start:
                found.append((start, frozenset(members)))
                start = None
            elif start and (m := _CONFIG.match(line)):
                members.add(m.group(1))
    return tuple(found)


def kconfig_files(tree: Path) -> Iterator[Path]:
    """Every Kconfig* file of a tree, leaving out dot directories (the harness's O= ones among them)."""
    for root, dirs, files in os.walk(tree):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        yield from (Path(root, name) for name in files if name.startswith("Kconfig"))


def one_choice(tree: Path, symbols: list[str]) -> str | None:
    """Where the choice is when every symbol is a member of the same one (only one member can be y)."""
    for where, members in choices(tree):
        if len(symbols) > 1 and set(symbols) <= members:
            return where
    return None


# ------------------------------------------------------------------ what Kconfig made of a request


def fragment_wants(fragment: Path) -> dict[str, str]:
    return parse_config(fragment.read_text())


def kconfig_depends(tree: Path, symbol: str) -> tuple[bool, str | None]:
    """(defined, the `depends on` expressions of `config SYMBOL`) from the tree's Kconfig files."""
    defined = False
    found: list[str] = []
    pattern = re.compile(rf"^\s*(?:menu)?config\s+{re.escape(symbol)}\s*$")
    for path in kconfig_files(tree):
        lines = path.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if pattern.match(line):
                defined = True
                for follow in lines[i + 1 :]:
                    s = follow.strip()
                    if re.match(r"^(config|menuconfig|endmenu|endif|menu|choice|source)\b", s):
                        break
                    if s.startswith("depends on"):
                        found.append(s[len("depends on") :].strip())
    return defined, " && ".join(f"({d})" if "||" in d else d for d in found) or None


def verify_config(fragments: tuple[Path, ...], config: dict[str, str], tree: Path) -> None:
    """Every symbol a fragment asked for must survive olddefconfig, else say what it depends on.

    A later fragment overrides an earlier one, as in merge_config.sh (nodevmem turns off base's DEVMEM),
    and what its choices take with them: nostrict over the cc-sim profile's fragment turns STRICT_DEVMEM
    off, and the profile's IO_STRICT_DEVMEM=y goes with it.
    """
    final: dict[str, tuple[Path, str]] = {}
    order: dict[str, int] = {}
    for n, fragment in enumerate(fragments):
        for symbol, want in fragment_wants(fragment).items():
            final[symbol], order[symbol] = (fragment, want), n
    for symbol, (fragment, want) in final.items():
        have = config.get(symbol, "n")
        if have == want:
            continue
        defined, deps = kconfig_depends(tree, symbol)
        if deps:
            off = [d for d in dict.fromkeys(re.findall(r"\b([A-Z][A-Z0-9_]+)\b", deps)) if config.get(d, "n") == "n"]
            if any(order.get(d, -1) > order[symbol] and final[d][1] == "n" for d in off):
                continue  # a later fragment turned off what it depends on
            why = f"it depends on {deps}" + (f"; off here: {', '.join('CONFIG_' + d for d in off)}" if off else "")
        else:
            why = "Kconfig chose otherwise (a select or a choice)" if defined else "no such symbol in this tree"
        raise BadInput(
            f"{fragment}: CONFIG_{symbol}={want} was dropped by Kconfig (the config has {have}): {why}",
            "add the dependency to a fragment or drop the symbol",
        )
