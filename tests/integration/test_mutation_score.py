# SPDX-License-Identifier: GPL-2.0-only
"""One representative case of `make mutation-score`: a planted regression killed, a tightening passed.

The whole score (every patch in bench/mutations/, about 25 minutes) runs nightly; here the real
script builds the strict 6.12 kernel with two of its patches and boots each in the four boots.
"""

import json
import subprocess
import sys

import pytest

from ..conftest import REPO

pytestmark = [pytest.mark.guest, pytest.mark.kbuild, pytest.mark.slow]

MUTANT = "m38-revoke-first-page-only"  # only the BAR's first page is revoked
FIX = "fix05-low-ram-write-refused"  # write() of low RAM refused instead of dropped


@pytest.fixture(scope="module")
def score(tmp_path_factory):
    runs = tmp_path_factory.mktemp("mutation-score")
    cmd = [sys.executable, "bench/mutation_score.py", "--only", MUTANT, FIX, "--runs-dir", str(runs)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=3600)
    return proc, json.loads((runs / "score.json").read_text()), (runs / "table.md").read_text()


def test_the_planted_regression_is_killed_by_the_probe_that_names_it(score):
    proc, data, _ = score
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    row = next(r for r in data["rows"] if r["mutation"] == MUTANT)
    assert row["result"] == "killed", row
    (killer,) = [b for b in row["boots"] if b["exit"] == 1]
    assert killer["name"] == "default" and "devmem.revoke.bar-on-bind" in killer["failed"], killer
    # Partial revocation, seen in the guest: the first page faults, the last does not.
    results = json.loads((REPO / killer["run_dir"] / "results.json").read_text())
    obs = next(p for p in results["probes"] if p["name"] == "devmem.revoke.bar-on-bind")["observation"]
    assert obs["revoked"] == "partly" and obs["first"] == "SIGBUS" and obs["last"] == "ok", obs


def test_the_tightening_passes_in_every_boot(score):
    _, data, table = score
    row = next(r for r in data["rows"] if r["mutation"] == FIX)
    assert row["result"] == "fix ok" and [b["exit"] for b in row["boots"]] == [0, 0, 0, 0], row
    default = next(b for b in row["boots"] if b["name"] == "default")
    results = json.loads((REPO / default["run_dir"] / "results.json").read_text())
    write = next(p for p in results["probes"] if p["name"] == "devmem.write.ram-below-1m")
    assert write["observation"]["outcome"] == "EPERM" and "a tightening, not a regression" in write["reason"]
    assert data["score"] == 100.0 and f"| {MUTANT} |" in table and "score 100.0 %" in table
