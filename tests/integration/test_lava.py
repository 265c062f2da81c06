# SPDX-License-Identifier: GPL-2.0-only
"""The LAVA path end to end, with a real LAVA dispatcher: the judged verdicts are a local run's.

`lava-job` renders the job, Debian's lava-dispatcher runs it (`lava-run`, with tuxrun's
device template) on this machine's QEMU, and `judge --lava` judges the log it wrote.  The
same kernel booted by `run` must give every probe the same verdict and the same observation.
"""

import json

import pytest

from ..conftest import harness
from ..lava_rootfs import write_lab_rootfs

pytestmark = [pytest.mark.guest]


@pytest.fixture(scope="module")
def lava_judged(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lava")
    job = harness("lava-job", "--out", str(tmp / "job"))
    assert job.returncode == 0 and (tmp / "job" / "job.yaml").is_file(), job.stderr
    ran = harness("lava-run", str(tmp / "job" / "job.yaml"), "--out", str(tmp / "dispatch"), timeout=900)
    assert ran.returncode == 0, ran.stderr[-2000:]
    judged = harness("judge", "--lava", str(tmp / "dispatch"), "--runs-dir", str(tmp / "runs"))
    judged.run_dir = (tmp / "runs" / "latest").resolve()
    return judged


def test_lava_gives_the_verdicts_and_observations_of_a_local_run(lava_judged, default_run):
    assert lava_judged.returncode == default_run.returncode == 0, lava_judged.stderr[-2000:]
    lava, local = lava_judged.results, default_run.results
    assert lava["transport"] == "lava" and lava["lava"]["job_result"] == "pass"
    assert [p["name"] for p in lava["probes"]] == [p["name"] for p in local["probes"]]
    differ = [
        (a["name"], a["verdict"], b["verdict"], a["observation"], b["observation"])
        for a, b in zip(local["probes"], lava["probes"], strict=True)
        if (a["verdict"], a["observation"]) != (b["verdict"], b["observation"])
    ]
    assert not differ, differ
    assert lava["counts"] == local["counts"]


def test_lava_recorded_a_test_case_per_probe_and_the_run_keeps_its_evidence(lava_judged):
    r = lava_judged.results
    cases = r["lava"]["test_cases"]
    assert set(cases) == {p["name"] for p in r["probes"]} | {"probe-exit"}
    assert cases["probe-exit"] == "pass" and not r["warnings"]
    for name in ("console.log", "dmesg.txt", "probe.ktap", "results.ktap", "junit.xml", "lava-log.yaml"):
        assert (lava_judged.run_dir / name).stat().st_size > 0, name
    assert "harness.mode=lava" in r["cmdline"] and r["boot_command"].startswith("/usr/bin/qemu-system-x86_64")
    ktap = (lava_judged.run_dir / "probe.ktap").read_text()
    assert ktap.count("\nok ") + ktap.count("\nnot ok ") == len(r["probes"])
    json.dumps(r)  # results.json is plain JSON


def test_judging_a_file_that_is_not_a_lava_log_is_one_line(tmp_path):
    bad = tmp_path / "log.yaml"
    bad.write_text("- [unclosed\n")
    r = harness("judge", "--lava", str(bad), "--runs-dir", str(tmp_path / "runs"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert str(bad) in line and "not a LAVA job log" in line


def test_a_labs_own_rootfs_with_the_suite_overlaid_gives_the_same_verdicts(tmp_path, default_run):
    """A lab-style ramdisk (busybox init, getty, login; nothing of the harness): LAVA logs in at its
    login prompt and overlays the suite; the judged verdicts are a local run's."""
    rootfs = write_lab_rootfs(tmp_path / "lab.cpio.gz")
    job = harness("lava-job", "--rootfs", rootfs.as_uri(), "--out", str(tmp_path / "job"))
    assert job.returncode == 0, job.stderr
    ran = harness("lava-run", str(tmp_path / "job" / "job.yaml"), "--out", str(tmp_path / "dispatch"), timeout=900)
    assert ran.returncode == 0, ran.stderr[-2000:]
    judged = harness("judge", "--lava", str(tmp_path / "dispatch"), "--runs-dir", str(tmp_path / "runs"))
    assert judged.returncode == 0, judged.stdout[-2000:] + judged.stderr[-2000:]
    lava = json.loads(((tmp_path / "runs" / "latest").resolve() / "results.json").read_text())
    assert "lab login:" in ((tmp_path / "runs" / "latest").resolve() / "console.log").read_text()
    verdicts = [(p["name"], p["verdict"]) for p in lava["probes"]]
    assert verdicts == [(p["name"], p["verdict"]) for p in default_run.results["probes"]]
