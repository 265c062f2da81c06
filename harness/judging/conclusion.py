# SPDX-License-Identifier: GPL-2.0-only
"""Judging a run: a pure function from its boots, the oracle, the kernel and the profile to results.

Nothing here boots, reads or writes: `conclude` takes what the boots observed
(their VM results and parsed consoles) and returns the verdict of every probe,
the run's verdict and outcome, its facts and warnings, and its exit code.  So
it is unit-tested on canned boots and on golden transcripts, and the runner
only records what it returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..kernels.kernel import Kernel
from ..vocabulary import GUEST_TERMINATED, Cause, Outcome, Verdict
from .asked import asked_confidential, asked_lockdown
from .console import (
    GuestTranscript,
    e820_map,
    failed_modules,
    iomem_top_level,
    lines_by_probe,
    warnings_by_probe,
)
from .guest_facts import reconcile
from .ktap import KtapResult
from .observed import Boot, VMResult
from .oracle import Judgement, Oracle, derive_facts
from .verdicts import counts, exit_code, overall_verdict, probe_entries


class GuestKind(Protocol):
    """What judging reads of a guest profile (guests/profiles.py's `Profile` is one): the kind, whether the
    confidential policy applies and hardware stands behind it, and how the guest proves what it is."""

    kind: str
    confidential: bool
    emulated: bool
    proof_dmesg: tuple[str, ...]
    proof_device: str | None


@dataclass
class RunFacts:
    """What the run knew before it booted, besides the kernel: the profile and the command line it asked for."""

    profile_name: str
    profile: GuestKind | None
    floor: bool = False
    cmdline: str = ""  # the command line the harness passed, if the guest never said which it booted with
    run_dir: Path = Path(".")
    spare: dict | None = None  # the spare device's record (harness/kernels/spare.py): which, why, what was passed over


@dataclass
class Conclusion:
    verdicts: list[Judgement]
    results: dict  # the fields of results.json this sets
    warnings: list[str] = field(default_factory=list)  # new ones, beside those the run already gave
    code: int = 0
    release: str | None = None  # the guest's uname -r, else the kernel's own


def conclude(oracle: Oracle, kernel: Kernel, selection: list[str], boots: list[Boot], run: RunFacts) -> Conclusion:
    main = boots[0]
    t, vm = main.transcript, main.vm
    guest_cmdline = t.sections.get("cmdline", "").strip() or run.cmdline
    version, version_from = kernel_version(kernel, t.sections.get("uname", ""))
    predicted = _facts(kernel, guest_cmdline, version, run.profile, run.profile_name, t)
    guest = reconcile(predicted, t, run.cmdline, guest_cmdline, run.profile_name, version_from)
    facts = guest.facts
    if facts["version"] != version:
        version, version_from = facts["version"], "guest"
    facts["spare"] = run.spare or {}
    facts["spare_io_bar"] = facts["spare"].get("io_bar", True)
    facts["spare_rom"] = facts["spare"].get("rom", True)
    verdicts = [] if run.floor else [judge_probe(oracle, name, boots, facts) for name in selection]
    proof = confidential_proof(run.profile, t)
    if proof:
        for v in (v for v in verdicts if v.verdict != Verdict.ERROR):  # a probe that never ran keeps its reason
            v.verdict, v.reason = Verdict.ERROR, f"the guest did not prove it is confidential: {proof}"
    evidence = proof_record(run.profile, proof, host_look(boots))
    if not run.floor:
        verdicts = _asked(guest.record["lockdown"], guest_cmdline, run, evidence, main) + verdicts
    outcome = _outcome(boots)
    if run.floor:
        verdict = Verdict.PASS if vm.outcome == Outcome.COMPLETED else Verdict.ERROR
    else:
        verdict = overall_verdict(verdicts, outcome)
    results = {
        "verdict": verdict,
        "outcome": outcome,
        "cause": Cause.HOST if outcome == Outcome.INTERRUPTED else vm.cause,
        "detail": vm.detail,
        "stage": vm.stage,
        "cmdline": guest_cmdline,
        "facts": {
            **_facts_record(facts, version, version_from, t),
            "lockdown_expected": guest.record["lockdown"]["predicted"],
            "predicted_vs_reported": guest.record,
        },
        "exit": {"qemu": vm.qemu_exit, "qemu_signal": vm.qemu_signal, "probe": t.probe_exit},
        "durations": {**vm.durations, "all_boots": round(sum(b.vm.durations.get("total", 0) for b in boots), 3)},
        "events": vm.events,
        "counts": counts(verdicts),
        "probes": probe_entries(verdicts),
        "boots": [boot_summary(b, run.run_dir) for b in boots],
        "terminations": [termination(b) for b in boots if b.terminated],
        "confidential_proof": evidence,
    }
    warnings = guest.notes + _warnings(version, boots)
    release = (t.sections.get("uname") or "").strip() or kernel.release
    return Conclusion(verdicts, results, warnings, exit_code(verdict, outcome), release)


def _asked(lockdown: dict, cmdline: str, run: RunFacts, evidence: dict | None, main: Boot) -> list[Judgement]:
    """The run's own verdicts on what it asked for (judging/asked.py), once the guest got far enough to say."""
    if main.vm.outcome != Outcome.COMPLETED and not main.transcript.sections.get("lockdown"):
        return []  # the guest died before it could report: the probes' own errors say so
    out = [asked_lockdown(lockdown["predicted"], lockdown["reported"], cmdline)]
    if run.profile and run.profile.confidential and evidence:
        status = evidence["status"]
        out.append(asked_confidential(run.profile_name, None if status == "proven" else status))
    return [j for j in out if j is not None]


def _facts(kernel: Kernel, cmdline: str, version: str | None, profile, name: str, t: GuestTranscript) -> dict:
    facts = derive_facts(
        kernel.symbols,
        cmdline,
        version,
        kind=profile.kind if profile else name,
        confidential=bool(profile and profile.confidential),
        emulated=bool(profile and profile.emulated),
    )
    facts["modules_from"] = kernel.modules_from
    return facts


def _facts_record(facts: dict, version: str | None, version_from: str | None, t: GuestTranscript) -> dict:
    return {
        "lockdown": facts["lockdown"],
        "lockdown_observed": lockdown_seen(t),
        "iomem": facts["iomem"],
        "kind": facts["kind"],
        "confidential": facts["confidential"],
        "emulated": facts["emulated"],
        "version": version,
        "version_from": version_from,
        "memory_encryption": facts["memory_encryption"],
        "panic": t.panic,
        "oopses": t.oopses[:20],
        "e820": e820_map(t.sections.get("dmesg", "")),
        "iomem_layout": iomem_top_level(t.sections.get("iomem", "")),
    }


def lockdown_seen(t: GuestTranscript) -> str | None:
    """/sys/kernel/security/lockdown as the guest showed it ("none [integrity] confidentiality")."""
    return t.sections.get("lockdown", "").strip() or None


def _outcome(boots: list[Boot]) -> Outcome:
    """interrupted if any boot was; completed if every boot completed or died under a probe; else the last's."""
    if any(b.vm.outcome == Outcome.INTERRUPTED for b in boots):
        return Outcome.INTERRUPTED
    if all(b.vm.outcome == Outcome.COMPLETED or b.terminated for b in boots):
        return Outcome.COMPLETED
    return boots[-1].vm.outcome


def _warnings(version: str | None, boots: list[Boot]) -> list[str]:
    warnings = []
    if version is None:
        warnings.append(
            "the kernel's version is unknown (no version in its config header or image, no uname -r from the"
            " guest): every probe whose expectation depends on the version is an error"
        )
    warnings += [f"the guest's init could not load {failed}" for failed in failed_modules(boots[0].transcript)]
    for b in boots:
        if b.doc.garbage:
            warnings.append(f"{b.name}: {len(b.doc.garbage)} non-KTAP line(s) inside the probe output")
        if b.transcript.probe_exit not in (0, None):
            warnings.append(f"{b.name}: the probe binary exited with status {b.transcript.probe_exit}")
    return warnings


def judge_probe(oracle: Oracle, name: str, boots: list[Boot], facts: dict) -> Judgement:
    ran = [b for b in boots if name in b.probes]
    if not ran:
        return oracle.judge(name, None, facts, "not run: the run was interrupted before its boot")
    boot = next((b for b in ran if name in b.doc.by_name() or b.terminated == name), ran[-1])
    result = boot.doc.by_name().get(name)
    if result is None and boot.terminated == name:
        # The guest died under this probe: that is the observation.
        result = KtapResult(
            number=0,
            name=name,
            ok=False,
            observation={"outcome": GUEST_TERMINATED, "how": boot.vm.outcome, "boot": boot.name},
        )
    dmesg = boot.transcript.sections.get("dmesg", "")
    warnings = warnings_by_probe(dmesg).get(name)
    log = lines_by_probe(dmesg).get(name)
    judged = oracle.judge(name, result, facts, missing_reason(boot.vm, boot.transcript), warnings, log)
    if boot.terminated == name and host_ended(boot.vm, facts):
        judged.verdict = Verdict.ERROR
        judged.link = None
        judged.reason = f"{boot.vm.detail} while this probe ran: a host fault, not a claim about the kernel"
    return judged


def host_ended(vm: VMResult, facts: dict) -> bool:
    """The host ended this guest (a signal, QEMU stopping it) and nothing but the host can have.

    On confidential hardware a terminated guest is the hazard the probes look for (a TDX guest killed
    by an unhandled SEPT violation reaches QEMU as a KVM error): there the rules judge it.
    """
    hardware_confidential = facts.get("confidential") and not facts.get("emulated")
    return vm.cause == Cause.HOST and not hardware_confidential


def confidential_proof(profile: GuestKind | None, t: GuestTranscript) -> str | None:
    """None when the guest proved what the profile says it is (or claims nothing), else what was missing."""
    if not profile or not profile.confidential:
        return None
    dmesg = t.sections.get("dmesg", "")
    missing = [f"dmesg lacks {line!r}" for line in profile.proof_dmesg if line not in dmesg]
    if profile.proof_device and profile.proof_device not in t.sections.get("ccdevices", ""):
        missing.append(f"{profile.proof_device} is absent")
    return "; ".join(missing) or None


def host_look(boots: list[Boot]) -> dict | None:
    """The host's look at guest memory (guests/host_memory.py): the first boot that took one."""
    return next((b.vm.host_memory for b in boots if b.vm.host_memory), None)


def proof_record(profile: GuestKind | None, guest_missing: str | None, host: dict | None) -> dict | None:
    """results.json `confidential_proof`: the status, the guest's evidence and the host's.

    A hardware confidential guest is proven when it proves itself (dmesg, its device) and the host,
    if it looked, did not find the marker in its memory; an emulated one (cc-sim) encrypts nothing,
    so the host finding it is expected and said.  Plain guests get a record only when the host looked."""
    confidential = bool(profile and profile.confidential)
    if not confidential and host is None:
        return None
    hardware = confidential and not profile.emulated
    if host is None:
        host_says = "not checked (--host-memory-check never, or the guest never planted its marker)"
    elif host.get("marker_found") is None:
        host_says = f"the host could not read guest memory: {host.get('error', 'unknown')}"
    elif host["marker_found"]:
        host_says = "the host found the guest's marker in a dump of its memory"
        if confidential and not hardware:
            host_says += " (expected: an emulated confidential guest encrypts nothing)"
    else:
        host_says = "the host did not find the guest's marker in a dump of its memory"
    if not confidential:
        status = "not a confidential guest"
    elif guest_missing:
        status = f"not proven: {guest_missing}"
    elif hardware and host and host.get("marker_found"):
        status = "not proven: the host read the guest's marker in its memory"
    else:
        status = "proven"
    guest_says = None
    if confidential:
        guest_says = guest_missing or "the guest showed every line and device its profile asks for"
    return {"status": status, "guest": guest_says, "host": host_says, "host_look": host}


def kernel_version(kernel: Kernel, uname: str) -> tuple[str | None, str | None]:
    """The kernel's version and where it came from: its config header or image, else the guest's uname -r."""
    if kernel.version:
        return kernel.version, "kernel"
    uname = uname.strip()
    if uname and uname != "absent" and re.match(r"\d+\.\d+", uname):
        return uname, "uname -r"
    return None, None


def missing_reason(vm: VMResult, t: GuestTranscript) -> str:
    if vm.outcome == Outcome.COMPLETED:
        if t.probe_exit not in (0, None):
            return f"no result: the probe binary exited with status {t.probe_exit} before reporting it"
        return "no result: the probe binary did not report this probe"
    return f"no result: the guest ended ({vm.outcome}: {vm.detail}) before this probe reported"


def termination(b: Boot) -> dict:
    return {
        "probe": b.terminated,
        "boot": b.name,
        "outcome": b.vm.outcome,
        "detail": b.vm.detail,
        "qemu_exit": b.vm.qemu_exit,
        "qemu_signal": b.vm.qemu_signal,
        "events": b.vm.events,
        "last_console_lines": list(b.console_tail),
    }


def boot_summary(b: Boot, run_dir: Path) -> dict:
    return {
        "name": b.name,
        "dir": str(b.directory.relative_to(run_dir)) if b.directory != run_dir else ".",
        "probes": b.probes,
        "outcome": b.vm.outcome,
        "cause": b.vm.cause,
        "detail": b.vm.detail,
        "exit": {"qemu": b.vm.qemu_exit, "probe": b.transcript.probe_exit},
        "durations": b.vm.durations,
    }
