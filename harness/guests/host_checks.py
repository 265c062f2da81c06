# SPDX-License-Identifier: GPL-2.0-only
"""What this host can run, and for everything it cannot, why and what to do (`doctor`, and every run's
refusal before it boots).

Every check reads files under a root (default /) so tests can point it at a
fake tree: /dev/kvm, the kvm_intel/kvm_amd module parameters, /proc/cpuinfo,
firmware files, /dev/cpu/0/cpuid.  The QEMU binary is asked for its version
and the object types it knows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import compiler, paths
from ..errors import RequirementMissing
from ..host_packages import install_hint
from ..kernels.kbuild import BUILD_TOOLS_HINT, missing_build_tools
from . import firmware, kvm_memory, qemu_next
from .image import IMAGE_TOOLS
from .initramfs import BUSYBOX_CANDIDATES, is_static_elf
from .profiles import DEFAULT_CBITPOS, Profile, available, load_profile, parse_version, read_cbitpos
from .qemu_cmd import kvm_check


@dataclass
class Check:
    name: str
    ok: bool | None  # None: informational or not applicable here
    detail: str
    hint: str = ""
    needed_by: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QemuInfo:
    binary: str
    version: tuple[int, ...] | None
    version_text: str
    objects: frozenset[str]
    error: str = ""


def parse_qemu_version(text: str) -> tuple[int, ...] | None:
    """'QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)' -> (7, 2, 19)."""
    for line in text.splitlines():
        if "version" in line:
            try:
                return parse_version(line.split("version", 1)[1])
            except ValueError:
                return None
    return None


def parse_object_types(text: str) -> frozenset[str]:
    """`qemu -object help` lists one type per line (after a header)."""
    return frozenset(
        line.strip().split()[0] for line in text.splitlines() if line.strip() and not line.strip().endswith(":")
    )


def qemu_info(binary: str) -> QemuInfo:
    if not shutil.which(binary):
        return QemuInfo(binary, None, "", frozenset(), error=f"{binary} not found")
    try:
        ver = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20)
        objs = subprocess.run([binary, "-object", "help"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return QemuInfo(binary, None, "", frozenset(), error=str(exc))
    first = ver.stdout.splitlines()[0] if ver.stdout else ""
    return QemuInfo(binary, parse_qemu_version(ver.stdout), first, parse_object_types(objs.stdout))


def _read(root: Path, path: str) -> str | None:
    try:
        return (root / path.lstrip("/")).read_text().strip()
    except OSError:
        return None


def run_checks(
    root: Path = Path("/"), qemu: str = "qemu-system-x86_64", info: QemuInfo | None = None, firmware: str | None = None
) -> list[Check]:
    """Every check, by topic: the host (KVM, module parameters, CPU flags), QEMU, firmware, tools."""
    profiles = [load_profile(n) for n in available()]
    cc = [p for p in profiles if p.accelerator == "kvm"]
    return [
        *kvm_checks(root, qemu, cc),
        *host_feature_checks(root, cc),
        *qemu_checks(info or qemu_info(qemu), profiles, cc),
        *firmware_checks(root, firmware, cc, qemu),
        *tool_checks(profiles),
    ]


def kvm_checks(root: Path, qemu: str, cc: list[Profile]) -> list[Check]:
    """/dev/kvm, and (on the real host) whether QEMU can start a KVM vCPU on it."""
    kvm_dev = root / "dev/kvm"
    users = [p.name for p in cc]
    if not (kvm_dev.exists() and os.access(kvm_dev, os.R_OK | os.W_OK)):
        why = "missing" if not kvm_dev.exists() else "not accessible (add yourself to the kvm group)"
        return [Check("kvm-device", False, f"{kvm_dev} {why}", "run on a host with KVM; plain guests use TCG", users)]
    checks = [Check("kvm-device", True, f"{kvm_dev} is accessible", needed_by=users)]
    if root != Path("/"):
        return [*checks, Check("kvm-vcpu", True, "not started under a fake root", needed_by=users)]
    usable, why = kvm_check(qemu)
    hint = "" if usable else "KVM is present but unusable (nested or disabled virtualization?); TCG still works"
    checks.append(Check("kvm-vcpu", usable, why, hint, needed_by=users))
    if usable and (failed := kvm_memory.remembered(qemu)):
        detail = f"but a real guest died under it on {failed['at']}: {failed['detail']}; --accel auto uses TCG"
        checks.append(Check("kvm-guest", False, detail, "a new QEMU or host kernel tries KVM again", users))
    return checks


def host_feature_checks(root: Path, cc: list[Profile]) -> list[Check]:
    """What each confidential profile needs of the host kernel and CPU (kvm_intel tdx, kvm_amd sev_snp)."""
    cpuinfo = _read(root, "/proc/cpuinfo") or ""
    flags = next((set(ln.split(":", 1)[1].split()) for ln in cpuinfo.splitlines() if ln.startswith("flags")), set())
    checks = []
    for p in cc:
        for hc in p.host_checks:
            value = _read(root, hc.path)
            ok = value == hc.want or (hc.want == "Y" and value in ("1", "y"))
            detail = f"{hc.path} = {value}" if value is not None else f"{hc.path} missing"
            checks.append(Check(f"{p.name}-host", ok, f"{hc.what}: {detail}", "" if ok else hc.hint, [p.name]))
        if p.cpu_flag:
            has = p.cpu_flag in flags
            detail = f"/proc/cpuinfo flag {p.cpu_flag}: {'present' if has else 'absent'}"
            hint = "" if has else f"the CPU or host kernel does not report {p.cpu_flag}"
            checks.append(Check(f"{p.name}-cpu-flag", has if flags else None, detail, hint, [p.name]))
    return checks


def qemu_checks(info: QemuInfo, profiles: list[Profile], cc: list[Profile]) -> list[Check]:
    """The QEMU binary, and for each confidential profile its version and object type."""
    everyone = [p.name for p in profiles]
    if info.error:
        return [Check("qemu", False, info.error, f"{install_hint('qemu')}, or set QEMU=", everyone)]
    ver = ".".join(map(str, info.version)) if info.version else "unknown"
    checks = [Check("qemu", True, f"{info.binary}: {info.version_text or ver}", needed_by=everyone)]
    for p in cc:
        new_enough = bool(info.version and p.qemu_min_version and info.version >= p.qemu_min_version)
        knows = p.qemu_object in info.objects
        need = ".".join(map(str, p.qemu_min_version or ()))
        ok = new_enough and knows
        detail = f"QEMU {ver} (needs >= {need}); object {p.qemu_object}: {'known' if knows else 'unknown'}"
        hint = "" if ok else f"install QEMU >= {need} with {p.qemu_object} and point QEMU= at it"
        checks.append(Check(f"{p.name}-qemu", ok, detail, hint, [p.name]))
    return checks


@dataclass(frozen=True)
class QemuOffer:
    """One QEMU this host has (its own, or the cached `--qemu next`), and what it can launch."""

    name: str  # host | next
    binary: str
    version: str
    launches: list[str]
    refuses: dict[str, str]  # profile -> why not


def why_not_launch(info: QemuInfo, profile: Profile, root: Path) -> str | None:
    """Why this QEMU cannot start `profile` (too old, no object type, no firmware beside it), or None."""
    if info.error:
        return info.error
    need = ".".join(map(str, profile.qemu_min_version or ()))
    if profile.qemu_min_version and not (info.version and info.version >= profile.qemu_min_version):
        return f"needs QEMU >= {need}"
    if profile.qemu_object and profile.qemu_object not in info.objects:
        return f"no object type {profile.qemu_object}"
    if profile.firmware and not firmware.find(profile.firmware, None, firmware.roots_for(info.binary, root)):
        return f"no firmware with {profile.firmware.feature} ({profile.firmware.package})"
    return None


def qemu_offers(root: Path, host_qemu: str) -> list[QemuOffer]:
    """The host's QEMU and, when it is in the cache, the newer one `make qemu-next` fetched."""
    offers = []
    candidates = [("host", host_qemu)]
    if qemu_next.wrapper_path().is_file():
        candidates.append(("next", str(qemu_next.wrapper_path())))
    for name, binary in candidates:
        info = qemu_info(binary)
        refuses = {p.name: why for p in map(load_profile, available()) if (why := why_not_launch(info, p, root))}
        launches = [p for p in available() if p not in refuses]
        offers.append(QemuOffer(name, binary, info.version_text or info.error, launches, refuses))
    return offers


def offer_checks(offers: list[QemuOffer]) -> list[Check]:
    lines = []
    for o in offers:
        refused = "; ".join(f"not {p}: {why}" for p, why in o.refuses.items())
        detail = f"{o.version} ({o.binary}): launches {', '.join(o.launches) or 'nothing'}"
        lines.append(Check(f"qemu-{o.name}", None, detail + (f"; {refused}" if refused else "")))
    return lines


def pick_qemu(profile: str, offers: list[QemuOffer]) -> str:
    """What to pass as --qemu for `profile`: the host's QEMU when it can launch it, else `next`."""
    host = offers[0]
    return host.binary if profile in host.launches else qemu_next.NEXT


def firmware_checks(root: Path, override: str | None, cc: list[Profile], qemu: str) -> list[Check]:
    """Each confidential profile's firmware, from QEMU's descriptors, and the C-bit position SNP needs."""
    checks = []
    roots = firmware.roots_for(qemu, root)
    for p in cc:
        need = p.firmware
        if need is None:
            continue
        fw = firmware.find(need, override, roots)
        if fw is not None:
            checks.append(Check(f"{p.name}-firmware", True, f"{need.what}: {fw.describe()}", needed_by=[p.name]))
        else:
            gap = firmware.missing(need, override, roots, p.name)
            checks.append(Check(f"{p.name}-firmware", False, gap.message.split(": ", 1)[1], gap.hint, [p.name]))
    cbit = read_cbitpos(root)
    detail = (
        f"C-bit position {cbit} (CPUID 0x8000001F)"
        if cbit
        else f"C-bit position unknown (/dev/cpu/0/cpuid unreadable: modprobe cpuid); using {DEFAULT_CBITPOS}"
    )
    return [*checks, Check("sev-snp-cbitpos", None, detail, needed_by=[])]


def tool_checks(profiles: list[Profile]) -> list[Check]:
    """What the guest image, the SSH disk image and kernel builds need on the host."""
    everyone = [p.name for p in profiles]
    bb = next((c for c in BUSYBOX_CANDIDATES if Path(c).is_file() and is_static_elf(Path(c))), None)
    gcc = compiler.found()
    checks = [
        Check(name, bool(found), f"{what}: {found or 'missing'}", "" if found else hint, everyone)
        for name, found, what, hint in (
            ("busybox", bb, "static busybox", install_hint("busybox")),
            ("gcc", gcc, "C compiler for the probe", install_hint("cc")),
        )
    ]
    lacking_image = sorted({pkg for tool, pkg in IMAGE_TOOLS.items() if not shutil.which(tool)})
    detail = f"missing {', '.join(lacking_image)}" if lacking_image else "debootstrap, mkfs.ext4, qemu-img present"
    hint = install_hint("ssh-image") if lacking_image else ""
    checks.append(Check("ssh-image-tools", not lacking_image, f"disk image for --transport ssh: {detail}", hint, []))
    builders = [p.name for p in profiles if p.build]
    if builders:
        lacking = missing_build_tools()
        detail = f"missing {', '.join(lacking)}" if lacking else "make, gcc, bison, flex, bc, ... present"
        checks.append(
            Check(
                "kernel-build",
                not lacking,
                f"kernel build tools: {detail}",
                BUILD_TOOLS_HINT if lacking else "",
                builders,
            )
        )
    return checks


def first_missing(profile: Profile, checks: list[Check]) -> Check | None:
    return next((c for c in checks if profile.name in c.needed_by and c.ok is False), None)


def require_profile(
    profile: Profile, qemu: str, firmware: str | None, root: Path | None = None, info: QemuInfo | None = None
) -> None:
    """Raise RequirementMissing naming the first thing this host lacks for the profile."""
    if profile.accelerator != "kvm":
        return
    missing = first_missing(profile, run_checks(root or paths.host_root(), qemu, info, firmware))
    if missing:
        raise RequirementMissing(f"profile {profile.name} cannot run here: {missing.detail}", missing.hint or None)


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        status = {True: "ok", False: "MISSING", None: "info"}[c.ok]
        line = f"{c.name:<{width}}  {status:<7}  {c.detail}"
        if c.ok is False and c.hint:
            line += f"  -> {c.hint}"
        lines.append(line)
    lines.append(f"profiles runnable here: {', '.join(runnable(checks)) or 'none'}")
    return "\n".join(lines)


def runnable(checks: list[Check]) -> list[str]:
    return [p for p in available() if not first_missing(load_profile(p), checks)]


def as_json(checks: list[Check], offers: list[QemuOffer] = ()) -> str:
    data = {"checks": [asdict(c) for c in checks], "runnable": runnable(checks), "qemus": [asdict(o) for o in offers]}
    return json.dumps(data, indent=2)
