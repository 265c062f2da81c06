"""What a run leaves behind: results.json, junit.xml, results.ktap and the summary table."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

from .errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_NO_VERDICT, EXIT_NOT_RUN, EXIT_PASS, EXIT_REQUIREMENT
from .oracle import VERDICTS, Verdict

SCHEMA_VERSION = 1


def overall_verdict(verdicts: list[Verdict], outcome: str) -> str:
    """fail: a probe failed; error: no verdict; not-run: a probe could not run; pass: something passed."""
    kinds = [v.verdict for v in verdicts]
    if "fail" in kinds:
        return "fail"
    if outcome != "completed" or "error" in kinds:
        return "error"
    if "not-run" in kinds:
        return "not-run"
    return "pass" if "pass" in kinds else "error"


def exit_code(verdict: str, outcome: str) -> int:
    if outcome == "interrupted":
        return EXIT_INTERRUPTED
    return {"pass": EXIT_PASS, "fail": EXIT_FAIL, "not-run": EXIT_NOT_RUN}.get(verdict, EXIT_NO_VERDICT)


# From worst to best: what a set of runs (a matrix) exits with.
EXIT_SEVERITY = (EXIT_INTERRUPTED, EXIT_REQUIREMENT, EXIT_FAIL, EXIT_NO_VERDICT, EXIT_NOT_RUN, EXIT_PASS)


def worst_exit(codes: list[int]) -> int:
    """A failure outranks no verdict, which outranks not-run; unknown codes count as no verdict."""
    known = [c if c in EXIT_SEVERITY else EXIT_NO_VERDICT for c in codes]
    return min(known, key=EXIT_SEVERITY.index) if known else EXIT_NO_VERDICT


def counts(verdicts: list[Verdict]) -> dict[str, int]:
    out = {k: 0 for k in VERDICTS}
    for v in verdicts:
        out[v.verdict] += 1
    return out


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def probe_entries(verdicts: list[Verdict]) -> list[dict]:
    return [{k: v for k, v in asdict(x).items() if v not in (None, {}, [])} for x in verdicts]


def write_junit(path: Path, verdicts: list[Verdict], suite: str, properties: dict[str, str]) -> None:
    c = counts(verdicts)
    ts = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(verdicts)),
        failures=str(c["fail"]),
        errors=str(c["error"] + c["not-run"]),
        skipped=str(c["skip"] + c["known-issue"]),
    )
    props = ET.SubElement(ts, "properties")
    for key, value in properties.items():
        ET.SubElement(props, "property", name=key, value=str(value))
    for v in verdicts:
        tc = ET.SubElement(ts, "testcase", classname=suite, name=v.name)
        text = f"expected: {v.expected}\nobserved: {v.observed}\nrule: {v.rule}\nsource: {v.source}"
        if v.verdict == "fail":
            ET.SubElement(tc, "failure", message=v.reason).text = text
        elif v.verdict == "error":
            ET.SubElement(tc, "error", message=v.reason).text = text
        elif v.verdict == "not-run":
            # Not a skip: nothing predicted it, and the probe's claim about the kernel was never tested.
            ET.SubElement(tc, "error", type="not-run", message=f"not run: {v.reason}").text = text
        elif v.verdict == "skip":
            ET.SubElement(tc, "skipped", message=v.reason)
        elif v.verdict == "known-issue":
            # pytest's convention for an expected failure.
            ET.SubElement(tc, "skipped", type="pytest.xfail", message=f"known issue: {v.reason} {v.link}")
        ET.SubElement(tc, "system-out").text = text
    ET.ElementTree(ts).write(path, encoding="utf-8", xml_declaration=True)


def write_ktap(path: Path, verdicts: list[Verdict], header: list[str]) -> None:
    lines = ["KTAP version 1", *[f"# {h}" for h in header], f"1..{len(verdicts)}"]
    for i, v in enumerate(verdicts, start=1):
        lines.append(f"# {v.name}: expected {v.expected}; observed {v.observed}; rule {v.rule}")
        if v.verdict == "pass":
            lines.append(f"ok {i} {v.name}")
        elif v.verdict == "known-issue":
            lines.append(f"ok {i} {v.name} # TODO known issue: {v.reason} {v.link}")
        elif v.verdict == "skip":
            lines.append(f"ok {i} {v.name} # SKIP {v.reason}")
        else:
            lines.append(f"# {v.name}: {v.verdict}: {v.reason}")
            lines.append(f"not ok {i} {v.name}")
    path.write_text("\n".join(lines) + "\n")


def summary_table(verdicts: list[Verdict], width: int = 120) -> str:
    rows = [("PROBE", "VERDICT", "OBSERVED", "EXPECTED / REASON")]
    for v in verdicts:
        if v.verdict == "pass":
            note = v.expected
        elif v.verdict == "known-issue":
            note = f"{v.reason} ({v.link})"
        else:
            note = v.reason
        rows.append((v.name, v.verdict.upper(), v.observed, note))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = min(max(len(r[2]) for r in rows), 32)
    out = []
    for r in rows:
        out.append(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]:<{w2}}  {r[3]}".rstrip())
    return "\n".join(out)
