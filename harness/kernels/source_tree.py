# SPDX-License-Identifier: GPL-2.0-only
"""What a kernel is built from, and what it holds: Debian's source unpacked into the cache, or a user's
tree; its identity (what the products are sealed under), and a bisection's hold on it.

An identity is taken when a build starts and again when it ends (kbuild.py): a tree that moved between
the two (a checkout, an edit) gets nothing sealed (TreeMoved), since what was built is no commit's.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import tarfile
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import BadInput
from . import debian

IN_TREE_BUILD = ".harness-build-"  # a dot directory: the kernel's .gitignore ignores it


class TreeMoved(BadInput):
    """The tree changed while it was built: what was built is no commit's, so nothing is sealed."""


@dataclass(frozen=True)
class Source:
    path: Path
    identity: str  # what the tree holds: "deb:pkg=ver", "git:<sha>+<diff hash>", "tree:<stat hash>"
    label: str
    owned: bool  # harness-owned (unpacked into the cache): it never moves, so its patched copy is kept


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


def fetch_deb_source(spec: debian.DebSpec) -> Source:
    """Debian's linux-source-X.Y from any suite, unpacked into the cache once per package version."""
    resolved = debian.resolve(spec, "--source")
    package, version = resolved.packages[0]
    root = paths.cache_dir() / "sources"
    dest = root / resolved.key
    with paths.cache_lock(root / f".{resolved.key}.lock"):
        meta = dest / "source.json"
        if meta.is_file():
            data = json.loads(meta.read_text())
            return Source(Path(data["path"]), data["identity"], data["label"], owned=True)
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root, prefix=f".{package}.") as tmp:
            tmpdir = Path(tmp)
            (tmpdir / "debs").mkdir()
            (deb,) = debian.download(resolved, tmpdir / "debs", "--source")
            unpack = tmpdir / "tree"
            unpack.mkdir()
            with debian.data_tar(deb, "--source") as outer:
                for member in outer:
                    if member.name.endswith(".tar.xz") and "/usr/src/" in member.name:
                        with tarfile.open(fileobj=outer.extractfile(member), mode="r|xz") as inner:
                            inner.extractall(unpack, filter="tar")
                        break
            trees = [p for p in unpack.iterdir() if (p / "Makefile").is_file()]
            if not trees:
                raise BadInput(f"--source {spec}: no kernel source tarball in {package}", "name a linux-source-X.Y")
            dest.mkdir()
            trees[0].rename(dest / trees[0].name)
            path = dest / trees[0].name
            data = {"path": str(path), "identity": f"deb:{package}={version}", "label": f"{package}-{version}"}
            meta.write_text(json.dumps(data, indent=1))
            return Source(path, data["identity"], data["label"], owned=True)


_NOT_BUILDS = f":(exclude){IN_TREE_BUILD}*"  # the harness's own O= directories are not part of the source


def tree_identity(path: Path) -> str:
    """git: HEAD plus a hash of uncommitted changes; otherwise a hash of every file's path, size and mtime."""
    if (path / ".git").exists():
        head = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True)
        if head.returncode == 0:
            diff = subprocess.run(["git", "-C", str(path), "diff", "HEAD", "--binary"], capture_output=True)
            untracked = subprocess.run(
                ["git", "-C", str(path), "ls-files", "--others", "--exclude-standard", "-z", "--", ".", _NOT_BUILDS],
                capture_output=True,
            )
            extra = b"".join(
                (path / n).read_bytes() for n in untracked.stdout.decode().split("\0") if n and (path / n).is_file()
            )
            return f"git:{head.stdout.strip()}+{digest(diff.stdout, untracked.stdout, extra)[:12]}"
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d != ".git" and not d.startswith(IN_TREE_BUILD))
        for name in sorted(files):
            st = os.lstat(os.path.join(root, name))
            h.update(f"{os.path.relpath(os.path.join(root, name), path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return f"tree:{h.hexdigest()[:16]}"


@contextmanager
def hold_tree(tree: Path, what: str):
    """A bisection's hold on its tree: one at a time per tree, refused at once (not waited for) when another
    holds it, since the other moves HEAD under every build."""
    lock = paths.cache_dir() / "locks" / f"tree-{digest(str(tree.resolve()))[:16]}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise BadInput(
                f"{what} {tree}: another bisection holds this tree ({holder})",
                "wait for it to end, or bisect a copy (git worktree add)",
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}\n")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
