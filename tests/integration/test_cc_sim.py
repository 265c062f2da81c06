# SPDX-License-Identifier: GPL-2.0-only
"""The cc-sim profile: an emulated confidential guest under TCG, on a real 6.12 kernel built with
kconfigs/patches/cc-sim.patch and kconfigs/cc-sim.config, and the payoff: the 2025 fix (written
for the harness, kconfigs/patches/devmem-cc-eperm.patch) turns the known issue into a pass there
while a plain guest on the very same kernel is unchanged.

The first test builds the cc-sim kernel (one full build on a cold machine); the fix is an
incremental rebuild of one file in the same build directory.
"""

import subprocess

import pytest

from ..conftest import REPO, harness

pytestmark = [pytest.mark.guest, pytest.mark.kbuild, pytest.mark.slow]

SOURCE = "deb:linux-source-6.12"
OPEN_PROBES = ("devmem.open", "devport.open")


def by_name(run) -> dict[str, dict]:
    return {p["name"]: p for p in run.results["probes"]}


BAD = ("fail", "error", "not-run")


def bad_verdicts(run) -> list:
    return [(p["name"], p["verdict"], p["reason"]) for p in run.results["probes"] if p["verdict"] in BAD]


def test_make_test_cc_sim_boots_a_guest_that_reports_a_confidential_platform(tmp_path):
    """`make test-cc-sim` as a user runs it: the known issue, with its link, and `emulated` everywhere."""
    proc = subprocess.run(
        ["make", "-s", "test-cc-sim", f"ARGS=--runs-dir {tmp_path}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "EMULATED confidential guest" in proc.stdout
    run_dir = (tmp_path / "latest").resolve()
    import json

    r = json.loads((run_dir / "results.json").read_text())
    assert r["profile"] == "cc-sim" and r["emulated"] is True
    assert r["facts"]["kind"] == "cc-sim" and r["facts"]["confidential"] and r["facts"]["emulated"]
    assert r["confidential_proof"]["status"] == "proven"
    # The host looked (auto in confidential profiles) and, nothing being encrypted, found the marker.
    assert r["confidential_proof"]["host_look"]["marker_found"] is True
    assert "expected: an emulated confidential guest" in r["confidential_proof"]["host"]
    assert r["probes"][0]["name"] == "run.asked.confidential" and r["probes"][0]["verdict"] == "pass"
    assert r["accel"] == "tcg" and "cc_sim" in r["cmdline"].split()
    assert r["qemu"]["argv"][r["qemu"]["argv"].index("-cpu") + 1] == "max"
    # The guest's own word that it is confidential, from its kernel log.
    dmesg = (run_dir / "dmesg.txt").read_text()
    assert "cc_sim: SIMULATED confidential guest" in dmesg
    assert "Memory Encryption Features active: Intel TDX" in dmesg
    assert r["facts"]["memory_encryption"] and "Intel TDX" in r["facts"]["memory_encryption"]
    # Nothing can kill an emulated guest, so nothing runs in a boot of its own.
    assert [b["name"] for b in r["boots"]] == ["main"]
    probes = {p["name"]: p for p in r["probes"]}
    for name in OPEN_PROBES:
        assert probes[name]["verdict"] == "known-issue", probes[name]
        assert probes[name]["observation"]["outcome"] == "ok"
        assert "lore.kernel.org" in probes[name]["link"]
    assert not [(p["name"], p["verdict"]) for p in r["probes"] if p["verdict"] in BAD], r["probes"]
    # Every artefact says it is emulated.
    assert "EMULATED" in (run_dir / "results.ktap").read_text()
    assert 'name="emulated" value="yes"' in (run_dir / "junit.xml").read_text()


def test_the_fix_turns_the_known_issue_into_a_pass_and_plain_guests_are_unchanged(tmp_path):
    sim = harness("run", "--profile", "cc-sim", "--patch", "devmem-cc-eperm", runs_dir=tmp_path / "sim", timeout=3000)
    assert sim.returncode == 0, sim.stderr[-3000:]
    probes = by_name(sim)
    for name in OPEN_PROBES:
        assert probes[name]["verdict"] == "pass", probes[name]
        assert probes[name]["observation"]["outcome"] == "EPERM"
    # Every probe that needs /dev/mem now stops at open(): a skip, never a failure.
    assert probes["devmem.read.ram-below-1m"]["verdict"] == "skip"
    assert not bad_verdicts(sim), bad_verdicts(sim)
    assert sim.results["confidential_proof"]["status"] == "proven"

    # The same kernel (same build, same image) as a plain guest: both devices open as before.
    plain = harness(
        "run",
        "--source",
        SOURCE,
        "--kconfig",
        "cc-sim",
        "--patch",
        "cc-sim",
        "--patch",
        "devmem-cc-eperm",
        runs_dir=tmp_path / "plain",
        timeout=3000,
    )
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert plain.results["kernel"]["image"] == sim.results["kernel"]["image"]
    assert plain.results["emulated"] is False and "cc_sim" not in plain.results["cmdline"].split()
    pprobes = by_name(plain)
    for name in OPEN_PROBES:
        assert pprobes[name]["verdict"] == "pass", pprobes[name]
        assert pprobes[name]["observation"]["outcome"] == "ok"
    assert not bad_verdicts(plain), bad_verdicts(plain)


def test_a_kernel_without_the_patch_cannot_pass_for_a_confidential_guest(tmp_path):
    """Debian's own 6.12 has INTEL_TDX_GUEST but not cc_sim: run.asked.confidential fails, every probe is an error."""
    run = harness(
        "run",
        "--profile",
        "cc-sim",
        "--kernel",
        "deb:linux-image-6.12.107+deb12-amd64-unsigned",
        "--probe",
        "devmem.open",
        runs_dir=tmp_path,
        timeout=600,
    )
    assert run.returncode != 0
    r = run.results
    assert r["confidential_proof"]["status"] != "proven" and "cc_sim: SIMULATED" in r["confidential_proof"]["status"]
    asked, *probes = r["probes"]
    # The profile asked for a confidential guest and the kernel did not become one: a failure of its own.
    assert (asked["name"], asked["verdict"]) == ("run.asked.confidential", "fail") and r["verdict"] == "fail"
    assert "cc_sim: SIMULATED" in asked["observed"]
    assert {p["verdict"] for p in probes} == {"error"}
    assert "did not prove it is confidential" in probes[0]["reason"]
