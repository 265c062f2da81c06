# SPDX-License-Identifier: GPL-2.0-only
"""Confidential-guest firmware, found the way QEMU's management tools find it: firmware descriptors.

QEMU's `docs/interop/firmware.json` defines a JSON descriptor per firmware image,
installed by the package that ships the image (Debian's `ovmf-inteltdx` installs
`/usr/share/qemu/firmware/60-edk2-x86_64-inteltdx.json` beside
`/usr/share/ovmf/OVMF.inteltdx.ms.fd`).  libvirt reads them; so does the harness:
the descriptor directories in precedence order (`/etc/qemu/firmware`,
`$XDG_CONFIG_HOME/qemu/firmware`, `/usr/share/qemu/firmware`: a file name in an
earlier directory hides the same name in a later one, an empty file hides it
altogether), then every descriptor in file-name order (the lowest name wins).  A
confidential profile takes the first descriptor that has its feature (`intel-tdx`,
`amd-sev-snp`), targets x86_64 on q35 and maps the image into memory (`-bios`).

The profile's path list is the fallback for hosts without descriptors; it names
only images with the feature, so a TDX guest never boots a firmware without TDX
support.  Nothing found is a missing requirement that names the package to install.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import RequirementMissing
from ..host_packages import family, install_hint
from . import qemu_next


@dataclass(frozen=True)
class Firmware:
    """The image a run loads, and how it was chosen (shown by doctor and --dry-run)."""

    path: Path  # as QEMU must open it (under the root when the root is not /)
    source: str  # "descriptor <path>", "--firmware", or "path list"

    def describe(self) -> str:
        return f"{self.path} (from {self.source})"


@dataclass(frozen=True)
class FirmwareNeed:
    """What a profile asks of its firmware (the profile YAML's `firmware:` block)."""

    flag: str  # how QEMU loads it: -bios
    what: str  # for people: "TDVF (OVMF built with TDX support)"
    feature: str  # the descriptor feature: intel-tdx, amd-sev-snp
    package: str  # the Debian package that ships it with its descriptor
    candidates: tuple[str, ...] = ()  # fallback paths, each an image with the feature


def descriptor_dirs(root: Path) -> list[Path]:
    """The directories QEMU's firmware interop document names, highest precedence first."""
    dirs = [root / "etc/qemu/firmware"]
    if root == Path("/"):
        config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        dirs.append(Path(config) / "qemu/firmware")
    dirs.append(root / "usr/share/qemu/firmware")
    return dirs


def descriptors(root: Path) -> list[Path]:
    """Every visible descriptor, in priority order (file name; an earlier directory hides a later one)."""
    seen: dict[str, Path] = {}
    for directory in descriptor_dirs(root):
        try:
            names = sorted(p for p in directory.iterdir() if p.suffix == ".json")
        except OSError:
            continue
        for path in names:
            seen.setdefault(path.name, path)
    return [seen[name] for name in sorted(seen) if _size(seen[name]) > 0]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _covers_q35(desc: dict) -> bool:
    for target in desc.get("targets") or ():
        if target.get("architecture") != "x86_64":
            continue
        if any(fnmatch.fnmatch("pc-q35-99.0", m) or m == "q35" for m in target.get("machines") or ()):
            return True
    return False


def memory_image(desc: dict, feature: str) -> str | None:
    """The image a descriptor maps with -bios, if it has `feature` on x86_64 q35; else None."""
    mapping = desc.get("mapping") or {}
    if feature not in (desc.get("features") or ()) or mapping.get("device") != "memory":
        return None
    return mapping.get("filename") if _covers_q35(desc) else None


def _under(root: Path, name: str) -> Path:
    return Path(name) if root == Path("/") else root / name.lstrip("/")


def from_descriptors(need: FirmwareNeed, root: Path) -> Firmware | None:
    for path in descriptors(root):
        try:
            desc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a broken descriptor is skipped, as libvirt skips it
        image = memory_image(desc, need.feature) if isinstance(desc, dict) else None
        if image and _under(root, image).is_file():
            shown = path if root == Path("/") else Path("/") / path.relative_to(root)
            return Firmware(_under(root, image), f"descriptor {shown}")
    return None


def find(need: FirmwareNeed, override: str | None, roots: list[Path]) -> Firmware | None:
    """--firmware wins; then each root's descriptors, then its path list (roots: the host's, a cached QEMU's)."""
    if override:
        return Firmware(Path(override), "--firmware") if Path(override).is_file() else None
    for root in roots:
        if found := from_descriptors(need, root):
            return found
    for root in roots:
        for c in need.candidates:
            if _under(root, c).is_file():
                return Firmware(_under(root, c), "path list")
    return None


def missing(need: FirmwareNeed, override: str | None, roots: list[Path], profile: str) -> RequirementMissing:
    """The one-line refusal: what was looked for, where, and the package that ships it."""
    if override:
        return RequirementMissing(f"profile {profile}: --firmware {override}: no such file", "name the image file")
    where = ", ".join(str(d) for root in roots for d in descriptor_dirs(root))
    return RequirementMissing(
        f"profile {profile}: no {need.what}: no firmware descriptor with feature {need.feature} in {where}, "
        f"and none of {', '.join(need.candidates)}",
        f"{install_hint(need.package)}{' (Debian sid)' if family() in (None, 'debian') else ''}, `make qemu-next`"
        " (brings it), or pass --firmware PATH",
    )


def roots_for(qemu: str, root: Path) -> list[Path]:
    """Where to look: the host (or its stand-in), then the root a `--qemu next` QEMU brought its firmware in."""
    own = qemu_next.own_root(qemu)
    return [root, own] if own else [root]


def choose(need: FirmwareNeed | None, profile: str, override: str | None, qemu: str, root: Path | None = None):
    """The image a run of `profile` loads (None when it needs none); RequirementMissing when none is found."""
    if need is None:
        return None
    roots = roots_for(qemu, root or paths.host_root())
    found = find(need, override, roots)
    if found is None:
        raise missing(need, override, roots, profile)
    return found
