# SPDX-License-Identifier: GPL-2.0-only
"""Patches applied to a kernel tree without writing the tree.

A build with patches (a profile's cc-sim.patch, a planted mutation) reads a hard-linked copy of the
source whose patched files are new files.  The source is never written: a plain build of it never
waits for a patched one, and a patched build killed half-way (SIGKILL, a power cut) leaves no patched
source behind to be built and sealed under the plain source's name.

Debian's trees never move, so each has one copy kept beside it in the cache (`<tree>.patched`),
patched and restored build by build: its O= directory lives inside it (kbuild's paths stay relative,
so ccache serves the plain tree's objects) and stays incremental from one patch set to the next (a
mutation recompiles its own file).  The copy records what it carries (`.harness-patched`) before a
patch touches it, so a copy left patched by a killed build is restored before the next.  A user's
tree can move between builds: its copy is made again for each one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

from ..errors import BuildFailed
from .source_tree import IN_TREE_BUILD, Source

CARRIES = ".harness-patched"  # in a kept copy: the files a patch has touched and not yet restored
_COMPLETE = ".harness-copy"  # in a kept copy: the copy was made whole
_CODE = (".c", ".h", ".S", ".rs")


def patch_files(patch: Path) -> list[str]:
    """The files a unified diff changes (its `+++ b/...` lines)."""
    return sorted({m.group(1) for m in re.finditer(r"^\+\+\+ b/(\S+)", patch.read_text(errors="replace"), re.M)})


def already_applied(tree: Path, patch: Path) -> bool:
    """True when `tree` already carries `patch` (it reverses cleanly and does not apply forward)."""

    def dry(*flags: str) -> bool:
        cmd = ["patch", "-p1", "--dry-run", "--batch", "--silent", *flags, "-i", str(patch)]
        return subprocess.run(cmd, cwd=tree, capture_output=True).returncode == 0

    return dry("--reverse") and not dry("--forward")


def config_patches(patches: tuple[Path, ...]) -> tuple[Path, ...]:
    """The patches that can change what Kconfig makes.  One of code alone (cc-sim.patch:
    arch/x86/coco/core.c) cannot: the tree is configured as it is."""
    return tuple(p for p in patches if not all(f.endswith(_CODE) for f in patch_files(p)))


def kept_copy(src: Source) -> Path:
    """Where a harness-owned tree's patched copy lives: beside it."""
    return src.path.with_name(src.path.name + ".patched")


@contextmanager
def patched(src: Source, patches: tuple[Path, ...], workdir: Path):
    """The tree to build: the source itself without patches; with them, a copy carrying them.

    The caller holds the kept copy (kbuild's `_holding`) while it is patched."""
    if not patches:
        yield src.path
        return
    if not src.owned:
        tree = workdir / "patched-tree"
        if tree.exists():
            shutil.rmtree(tree)
        workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-al", str(src.path), str(tree)], check=True)
        _apply(tree, patches)
        yield tree
        return
    tree = _ready_copy(src)
    touched = sorted({f for p in patches for f in patch_files(p)})
    (tree / CARRIES).write_text(json.dumps(touched))  # before any file changes
    try:
        _apply(tree, patches)
        yield tree
    finally:
        _restore(tree, src.path)


def _ready_copy(src: Source) -> Path:
    """The kept copy, made once (whole, or not at all) and restored if a killed build left it patched."""
    copy = kept_copy(src)
    if (copy / _COMPLETE).is_file():
        _restore(copy, src.path)
        return copy
    for stale in [copy, *copy.parent.glob(f"{copy.name}.tmp*")]:
        shutil.rmtree(stale, ignore_errors=True)
    tmp = copy.with_name(f"{copy.name}.tmp{os.getpid()}")
    tmp.mkdir()
    entries = [str(e) for e in src.path.iterdir() if not e.name.startswith(IN_TREE_BUILD)]  # not its objects
    subprocess.run(["cp", "-al", *entries, str(tmp)], check=True)
    (tmp / _COMPLETE).write_text(f"a hard-linked copy of {src.path} ({src.identity})\n")
    tmp.rename(copy)
    return copy


def _apply(tree: Path, patches: tuple[Path, ...]) -> None:
    for p in patches:
        for f in patch_files(p):  # break hard links: the source shares every other file
            target = tree / f
            if target.is_file():
                data = target.read_bytes()
                target.unlink()
                target.write_bytes(data)
        proc = subprocess.run(
            ["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "--reject-file=-", "-i", str(p)],
            cwd=tree,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            first = next((ln for ln in proc.stdout.splitlines() if "FAILED" in ln or "rej" in ln), proc.stdout)
            raise BuildFailed(f"--patch {p}: does not apply: {first.strip()[:160]}")


def _restore(copy: Path, source: Path) -> None:
    """Put back the source's content of every file the copy's patches touched.  Written as new files
    (not linked again): their mtime is newer than the patched objects', so make rebuilds them."""
    record = copy / CARRIES
    if not record.is_file():
        return
    for name in json.loads(record.read_text()):
        target, original = copy / name, source / name
        target.unlink(missing_ok=True)
        if original.is_file():
            target.write_bytes(original.read_bytes())
    record.unlink()
