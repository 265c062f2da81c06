# SPDX-License-Identifier: GPL-2.0-only
"""Disk-image guests: a small Debian bookworm image the harness builds, and the initrd that boots it.

`harness image build` runs debootstrap from Debian's registry (openssh-server,
systemd, udev), adds the kernel's modules that the guest needs (virtio_net for
SSH, e1000 for the probes' spare device, pvpanic), generates a per-image
ed25519 client key and host key, and writes an ext4 filesystem straight into
a qcow2 file (mkfs.ext4 -d, qemu-img convert: no loop devices).  Debian's
kernel has virtio_blk and ext4 as modules, so the image boots with a small
busybox initrd that loads them and switches to the image's systemd.

Images are cached by their inputs (suite, packages, kernel release, recipe),
so a second build is a lookup.  Guests boot the image with snapshot=on: it is
never written, and parallel guests share it.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .. import paths
from ..cache import dir_problem, file_problem, rejected, seal_dir
from ..errors import BadInput, HarnessError, RequirementMissing, host_fault_in
from ..host_packages import install_hint
from ..kernels import debian
from ..kernels.kernel import Kernel
from ..progress import Progress, follow
from .initramfs import Member, find_busybox, write_cached

RECIPE = "1"  # bump when the image's contents change
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("systemd-sysv", "udev", "kmod", "openssh-server", "iproute2")
DISK_INIT = paths.GUEST_IMAGES / "disk-init.sh"
# Modules the initrd loads to reach the root filesystem, and the ones the running guest needs.
ROOT_MODULES = ("virtio_blk", "ext4", "crc32c_generic")
GUEST_MODULES = ("virtio_net", "e1000", "pvpanic", "pvpanic_mmio")
IMAGE_TOOLS = {"debootstrap": "debootstrap", "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils"}
GUEST_IP = "10.0.2.15"


class ImageFailed(HarnessError):
    exit_code = 2


@dataclass(frozen=True)
class DiskImage:
    """A bootable disk image with what it takes to reach it over SSH."""

    path: Path  # qcow2
    initrd: Path | None  # None: the image boots on its own (a user's image with its kernel inside)
    user: str
    key: Path  # private key for `user`
    host_key: str | None  # "ssh-ed25519 AAAA...", known at build time; None: trust on first use
    release: str | None  # the kernel release whose modules the image carries
    built: bool = True  # built by the harness


def _check_tools() -> None:
    missing = [pkg for tool, pkg in IMAGE_TOOLS.items() if not shutil.which(tool)]
    if missing:
        raise RequirementMissing(
            f"building a disk image needs {', '.join(sorted(set(missing)))}",
            install_hint("ssh-image"),
        )
    if os.geteuid() != 0:
        raise RequirementMissing("debootstrap needs root to build a disk image", "run as root (or with sudo)")


def _ed25519() -> tuple[bytes, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode()


def _write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)


def _run(cmd: list[str], log, what: str, progress: Progress | None = None, **kw) -> None:
    log.write(f"$ {' '.join(cmd)}\n".encode())
    log.flush()
    start = log.tell()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **kw)
    status = follow(proc, progress, lambda: _steps(Path(log.name), start)) if progress else proc.wait()
    if progress is not None:
        _steps_file().write_text(str(progress.done))
    if status != 0:
        if fault := host_fault_in(
            Path(log.name).read_text(errors="replace")[-20000:], f"image build: {what}", log.name
        ):
            raise fault
        raise ImageFailed(f"image build: {what} failed (exit {status})", f"log: {log.name}")


def _steps(log: Path, start: int) -> int:
    """debootstrap's steps so far: its "I: Retrieving/Validating/Unpacking/Configuring ..." lines."""
    with open(log, "rb") as f:
        f.seek(start)
        return f.read().count(b"\nI: ")


def _steps_file() -> Path:
    return paths.cache_dir() / "images" / ".debootstrap-steps"


def _debootstrap_progress() -> Progress:
    """Steps against the last image build's count (the same package set: about the same steps)."""
    try:
        last = int(_steps_file().read_text()) or None
    except (OSError, ValueError):
        last = None
    return Progress("image build (debootstrap)", last, "steps")


def _kernel_packages(kernel: Kernel) -> debian.Resolved:
    if not kernel.source.startswith("deb:") or not kernel.packages:
        raise BadInput(
            f"image build: the kernel {kernel.source} is not a Debian package",
            "build the image for a packaged kernel (--kernel deb:linux-image-...)",
        )
    return debian.Resolved(debian.DebSpec.parse(kernel.source, "--kernel"), kernel.packages)


def _install_modules(kernel: Kernel, root: Path, work: Path, log) -> tuple[str, list[str]]:
    """Unpack the kernel package's modules into the image, keep only what the guest needs, run depmod.

    Returns the release and the modules.dep closure of ROOT_MODULES, in load order, for the initrd.
    """
    (work / "debs").mkdir()
    unpacked = work / "kernel"
    for deb in debian.download(_kernel_packages(kernel), work / "debs", "--kernel"):
        with debian.data_tar(deb, "--kernel") as tar:  # python-debian: no dpkg-deb on a Fedora host
            tar.extractall(unpacked, filter="tar")
    (mod_root,) = [
        d
        for base in (unpacked / "lib" / "modules", unpacked / "usr" / "lib" / "modules")
        if base.is_dir()
        for d in base.iterdir()
        if (d / "kernel").is_dir()
    ]
    release = mod_root.name
    dest = root / "lib" / "modules" / release
    shutil.copytree(mod_root, dest)
    _run(["chroot", str(root), "depmod", "-a", release], log, "depmod")
    deps = _modules_dep(dest / "modules.dep")
    keep: set[str] = set()
    for name in (*ROOT_MODULES, *GUEST_MODULES):
        keep.update(_closure(deps, name))
    for ko in list(dest.rglob("*.ko*")):
        if str(ko.relative_to(dest)) not in keep:
            ko.unlink()
    _run(["chroot", str(root), "depmod", "-a", release], log, "depmod")
    order = [rel for name in ROOT_MODULES for rel in _closure(deps, name)]
    return release, list(dict.fromkeys(order))


def _modules_dep(path: Path) -> dict[str, list[str]]:
    deps = {}
    for line in path.read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
    return deps


def _module_name(rel: str) -> str:
    base = Path(rel).name
    for suffix in (".xz", ".zst", ".gz"):
        base = base.removesuffix(suffix)
    return base.removesuffix(".ko").replace("-", "_")


def _closure(deps: dict[str, list[str]], name: str) -> list[str]:
    """The module file for `name` and everything it depends on, dependencies first."""
    by_name = {_module_name(rel): rel for rel in deps}
    if name not in by_name:
        return []  # built in
    out: list[str] = []

    def visit(rel: str) -> None:
        for d in deps.get(rel, []):
            visit(d)
        if rel not in out:
            out.append(rel)

    visit(by_name[name])
    return out


def _decompressed(path: Path) -> tuple[str, bytes]:
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return path.name[:-3], lzma.decompress(data)
    if path.name.endswith(".zst"):
        proc = subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True)
        return path.name[:-4], proc.stdout
    return path.name, data


def _configure(root: Path, client_public: str, host_private: bytes, host_public: str) -> None:
    """Root login by key only, a fixed address for QEMU's user network, and no driver for the spare device."""
    for old in (root / "etc" / "ssh").glob("ssh_host_*"):
        old.unlink()
    _write(root / "etc/ssh/ssh_host_ed25519_key", host_private, 0o600)
    _write(root / "etc/ssh/ssh_host_ed25519_key.pub", host_public + "\n")
    _write(
        root / "etc/ssh/sshd_config.d/devmem-harness.conf",
        "# devmem-harness: root by key only, one host key recorded at image build time.\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n",
    )
    (root / "root/.ssh").mkdir(mode=0o700, parents=True, exist_ok=True)
    _write(root / "root/.ssh/authorized_keys", client_public + "\n", 0o600)
    _write(
        root / "etc/systemd/network/10-devmem-harness.network",
        f"[Match]\nDriver=virtio_net\n\n[Network]\nAddress={GUEST_IP}/24\nGateway=10.0.2.2\n",
    )
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "systemd-networkd.service"
    if not link.exists():
        link.symlink_to("/lib/systemd/system/systemd-networkd.service")
    # udev must not bind the probes' spare device: the probes load e1000 themselves.
    _write(
        root / "etc/modprobe.d/devmem-harness.conf",
        "# devmem-harness: the e1000 NIC is the probes' idle spare device; they bind it themselves.\nblacklist e1000\n",
    )
    _write(root / "etc/modules-load.d/devmem-harness.conf", "pvpanic\npvpanic_mmio\n")
    _write(root / "etc/fstab", "/dev/vda / ext4 rw,errors=remount-ro 0 0\n")
    _write(root / "etc/hostname", "devmem-guest\n")


def _initrd(root: Path, release: str, order: list[str]) -> Path:
    d, x, f = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o755, stat.S_IFREG | 0o644
    members = [Member(n, d) for n in ("bin", "dev", "proc", "sys", "newroot", "lib", "lib/modules")]
    members += [
        Member("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        Member("bin/busybox", x, find_busybox().read_bytes()),
        Member("bin/sh", stat.S_IFLNK | 0o777, b"busybox"),
        Member("init", x, DISK_INIT.read_bytes()),
    ]
    names = []
    for rel in order:
        name, data = _decompressed(root / "lib/modules" / release / rel)
        members.append(Member(f"lib/modules/{name}", f, data))
        names.append(name)
    members.append(Member("lib/modules/load-order", f, "".join(f"{n}\n" for n in names).encode()))
    return write_cached(members, "disk-initrd")


def image_identity(kernel: Kernel) -> str:
    parts = [RECIPE, SUITE, MIRROR, *PACKAGES, kernel.source, *map("=".join, kernel.packages), DISK_INIT.read_text()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def image_dir(kernel: Kernel) -> Path:
    return paths.cache_dir() / "images" / f"{SUITE}-{image_identity(kernel)}"


def load_image(directory: Path) -> DiskImage:
    meta = json.loads((directory / "image.json").read_text())
    return DiskImage(
        path=directory / "disk.qcow2",
        initrd=Path(meta["initrd"]),
        user="root",
        key=directory / "id_ed25519",
        host_key=meta["host_key"],
        release=meta["release"],
    )


def build_image(kernel: Kernel, log_to=None) -> tuple[DiskImage, bool, float]:
    """The harness's image for `kernel`: (image, built now?, seconds). Cached by its inputs."""
    started = time.monotonic()
    _kernel_packages(kernel)  # a kernel that is no package is refused before minutes of debootstrap
    directory = image_dir(kernel)
    with paths.cache_lock(directory.parent / f".{directory.name}.lock"):
        if (directory / "image.json").is_file() and (directory / "disk.qcow2").is_file():
            image = load_image(directory)
            problem = dir_problem(directory) or (file_problem(image.initrd) if image.initrd else None)
            if problem is None:
                return image, False, time.monotonic() - started
            rejected(problem, "built")
            (directory / "image.json").unlink()
        _check_tools()
        directory.mkdir(parents=True, exist_ok=True)
        log_path = directory / "build.log"
        with open(log_path, "wb") as log, tempfile.TemporaryDirectory(dir=directory.parent, prefix=".build-") as tmp:
            client_private, client_public, host_public, release, initrd = _make_disk(kernel, Path(tmp), directory, log)
        _write(directory / "id_ed25519", client_private, 0o600)
        _write(directory / "id_ed25519.pub", client_public + "\n")
        _write(directory / "host_key.pub", host_public + "\n")
        meta = {
            "identity": image_identity(kernel),
            "suite": SUITE,
            "packages": list(PACKAGES),
            "kernel": kernel.source,
            "release": release,
            "initrd": str(initrd),
            "host_key": host_public,
            "seconds": round(time.monotonic() - started, 1),
        }
        _write(directory / "image.json", json.dumps(meta, indent=1))
        seal_dir(directory)
        return load_image(directory), True, time.monotonic() - started


def _make_disk(kernel: Kernel, work: Path, directory: Path, log):
    """debootstrap, the SSH keys, the kernel's modules, the initrd, then the ext4 disk as qcow2."""
    root = work / "root"
    _run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(root),
            MIRROR,
        ],
        log,
        "debootstrap",
        _debootstrap_progress(),
    )
    client_private, client_public = _ed25519()
    host_private, host_public = _ed25519()
    _configure(root, client_public, host_private, host_public)
    release, root_modules = _install_modules(kernel, root, work, log)
    initrd = _initrd(root, release, root_modules)
    _run(["chroot", str(root), "apt-get", "clean"], log, "apt-get clean")
    raw = work / "disk.raw"
    size_mib = max(1024, int(_du_mib(root) * 1.5) + 256)
    _run(
        ["mkfs.ext4", "-q", "-F", "-L", "devmem-root", "-d", str(root), str(raw), f"{size_mib}M"],
        log,
        "mkfs.ext4",
    )
    _run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(directory / "disk.qcow2.tmp")], log, "qemu-img")
    os.replace(directory / "disk.qcow2.tmp", directory / "disk.qcow2")
    return client_private, client_public, host_public, release, initrd


def _du_mib(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass
    return total / (1024 * 1024)
