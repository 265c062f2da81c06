# SPDX-License-Identifier: GPL-2.0-only
"""Debian's firmware packages, downloaded once into the harness cache and unpacked under fake roots.

`ovmf-inteltdx` and `ovmf-amdsev` come from sid (they ship the descriptors the harness reads);
`ovmf` from the host's suite (bookworm) is the generic firmware that must never be chosen.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from harness import paths
from harness.kernels import debian

CONFIDENTIAL = ("deb:sid/ovmf-inteltdx", "deb:sid/ovmf-amdsev")
GENERIC = ("deb:ovmf",)


def cached_deb(spec: str) -> Path:
    resolved = debian.resolve(debian.DebSpec.parse(spec, "test"), "test")
    home = paths.cache_dir() / "fixtures" / "ovmf" / resolved.key
    with paths.cache_lock(home.parent / f".{resolved.key}.lock"):
        debs = sorted(home.glob("*.deb"))
        if debs:
            return debs[0]
        home.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=home.parent, prefix=".dl."))
        try:
            debian.download(resolved, tmp, "test")
            tmp.rename(home)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return sorted(home.glob("*.deb"))[0]


def unpacked_root(root: Path, specs: tuple[str, ...]) -> Path:
    """A fake root with exactly these packages' files in it (dpkg-deb -x, as dpkg would place them)."""
    root.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        subprocess.run(["dpkg-deb", "-x", str(cached_deb(spec)), str(root)], check=True)
    return root
