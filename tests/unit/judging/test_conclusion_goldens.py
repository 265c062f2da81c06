# SPDX-License-Identifier: GPL-2.0-only
"""conclude() on real guests' transcripts: golden results, and what each kind of end must give.

Each case under tests/unit/golden/runs/ was recorded from a real run (tests/unit/judging/golden_runs.py);
its expected.json equalled that run's results.json when recorded.  Regenerate after a deliberate
change with DEVMEM_HARNESS_REGEN_GOLDENS=1 and review the diff.
"""

import difflib
import json
import os

import pytest

from .golden_runs import CASES, REGEN_ENV, judge_case, write_expected

ALL = sorted(p.name for p in CASES.iterdir() if (p / "case.json").is_file())


@pytest.mark.parametrize("name", ALL)
def test_golden(name):
    case = CASES / name
    if os.environ.get(REGEN_ENV):
        write_expected(case)
    want = (case / "expected.json").read_text()
    got = json.dumps(judge_case(case), indent=1, sort_keys=True) + "\n"
    diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "expected.json", "now"))
    assert not diff, f"{name}: conclude() changed (regenerate with {REGEN_ENV}=1 if meant):\n{diff[:6000]}"


def verdicts(r):
    return {p["name"]: p for p in r["probes"]}


def test_a_completed_boot_passes():
    r = judge_case(CASES / "completed")
    assert (r["code"], r["verdict"], r["outcome"], r["cause"]) == (0, "pass", "completed", None)
    assert r["counts"]["fail"] == r["counts"]["error"] == r["counts"]["not-run"] == 0
    assert verdicts(r)["devmem.mmap.ram-below-1m"]["verdict"] == "known-issue"  # the low-1MB mmap hole


def test_a_panic_under_a_probe_is_that_probes_observation_and_the_rest_resume():
    r = judge_case(CASES / "panic-under-a-probe")
    crashed = verdicts(r)["devmem.read.bios-rom"]
    assert crashed["observation"] == {"outcome": "guest-terminated", "how": "panic", "boot": "main"}
    assert crashed["verdict"] == "fail"  # a plain guest must not die under a probe
    assert [b["name"] for b in r["boots"]] == ["main", "resume-1"]
    assert verdicts(r)["pcisysfs.read.config"]["verdict"] == "pass"  # ran in the fresh boot
    (term,) = r["terminations"]
    assert term["probe"] == "devmem.read.bios-rom" and "sysrq triggered crash" in term["detail"]
    assert (r["code"], r["outcome"]) == (1, "completed")


def test_a_guest_killed_under_a_probe_records_the_signal():
    r = judge_case(CASES / "killed-with-a-resume-boot")
    (term,) = r["terminations"]
    assert (term["probe"], term["qemu_signal"], term["outcome"]) == ("devmem.read.bios-rom", 9, "qemu-failed")
    killed = verdicts(r)["devmem.read.bios-rom"]
    assert killed["observation"]["how"] == "qemu-failed"
    # A signal from outside is the host's doing: no verdict on the kernel, and the run exits 2.
    assert killed["verdict"] == "error" and "a host fault, not a claim about the kernel" in killed["reason"]
    assert verdicts(r)["devport.open"]["verdict"] == "pass"
    assert (r["code"], r["verdict"]) == (2, "error")


def test_a_hang_in_boot_gives_no_verdict():
    r = judge_case(CASES / "hang-in-boot")
    assert (r["code"], r["verdict"], r["outcome"], r["cause"], r["stage"]) == (2, "error", "hang", "kernel", "boot")
    assert {p["verdict"] for p in r["probes"]} == {"error"}
    assert r["terminations"] == []


def test_an_old_kernel_is_judged_by_its_version():
    r = judge_case(CASES / "bullseye-5.10")
    assert r["code"] == 0 and r["facts"]["version"].startswith("5.10.")
    sysfs = verdicts(r)["pcisysfs.revoke.bar-on-bind"]
    assert sysfs["verdict"] == "known-issue" and "636b21b50152" in sysfs["link"]


def test_an_emulated_confidential_guest_proves_itself_and_shows_its_known_issue():
    r = judge_case(CASES / "cc-sim")
    assert r["confidential_proof"]["status"] == "proven" and r["facts"]["emulated"] is True
    assert verdicts(r)["devmem.open"]["verdict"] == "known-issue"
