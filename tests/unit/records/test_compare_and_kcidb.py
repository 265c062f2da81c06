# SPDX-License-Identifier: GPL-2.0-only
"""compare's change kinds and the KCIDB status mapping, on cells written here; the real matrices
are in tests/integration/test_results_elsewhere.py."""

import json

import kcidb_io

from harness.records.compare import compare, exit_code, render
from harness.records.kcidb import document


def cell(verdict, observed="outcome=ok"):
    return {"verdict": verdict, "observed": observed}


def test_each_kind_of_change():
    old = {
        ("g", "a"): cell("pass"),
        ("g", "b"): cell("fail"),
        ("g", "c"): cell("pass"),
        ("g", "d"): cell("pass", "outcome=EPERM"),
        ("g", "e"): cell("pass"),
        ("g", "gone"): cell("pass"),
        ("g", "same"): cell("skip"),
    }
    new = {
        ("g", "a"): cell("fail"),
        ("g", "b"): cell("pass"),
        ("g", "c"): cell("known-issue"),
        ("g", "d"): cell("pass", "outcome=EACCES"),
        ("g", "e"): cell("not-run"),
        ("g", "new"): cell("pass"),
        ("g", "same"): cell("skip"),
    }
    changes = compare(old, new)
    assert [(c.kind, c.probe) for c in changes] == [
        ("new failure", "a"),
        ("new problem", "e"),
        ("changed verdict", "c"),
        ("fixed", "b"),
        ("changed observation", "d"),
        ("appeared", "new"),
        ("vanished", "gone"),
    ]
    assert exit_code(changes) == 1 and exit_code(changes[1:]) == 0
    assert "| new failure | g | `a` | pass outcome=ok | fail outcome=ok |" in render(changes, "markdown")


def test_kcidb_statuses_for_every_verdict(tmp_path):
    probes = [
        {"name": "devmem.open", "verdict": "pass"},
        {"name": "devmem.read.ram-below-1m", "verdict": "fail"},
        {"name": "devmem.mmap.ram-below-1m", "verdict": "known-issue", "rule": "hole", "link": "https://x.org/74"},
        {"name": "devport.open", "verdict": "skip"},
        {"name": "devmem.revoke.bar-on-bind", "verdict": "not-run"},
        {"name": "pcisysfs.read.config", "verdict": "error"},
    ]
    results = {"kernel": {"source": "deb:x"}, "profile": "plain", "started": "2026-12-02T02:42:55+0000"}
    for name, cause in (("kernel", "kernel"), ("host", "host")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({**results, "cause": cause, "probes": probes}))
    doc = document([tmp_path / "kernel", tmp_path / "host"])
    kcidb_io.schema.LATEST.validate(doc)
    statuses = [t["status"] for t in doc["tests"]]
    assert statuses == ["PASS", "FAIL", "FAIL", "SKIP", "MISS", "ERROR"] + [
        "PASS",
        "FAIL",
        "FAIL",
        "SKIP",
        "MISS",
        "MISS",
    ]
    assert [t["path"] for t in doc["tests"][:2]] == ["devmem.devmem.open", "devmem.devmem.read.ram-below-1m"]
    assert doc["issues"] == [
        {
            "id": "devmem_harness:hole",
            "version": 1,
            "origin": "devmem_harness",
            "culprit": {"code": True},
            "report_url": "https://x.org/74",
            "report_subject": "hole",
        }
    ]
    assert len(doc["incidents"]) == 2 and doc["tests"][0]["start_time"] == "2026-12-02T02:42:55+00:00"
