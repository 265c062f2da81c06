# SPDX-License-Identifier: GPL-2.0-only
"""Guest kernels: Debian packages from any suite, or a bzImage the user points at, with their modules.

A packaged kernel is downloaded (harness/kernels/debian.py) and unpacked without
installing: the image, its config and only the modules the guest needs.  Both of
Debian's layouts work: the classic one (`boot/vmlinuz-*`, `boot/config-*`,
`lib/modules/<release>/kernel/...`) and sid's split one (`linux-binary-<abi>` with
`usr/lib/modules/<abi>/vmlinuz`, `linux-modules-<abi>`, `linux-base-<abi>` with the
config).  A kernel given by path finds its modules in `--modules DIR`, in a kernel
build tree (by `modules.order`) or in a `lib/modules/<release>` beside or above the
image; compressed modules are decompressed.  Nothing touches the host's /boot or
/lib/modules.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..cache import dir_problem, publish_file, rejected, seal_dir, usable_file
from ..errors import BadInput, RequirementMissing
from ..host_packages import install_hint
from ..yamlfile import load_yaml, require_mapping
from . import debian
from .kconfig import load_config
from .spare import load_catalog

COMPRESSED = (".xz", ".zst", ".gz")
# Where a package keeps its files: boot/ (classic) or (usr/)lib/modules/<release>/ (all of sid's).
_MODDIR = re.compile(r"^(?:usr/)?lib/modules/([^/]+)/(.+)$")


@dataclass(frozen=True)
class KernelCatalog:
    """data/kernels.yaml: the pinned default kernel and the modules to keep."""

    default: str
    older: str | None
    modules: tuple[str, ...]  # file names, e.g. e1000.ko
    load: tuple[str, ...]

    @classmethod
    def load(cls, path: Path | None = None) -> KernelCatalog:
        path = path or paths.DATA_DIR / "kernels.yaml"
        data = require_mapping(load_yaml(path), path, "the kernel catalogue")
        if not isinstance(data.get("default"), str):
            raise BadInput(f"{path}: 'default' must name a kernel (deb:<package>)")
        own = [Path(m).name for m in data.get("modules") or ()]
        return cls(
            default=data["default"],
            older=data.get("older"),
            modules=tuple(dict.fromkeys(own + list(load_catalog().module_files))),
            load=tuple(data.get("load") or ()),
        )


@dataclass(frozen=True)
class Kernel:
    """A bootable kernel with the config it was built from."""

    image: Path
    config_path: Path
    source: str
    version: str | None = None  # from the config header (or the image's own version string), e.g. "6.12.107"
    release: str | None = None  # uname -r, when known before boot
    modules: tuple[Path, ...] = field(default=())  # uncompressed .ko files for the initramfs
    load: tuple[str, ...] = field(default=())  # module file names init loads, in order
    modules_from: str = ""  # where the modules came from, or where the harness looked for them
    packages: tuple[tuple[str, str], ...] = ()  # deb: the concrete (name, version) packages
    warnings: tuple[str, ...] = ()  # said once, recorded in results.json
    fetched: bool = False  # downloaded and unpacked by this process (not found in the cache)

    @property
    def symbols(self) -> dict[str, str]:
        return load_config(self.config_path)[0]

    @property
    def label(self) -> str:
        return self.release or self.version or self.image.name


def resolve_kernel(
    spec: str | None, config: str | None, catalog: KernelCatalog | None = None, modules: str | None = None
) -> Kernel:
    """Turn --kernel / --kernel-config / --modules into a Kernel, fetching packages as needed."""
    catalog = catalog or KernelCatalog.load()
    spec = spec or catalog.default
    if spec.startswith("deb:"):
        if config:
            raise BadInput("--kernel-config goes with --kernel PATH, not with a deb: package (it ships its own config)")
        if modules:
            raise BadInput("--modules goes with --kernel PATH, not with a deb: package (it ships its own modules)")
        return fetch_deb_kernel(debian.DebSpec.parse(spec, "--kernel"), catalog)
    return local_kernel(Path(spec), Path(config) if config else None, catalog, Path(modules) if modules else None)


# ------------------------------------------------------------------ a kernel by path


def image_version_string(image: Path) -> str | None:
    """The version string an x86 bzImage carries in its setup header (boot protocol 2.00+)."""
    try:
        with open(image, "rb") as f:
            head = f.read(0x10000)
    except OSError:
        return None
    if len(head) < 0x210 or head[0x202:0x206] != b"HdrS":
        return None
    (ptr,) = struct.unpack_from("<H", head, 0x20E)
    text = head[ptr + 0x200 : ptr + 0x400].split(b"\0")[0].decode(errors="replace").strip()
    return text or None


def image_release(image: Path) -> str | None:
    """`uname -r` of a bzImage, e.g. '6.1.0-56-amd64'."""
    text = image_version_string(image)
    return text.split()[0] if text else None


def image_version(image: Path) -> str | None:
    """The upstream version of a bzImage: Debian's 'Debian 6.1.192-2' when present, else its release."""
    text = image_version_string(image)
    if not text:
        return None
    m = re.search(r"\bDebian (\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else text.split()[0]


def _find_config(image: Path, release: str | None) -> Path | None:
    guesses = [image.parent / "config"]
    if image.name.startswith("vmlinuz-"):
        guesses.append(image.parent / f"config-{image.name.removeprefix('vmlinuz-')}")
    if release:
        guesses.append(image.parent / f"config-{release}")
    guesses.append(image.parent.parent.parent.parent / ".config")  # <tree>/arch/x86/boot/bzImage
    return next((g for g in guesses if g.is_file()), None)


def check_bzimage(image: Path) -> None:
    """A file QEMU can boot as a Linux kernel: the x86 boot protocol's "HdrS" at 0x202, and as long as its
    setup header says (setup_sects at 0x1f1, 16-byte paragraphs of the protected-mode kernel at 0x1f4).
    Anything else boots into a panic or a QEMU error that would be blamed on the kernel."""
    with image.open("rb") as f:
        head = f.read(0x260)
    if len(head) < 0x260 or head[0x202:0x206] != b"HdrS":
        raise BadInput(
            f"--kernel {image}: not a bzImage (no 'HdrS' boot header at 0x202)",
            "give arch/x86/boot/bzImage or a distribution's vmlinuz, not vmlinux or another file",
        )
    setup_sects = head[0x1F1] or 4
    syssize = int.from_bytes(head[0x1F4:0x1F8], "little")
    want = (setup_sects + 1) * 512 + syssize * 16
    have = image.stat().st_size
    if have < want:
        raise BadInput(
            f"--kernel {image}: truncated: {have} bytes, its boot header says {want}",
            "copy the bzImage again (an interrupted download or copy?)",
        )


def local_kernel(image: Path, config: Path | None, catalog: KernelCatalog, modules_dir: Path | None = None) -> Kernel:
    if not image.is_file():
        raise BadInput(f"--kernel {image}: no such file", "give a bzImage path or deb:<package>")
    check_bzimage(image)
    release = image_release(image)
    if config is None:
        config = _find_config(image, release)
        if config is None:
            raise BadInput(
                f"--kernel {image}: no kernel config found beside it",
                "pass --kernel-config PATH, the .config it was built with",
            )
    if not config.is_file():
        raise BadInput(f"--kernel-config {config}: no such file")
    if modules_dir is not None and not modules_dir.is_dir():
        raise BadInput(f"--modules {modules_dir}: no such directory", "give a lib/modules/<release> or a build tree")
    _, version = load_config(config)
    found, where = find_modules(image.resolve(), release, modules_dir, catalog.modules)
    return Kernel(
        image=image.resolve(),
        config_path=config.resolve(),
        source=str(image),
        version=version or image_version(image),
        release=release,
        modules=tuple(_uncompressed(p) for p in found),
        load=tuple(n for n in catalog.load if n in {_plain_name(p.name) for p in found}),
        modules_from=where,
    )


def _plain_name(name: str) -> str:
    for suffix in COMPRESSED:
        name = name.removesuffix(suffix)
    return name


def _pick(files, wanted: tuple[str, ...]) -> list[Path]:
    """The first file for each wanted module name (compressed or not), in `wanted` order."""
    by_name: dict[str, Path] = {}
    for f in files:
        name = _plain_name(f.name)
        if name in wanted and name not in by_name and f.is_file():
            by_name[name] = f
    return [by_name[n] for n in wanted if n in by_name]


def find_modules(
    image: Path, release: str | None, modules_dir: Path | None, wanted: tuple[str, ...]
) -> tuple[list[Path], str]:
    """The wanted modules of a kernel given by path, and where they came from (or where the harness looked)."""
    if modules_dir is not None:
        return _pick(sorted(modules_dir.rglob("*.ko*")), wanted), f"--modules {modules_dir}"
    for tree in image.parents[:4]:
        order = tree / "modules.order"
        if order.is_file() and (tree / "Makefile").is_file():  # a build tree (or an O= directory)
            listed = [tree / re.sub(r"\.o$", ".ko", ln.strip()) for ln in order.read_text().splitlines() if ln.strip()]
            return _pick(listed, wanted), f"the build tree {tree} (modules.order)"
    beside = _pick(sorted(image.parent.glob("*.ko*")), wanted)
    if beside:  # a harness build's products, or a directory the user filled
        return beside, f"beside the image in {image.parent}"
    for moddir in _module_dirs(image, release):
        return _pick(sorted((moddir / "kernel").rglob("*.ko*")), wanted), str(moddir)
    return [], (
        f"nowhere: no --modules, no build tree (modules.order) and no lib/modules/{release or '<release>'} "
        f"beside or above {image}"
    )


def _module_dirs(image: Path, release: str | None) -> list[Path]:
    """lib/modules/<release> directories that belong to `image`: its own (sid's layout) or beside or above it."""
    if (image.parent / "kernel").is_dir():
        return [image.parent]
    named = image.name.removeprefix("vmlinuz-") if image.name.startswith("vmlinuz-") else None
    for ancestor in image.parents[:3]:
        for base in (ancestor / "lib" / "modules", ancestor / "usr" / "lib" / "modules"):
            dirs = sorted(d for d in base.iterdir() if (d / "kernel").is_dir()) if base.is_dir() else []
            match = [d for d in dirs if d.name in (release, named)] or (dirs if len(dirs) == 1 else [])
            if match:
                return match[:1]
    return []


def _uncompressed(path: Path) -> Path:
    """The module as a plain .ko: itself, or decompressed once into the cache."""
    if not path.name.endswith(COMPRESSED):
        return path
    data = path.read_bytes()
    out = paths.cache_dir() / "modules" / hashlib.sha256(data).hexdigest()[:16] / _plain_name(path.name)
    if not usable_file(out, "decompressed"):
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(_decompress(path.name, data)[1])
        publish_file(tmp, out)
    return out


def _decompress(name: str, data: bytes) -> tuple[str, bytes]:
    if name.endswith(".xz"):
        return name[:-3], lzma.decompress(data)
    if name.endswith(".gz"):
        return name[:-3], gzip.decompress(data)
    if name.endswith(".zst"):
        if not shutil.which("zstd"):
            raise RequirementMissing(f"cannot decompress {name}: zstd is missing", install_hint("zstd"))
        proc = subprocess.run(["zstd", "-dc"], input=data, capture_output=True)
        if proc.returncode != 0:
            raise RequirementMissing(f"cannot decompress {name}: zstd failed", "is the file whole?")
        return name[:-4], proc.stdout
    return name, data


# ------------------------------------------------------------------ a Debian package


def fetch_deb_kernel(spec: debian.DebSpec, catalog: KernelCatalog) -> Kernel:
    """Download and unpack a Debian kernel into the cache (once per concrete package version)."""
    warnings: list[str] = []
    resolved = debian.resolve(spec, "--kernel", warnings.append)
    root = paths.cache_dir() / "kernels"
    dest = root / resolved.key
    with paths.cache_lock(root / f".{resolved.key}.lock"):
        meta_path = dest / "kernel.json"
        fresh = meta_path.is_file() and json.loads(meta_path.read_text()).get("modules_wanted") == list(catalog.modules)
        if fresh and (problem := dir_problem(dest)):
            rejected(problem, f"{resolved.spec} fetched")
            fresh = False
        if not fresh:
            _unpack_packages(resolved, dest, catalog)
        fetched = not fresh
        meta = json.loads(meta_path.read_text())
    modules = tuple(dest / "modules" / name for name in meta["modules"])
    _, version = load_config(dest / "config")
    return Kernel(
        image=dest / "vmlinuz",
        config_path=dest / "config",
        source=str(spec),
        version=version,
        release=meta["release"],
        modules=modules,
        load=tuple(name for name in catalog.load if name in meta["modules"]),
        modules_from=f"{spec} ({', '.join(f'{n}={v}' for n, v in resolved.packages)})",
        packages=resolved.packages,
        warnings=tuple(warnings),
        fetched=fetched,
    )


def _unpack_packages(resolved: debian.Resolved, dest: Path, catalog: KernelCatalog) -> None:
    root = dest.parent
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{resolved.key}.") as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "debs").mkdir()
        debs = debian.download(resolved, tmpdir / "debs", "--kernel")
        out = tmpdir / "unpacked"
        (out / "modules").mkdir(parents=True)
        found: dict[str, str] = {}  # image, config -> release
        kept: list[str] = []
        for deb in debs:
            found.update(_unpack_one(deb, out, set(catalog.modules), kept))
        if "image" not in found or "config" not in found:
            raise BadInput(
                f"--kernel {resolved.spec}: {', '.join(n for n, _ in resolved.packages)} hold no kernel image"
                " and config (boot/vmlinuz-*, boot/config-*, or usr/lib/modules/<release>/vmlinuz and config)",
                "name a linux-image package, e.g. linux-image-amd64",
            )
        meta = {
            "spec": str(resolved.spec),
            "packages": resolved.packages,
            "release": found["image"],
            "modules": sorted(kept),
            "modules_wanted": list(catalog.modules),
        }
        (out / "kernel.json").write_text(json.dumps(meta, indent=1))
        seal_dir(out)
        if dest.exists():
            shutil.rmtree(dest)
        out.rename(dest)


def _unpack_one(deb: Path, out: Path, wanted: set[str], kept: list[str]) -> dict[str, str]:
    """Stream one package and keep its image, config and wanted modules; returns what it held (-> release)."""
    found: dict[str, str] = {}
    with debian.data_tar(deb, "--kernel") as tar:
        for member in tar:
            name = member.name.removeprefix("./")
            if not member.isfile():
                continue
            what, release = None, None
            if name.startswith("boot/vmlinuz-"):
                what, release = "image", name.removeprefix("boot/vmlinuz-")
            elif name.startswith("boot/config-"):
                what, release = "config", name.removeprefix("boot/config-")
            elif m := _MODDIR.match(name):
                release, rest = m.groups()
                if rest in ("vmlinuz", "config"):
                    what = {"vmlinuz": "image", "config": "config"}[rest]
                elif rest.startswith("kernel/") and _plain_name(Path(rest).name) in wanted:
                    plain, data = _decompress(Path(rest).name, tar.extractfile(member).read())
                    if plain not in kept:
                        (out / "modules" / plain).write_bytes(data)
                        kept.append(plain)
                    continue
            if what:
                (out / ("vmlinuz" if what == "image" else "config")).write_bytes(tar.extractfile(member).read())
                found[what] = release
    return found
