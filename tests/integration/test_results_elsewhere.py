# SPDX-License-Identifier: GPL-2.0-only
"""Results beyond one run, on a real two-guest matrix (kept small for make test): shards that merge
back into the matrix, what changed since the last matrix (`compare`), KCIDB documents validated by
KernelCI's own kcidb-io, and report.html in a real browser."""

import json
import struct
import subprocess
import zlib
from pathlib import Path

import kcidb_io
import pytest

from ..conftest import REPO, harness

pytestmark = [pytest.mark.guest, pytest.mark.slow]

MATRIX = "kernels: [deb:linux-image-6.12.107+deb12-amd64-unsigned]\noptions: ['', lockdown=integrity]\n"
PROBES = ("--probe", "pcisysfs.*", "--probe", "devmem.open")
WRONG = """\
probes:
  pcisysfs.write.config:
    - id: wrong-on-purpose
      when: {lockdown: integrity}
      expect: {outcome: ok}
      source: a deliberately wrong rule
"""


def matrix(tmp_path, name, *args):
    runs = tmp_path / name
    run = harness("matrix", str(tmp_path / "m.yaml"), "-j", "2", *PROBES, *args, "--runs-dir", str(runs))
    return run, next(runs.glob("matrix-*"))


def cells(directory):
    summary = json.loads((directory / "summary.json").read_text())
    return {(g, p): (c["verdict"], c["observed"]) for p, row in summary["probes"].items() for g, c in row.items()}


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("whole")
    (tmp / "m.yaml").write_text(MATRIX)
    run, directory = matrix(tmp, "runs")
    assert run.returncode == 0, run.stderr[-2000:]
    return tmp, directory


def test_shards_merge_into_the_whole_matrix(whole):
    tmp, directory = whole
    one, first = matrix(tmp, "shard1", "--shard", "1/2")
    two, second = matrix(tmp, "shard2", "--shard", "2/2")
    assert one.returncode == two.returncode == 0
    names = [{g["name"] for g in json.loads((d / "summary.json").read_text())["guests"]} for d in (first, second)]
    assert names == [{"6.12 default"}, {"6.12 lockdown=integrity"}]
    merged = harness("merge", str(first), str(second), "--out", str(tmp / "merged"))
    assert merged.returncode == 0, merged.stderr
    assert cells(tmp / "merged") == cells(directory)  # cell for cell, verdict and observation
    assert (tmp / "merged" / "report.html").is_file()
    kcidb_io.schema.LATEST.validate(json.loads((tmp / "merged" / "kcidb.json").read_text()))
    order = [g["name"] for g in json.loads((tmp / "merged" / "summary.json").read_text())["guests"]]
    assert order == [g["name"] for g in json.loads((directory / "summary.json").read_text())["guests"]]


@pytest.fixture(scope="module")
def planted(whole):
    """The same matrix with one deliberately wrong expectation: exactly one failing cell."""
    tmp, _ = whole
    (tmp / "wrong.yaml").write_text(WRONG)
    run, directory = matrix(tmp, "planted", "--expectations", str(tmp / "wrong.yaml"))
    assert run.returncode == 1, run.stderr[-2000:]
    return directory


def test_compare_names_exactly_the_planted_failure(whole, planted):
    tmp, directory = whole
    same = harness("compare", str(directory), str(directory))
    assert same.returncode == 0 and same.stdout.strip() == "compare: no change"
    diff = harness("compare", str(directory), str(planted), "--format", "json")
    assert diff.returncode == 1, diff.stderr
    changes = json.loads(diff.stdout)["changes"]
    assert [(c["kind"], c["guest"], c["probe"]) for c in changes] == [
        ("new failure", "6.12 lockdown=integrity", "pcisysfs.write.config")
    ]
    assert changes[0]["old"].startswith("pass outcome=EPERM") and changes[0]["new"].startswith("fail outcome=EPERM")
    back = harness("compare", str(planted), str(directory))
    assert back.returncode == 0 and back.stdout.startswith("FIXED: pcisysfs.write.config @ 6.12 lockdown=integrity")


def test_kcidb_export_of_a_matrix_and_a_run_validates(whole, default_run, tmp_path):
    _, directory = whole
    out = tmp_path / "kcidb.json"
    export = harness("export", "--kcidb", str(out), str(directory), str(default_run.run_dir), "--origin", "devmem_ci")
    assert export.returncode == 0, export.stderr
    doc = json.loads(out.read_text())
    kcidb_io.schema.LATEST.validate(doc)  # KernelCI's own schema, not a hand-written check
    assert len(doc["tests"]) == len(cells(directory)) + len(default_run.results["probes"])
    by_path = {}
    for t in doc["tests"]:
        by_path.setdefault(t["path"], set()).add(t["status"])
    assert by_path["devmem.devmem.open"] == {"PASS"}  # EPERM under lockdown passes too
    # The one known issue of the default run: FAIL, with an incident of the issue named by its rule.
    hole = next(t for t in doc["tests"] if t["path"] == "devmem.devmem.mmap.ram-below-1m")
    assert hole["status"] == "FAIL" and hole["misc"]["verdict"] == "known-issue"
    incident = next(i for i in doc["incidents"] if i["test_id"] == hole["id"])
    issue = next(i for i in doc["issues"] if i["id"] == incident["issue_id"])
    assert issue["report_url"] == "https://github.com/KSPP/linux/issues/74"
    assert hole["log_url"].startswith("file:///") and hole["log_url"].endswith("/console.log")


def png_is_blank(path: Path) -> bool:
    """True when the PNG's pixels are (nearly) all one colour: its decompressed scanlines hold few byte values."""
    data, pos, idat = path.read_bytes(), 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(idat))) <= 3


def test_report_in_a_real_browser(planted, tmp_path):
    """The matrix's report.html in Debian's chromium, headless: the DOM shows the planted failing cell
    with its expected and observed text, and the page renders (a screenshot that is not blank)."""
    report = planted / "report.html"
    assert report.is_file()
    chromium = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*chromium, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    problems = dom.stdout.split('<table id="problems">', 1)[1].split("</table>", 1)[0]
    rows = [r for r in problems.split("<tr>")[2:]]
    assert len(rows) == 1 and "pcisysfs.write.config" in rows[0] and "6.12 lockdown=integrity" in rows[0]
    assert "<td>outcome=ok</td>" in rows[0] and "<td>outcome=EPERM" in rows[0]
    assert "a deliberately wrong rule" in rows[0]
    assert 'class="v fail"' in dom.stdout and 'href="6.12_lockdown_integrity/' in dom.stdout
    shot = REPO / "runs" / "test-report-screenshot.png"  # kept for review (CI uploads runs/)
    shot.parent.mkdir(exist_ok=True)
    subprocess.run([*chromium, "--window-size=1400,1800", f"--screenshot={shot}", report.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    assert shot.stat().st_size > 10_000 and not png_is_blank(shot)
