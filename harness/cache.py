# SPDX-License-Identifier: GPL-2.0-only
"""Cached artifacts that cannot poison a run: sealed with their SHA-256 when written, checked before use.

Everything the harness keeps in its cache (unpacked kernels and modules, built
kernels, initramfs images, the probe binary, disk images) is written under a
temporary name and renamed into place, then sealed: a file gets a sidecar
`<name>.sha256`, a directory a `.sha256.json` listing each file.  Before use the
seal is checked, once per process per artifact; an artifact that fails it (cut
short, changed, no seal) is refetched or rebuilt by its owner, with a warning
that says which file and why.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

DIR_SEAL = ".sha256.json"
FILE_SEAL = ".sha256"
_checked: dict[tuple[str, int, int], str | None] = {}  # (path, size, mtime_ns) -> problem, once per process
_warnings: list[str] = []


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks (kernel sources and .debs are hundreds of MiB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def seal_file(path: Path, content: Path | None = None) -> None:
    """Seal `path` with the hash of `content` (its temporary file, before the rename that publishes it)."""
    _write_atomic(path.with_name(path.name + FILE_SEAL), sha256_file(content or path) + "\n")


def publish_file(tmp: Path, path: Path) -> None:
    """Seal, then rename into place: whoever sees `path` sees its seal too."""
    seal_file(path, tmp)
    os.replace(tmp, path)


def usable_file(path: Path, what: str) -> bool:
    """`path` is there and matches its seal; a file that fails its check is reported and removed."""
    if not path.exists():
        return False
    problem = file_problem(path)
    if problem:
        rejected(problem, what)
        path.unlink(missing_ok=True)
    return problem is None


def seal_dir(directory: Path, only: tuple[str, ...] = ()) -> None:
    """Seal every file below `directory`, or `only` these (relative paths) where all would cost too much."""
    if only:
        files = [directory / rel for rel in only]
    else:
        files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != DIR_SEAL)
    table = {str(p.relative_to(directory)): sha256_file(p) for p in files}
    _write_atomic(directory / DIR_SEAL, json.dumps(table, indent=1) + "\n")


def file_problem(path: Path) -> str | None:
    """None when `path` matches its seal, else what is wrong with it."""
    if not path.is_file():
        return f"{path} is missing"
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _checked:
        seal = path.with_name(path.name + FILE_SEAL)
        if not seal.is_file():
            _checked[key] = f"{path} has no seal ({seal.name})"
        elif seal.read_text().strip() != sha256_file(path):
            _checked[key] = f"{path} does not match its SHA-256 seal (cut short or changed)"
        else:
            _checked[key] = None
    return _checked[key]


def dir_problem(directory: Path) -> str | None:
    """None when every file the directory's seal lists is there and matches, else the first that does not."""
    seal = directory / DIR_SEAL
    if not seal.is_file():
        return f"{directory} has no seal ({DIR_SEAL})"
    st = seal.stat()
    key = (str(directory), st.st_size, st.st_mtime_ns)
    if key not in _checked:
        _checked[key] = _first_mismatch(directory, json.loads(seal.read_text()))
    return _checked[key]


def _first_mismatch(directory: Path, table: dict[str, str]) -> str | None:
    for rel, digest in table.items():
        path = directory / rel
        if not path.is_file():
            return f"{path} is missing"
        if sha256_file(path) != digest:
            return f"{path} does not match its SHA-256 seal (cut short or changed)"
    return None


def rejected(problem: str, what: str) -> None:
    """Say once that a cached artifact failed its check and is being made again."""
    message = f"cache: {problem}; {what} again"
    _warnings.append(message)
    print(f"harness: warning: {message}", file=sys.stderr, flush=True)


def take_warnings() -> list[str]:
    """The cache warnings since the last call, for the run's results.json."""
    out = list(_warnings)
    _warnings.clear()
    return out
