"""Guest kernels: Debian packages fetched into the cache, or a bzImage the user points at.

A packaged kernel is downloaded with `apt-get download` and unpacked without
installing: the bzImage, its config-* and only the modules the harness ships
in the initramfs.  Nothing touches the host's /boot or /lib/modules.
"""

from __future__ import annotations

import gzip
import json
import lzma
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import paths
from .errors import BadInput, RequirementMissing
from .kconfig import load_config
from .yamlfile import load_yaml, require_mapping


@dataclass(frozen=True)
class KernelCatalog:
    """data/kernels.yaml: the pinned default kernel and the modules to keep."""

    default: str
    older: str | None
    modules: tuple[str, ...]
    load: tuple[str, ...]

    @classmethod
    def load(cls, path: Path | None = None) -> KernelCatalog:
        path = path or paths.DATA_DIR / "kernels.yaml"
        data = require_mapping(load_yaml(path), path, "the kernel catalogue")
        if not isinstance(data.get("default"), str):
            raise BadInput(f"{path}: 'default' must name a kernel (deb:<package>)")
        return cls(
            default=data["default"],
            older=data.get("older"),
            modules=tuple(data.get("modules") or ()),
            load=tuple(data.get("load") or ()),
        )


@dataclass(frozen=True)
class Kernel:
    """A bootable kernel with the config it was built from."""

    image: Path
    config_path: Path
    source: str
    version: str | None = None  # from the config header, e.g. "6.12.107"
    release: str | None = None  # uname -r, when known before boot
    modules: tuple[Path, ...] = field(default=())  # uncompressed .ko files for the initramfs
    load: tuple[str, ...] = field(default=())  # module file names init loads, in order

    @property
    def symbols(self) -> dict[str, str]:
        return load_config(self.config_path)[0]

    @property
    def label(self) -> str:
        return self.release or self.version or self.image.name


def resolve_kernel(spec: str | None, config: str | None, catalog: KernelCatalog | None = None) -> Kernel:
    """Turn --kernel / --kernel-config into a Kernel, fetching packages as needed."""
    catalog = catalog or KernelCatalog.load()
    spec = spec or catalog.default
    if spec.startswith("deb:"):
        if config:
            raise BadInput("--kernel-config goes with --kernel PATH, not with a deb: package (it ships its own config)")
        return fetch_deb_kernel(spec[4:], catalog)
    return local_kernel(Path(spec), Path(config) if config else None)


def local_kernel(image: Path, config: Path | None) -> Kernel:
    if not image.is_file():
        raise BadInput(f"--kernel {image}: no such file", "give a bzImage path or deb:<package>")
    if config is None:
        for guess in (image.parent / "config", image.parent.parent.parent.parent / ".config"):
            if guess.is_file():
                config = guess
                break
        else:
            raise BadInput(
                f"--kernel {image}: no kernel config found beside it",
                "pass --kernel-config PATH, the .config it was built with",
            )
    if not config.is_file():
        raise BadInput(f"--kernel-config {config}: no such file")
    _, version = load_config(config)
    return Kernel(image=image.resolve(), config_path=config.resolve(), source=str(image), version=version)


def fetch_deb_kernel(package: str, catalog: KernelCatalog) -> Kernel:
    """Download and unpack a Debian linux-image package into the cache (once)."""
    if not package or "/" in package or " " in package:
        raise BadInput(f"--kernel deb:{package}: not a package name")
    root = paths.cache_dir() / "kernels"
    dest = root / package
    with paths.cache_lock(root / f".{package}.lock"):
        meta_path = dest / "kernel.json"
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            if meta.get("modules_wanted") == list(catalog.modules):
                return _kernel_from_meta(dest, meta, package, catalog)
        _unpack_package(package, dest, catalog)
        meta = json.loads(meta_path.read_text())
    return _kernel_from_meta(dest, meta, package, catalog)


def _kernel_from_meta(dest: Path, meta: dict, package: str, catalog: KernelCatalog) -> Kernel:
    modules = tuple(dest / "modules" / name for name in meta["modules"])
    _, version = load_config(dest / "config")
    return Kernel(
        image=dest / "vmlinuz",
        config_path=dest / "config",
        source=f"deb:{package}",
        version=version,
        release=meta["release"],
        modules=modules,
        load=tuple(name for name in catalog.load if name in meta["modules"]),
    )


def _apt_download(package: str, workdir: Path) -> Path:
    if not shutil.which("apt-get"):
        raise RequirementMissing("apt-get not found: deb: kernels need a Debian host", "use --kernel PATH instead")
    proc = subprocess.run(["apt-get", "download", package], cwd=workdir, capture_output=True, text=True)
    debs = sorted(workdir.glob("*.deb"))
    if proc.returncode != 0 or not debs:
        err = proc.stderr
        if "Unable to locate package" in err or "has no installation candidate" in err or "Couldn't find" in err:
            raise BadInput(
                f"--kernel deb:{package}: no such package in the apt sources",
                "list the kernels with `apt-cache search linux-image | grep unsigned`;"
                " run `apt-get update` if the lists are old",
            )
        last = next((ln for ln in reversed(err.splitlines()) if ln.strip()), "no output")
        raise RequirementMissing(f"apt-get download {package} failed: {last}", "check the network and apt sources")
    return debs[0]


def _decompress(name: str, data: bytes) -> tuple[str, bytes]:
    if name.endswith(".xz"):
        return name[:-3], lzma.decompress(data)
    if name.endswith(".gz"):
        return name[:-3], gzip.decompress(data)
    if name.endswith(".zst"):
        proc = subprocess.run(["zstd", "-dc"], input=data, capture_output=True)
        if proc.returncode != 0:
            raise RequirementMissing(f"cannot decompress {name}: zstd failed or is missing", "apt-get install zstd")
        return name[:-4], proc.stdout
    return name, data


def _unpack_package(package: str, dest: Path, catalog: KernelCatalog) -> None:
    root = dest.parent
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{package}.") as tmp:
        tmpdir = Path(tmp)
        deb = _apt_download(package, tmpdir)
        out = tmpdir / "unpacked"
        (out / "modules").mkdir(parents=True)
        wanted = {m.removesuffix(".ko") for m in catalog.modules}
        release = None
        kept: list[str] = []
        config_found = image_found = False
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if not member.isfile():
                    continue
                if name.startswith("boot/vmlinuz-"):
                    release = name.removeprefix("boot/vmlinuz-")
                    _write(out / "vmlinuz", tar.extractfile(member).read())
                    image_found = True
                elif name.startswith("boot/config-"):
                    _write(out / "config", tar.extractfile(member).read())
                    config_found = True
                elif name.startswith("lib/modules/") and "/kernel/" in name:
                    rel = name.split("/kernel/", 1)[1]
                    base = rel
                    for suffix in (".xz", ".gz", ".zst"):
                        base = base.removesuffix(suffix)
                    if base.removesuffix(".ko") in wanted:
                        plain_name, data = _decompress(rel, tar.extractfile(member).read())
                        fname = Path(plain_name).name
                        _write(out / "modules" / fname, data)
                        kept.append(fname)
        if proc.wait() != 0 or not (image_found and config_found):
            raise BadInput(
                f"--kernel deb:{package}: the package holds no boot/vmlinuz-* and boot/config-*",
                "pick a linux-image-*-unsigned package",
            )
        meta = {
            "package": package,
            "release": release,
            "modules": sorted(kept),
            "modules_wanted": list(catalog.modules),
        }
        _write(out / "kernel.json", json.dumps(meta, indent=1).encode())
        if dest.exists():
            shutil.rmtree(dest)
        out.rename(dest)


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
