# SPDX-License-Identifier: GPL-2.0-only
"""Reading a kernel's .config: the oracle keys its expectations on these symbols."""

from __future__ import annotations

import re
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
