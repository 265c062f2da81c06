# SPDX-License-Identifier: GPL-2.0-only
"""Guest profiles as data (data/profiles/*.yaml): what each guest kind needs and how it is launched.

A profile names its accelerator, the QEMU version and object type it needs,
its machine options, -object arguments, firmware, the kernel symbols the
guest kernel must have, and how the guest proves it is confidential.  An
emulated profile (cc-sim) also names the kernel it builds and the boot
parameters that make that kernel report a confidential platform.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..errors import BadInput
from ..vocabulary import CONFIDENTIAL_KINDS
from ..yamlfile import load_yaml, require_mapping
from .firmware import FirmwareNeed

PROFILE_DIR = paths.DATA_DIR / "profiles"
# SEV-SNP's C-bit position when the host cannot say (CPUID 0x8000001F unreadable): 51 on every EPYC so far.
DEFAULT_CBITPOS = 51


@dataclass(frozen=True)
class HostCheck:
    path: str
    want: str
    what: str
    hint: str


@dataclass(frozen=True)
class ProfileBuild:
    """The kernel a profile builds when the run names none: source, fragments, patches."""

    source: str
    kconfig: tuple[str, ...] = ()
    patches: tuple[str, ...] = ()


@dataclass(frozen=True)
class Profile:
    name: str
    kind: str
    description: str
    accelerator: str = "any"  # any | kvm
    qemu_min_version: tuple[int, ...] | None = None
    qemu_object: str | None = None
    cpu: str | None = None
    machine_options: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    firmware: FirmwareNeed | None = None  # confidential guests: the image and how to find it
    host_checks: tuple[HostCheck, ...] = ()
    cpu_flag: str | None = None
    kernel_symbols: tuple[str, ...] = ()
    proof_dmesg: tuple[str, ...] = ()  # every line must be in dmesg
    proof_device: str | None = None
    memory_mib: int = 512
    confidential: bool = False  # judged by the confidential-guest policy
    emulated: bool = False  # no hardware behind it: results say so, hardware-only effects are never expected
    append: tuple[str, ...] = ()  # kernel command line words the profile needs
    build: ProfileBuild | None = None
    extra: dict = field(default_factory=dict)

    def object_args(self, memory_mib: int, cbitpos: int = DEFAULT_CBITPOS) -> list[str]:
        return [o.format(memory_mib=memory_mib, cbitpos=cbitpos) for o in self.objects]


def parse_version(text: str) -> tuple[int, ...]:
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        raise ValueError(f"no version in {text!r}")
    return tuple(int(x or 0) for x in m.groups())


def available() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name: str) -> Profile:
    path = PROFILE_DIR / f"{name}.yaml"
    if not path.is_file():
        raise BadInput(f"--profile {name}: no such profile", f"choose one of {', '.join(available())}")
    data = require_mapping(load_yaml(path), path, "a profile")
    fw = data.get("firmware") or {}
    proof = data.get("guest_proof") or {}
    build = data.get("build")
    dmesg = proof.get("dmesg") or ()
    try:
        return Profile(
            name=data["name"],
            kind=data["kind"],
            description=data.get("description", ""),
            accelerator=data.get("accelerator", "any"),
            qemu_min_version=parse_version(str(data["qemu_min_version"])) if data.get("qemu_min_version") else None,
            qemu_object=data.get("qemu_object"),
            cpu=data.get("cpu"),
            machine_options=tuple(data.get("machine_options") or ()),
            objects=tuple(data.get("objects") or ()),
            firmware=FirmwareNeed(
                fw["flag"], fw["what"], fw["feature"], fw["package"], tuple(fw.get("candidates") or ())
            )
            if fw
            else None,
            host_checks=tuple(
                HostCheck(c["path"], str(c["want"]), c["what"], c.get("hint", ""))
                for c in data.get("host_checks") or ()
            ),
            cpu_flag=data.get("cpu_flag"),
            kernel_symbols=tuple(data.get("kernel_symbols") or ()),
            proof_dmesg=(dmesg,) if isinstance(dmesg, str) else tuple(dmesg),
            proof_device=proof.get("device"),
            memory_mib=int(data.get("memory_mib", 512)),
            confidential=bool(data.get("confidential", data["kind"] in CONFIDENTIAL_KINDS)),
            emulated=bool(data.get("emulated", False)),
            append=tuple(str(w) for w in data.get("append") or ()),
            build=ProfileBuild(
                str(build["source"]), tuple(build.get("kconfig") or ()), tuple(build.get("patches") or ())
            )
            if build
            else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"{path}: malformed profile ({exc})") from None


def read_cbitpos(root: Path) -> int | None:
    """CPUID 0x8000001F EBX[5:0] through the cpuid device (modprobe cpuid), if readable."""
    try:
        with open(root / "dev/cpu/0/cpuid", "rb") as f:
            f.seek(0x8000001F)
            data = f.read(16)
    except OSError:
        return None
    if len(data) < 16:
        return None
    _eax, ebx, _ecx, _edx = struct.unpack("<4I", data)
    return ebx & 0x3F or None
