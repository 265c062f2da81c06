# SPDX-License-Identifier: GPL-2.0-only
"""The guest's console transcript: the init's "@@harness" sections, panics, oopses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MARK = "@@harness "
PANIC = re.compile(r"Kernel panic - not syncing:?\s*(.*)")
INSMOD_FAILED = re.compile(r"^insmod: (\S+) failed")  # guest-images/init.sh
OOPS = re.compile(r"(BUG: .*|Oops: .*|general protection fault.*|WARNING: CPU: .*)")


@dataclass
class GuestTranscript:
    init_started: bool = False
    done: bool = False
    probe_exit: int | None = None
    sections: dict[str, str] = field(default_factory=dict)
    incomplete: list[str] = field(default_factory=list)  # sections begun but never ended
    panic: str | None = None
    oopses: list[str] = field(default_factory=list)
    insmod_failed: list[str] = field(default_factory=list)  # modules the init could not load


def normalize(text: str) -> str:
    """Serial consoles end lines with \r\n, sometimes \r\r\n: make them \n."""
    return re.sub(r"\r+\n", "\n", text).replace("\r", "\n")


def parse_console(text: str) -> GuestTranscript:
    t = GuestTranscript()
    current: str | None = None
    body: list[str] = []
    for line in normalize(text).split("\n"):
        stripped = line.strip()
        if m := PANIC.search(line):
            t.panic = t.panic or m.group(1).strip() or "Kernel panic"
        if stripped.startswith(MARK):
            word = stripped[len(MARK) :].split()
            if not word:
                continue
            if word[0] == "init-started":
                t.init_started = True
            elif word[0] == "done":
                t.done = True
            elif word[0] == "probe-exit" and len(word) > 1 and word[1].lstrip("-").isdigit():
                t.probe_exit = int(word[1])
            elif word[0] == "begin" and len(word) > 1:
                current, body = word[1], []
            elif word[0] == "end" and current is not None:
                t.sections[current] = "\n".join(body)
                current = None
            continue
        if current is not None:
            body.append(line)
        elif m := OOPS.search(line):
            t.oopses.append(m.group(1).strip())
        elif m := INSMOD_FAILED.match(stripped):
            t.insmod_failed.append(m.group(1))
    if current is not None:
        t.sections[current] = "\n".join(body)
        t.incomplete.append(current)
    dmesg = t.sections.get("dmesg", "")
    for line in dmesg.split("\n"):
        if (m := OOPS.search(line)) and m.group(1).strip() not in t.oopses:
            t.oopses.append(m.group(1).strip())
    return t


# ------------------------------------------------------------------ facts from the kernel log

PROBE_MARK = re.compile(r"harness-probe: (begin|end) (\d+) (\S+)")
KERNEL_WARNING = re.compile(
    r"(WARNING: CPU: .*|BUG: .*|Oops: .*|kernel BUG at .*|general protection fault.*|UBSAN: .*|Call Trace:)"
)
MEM_ENCRYPT = re.compile(r"Memory Encryption Features active:\s*(.*)")
E820 = re.compile(r"BIOS-e820: (\[mem [^\]]+\] .*)")


def lines_by_probe(dmesg: str) -> dict[str, list[str]]:
    """Every kernel log line written while each probe ran.

    The probe binary writes "harness-probe: begin N NAME" and "... end N NAME"
    to /dev/kmsg around every probe, so a line between the two belongs to it.
    """
    found: dict[str, list[str]] = {}
    current = None
    for line in normalize(dmesg).split("\n"):
        if m := PROBE_MARK.search(line):
            current = m.group(3) if m.group(1) == "begin" else None
            continue
        if current:
            found.setdefault(current, []).append(line)
    return found


def warnings_by_probe(dmesg: str) -> dict[str, list[str]]:
    """Kernel warnings (WARN, BUG, Oops, KASAN, Call Trace) logged while each probe ran."""
    found: dict[str, list[str]] = {}
    for probe, lines in lines_by_probe(dmesg).items():
        hits = [w.group(1).strip() for line in lines if (w := KERNEL_WARNING.search(line))]
        if hits:
            found[probe] = hits
    return found


def failed_modules(t: GuestTranscript) -> list[str]:
    """Modules the guest's init could not load, each with the kernel's own words when it said any."""
    out = []
    dmesg = t.sections.get("dmesg", "")
    for name in t.insmod_failed:
        stem = name.removesuffix(".ko").replace("-", "_")
        said = [ln.strip() for ln in normalize(dmesg).split("\n") if stem in ln.replace("-", "_")]
        out.append(f"{name}: {said[-1]}" if said else name)
    return out


def memory_encryption(dmesg: str) -> str | None:
    """What cc_platform reports at boot ("AMD SEV SEV-ES SEV-SNP", "Intel TDX"), or None."""
    m = MEM_ENCRYPT.search(dmesg)
    return m.group(1).strip() if m else None


def e820_map(dmesg: str) -> list[str]:
    return [m.group(1).strip() for m in E820.finditer(normalize(dmesg))]


def iomem_top_level(iomem: str) -> list[str]:
    return [line.strip() for line in normalize(iomem).split("\n") if line.strip() and not line.startswith(" ")]
