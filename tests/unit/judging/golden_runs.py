# SPDX-License-Identifier: GPL-2.0-only
"""Golden runs: what real guests printed, judged again by conclusion.conclude() on every test run.

A case (tests/unit/golden/runs/<case>/) holds the inputs of one real run, recorded from its run
directory: each boot's console.log and VM result, the kernel's version and the part of its config
the harness reads, the profile and the probes selected (case.json, config, <boot dir>/console.log).
expected.json is what conclude() made of them.  A change in parsing or judging shows as a diff of
expected.json; when the change is meant, regenerate every case and review the diff:

    DEVMEM_HARNESS_REGEN_GOLDENS=1 .venv/bin/pytest tests/unit/judging/test_conclusion_goldens.py

Record a new case from a run directory (the guest's own output, never written by hand):

    .venv/bin/python -m tests.unit.judging.golden_runs record RUN_DIR CASE_NAME
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

from harness.guests.profiles import load_profile
from harness.judging.conclusion import RunFacts, conclude
from harness.judging.console import parse_console
from harness.judging.ktap import parse_ktap
from harness.judging.observed import Boot, VMResult
from harness.judging.oracle import Oracle
from harness.kernels.kernel import Kernel
from harness.vocabulary import Cause, Outcome, Stage

CASES = Path(__file__).resolve().parents[1] / "golden" / "runs"
HARNESS = Path(__file__).resolve().parents[3] / "harness"
REGEN_ENV = "DEVMEM_HARNESS_REGEN_GOLDENS"
CONFIG_LINE = re.compile(r"^(?:# )?CONFIG_([A-Za-z0-9_]+)[= ]")


def load_case(case: Path) -> tuple[Kernel, list[str], list[Boot], RunFacts]:
    spec = json.loads((case / "case.json").read_text())
    k = spec["kernel"]
    kernel = Kernel(
        image=Path("bzImage"),
        config_path=case / "config",
        source=k["source"],
        version=k["version"],
        release=k["release"],
        modules_from=k.get("modules_from", ""),
    )
    boots = [_boot(case, b) for b in spec["boots"]]
    for b in boots:
        if b.vm.outcome != Outcome.INTERRUPTED:
            b.terminated = b.died_under()
    profile = load_profile(spec["profile"])
    facts = RunFacts(spec["profile"], profile, spec.get("floor", False), spec.get("cmdline", ""), case)
    return kernel, spec["selection"], boots, facts


def _boot(case: Path, b: dict) -> Boot:
    directory = case / b["dir"]
    text = (directory / "console.log").read_bytes().decode(errors="replace")
    t = parse_console(text)
    vm = b["vm"]
    result = VMResult(
        outcome=Outcome(vm["outcome"]),
        cause=Cause(vm["cause"]) if vm["cause"] else None,
        detail=vm["detail"],
        stage=Stage(vm["stage"]),
        qemu_exit=vm["qemu_exit"],
        qemu_signal=vm["qemu_signal"],
        events=vm.get("events", []),
    )
    tail = tuple(text.replace("\r", "").strip().split("\n")[-15:])
    return Boot(b["name"], directory, b["probes"], result, t, parse_ktap(t.sections.get("ktap", "")), tail)


def judge_case(case: Path) -> dict:
    """conclude() on the case's inputs, as JSON-able data."""
    kernel, selection, boots, facts = load_case(case)
    c = conclude(Oracle.load(), kernel, selection, boots, facts)
    return json.loads(json.dumps({"code": c.code, "release": c.release, "warnings": c.warnings, **c.results}))


# ------------------------------------------------------------------ recording a case from a run directory


def _symbols_the_harness_reads() -> set[str]:
    text = "\n".join(p.read_text() for p in [*HARNESS.rglob("*.py"), *HARNESS.glob("data/**/*.yaml")])
    return {word.removeprefix("CONFIG_") for word in re.findall(r"\b([A-Z][A-Z0-9_]{2,})\b", text)}


def record(run_dir: Path, name: str) -> Path:
    results = json.loads((run_dir / "results.json").read_text())
    case = CASES / name
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir(parents=True)
    wanted = _symbols_the_harness_reads()
    config = Path(results["kernel"]["config"]).read_text().splitlines()
    kept = [ln for ln in config if (m := CONFIG_LINE.match(ln)) and m.group(1) in wanted]
    header = [ln for ln in config[:5] if ln.startswith("#") and "version" in ln.lower()]
    (case / "config").write_text("\n".join([*header, *kept]) + "\n")
    boots = []
    terminated = {t["boot"]: t for t in results.get("terminations", [])}
    for b in results["boots"]:
        (case / b["dir"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(run_dir / b["dir"] / "console.log", case / b["dir"] / "console.log")
        main = b["name"] == results["boots"][0]["name"]
        stage = results["stage"] if main else ("shutdown" if b["outcome"] == "completed" else "probes")
        vm = {k: b[k] for k in ("outcome", "cause", "detail")}
        signal = terminated.get(b["name"], {}).get("qemu_signal", results["exit"]["qemu_signal"] if main else None)
        events = terminated.get(b["name"], {}).get("events", results.get("events", []) if main else [])
        vm.update(stage=stage, qemu_exit=b["exit"]["qemu"], qemu_signal=signal, events=events)
        boots.append({"name": b["name"], "dir": b["dir"], "probes": b["probes"], "vm": vm})
    k = results["kernel"]
    spec = {
        "recorded_from": results["harness"]["command"],
        "profile": results["profile"],
        "selection": [p["name"] for p in results["probes"]],
        "cmdline": results.get("cmdline", ""),
        "kernel": {"source": k["source"], "version": k["version"], "release": k["release"], "modules_from": ""},
        "boots": boots,
    }
    (case / "case.json").write_text(json.dumps(spec, indent=1) + "\n")
    write_expected(case)
    return case


def write_expected(case: Path) -> None:
    (case / "expected.json").write_text(json.dumps(judge_case(case), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "record":
        sys.exit(__doc__)
    print(record(Path(sys.argv[2]), sys.argv[3]))
