# SPDX-License-Identifier: GPL-2.0-only
"""Facts from the guest win: what the running kernel reports beats what its config and command line predict.

The oracle's rules are keyed on the lockdown level, `iomem=`, the kernel's version and
whether memory is encrypted.  The harness predicts each before the boot (config, the
command line it passed, the profile), but the running kernel can disagree: firmware turns
lockdown on by itself (Debian kernels lock down under UEFI Secure Boot), a bootloader adds
`iomem=`, a `--kernel-config` belongs to another build.  The guest's word is what the
kernel under test really did, so verdicts are judged against it; results.json keeps both,
and each disagreement is said in one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .console import GuestTranscript, memory_encryption
from .oracle import LOCKDOWN_LEVELS, iomem_mode

_LOCKDOWN = re.compile(r"\[(none|integrity|confidentiality)\]")
_BANNER = re.compile(r"Linux version (\S+)[^\n]*")
_DEBIAN = re.compile(r"#\d+ .*\bDebian (\d+\.\d+(?:\.\d+)?)")  # after the build number, not gcc's "(Debian 12.2.0)"


@dataclass
class Reconciled:
    """The facts after the guest's word, what each fact was predicted and reported as, and the notes."""

    facts: dict
    record: dict = field(default_factory=dict)  # fact -> {"predicted", "reported", "used"}
    notes: list[str] = field(default_factory=list)  # one line per disagreement


def reported_lockdown(t: GuestTranscript) -> str | None:
    """The bracketed level of /sys/kernel/security/lockdown ("none [integrity] confidentiality")."""
    m = _LOCKDOWN.search(t.sections.get("lockdown", ""))
    return m.group(1) if m else None


def reported_version(t: GuestTranscript) -> str | None:
    """The upstream version the kernel's banner names: Debian's "#1 SMP ... Debian 6.1.192-2", else the
    release's X.Y.Z (a Debian 6.1.0-56-amd64 release is an ABI name, not the version)."""
    m = _BANNER.search(t.sections.get("dmesg", ""))
    if not m:
        return None
    debian = _DEBIAN.search(m.group(0))
    if debian:
        return debian.group(1)
    release = re.match(r"\d+\.\d+(?:\.\d+)?", m.group(1))
    return release.group(0) if release else None


def _same_version(a: str, b: str) -> bool:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in v.split("-")[0].split(".")[:3])

    return key(a) == key(b)


def reconcile(
    facts: dict, t: GuestTranscript, passed_cmdline: str, guest_cmdline: str, profile_name: str, version_from: str
) -> Reconciled:
    """Let the guest's reports replace the predicted facts; say where they differ and why that may be."""
    out = Reconciled(dict(facts))
    _lockdown(out, t, guest_cmdline)
    _iomem(out, passed_cmdline, guest_cmdline, t)
    _version(out, t, version_from)
    _encryption(out, t, profile_name)
    return out


def _lockdown(out: Reconciled, t: GuestTranscript, cmdline: str) -> None:
    predicted, reported = out.facts["lockdown"], reported_lockdown(t)
    out.record["lockdown"] = {"predicted": predicted, "reported": reported, "used": reported or predicted}
    if reported is None or reported == predicted:
        return
    out.facts["lockdown"] = reported
    asked = re.search(r"(?:^|\s)lockdown=(\S+)", cmdline)
    if LOCKDOWN_LEVELS.index(reported) > LOCKDOWN_LEVELS.index(predicted):
        why = (
            f"above the lockdown={asked.group(1)} the command line asked for"
            if asked
            else "although nothing on the command line asked for it"
        )
        out.notes.append(f"lockdown is {reported} {why}: firmware Secure Boot?")
    else:
        out.notes.append(
            f"lockdown is {reported} although config and command line ask for {predicted}: is the lockdown LSM active?"
        )


def _iomem(out: Reconciled, passed: str, guest: str, t: GuestTranscript) -> None:
    predicted = iomem_mode(passed) if passed else out.facts["iomem"]
    reported = iomem_mode(guest) if t.sections.get("cmdline", "").strip() else None
    out.record["iomem"] = {"predicted": predicted, "reported": reported, "used": out.facts["iomem"]}
    if reported is not None and reported != predicted:
        words = " ".join(w for w in guest.split() if w.startswith("iomem=")) or "no iomem="
        out.notes.append(
            f"iomem is {reported} although the harness passed {predicted}: the guest booted with {words}"
            " (a bootloader's?)"
        )


def _version(out: Reconciled, t: GuestTranscript, version_from: str | None) -> None:
    predicted, reported = out.facts.get("version"), reported_version(t)
    out.record["version"] = {"predicted": predicted, "reported": reported, "used": predicted}
    if reported is None or (predicted is not None and _same_version(predicted, reported)):
        return
    out.facts["version"] = reported
    out.record["version"]["used"] = reported
    if predicted is not None and version_from == "kernel":  # a uname -r guess gives way without a word
        out.notes.append(
            f"the kernel says it is {reported} but its config says {predicted}: judged as {reported}"
            " (is --kernel-config this kernel's?)"
        )


def _encryption(out: Reconciled, t: GuestTranscript, profile_name: str) -> None:
    reported = memory_encryption(t.sections.get("dmesg", ""))
    predicted = bool(out.facts.get("confidential"))
    out.facts["memory_encryption"] = reported
    out.record["memory_encryption"] = {"predicted": predicted, "reported": reported, "used": reported}
    if reported and not predicted:
        out.facts["confidential"] = True
        out.notes.append(
            f"the guest reports memory encryption ({reported}) although profile {profile_name} launched no"
            " confidential guest: judged as a confidential guest"
        )
