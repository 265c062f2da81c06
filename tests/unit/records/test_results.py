# SPDX-License-Identifier: GPL-2.0-only
"""Overall verdicts, exit codes and the JUnit/KTAP writers."""

import xml.etree.ElementTree as ET

from harness.judging.ktap import parse_ktap
from harness.judging.oracle import Judgement
from harness.judging.verdicts import exit_code, overall_verdict
from harness.records.results import write_junit, write_ktap


def v(name, verdict, reason=""):
    return Judgement(
        name=name,
        verdict=verdict,
        expected="outcome=ok",
        observed="outcome=ok",
        reason=reason,
        link="https://example.invalid/x" if verdict == "known-issue" else None,
    )


def test_overall_verdict_and_exit_codes():
    assert overall_verdict([v("a", "pass"), v("b", "known-issue"), v("c", "skip", "r")], "completed") == "pass"
    assert overall_verdict([v("a", "pass"), v("b", "fail")], "completed") == "fail"
    assert overall_verdict([v("a", "pass"), v("b", "error")], "completed") == "error"
    assert overall_verdict([v("a", "skip", "r")], "completed") == "error"  # nothing passed
    assert overall_verdict([v("a", "pass")], "panic") == "error"
    assert overall_verdict([v("a", "fail"), v("b", "error")], "panic") == "fail"
    assert exit_code("pass", "completed") == 0
    assert exit_code("fail", "completed") == 1
    assert exit_code("error", "hang") == 2
    assert exit_code("error", "interrupted") == 130


def test_junit(tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(
        path,
        [
            v("a", "pass"),
            v("b", "fail", "expected x"),
            v("c", "known-issue", "hole"),
            v("d", "skip", "no node"),
            v("e", "error", "no result"),
        ],
        "s",
        {"kernel": "6.12"},
    )
    suite = ET.parse(path).getroot()
    assert suite.get("tests") == "5" and suite.get("failures") == "1" and suite.get("errors") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["b"].find("failure").get("message") == "expected x"
    assert cases["c"].find("skipped").get("type") == "pytest.xfail"
    assert cases["e"].find("error") is not None


def test_results_ktap_is_valid_ktap(tmp_path):
    path = tmp_path / "r.ktap"
    write_ktap(path, [v("a", "pass"), v("b", "known-issue", "hole"), v("c", "skip", "why"), v("d", "fail")], ["h"])
    doc = parse_ktap(path.read_text())
    assert doc.plan == 4
    assert [r.ok for r in doc.results] == [True, True, True, False]
    assert doc.results[1].directive == "TODO" and doc.results[2].directive == "SKIP"
