# SPDX-License-Identifier: GPL-2.0-only
"""The spare PCI device: which one the guest gets, chosen by the drivers the kernel under test has.

The revocation and bound-BAR probes bind a driver to an idle device and watch
what happens to mappings of the BAR it claims.  Distribution cloud kernels
drop e1000, so the device comes from a catalogue (data/spares.yaml): the first
one whose driver is built into the kernel (CONFIG_x=y: unbound and bound again
through sysfs) or shipped as a module with every module it depends on
(CONFIG_x=m and the .ko found: loaded by the probe, dependencies first).
The choice and why, and every device passed over, go into results.json.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import BadInput
from ..yamlfile import load_yaml, require_mapping

GUEST_MODULE_DIR = "/lib/modules"


@dataclass(frozen=True)
class SpareDevice:
    name: str  # QEMU's -device name
    pci: str  # VVVV:DDDD
    driver: str  # under /sys/bus/pci/drivers
    config: str  # Kconfig symbol, without CONFIG_
    module: str  # file name of the driver when a module
    bar: int  # the memory BAR the driver claims
    io_bar: bool
    claims: str
    netdev: bool = False
    qemu: str = ""  # extra -device properties
    rom: bool = False  # QEMU gives it an option ROM (pcisysfs.read.rom reads it)

    def qemu_args(self) -> list[str]:
        dev = ",".join(p for p in (self.name, self.qemu) if p)
        if self.netdev:
            return ["-netdev", "user,id=spare0,restrict=on", "-device", f"{dev},netdev=spare0"]
        return ["-device", dev]


@dataclass(frozen=True)
class SpareCatalog:
    devices: tuple[SpareDevice, ...]
    dependencies: tuple[str, ...]
    unsuitable: tuple[tuple[str, str], ...] = ()  # (name, why its driver cannot serve)

    @property
    def module_files(self) -> tuple[str, ...]:
        """Every module file a choice may need: the drivers and what they depend on."""
        return tuple(d.module for d in self.devices if d.module) + self.dependencies

    def get(self, name: str) -> SpareDevice:
        for d in self.devices:
            if d.name == name:
                return d
        for bad, why in self.unsuitable:
            if bad == name:
                raise BadInput(f"--spare {name}: not a spare device: {why}", f"choose one of {', '.join(self.names)}")
        raise BadInput(f"--spare {name}: no such spare device", f"choose one of {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.devices]


@functools.cache
def load_catalog(path: Path | None = None) -> SpareCatalog:
    path = path or paths.DATA_DIR / "spares.yaml"
    data = require_mapping(load_yaml(path), path, "the spare-device catalogue")
    devices = []
    for i, entry in enumerate(data.get("devices") or []):
        try:
            devices.append(SpareDevice(**entry))
        except TypeError as exc:
            raise BadInput(f"{path}: device {i + 1}: {exc}", "see the field list at the top of the file") from None
    if not devices:
        raise BadInput(f"{path}: no devices", "list at least one spare device")
    unsuitable = tuple((u["name"], u["why"]) for u in data.get("unsuitable") or ())
    return SpareCatalog(tuple(devices), tuple(data.get("dependencies") or ()), unsuitable)


@dataclass(frozen=True)
class SpareChoice:
    """The device on the QEMU command line and how the guest gets its driver."""

    device: SpareDevice
    available: bool  # False: no catalogued driver in this kernel; the device is there for the idle-BAR probes
    how: str  # why this device, in words
    modules: tuple[Path, ...] = ()  # the host's .ko files, dependencies first (empty: built in, or none)
    tried: tuple[tuple[str, str], ...] = ()  # devices passed over, and why
    forced: bool = False

    @property
    def append(self) -> tuple[str, ...]:
        """harness.* words for the guest's suite (guest-images/suite.sh)."""
        words = [f"harness.spare={self.device.pci}", f"harness.spare-name={self.device.name}"]
        words += [f"harness.spare-driver={self.device.driver}", f"harness.spare-bar={self.device.bar}"]
        if self.modules:
            words.append(f"harness.spare-modules={','.join(m.name for m in self.modules)}")
        return tuple(words)

    def probe_args(self, module_dir: str = GUEST_MODULE_DIR) -> list[str]:
        """The same, as the probe binary's options (the SSH transport runs it directly)."""
        args = ["--spare-pci", self.device.pci, "--spare-name", self.device.name]
        args += ["--spare-driver", self.device.driver, "--spare-bar", str(self.device.bar)]
        for m in self.modules:
            args += ["--spare-module", f"{module_dir}/{m.name}"]
        return args

    def summary(self) -> str:
        """One line: the device and why, or that none could be used, with what was passed over."""
        passed = "; ".join(f"{n}: {w}" for n, w in self.tried)
        if not self.available:
            return f"none usable ({passed})"
        return f"{self.device.name} ({self.how})" + (f"; passed over {passed}" if passed else "")

    def record(self) -> dict:
        return {
            "device": self.device.name,
            "pci": self.device.pci,
            "driver": self.device.driver,
            "bar": self.device.bar,
            "io_bar": self.device.io_bar,
            "rom": self.device.rom,
            "available": self.available,
            "why": self.how,
            "modules": [m.name for m in self.modules],
            "forced": self.forced,
            "tried": [{"device": n, "why_not": w} for n, w in self.tried],
            "claims": self.device.claims,
        }


def default_choice() -> SpareChoice:
    """e1000 with its module: what a VMSpec built without a choice (unit tests) gets."""
    device = load_catalog().devices[0]
    return SpareChoice(device, True, "the catalogue's first device", (Path(device.module),))


def choose(
    symbols: dict[str, str],
    modules: tuple[Path, ...],
    modules_from: str,
    forced: str | None = None,
) -> SpareChoice:
    """The first catalogued device whose driver this kernel has (or the forced one, if it has it)."""
    catalog = load_catalog()
    by_name = _by_module_name(modules)
    candidates = [catalog.get(forced)] if forced else list(catalog.devices)
    tried: list[tuple[str, str]] = []
    for device in candidates:
        why_not, how, chain = _availability(device, symbols, by_name, modules_from)
        if why_not is None:
            return SpareChoice(device, True, how, chain, tuple(tried), forced=bool(forced))
        tried.append((device.name, why_not))
    first = candidates[0]
    how = "no catalogued driver in this kernel: " + "; ".join(f"{n}: {w}" for n, w in tried)
    return SpareChoice(first, False, how, (), tuple(tried), forced=bool(forced))


def _availability(
    device: SpareDevice, symbols: dict[str, str], by_name: dict[str, Path], modules_from: str
) -> tuple[str | None, str, tuple[Path, ...]]:
    """(why not, or None; how it is available; the module chain to load)."""
    value = symbols.get(device.config, "n")
    if value == "y":
        return (
            None,
            f"CONFIG_{device.config}=y: {device.driver} is built in (unbound and bound again through sysfs)",
            (),
        )
    if value != "m":
        return f"CONFIG_{device.config} is not set", "", ()
    chain, missing = module_chain(_module_name(device.module), by_name)
    if missing:
        return f"CONFIG_{device.config}=m but no {missing}.ko in {modules_from or 'the kernel given'}", "", ()
    names = " + ".join(p.name for p in chain)
    return None, f"CONFIG_{device.config}=m: {names} loaded by the probe", tuple(chain)


def _module_name(file_name: str) -> str:
    """A module's name from its file: pvpanic-pci.ko.xz -> pvpanic_pci (modules.dep and depends= use these)."""
    return re.sub(r"\.ko(\.\w+)?$", "", file_name).replace("-", "_")


def _by_module_name(modules: tuple[Path, ...]) -> dict[str, Path]:
    return {_module_name(p.name): p for p in modules}


def module_chain(name: str, by_name: dict[str, Path]) -> tuple[list[Path], str | None]:
    """The module and everything it depends on, dependencies first; or the first name not found."""
    order: list[Path] = []
    seen: set[str] = set()

    def visit(n: str) -> str | None:
        if n in seen:
            return None
        seen.add(n)
        path = by_name.get(n)
        if path is None:
            return n
        for dep in module_depends(path):
            if (missing := visit(dep)) is not None:
                return missing
        order.append(path)
        return None

    missing = visit(name)
    return order, missing


def module_depends(path: Path) -> list[str]:
    """The `depends=` of a .ko's .modinfo section (what modinfo -F depends prints), read from its ELF."""
    info = modinfo(path)
    return [d.replace("-", "_") for d in info.get("depends", "").split(",") if d]


def modinfo(path: Path) -> dict[str, str]:
    """Key=value pairs of an x86-64 module's .modinfo section (the first of each key)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise BadInput(f"{path}: not a 64-bit ELF kernel module", "give modules built for this kernel")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        name, _, _, _, offset, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        return name, offset, size

    _, str_off, _ = section(shstrndx)
    for i in range(shnum):
        name, offset, size = section(i)
        if data[str_off + name : data.index(b"\0", str_off + name)] == b".modinfo":
            out: dict[str, str] = {}
            for item in data[offset : offset + size].split(b"\0"):
                key, sep, value = item.decode(errors="replace").partition("=")
                if sep and key not in out:
                    out[key] = value
            return out
    return {}


def for_kernel(kernel, forced: str | None = None) -> SpareChoice:
    """The choice for a harness Kernel (harness/kernels/kernel.py)."""
    return choose(kernel.symbols, kernel.modules, kernel.modules_from, forced)


def for_unknown_kernel(forced: str | None = None) -> SpareChoice:
    """A user's disk image: its kernel's drivers are known only once it is up, so the forced or first device."""
    catalog = load_catalog()
    device = catalog.get(forced) if forced else catalog.devices[0]
    return SpareChoice(
        device, True, "a user's image: its kernel's own driver, not known before boot", forced=bool(forced)
    )


def guest_modules(kernel, choice: SpareChoice) -> tuple[Path, ...]:
    """What the initramfs carries: the modules init loads at boot, then the spare device's chain."""
    boot = [m for m in kernel.modules if m.name in kernel.load]
    return tuple(boot + [m for m in choice.modules if m not in boot])
