# SPDX-License-Identifier: GPL-2.0-only
"""A matrix's record: summary.json, the summary table (summary.txt) and report.html; shards merged into one.

A row per probe and a column per guest, each cell a verdict; the guests' own run
directories hold the rest.  The matrix command writes it as its cells end, and
`merge` joins the summaries of shards run apart (on other runners) into one.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import EXIT_NO_VERDICT, BadInput
from ..judging.verdicts import worst_exit
from ..vocabulary import NOT_THE_KERNEL, Verdict
from .report import write_report

# The matrix table's five-letter cells.
SHORT = {
    Verdict.PASS: "PASS",
    Verdict.FAIL: "FAIL",
    Verdict.KNOWN_ISSUE: "KNOWN",
    Verdict.SKIP: "SKIP",
    Verdict.NOT_RUN: "NORUN",
    Verdict.ERROR: "ERROR",
}


def summarize(cells: list, probes: list[str]) -> dict:
    """summary.json of matrix cells that have run (commands/matrix.py's `Cell`): a row per probe, a column per guest."""
    table: dict[str, dict[str, dict]] = {p: {} for p in probes}
    for cell in cells:
        for entry in (cell.results or {}).get("probes", []):
            table.setdefault(entry["name"], {})[cell.name] = {
                k: entry.get(k) for k in ("verdict", "expected", "observed", "reason", "rule", "source", "link")
            }
    return {
        "schema_version": 1,
        "exit_code": worst_exit([c.exit_code if c.exit_code is not None else EXIT_NO_VERDICT for c in cells]),
        "guests": [
            {
                "name": c.name,
                "index": c.index,
                "kernel": c.kernel,
                "append": c.append,
                "profile": c.profile,
                "transport": c.transport,
                "emulated": bool((c.results or {}).get("emulated")),
                "exit_code": c.exit_code,
                "verdict": (c.results or {}).get("verdict", Verdict.ERROR),
                "outcome": (c.results or {}).get("outcome"),
                "cause": (c.results or {}).get("cause"),
                "run_dir": str(c.run_dir) if c.run_dir else None,
                "seconds": round(c.seconds, 2),
                "error": c.error or None,
            }
            for c in cells
        ],
        "probes": table,
    }


def _short(cell: dict | None, host_fault: bool) -> str:
    """A probe's verdict in the table; HOST where the host, not the kernel, left it without one."""
    verdict = (cell or {}).get("verdict")
    return "HOST" if host_fault and verdict == Verdict.ERROR else SHORT.get(verdict, "-")


def render_table(summary: dict) -> str:
    guests = [g["name"] for g in summary["guests"]]
    cols = [f"G{i + 1}" for i in range(len(guests))]
    host_faults = [g.get("cause") in NOT_THE_KERNEL for g in summary["guests"]]
    width = max([len(p) for p in summary["probes"]] + [5])
    lines = ["  ".join([f"{'PROBE':<{width}}", *[f"{c:<5}" for c in cols]])]
    for probe, row in summary["probes"].items():
        cells = [_short(row.get(g), host) for g, host in zip(guests, host_faults, strict=True)]
        lines.append("  ".join([f"{probe:<{width}}", *[f"{c:<5}" for c in cells]]))
    lines.append("")
    for col, g in zip(cols, summary["guests"], strict=True):
        where = f" -> {g['run_dir']}" if g["run_dir"] else f" ({g['error']})" if g["error"] else ""
        emulated = " [EMULATED confidential guest]" if g.get("emulated") else ""
        if g.get("cause") in NOT_THE_KERNEL:
            emulated += f" [{g['cause'].upper()} FAULT: no verdict on the kernel]"
        lines.append(
            f"{col} = {g['name']}{emulated}: {g['verdict']}, outcome {g['outcome']}, exit {g['exit_code']}{where}"
        )
    bad = [
        (probe, g, cell)
        for probe, row in summary["probes"].items()
        for g, cell in row.items()
        if cell["verdict"] in (Verdict.FAIL, Verdict.ERROR, Verdict.NOT_RUN)
    ]
    if bad:
        lines.append("")
        for probe, g, cell in bad:
            lines.append(
                f"{cell['verdict'].upper()} {probe} @ {g}: expected {cell['expected']}, observed {cell['observed']}"
                f" (rule {cell['rule']}; source: {cell['source']})"
            )
    return "\n".join(lines)


def write_summary(matrix_dir: Path, summary: dict) -> str:
    """summary.json, summary.txt (the table, returned) and report.html of a matrix or of merged shards."""
    (matrix_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = render_table(summary)
    (matrix_dir / "summary.txt").write_text(table + "\n")
    write_report([matrix_dir], matrix_dir / "report.html", f"matrix {Path(str(summary.get('matrix'))).name}")
    return table


def _relocated(guest: dict, summary: dict, now: Path) -> dict:
    """A shard made on another runner names its run directories there: point them into `now`, where it is."""
    run_dir, was = guest.get("run_dir"), summary.get("directory")
    if run_dir and was and not Path(run_dir).exists() and Path(run_dir).is_relative_to(was):
        return {**guest, "run_dir": str(now / Path(run_dir).relative_to(was))}
    return guest


def merge(shards: list[tuple[Path, dict]]) -> dict:
    """Shards of one matrix (directory, summary) as one summary: guests in matrix order, probe rows joined."""
    summaries = [s for _, s in shards]
    everyone = (_relocated(g, s, d.resolve()) for d, s in shards for g in s["guests"])
    guests = sorted(everyone, key=lambda g: g.get("index", 0))
    names = [g["name"] for g in guests]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise BadInput(f"merge: guests in more than one input: {', '.join(twice)}", "merge each shard once")
    probes: dict[str, dict] = {}
    for s in summaries:
        for probe, row in s["probes"].items():
            probes.setdefault(probe, {}).update(row)
    order = {n: i for i, n in enumerate(names)}
    return {
        "schema_version": 1,
        "exit_code": worst_exit([s["exit_code"] for s in summaries]),
        "guests": guests,
        "probes": {p: dict(sorted(row.items(), key=lambda kv: order.get(kv[0], 0))) for p, row in probes.items()},
        "matrix": summaries[0].get("matrix"),
        "merged_from": len(summaries),
        "interrupted": any(s.get("interrupted") for s in summaries),
    }
