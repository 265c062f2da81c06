# SPDX-License-Identifier: GPL-2.0-only
"""What a run leaves behind: results.json, junit.xml, results.ktap and the summary table."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from .. import paths
from ..judging.oracle import Judgement
from ..judging.verdicts import counts
from ..vocabulary import NOT_THE_KERNEL, Verdict

SCHEMA_VERSION = 1


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    paths.write_text(tmp, json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def write_junit(
    path: Path, verdicts: list[Judgement], suite: str, properties: dict[str, str], host_fault: bool = False
) -> None:
    """JUnit XML; with `host_fault`, the errors say the host failed them (type="host-fault"), not the kernel."""
    c = counts(verdicts)
    ts = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(verdicts)),
        failures=str(c[Verdict.FAIL]),
        errors=str(c[Verdict.ERROR] + c[Verdict.NOT_RUN]),
        skipped=str(c[Verdict.SKIP] + c[Verdict.KNOWN_ISSUE]),
    )
    props = ET.SubElement(ts, "properties")
    for key, value in properties.items():
        ET.SubElement(props, "property", name=key, value=str(value))
    for v in verdicts:
        tc = ET.SubElement(ts, "testcase", classname=suite, name=v.name)
        text = f"expected: {v.expected}\nobserved: {v.observed}\nrule: {v.rule}\nsource: {v.source}"
        if v.verdict == Verdict.FAIL:
            ET.SubElement(tc, "failure", message=v.reason).text = text
        elif v.verdict == Verdict.ERROR:
            kind = {"type": "host-fault"} if host_fault else {}
            ET.SubElement(tc, "error", message=v.reason, **kind).text = text
        elif v.verdict == Verdict.NOT_RUN:
            # Not a skip: nothing predicted it, and the probe's claim about the kernel was never tested.
            ET.SubElement(tc, "error", type="not-run", message=f"not run: {v.reason}").text = text
        elif v.verdict == Verdict.SKIP:
            ET.SubElement(tc, "skipped", message=v.reason)
        elif v.verdict == Verdict.KNOWN_ISSUE:
            # pytest's convention for an expected failure.
            ET.SubElement(tc, "skipped", type="pytest.xfail", message=f"known issue: {v.reason} {v.link}")
        ET.SubElement(tc, "system-out").text = text
    paths.write_text(path, ET.tostring(ts, encoding="unicode", xml_declaration=True) + "\n")


def write_ktap(path: Path, verdicts: list[Judgement], header: list[str]) -> None:
    lines = ["KTAP version 1", *[f"# {h}" for h in header], f"1..{len(verdicts)}"]
    for i, v in enumerate(verdicts, start=1):
        lines.append(f"# {v.name}: expected {v.expected}; observed {v.observed}; rule {v.rule}")
        if v.verdict == Verdict.PASS:
            lines.append(f"ok {i} {v.name}")
        elif v.verdict == Verdict.KNOWN_ISSUE:
            lines.append(f"ok {i} {v.name} # TODO known issue: {v.reason} {v.link}")
        elif v.verdict == Verdict.SKIP:
            lines.append(f"ok {i} {v.name} # SKIP {v.reason}")
        else:
            lines.append(f"# {v.name}: {v.verdict}: {v.reason}")
            lines.append(f"not ok {i} {v.name}")
    paths.write_text(path, "\n".join(lines) + "\n")


def write_reports(run_dir: Path, verdicts: list[Judgement], results: dict, emulated_note: str | None) -> None:
    """junit.xml and results.ktap beside results.json, with the run's kernel, command line and outcome."""
    suite = f"devmem-harness.{results['profile']}"
    props = {
        "kernel": results["kernel"]["release"] or "",
        "cmdline": results["cmdline"],
        "outcome": results["outcome"],
        "accel": results.get("accel", ""),
        "emulated": "yes" if results["facts"]["emulated"] else "no",
        "cause": results.get("cause") or "",
    }
    host_fault = results.get("cause") in NOT_THE_KERNEL
    write_junit(run_dir / "junit.xml", verdicts, suite, props, host_fault)
    header = [f"devmem-harness {results['profile']} kernel {props['kernel']} outcome {results['outcome']}"]
    if host_fault:
        header.append(f"{results['cause']} fault, no verdict on the kernel: {results['detail']}")
    if emulated_note and results["facts"]["emulated"]:
        header.append(emulated_note)
    write_ktap(run_dir / "results.ktap", verdicts, header)


def print_summary(results: dict, emulated_note: str) -> None:
    fields = Judgement.__dataclass_fields__
    verdicts = [Judgement(**{k: v for k, v in p.items() if k in fields}) for p in results["probes"]]
    if verdicts:
        print(summary_table(verdicts))
    if results.get("emulated"):
        print(emulated_note)
    for warning in results.get("warnings") or []:
        print(f"warning: {warning}")
    c = results.get("counts", {})
    print(
        f"verdict: {results['verdict']}  outcome: {results['outcome']} ({results['detail']})  "
        f"pass {c.get('pass', 0)}, fail {c.get('fail', 0)}, known-issue {c.get('known-issue', 0)}, "
        f"skip {c.get('skip', 0)}, not-run {c.get('not-run', 0)}, error {c.get('error', 0)}  "
        f"[{results.get('durations', {}).get('all_boots', 0):.1f} s]"
    )


def summary_table(verdicts: list[Judgement], width: int = 120) -> str:
    rows = [("PROBE", "VERDICT", "OBSERVED", "EXPECTED / REASON")]
    for v in verdicts:
        if v.verdict == Verdict.PASS:
            note = v.expected
        elif v.verdict == Verdict.KNOWN_ISSUE:
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
