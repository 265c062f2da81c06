# SPDX-License-Identifier: GPL-2.0-only
"""The in-guest probe: compiled -static on the host from guest-images/probe/, cached by content."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .. import compiler, paths
from ..cache import publish_file, usable_file
from ..errors import BadInput, RequirementMissing, host_fault_in
from ..host_packages import install_hint

SOURCE_DIR = paths.GUEST_IMAGES / "probe"
CFLAGS = ("-static", "-O2", "-Wall", "-Wextra")


def _cache_key(sources: list[Path]) -> str:
    """Every source file by name and content, the flags and the compiler: a change to any rebuilds."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    digest.update(" ".join(CFLAGS).encode() + compiler.identity().encode())
    return digest.hexdigest()[:16]


def build_probe() -> Path:
    """Return the path of the static probe binary, compiling it when its inputs changed."""
    cc = compiler.c_compiler()
    if not compiler.found():
        raise RequirementMissing(f"{' '.join(cc)} not found: the probe is compiled on the host", install_hint("cc"))
    sources = sorted(SOURCE_DIR.glob("*.[ch]"))
    if not any(s.suffix == ".c" for s in sources):
        raise RequirementMissing(
            f"the probe's sources are missing: no .c file in {SOURCE_DIR}",
            "reinstall devmem-harness (its wheel carries guest-images/ as harness/guest_images)",
        )
    out = paths.cache_dir() / "probe" / _cache_key(sources) / "devmem-probe"
    if usable_file(out, "compiled"):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    c_files = [str(s) for s in sources if s.suffix == ".c"]
    proc = subprocess.run([*cc, *CFLAGS, "-o", str(tmp), *c_files], capture_output=True, text=True)
    if proc.returncode != 0:
        if fault := host_fault_in(proc.stderr, "compiling the probe", out.parent):
            raise fault
        first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip()[:200])
        raise RequirementMissing(
            f"compiling {SOURCE_DIR.name}/ failed: {first}", "is libc6-dev installed (static libc)?"
        )
    publish_file(tmp, out)
    return out


@dataclass(frozen=True)
class ProbeInfo:
    name: str
    dangerous: bool  # can take a confidential guest down: runs in its own boot there
    what: str


def list_probes(binary: Path | None = None) -> list[ProbeInfo]:
    """Every probe, in run order, as the binary itself reports them."""
    binary = binary or build_probe()
    proc = subprocess.run([str(binary), "--list"], capture_output=True, text=True, check=True)
    probes = []
    for line in proc.stdout.splitlines():
        name, flags, what = line.split("\t", 2)
        probes.append(ProbeInfo(name=name, dangerous=flags == "dangerous", what=what))
    return probes


def select_probes(patterns: list[str], known: list[str]) -> list[str]:
    """Probe names matching any of the patterns (exact names or shell globs), in run order.

    A pattern that matches nothing is an error, so a typo never runs an empty suite.
    """
    if not patterns:
        return list(known)
    chosen: set[str] = set()
    for pattern in patterns:
        matches = [k for k in known if fnmatch.fnmatchcase(k, pattern)]
        if not matches:
            close = [k for k in known if pattern.split(".")[0] in k][:3]
            hint = f"did you mean {', '.join(close)}?" if close else "list them with `python -m harness probes`"
            raise BadInput(f"--probe {pattern}: unknown probe", hint)
        chosen.update(matches)
    return [k for k in known if k in chosen]
