# SPDX-License-Identifier: GPL-2.0-only
"""The guest image: a newc cpio with static busybox, the init script, the probe and modules.

Written in Python (no root, no cpio tool) and cached by the hash of every
member, so a change to any input rebuilds it and nothing else does.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..cache import publish_file, usable_file
from ..errors import RequirementMissing
from ..host_packages import install_hint

INIT_SCRIPT = paths.GUEST_IMAGES / "init.sh"
SUITE_SCRIPT = paths.GUEST_IMAGES / "suite.sh"  # /bin/harness-suite: what init (or a LAVA test shell) runs
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox", "/usr/sbin/busybox")  # Debian, Fedora


@dataclass(frozen=True)
class Member:
    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def is_static_elf(path: Path) -> bool:
    """True for an ELF with no PT_INTERP program header (no dynamic loader needed)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        (p_type,) = struct.unpack_from("<I", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def find_busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        if path.is_file() and is_static_elf(path):
            return path
    raise RequirementMissing(f"no static busybox found at {', '.join(BUSYBOX_CANDIDATES)}", install_hint("busybox"))


def newc_archive(members: list[Member]) -> bytes:
    out = bytearray()

    def pad4():
        out.extend(b"\0" * (-len(out) % 4))

    for ino, m in enumerate([*members, Member("TRAILER!!!", 0)], start=1):
        name = m.name.encode() + b"\0"
        fields = (ino, m.mode, 0, 0, 1, 0, len(m.data), 0, 0, m.rdev[0], m.rdev[1], len(name), 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields))
        out.extend(name)
        pad4()
        out.extend(m.data)
        pad4()
    return bytes(out)


def members_for(probe: Path, modules: tuple[Path, ...] = (), load: tuple[str, ...] = ()) -> list[Member]:
    d, x, f = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o755, stat.S_IFREG | 0o644
    members = [Member(n, d) for n in ("bin", "sbin", "dev", "proc", "sys", "tmp", "lib", "lib/modules")]
    members += [
        Member("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        Member("bin/busybox", x, find_busybox().read_bytes()),
        Member("bin/sh", stat.S_IFLNK | 0o777, b"busybox"),
        Member("init", x, INIT_SCRIPT.read_bytes()),
        Member("bin/harness-suite", x, SUITE_SCRIPT.read_bytes()),
        Member("bin/devmem-probe", x, probe.read_bytes()),
    ]
    for mod in modules:
        members.append(Member(f"lib/modules/{mod.name}", f, mod.read_bytes()))
    if load:
        members.append(Member("lib/modules/load-order", f, "".join(f"{m}\n" for m in load).encode()))
    return members


def build_initramfs(probe: Path, modules: tuple[Path, ...] = (), load: tuple[str, ...] = ()) -> Path:
    """Return a cached initramfs for these inputs, writing it if it is not there yet."""
    return write_cached(members_for(probe, modules, load))


def write_cached(members: list[Member], prefix: str = "") -> Path:
    """A newc archive of `members` in the cache, named by the hash of every member."""
    digest = hashlib.sha256()
    for m in members:
        digest.update(f"{m.name}\0{m.mode}\0{m.rdev}\0{len(m.data)}\0".encode())
        digest.update(m.data)
    out = paths.cache_dir() / "initramfs" / f"{prefix + '-' if prefix else ''}{digest.hexdigest()[:16]}.cpio"
    if usable_file(out, "written"):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(newc_archive(members))
    publish_file(tmp, out)
    return out


def cpio_names(archive: bytes) -> list[str]:
    """Member names of a newc archive (used by tests and `doctor`-style checks)."""
    names, pos = [], 0
    while pos + 110 <= len(archive):
        header = archive[pos : pos + 110]
        size = int(header[54:62], 16)
        namesize = int(header[94:102], 16)
        name = archive[pos + 110 : pos + 110 + namesize - 1].decode()
        if name == "TRAILER!!!":
            break
        names.append(name)
        pos += 110 + namesize
        pos += -pos % 4
        pos += size
        pos += -pos % 4
    return names
