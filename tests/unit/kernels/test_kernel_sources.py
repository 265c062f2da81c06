# SPDX-License-Identifier: GPL-2.0-only
"""Kernels from anywhere: deb:SUITE/PACKAGE specs, the host's mirror, both Debian layouts, modules by path.

Synthetic files only (the real packages are fetched and booted in tests/integration/test_history.py).
"""

import gzip
import lzma
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.kernels import debian
from harness.kernels.kernel import KernelCatalog, _unpack_one, find_modules, image_release, image_version, local_kernel

WANTED = ("pvpanic.ko", "pvpanic-mmio.ko", "e1000.ko")
CONFIG = "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 7.2.13 Kernel Configuration\n#\nCONFIG_E1000=m\n"


def catalog():
    return KernelCatalog(default="deb:x", older=None, modules=WANTED, load=("pvpanic.ko", "pvpanic-mmio.ko"))


def fake_bzimage(path: Path, version: str) -> Path:
    """Enough of an x86 setup header for the version string: 'HdrS' at 0x202, its pointer at 0x20E."""
    head = bytearray(0x1000)
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x20E, 0x800 - 0x200)
    head[0x800 : 0x800 + len(version)] = version.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(head))
    return path


def touch(path: Path, data: bytes = b"\x7fELF module") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------ specs and the mirror


def test_deb_specs():
    assert debian.DebSpec.parse("deb:sid/linux-image-amd64", "--kernel") == debian.DebSpec("sid", "linux-image-amd64")
    assert debian.DebSpec.parse("deb:linux-image-6.12.107+deb12-amd64-unsigned", "--kernel").suite is None
    spec = debian.DebSpec.parse("deb:bookworm-backports/linux-source-6.12", "--source")
    assert (spec.suite, spec.package) == ("bookworm-backports", "linux-source-6.12")
    assert str(spec) == "deb:bookworm-backports/linux-source-6.12"
    for bad in ("deb:", "deb:Sid/linux", "deb:sid/", "deb:a/b/c", "deb:linux image"):
        with pytest.raises(BadInput) as exc:
            debian.DebSpec.parse(bad, "--kernel")
        assert "--kernel" in exc.value.line() and "deb:SUITE/PACKAGE" in exc.value.line()


def test_host_mirror_from_deb822_and_one_line_sources(tmp_path, monkeypatch):
    monkeypatch.delenv(debian.MIRROR_ENV, raising=False)
    d = tmp_path / "etc/apt/sources.list.d"
    d.mkdir(parents=True)
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
    )
    assert debian.host_mirror(tmp_path) == "http://mirror.example/debian"
    (d / "debian.sources").unlink()
    (tmp_path / "etc/apt/sources.list").write_text("deb [arch=amd64] http://old.example/debian bookworm main\n")
    assert debian.host_mirror(tmp_path) == "http://old.example/debian"
    (tmp_path / "etc/apt/sources.list").write_text("# nothing\n")
    assert debian.host_mirror(tmp_path) == debian.DEFAULT_MIRROR
    monkeypatch.setenv(debian.MIRROR_ENV, "http://local/debian/")
    assert debian.host_mirror(tmp_path) == "http://local/debian"


def test_release_valid_until():
    text = "Origin: Debian\nValid-Until: Fri, 06 Nov 2026 08:08:01 UTC\n"
    assert debian.release_expired(text, now=1_800_000_000) == "Fri, 06 Nov 2026 08:08:01 UTC"  # 2027
    assert debian.release_expired(text, now=1_700_000_000) is None  # 2023
    assert debian.release_expired("Origin: Debian\n") is None  # bullseye's archive: no Valid-Until


def test_private_apt_state_never_names_the_host_files(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVMEM_HARNESS_CACHE", str(tmp_path))
    state = debian.AptState.for_suite("sid")
    state._write_config()
    conf = (tmp_path / "apt/sid/apt.conf").read_text()
    assert "/etc/apt" not in conf and f'Dir::Etc::SourceList "{tmp_path}/apt/sid/sources.list"' in conf
    assert " sid main" in (tmp_path / "apt/sid/sources.list").read_text()
    assert state.env()["APT_CONFIG"] == str(tmp_path / "apt/sid/apt.conf")
    # deb:PACKAGE: the default release's suites, never the host's sources (an Ubuntu host has none of these)
    default = debian.AptState.for_suite(None)
    default._write_config()
    lines = (tmp_path / "apt/default/sources.list").read_text().splitlines()
    assert [line.split()[-2] for line in lines] == list(debian.DEFAULT_SUITES)
    assert lines[-1].split()[-3].endswith("/debian-security"), lines
    assert default.env()["APT_CONFIG"] == str(tmp_path / "apt/default/apt.conf")


# ------------------------------------------------------------------ the image's own version


def test_version_from_the_bzimage_header(tmp_path):
    img = fake_bzimage(tmp_path / "vmlinuz", "6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian 6.1.192-2")
    assert image_release(img) == "6.1.0-56-amd64"
    assert image_version(img) == "6.1.192"
    plain = fake_bzimage(tmp_path / "bzImage", "7.2.0-rc3 (me@host) #4 SMP")
    assert image_version(plain) == "7.2.0-rc3"
    (tmp_path / "junk").write_bytes(b"not a kernel")
    assert image_release(tmp_path / "junk") is None


# ------------------------------------------------------------------ modules of a kernel given by path


def build_tree(tmp_path: Path, modules: list[str], order_suffix: str = ".o") -> Path:
    """A kernel build tree as kbuild leaves it: bzImage, .config, Makefile, the modules and modules.order."""
    tree = tmp_path / "linux"
    img = fake_bzimage(tree / "arch/x86/boot/bzImage", "7.2.0 #1")
    (tree / "Makefile").write_text("all:\n")
    (tree / ".config").write_text(CONFIG)
    for m in modules:
        touch(tree / m)
    (tree / "modules.order").write_text("".join(m.removesuffix(".ko") + order_suffix + "\n" for m in modules))
    return img


def test_build_tree_modules_by_modules_order(tmp_path):
    img = build_tree(tmp_path, ["drivers/misc/pvpanic/pvpanic.ko", "drivers/net/ethernet/intel/e1000/e1000.ko"])
    tree = tmp_path / "linux"
    k = local_kernel(img, None, catalog())
    assert [m.name for m in k.modules] == ["pvpanic.ko", "e1000.ko"]
    assert k.load == ("pvpanic.ko",)
    assert "modules.order" in k.modules_from and k.config_path == (tree / ".config").resolve()


def test_unpacked_classic_package_finds_lib_modules_beside_boot(tmp_path):
    rel = "5.10.0-32-amd64"
    img = fake_bzimage(
        tmp_path / f"boot/vmlinuz-{rel}", f"{rel} (debian-kernel@lists.debian.org) #1 SMP Debian 5.10.223-1"
    )
    (tmp_path / f"boot/config-{rel}").write_text(CONFIG.replace("7.2.13", "5.10.223"))
    data = b"\x7fELF e1000"
    touch(tmp_path / f"lib/modules/{rel}/kernel/drivers/net/ethernet/intel/e1000/e1000.ko.xz", lzma.compress(data))
    touch(tmp_path / f"lib/modules/{rel}/kernel/drivers/misc/pvpanic.ko.gz", gzip.compress(b"\x7fELF pvpanic"))
    touch(tmp_path / "lib/modules/4.19.0-1-amd64/kernel/drivers/net/ethernet/intel/e1000/e1000.ko")  # another kernel
    k = local_kernel(img, None, catalog())
    assert sorted(m.name for m in k.modules) == ["e1000.ko", "pvpanic.ko"]
    assert next(m for m in k.modules if m.name == "e1000.ko").read_bytes() == data  # decompressed
    assert k.version == "5.10.223" and k.release == rel
    assert k.modules_from.endswith(f"lib/modules/{rel}")


@pytest.mark.skipif(not shutil.which("zstd"), reason="zstd not installed")
def test_zstd_module_and_sid_layout_with_vmlinuz_in_the_modules_directory(tmp_path):
    moddir = tmp_path / "usr/lib/modules/7.2.13+deb14-amd64"
    img = fake_bzimage(moddir / "vmlinuz", "7.2.13+deb14-amd64 (debian-kernel@lists.debian.org) #1 Debian 7.2.13-1")
    (moddir / "config").write_text(CONFIG)
    data = b"\x7fELF e1000 zstd"
    comp = subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout
    touch(moddir / "kernel/drivers/net/ethernet/intel/e1000/e1000.ko.zst", comp)
    k = local_kernel(img, None, catalog())
    assert [m.read_bytes() for m in k.modules] == [data]
    assert k.config_path == (moddir / "config").resolve()


def test_modules_option_wins_and_an_empty_one_finds_nothing(tmp_path):
    # Kernels before 6.2 list .ko files in modules.order, later ones .o files: both work.
    img = build_tree(tmp_path, ["drivers/net/ethernet/intel/e1000/e1000.ko"], order_suffix=".ko")
    empty = tmp_path / "empty"
    empty.mkdir()
    k = local_kernel(img, None, catalog(), modules_dir=empty)
    assert k.modules == () and k.modules_from == f"--modules {empty}"
    found, where = find_modules(img, None, None, WANTED)
    assert [p.name for p in found] == ["e1000.ko"]
    with pytest.raises(BadInput, match="--modules .*no such directory"):
        local_kernel(img, None, catalog(), modules_dir=tmp_path / "missing")


def test_no_modules_anywhere_says_where_it_looked(tmp_path):
    img = fake_bzimage(tmp_path / "k/bzImage", "7.2.0 #1")
    (tmp_path / "k/config").write_text(CONFIG)
    k = local_kernel(img, None, catalog())
    assert k.modules == ()
    assert k.modules_from.startswith("nowhere:") and "lib/modules/7.2.0" in k.modules_from


# ------------------------------------------------------------------ both package layouts


def _deb(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    root = tmp_path / f"pkg-{name}"
    for rel, data in files.items():
        touch(root / rel, data)
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        f"Package: {name}\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@example.invalid>\nDescription: t\n"
    )
    out = tmp_path / f"{name}.deb"
    subprocess.run(
        ["dpkg-deb", "-Zgzip", "--build", "--root-owner-group", str(root), str(out)], check=True, capture_output=True
    )
    return out


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb not installed")
def test_unpack_classic_and_split_layouts(tmp_path):
    out = tmp_path / "out"
    (out / "modules").mkdir(parents=True)
    kept: list[str] = []
    rel = "5.10.0-32-amd64"
    classic = _deb(
        tmp_path,
        "linux-image-5.10.0-32-amd64",
        {
            f"boot/vmlinuz-{rel}": b"IMAGE-5.10",
            f"boot/config-{rel}": b"CONFIG-5.10",
            f"lib/modules/{rel}/kernel/drivers/misc/pvpanic.ko.xz": lzma.compress(b"PVPANIC"),
            f"lib/modules/{rel}/kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz": lzma.compress(b"NOT WANTED"),
        },
    )
    assert _unpack_one(classic, out, set(WANTED), kept) == {"image": rel, "config": rel}
    assert (out / "vmlinuz").read_bytes() == b"IMAGE-5.10" and (out / "modules/pvpanic.ko").read_bytes() == b"PVPANIC"
    assert kept == ["pvpanic.ko"]

    out2 = tmp_path / "out2"
    (out2 / "modules").mkdir(parents=True)
    kept2: list[str] = []
    abi = "7.2.13+deb14-amd64"
    found: dict[str, str] = {}
    for name, files in {
        f"linux-binary-{abi}": {f"usr/lib/modules/{abi}/vmlinuz": b"IMAGE-7.2"},
        f"linux-base-{abi}": {f"usr/lib/modules/{abi}/config": b"CONFIG-7.2", f"usr/lib/modules/{abi}/System.map": b""},
        f"linux-modules-{abi}": {
            f"usr/lib/modules/{abi}/kernel/drivers/net/ethernet/intel/e1000/e1000.ko.xz": lzma.compress(b"E1000"),
        },
    }.items():
        found.update(_unpack_one(_deb(tmp_path, name, files), out2, set(WANTED), kept2))
    assert found == {"image": abi, "config": abi}
    assert (out2 / "config").read_bytes() == b"CONFIG-7.2" and (out2 / "modules/e1000.ko").read_bytes() == b"E1000"
