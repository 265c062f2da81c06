# SPDX-License-Identifier: GPL-2.0-only
"""`run` on the default Debian 6.12 guest: real boots, observed outcomes."""

import xml.etree.ElementTree as ET

import pytest

from harness.judging.ktap import parse_ktap

from ..conftest import harness

pytestmark = pytest.mark.guest


def test_default_guest_passes_with_the_hole_as_known_issue(default_run):
    assert default_run.returncode == 0, default_run.stderr
    r = default_run.results
    assert r["verdict"] == "pass" and r["outcome"] == "completed"
    assert r["kernel"]["release"].startswith("6.12.")
    assert r["exit"] == {"qemu": 0, "qemu_signal": None, "probe": 0}
    catalogue = [line.split()[0] for line in harness("probes").stdout.splitlines() if line.strip()]
    assert len(catalogue) == len(set(catalogue)) > 50
    assert [p["name"] for p in r["probes"]] == catalogue  # every probe, once, in the catalogue's order
    assert {p["verdict"] for p in r["probes"]} <= {"pass", "known-issue"}
    hole = default_run.probe("devmem.mmap.ram-below-1m")
    assert hole["verdict"] == "known-issue"
    assert hole["observation"]["data"] == "persisted"
    assert hole["link"] == "https://github.com/KSPP/linux/issues/74"


def test_default_guest_observations_match_strict_devmem(default_run):
    obs = {p["name"]: p["observation"] for p in default_run.results["probes"]}
    assert obs["devmem.open"]["outcome"] == "ok"
    assert obs["devmem.read.ram-below-1m"]["data"] == "zeros"
    assert obs["devmem.read.bios-rom"]["addr"] == "0xf0000"
    assert obs["devmem.read.bios-rom"]["data"] == "nonzero"
    assert obs["devmem.read.ram-above-1m"]["outcome"] == "EPERM"
    assert obs["devmem.mmap.ram-above-1m"]["outcome"] == "EPERM"
    assert obs["devmem.mmap.busy-mmio"]["outcome"] == "EPERM"
    assert obs["devmem.mmap.idle-bar"]["outcome"] == "ok"
    assert obs["devport.read.port-0x80"]["ret"] == "1"
    assert obs["pcisysfs.read.config"]["vendor"] == "0x8086"


def test_run_directory_holds_every_artifact(default_run):
    d = default_run.run_dir
    for name in ("results.json", "junit.xml", "results.ktap", "probe.ktap", "console.log", "dmesg.txt", "repro.sh"):
        assert (d / name).is_file(), name
    assert "Linux version 6.12" in (d / "dmesg.txt").read_text()
    assert "qemu-system-x86_64" in (d / "repro.sh").read_text()
    suite = ET.parse(d / "junit.xml").getroot()
    assert int(suite.get("tests")) == len(default_run.results["probes"])
    assert suite.get("failures") == "0"
    ktap = parse_ktap((d / "results.ktap").read_text())
    assert ktap.plan == len(ktap.results) == len(default_run.results["probes"])
    assert d.name.split("-")[2] == "plain"
    facts = default_run.results["facts"]
    assert facts["lockdown_expected"] == "none" and facts["lockdown_observed"].startswith("[none]")


def test_summary_table_on_stdout(default_run):
    assert "PROBE" in default_run.stdout and "devmem.mmap.ram-below-1m" in default_run.stdout
    assert "KNOWN-ISSUE" in default_run.stdout
    assert "verdict: pass" in default_run.stdout


def test_lockdown_integrity_refuses_open(lockdown_run):
    run = lockdown_run
    assert run.returncode == 0, run.stderr
    assert run.probe("devmem.open")["observation"]["outcome"] == "EPERM"
    assert run.probe("devport.open")["observation"]["outcome"] == "EPERM"
    assert run.probe("devmem.read.ram-below-1m")["verdict"] == "skip"
    assert run.results["facts"]["lockdown_observed"].startswith("none [integrity]")


def test_iomem_relaxed_run_passes(relaxed_run):
    assert relaxed_run.returncode == 0, relaxed_run.stderr
    assert relaxed_run.results["cmdline"].endswith("iomem=relaxed")
    assert relaxed_run.probe("devmem.mmap.busy-mmio")["rule"] == "busy-mmio-mappable"


def test_probe_patterns_select_a_subset(tmp_path):
    run = harness("run", "--probe", "devport.*", runs_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    assert [p["name"] for p in run.results["probes"]] == [
        "devport.open",
        "devport.open.no-rawio",
        "devport.read.port-0x80",
        "devport.write.port-0x80",
        "devport.read.past-65535",
        "devport.write.past-65535",
        "devport.read.straddle-65535",
        "devport.read.position",
    ]


def test_a_wrong_expectation_fails_the_run(tmp_path):
    """A user's expectation for a patched kernel (open refused) against a stock kernel: exit 1."""
    mine = tmp_path / "patched.yaml"
    mine.write_text(
        "probes:\n  devmem.open:\n    - id: patched-refuses-open\n      expect: {outcome: EPERM}\n"
        "      source: my patch series\n"
    )
    run = harness("run", "--expectations", str(mine), "--probe", "devmem.open,devport.open", runs_dir=tmp_path / "runs")
    assert run.returncode == 1, run.stderr
    probe = run.probe("devmem.open")
    assert probe["verdict"] == "fail" and probe["rule"] == "patched-refuses-open"
    assert run.results["verdict"] == "fail"


@pytest.mark.slow
def test_older_debian_kernel(tmp_path):
    from harness.kernels.kernel import KernelCatalog

    older = KernelCatalog.load().older
    run = harness("run", "--kernel", older, runs_dir=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.results["kernel"]["release"].startswith("6.1.")
    assert run.probe("devmem.mmap.ram-below-1m")["verdict"] == "known-issue"
