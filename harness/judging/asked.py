# SPDX-License-Identifier: GPL-2.0-only
"""What the run asked for, honoured: a lockdown level, a confidential guest — each a verdict of its own.

The oracle judges every probe by what the guest reports (guest_facts), so a kernel that
ignores `lockdown=integrity` would be judged as an unlocked kernel and pass.  A run that
asked for a level (on the command line, or forced by the config) and a guest that
reports a weaker one is the kernel's failure, named in the table, results.json, JUnit
and KCIDB like any probe's.  A guest that reports *stronger* than asked (Secure Boot
raising lockdown) is judged by what it reports: that is a warning, not a failure.
"""

from __future__ import annotations

from ..vocabulary import Verdict
from .oracle import LOCKDOWN_LEVELS, Judgement

ASKED_LOCKDOWN = "run.asked.lockdown"
ASKED_CONFIDENTIAL = "run.asked.confidential"
LOCKDOWN_SOURCE = (
    "security/lockdown/lockdown.c: lockdown_param() calls lock_kernel_down() for lockdown=integrity or"
    " confidentiality, and lockdown_lsm_init() for LOCK_DOWN_KERNEL_FORCE_*; /sys/kernel/security/lockdown"
    " shows the level in force"
)
PROOF_SOURCE = "harness/data/profiles: the proof (dmesg lines, a guest device) that the guest is what it launched as"


def asked_lockdown(predicted: str, reported: str | None, cmdline: str) -> Judgement | None:
    """None when nothing asked for lockdown; else pass when the guest is at least as locked down as asked."""
    if predicted == "none":
        return None
    by = "the command line" if f"lockdown={predicted}" in cmdline.split() else "the config (or command line)"
    expected = f"lockdown={predicted} or stronger"
    if reported is None:
        return Judgement(
            ASKED_LOCKDOWN,
            Verdict.ERROR,
            expected,
            "no /sys/kernel/security/lockdown",
            f"{by} asked for lockdown={predicted} but the guest did not report its level: cannot tell",
            rule="asked-lockdown",
            source=LOCKDOWN_SOURCE,
        )
    honoured = LOCKDOWN_LEVELS.index(reported) >= LOCKDOWN_LEVELS.index(predicted)
    return Judgement(
        ASKED_LOCKDOWN,
        Verdict.PASS if honoured else Verdict.FAIL,
        expected,
        f"lockdown={reported}",
        f"{by} asked for lockdown={predicted}; the guest reports {reported}"
        + ("" if honoured else ": the kernel did not honour it, so every probe below was judged unlocked"),
        rule="asked-lockdown",
        source=LOCKDOWN_SOURCE,
        observation={"outcome": "ok" if honoured else "weaker", "asked": predicted, "reported": reported},
    )


def asked_confidential(profile_name: str, missing: str | None) -> Judgement:
    """A confidential profile: pass when the guest proved it is one, fail with what was missing."""
    return Judgement(
        ASKED_CONFIDENTIAL,
        Verdict.FAIL if missing else Verdict.PASS,
        f"the guest proves it is a {profile_name} guest",
        "proven" if not missing else missing,
        f"profile {profile_name} launched a confidential guest"
        + (f" and the kernel did not become one: {missing}" if missing else " and the guest proved it"),
        rule="asked-confidential",
        source=PROOF_SOURCE,
        observation={"outcome": "weaker" if missing else "ok", "asked": profile_name},
    )
