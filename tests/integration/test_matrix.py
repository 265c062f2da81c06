# SPDX-License-Identifier: GPL-2.0-only
"""`matrix`: real guests in parallel, one summary."""

import json

import pytest

from ..conftest import harness

pytestmark = pytest.mark.guest


def matrix_dir(runs):
    return next(runs.glob("matrix-*"))


@pytest.mark.slow
def test_default_matrix_every_cell_passes(tmp_path):
    run = harness("matrix", "-j", "2", "--runs-dir", str(tmp_path), timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads((matrix_dir(tmp_path) / "summary.json").read_text())
    guests = {g["name"]: g for g in summary["guests"]}
    assert len(guests) == 8
    assert {g["verdict"] for g in guests.values()} == {"pass"}
    for probe, row in summary["probes"].items():
        assert {c["verdict"] for c in row.values()} <= {"pass", "known-issue", "skip"}, probe
    for kernel in ("6.1", "6.12"):
        for probe in ("devmem.revoke.bar-on-bind", "pcisysfs.revoke.bar-on-bind"):
            default = summary["probes"][probe][f"{kernel} default"]["observed"]
            relaxed = summary["probes"][probe][f"{kernel} iomem=relaxed"]["observed"]
            assert default.startswith("outcome=SIGBUS"), (kernel, probe, default)
            assert relaxed.startswith("outcome=ok"), (kernel, probe, relaxed)
    assert "PROBE" in run.stdout and "G8 = 6.12 iomem=relaxed" in run.stdout


def test_one_wrong_expectation_fails_exactly_one_cell(tmp_path):
    matrix = tmp_path / "m.yaml"
    matrix.write_text("kernels: [deb:linux-image-6.12.107+deb12-amd64-unsigned]\noptions: ['', lockdown=integrity]\n")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "probes:\n  pcisysfs.write.config:\n    - id: wrong-on-purpose\n"
        "      when: {lockdown: integrity}\n      expect: {outcome: ok}\n      source: a deliberately wrong rule\n"
    )
    run = harness(
        "matrix",
        str(matrix),
        "-j",
        "2",
        "--probe",
        "pcisysfs.*",
        "--expectations",
        str(wrong),
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert run.returncode == 1, run.stderr[-2000:]
    summary = json.loads((matrix_dir(tmp_path / "runs") / "summary.json").read_text())
    failing = [(p, g) for p, row in summary["probes"].items() for g, c in row.items() if c["verdict"] == "fail"]
    assert failing == [("pcisysfs.write.config", "6.12 lockdown=integrity")]
    cell = summary["probes"]["pcisysfs.write.config"]["6.12 lockdown=integrity"]
    assert cell["expected"] == "outcome=ok" and cell["observed"].startswith("outcome=EPERM")
    assert cell["rule"] == "wrong-on-purpose" and cell["source"] == "a deliberately wrong rule"
    assert "FAIL pcisysfs.write.config @ 6.12 lockdown=integrity: expected outcome=ok, observed outcome=EPERM" in (
        run.stdout
    )
    assert "source: a deliberately wrong rule" in run.stdout


def test_bad_matrix_file_is_one_line(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("kernels: [a\n")
    run = harness("matrix", str(bad))
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and f"{bad}:" in run.stderr


@pytest.mark.slow
@pytest.mark.kbuild
def test_full_matrix_shows_the_cc_sim_column_beside_the_plain_one(tmp_path):
    """The shipped full matrix's 6.12 columns: built kernels cached by the kbuild and cc-sim tests before it
    (its 7.2 columns are three more full builds: nightly, `make matrix-full`)."""
    args = ("harness/data/matrix-full.yaml", "--guest", "6.12*", "-j", "2", "--runs-dir", str(tmp_path))
    run = harness("matrix", *args, timeout=3600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    summary = json.loads((matrix_dir(tmp_path) / "summary.json").read_text())
    guests = {g["name"]: g for g in summary["guests"]}
    assert guests["6.12 cc-sim"]["emulated"] is True and guests["6.12 cc-sim kernel, plain"]["emulated"] is False
    for probe in ("devmem.open", "devport.open"):
        row = summary["probes"][probe]
        assert row["6.12 cc-sim"]["verdict"] == "known-issue" and "lore.kernel.org" in row["6.12 cc-sim"]["link"]
        assert row["6.12 cc-sim kernel, plain"]["verdict"] == "pass"
        assert row["6.12 strict lockdown=integrity"]["observed"].startswith("outcome=EPERM")
    assert {g["verdict"] for g in guests.values()} == {"pass"}
    assert "6.12 cc-sim [EMULATED confidential guest]: pass" in run.stdout
