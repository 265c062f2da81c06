# SPDX-License-Identifier: GPL-2.0-only
"""Facts from the guest win (harness/judging/guest_facts.py), on recorded transcripts.

Each case starts from a golden run (a real guest's console, tests/unit/golden/runs) and changes
the one thing a real machine could change behind the harness's back: firmware that locks the
kernel down, a bootloader that adds `iomem=`, a `--kernel-config` of another build, memory
encryption on a guest launched as plain.  The change is named in each test.
"""

import dataclasses

from harness.judging.conclusion import conclude
from harness.judging.oracle import Oracle

from .golden_runs import CASES, load_case


def judged(case: str, edit_sections=None, **kernel_changes):
    kernel, selection, boots, facts = load_case(CASES / case)
    if kernel_changes:
        kernel = dataclasses.replace(kernel, **kernel_changes)
    if edit_sections:
        edit_sections(boots[0].transcript.sections, facts)
    return conclude(Oracle.load(), kernel, selection, boots, facts)


def test_lockdown_the_command_line_never_asked_for_is_judged_as_the_guest_reports_it():
    """lockdown-integrity booted with lockdown=integrity; drop the word from both command lines, as if
    firmware Secure Boot had locked the kernel down (Debian: LOCK_DOWN_IN_EFI_SECURE_BOOT)."""

    def firmware_lockdown(sections, facts):
        sections["cmdline"] = sections["cmdline"].replace("lockdown=integrity", "").strip()
        facts.cmdline = facts.cmdline.replace("lockdown=integrity", "").strip()

    c = judged("lockdown-integrity", firmware_lockdown)
    f = c.results["facts"]
    assert (f["lockdown"], f["lockdown_expected"]) == ("integrity", "none")
    assert f["predicted_vs_reported"]["lockdown"] == {"predicted": "none", "reported": "integrity", "used": "integrity"}
    assert "lockdown is integrity although nothing on the command line asked for it: firmware Secure Boot?" in (
        c.warnings
    )
    by_name = {v.name: v for v in c.verdicts}
    assert by_name["devmem.open"].verdict == "pass" and by_name["devmem.open"].rule == "devmem-open-lockdown"
    assert by_name["pcisysfs.mmap.idle-bar"].verdict == "pass" and by_name["pcisysfs.mmap.idle-bar"].rule == (
        "sysfs-bar-lockdown"
    )
    assert c.results["verdict"] == "pass" and c.results["counts"]["fail"] == 0


def test_without_the_guests_word_the_same_transcript_would_fail():
    """The control: the same edit with the lockdown section gone (no securityfs) judges by the prediction."""

    def no_securityfs(sections, facts):
        sections["cmdline"] = sections["cmdline"].replace("lockdown=integrity", "").strip()
        facts.cmdline = facts.cmdline.replace("lockdown=integrity", "").strip()
        sections["lockdown"] = "absent"

    c = judged("lockdown-integrity", no_securityfs)
    assert c.results["facts"]["lockdown"] == "none"
    # resourceN mmap() refused with EPERM: without the guest's word it is judged by the unlocked rule, as a
    # tightening someone proposed (never a regression), not as what lockdown does.
    idle = {v.name: v for v in c.verdicts}["pcisysfs.mmap.idle-bar"]
    assert (idle.verdict, idle.rule) == ("pass", "sysfs-idle-bar-mappable") and "a tightening" in idle.reason


def test_iomem_from_a_bootloader_is_the_guests_and_parsed_as_the_kernel_parses_it():
    def bootloader_iomem(sections, facts):
        sections["cmdline"] += " iomem=relaxed,nosmt"

    c = judged("completed", bootloader_iomem)
    f = c.results["facts"]
    assert f["iomem"] == "relaxed"
    assert f["predicted_vs_reported"]["iomem"] == {"predicted": "default", "reported": "relaxed", "used": "relaxed"}
    assert any(w.startswith("iomem is relaxed although the harness passed default") for w in c.warnings), c.warnings


def test_a_config_of_another_version_gives_way_to_the_kernels_banner():
    c = judged("completed", version="6.1.192")  # as if --kernel-config named 6.1's config
    f = c.results["facts"]
    assert (f["version"], f["version_from"]) == ("6.12.107", "guest")
    assert f["predicted_vs_reported"]["version"]["predicted"] == "6.1.192"
    assert "the kernel says it is 6.12.107 but its config says 6.1.192: judged as 6.12.107" in c.warnings[0]


def test_memory_encryption_the_profile_did_not_ask_for_makes_a_confidential_guest():
    def encrypted(sections, facts):
        sections["dmesg"] += "\n[    0.000000] Memory Encryption Features active: AMD SEV SEV-ES SEV-SNP\n"

    c = judged("completed", encrypted)
    f = c.results["facts"]
    assert f["confidential"] is True and f["memory_encryption"] == "AMD SEV SEV-ES SEV-SNP"
    assert any("reports memory encryption (AMD SEV SEV-ES SEV-SNP) although profile plain" in w for w in c.warnings)
    assert {v.name: v for v in c.verdicts}["devmem.open"].verdict == "known-issue"  # the cc policy applies


def test_agreement_says_nothing():
    c = judged("completed")
    assert c.warnings == []
    record = c.results["facts"]["predicted_vs_reported"]
    assert all(r["predicted"] == r["used"] for k, r in record.items() if k != "memory_encryption")


def _reports_lockdown(level):
    def edit(sections, facts):
        sections["lockdown"] = " ".join(f"[{w}]" if w == level else w for w in ("none", "integrity", "confidentiality"))

    return edit


def test_a_kernel_that_ignores_the_lockdown_it_was_asked_for_fails_the_run():
    """m49-lockdown-param-integrity: lockdown=integrity on the command line, the guest reports none. Every
    probe is judged unlocked (on m49 they pass as such); run.asked.lockdown is the failure that names it.
    (This transcript's probes saw a locked-down kernel, so some fail too here.)"""
    c = judged("lockdown-integrity", _reports_lockdown("none"))
    asked = {v.name: v for v in c.verdicts}["run.asked.lockdown"]
    assert (asked.verdict, asked.observed) == ("fail", "lockdown=none")
    assert asked.expected == "lockdown=integrity or stronger"
    assert "the command line asked for lockdown=integrity; the guest reports none" in asked.reason
    assert c.results["verdict"] == "fail" and c.code == 1
    assert c.results["probes"][0]["name"] == "run.asked.lockdown"  # first in results.json, JUnit and KCIDB


def test_a_guest_locked_down_further_than_asked_is_judged_by_its_word_and_passes():
    c = judged("lockdown-integrity", _reports_lockdown("confidentiality"))
    asked = {v.name: v for v in c.verdicts}["run.asked.lockdown"]
    assert asked.verdict == "pass" and asked.observed == "lockdown=confidentiality"
    assert c.results["facts"]["lockdown"] == "confidentiality"
    assert any("above the lockdown=integrity the command line asked for" in w for w in c.warnings)


def test_nothing_asked_adds_no_verdict_and_honoured_lockdown_passes():
    assert "run.asked.lockdown" not in {v.name for v in judged("completed").verdicts}
    honoured = {v.name: v for v in judged("lockdown-integrity").verdicts}["run.asked.lockdown"]
    assert honoured.verdict == "pass" and honoured.observed == "lockdown=integrity"
