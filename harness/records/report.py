# SPDX-License-Identifier: GPL-2.0-only
"""`report DIR...`: one self-contained report.html a person reads at a glance (no network).

The probe x guest grid coloured by verdict (emulated guests marked), a row per failing,
erroring or not-run cell with expected, observed, the rule's source and link, links to
each guest's console.log, dmesg.txt and repro.sh, the counts, and a "problems only"
filter.  DIR is a run, a matrix or merged shards; several DIRs become one grid.
"""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path

from .. import provenance
from ..errors import BadInput
from ..vocabulary import NOT_THE_KERNEL, Verdict

PROBLEMS = (Verdict.FAIL, Verdict.ERROR, Verdict.NOT_RUN)
COLOURS = {
    Verdict.PASS: "#2e7d32",
    Verdict.FAIL: "#c62828",
    Verdict.KNOWN_ISSUE: "#ef6c00",
    Verdict.SKIP: "#757575",
    Verdict.NOT_RUN: "#6a1b9a",
    Verdict.ERROR: "#ad1457",
}
STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
td.v{color:#fff;font-weight:600;text-align:center}th.g{writing-mode:vertical-rl;max-height:16em}
.emulated{font-size:11px;color:#6a1b9a}body.problems tr.clean{display:none}
""" + "".join(f"td.{v.replace('-', '_')}{{background:{c}}}" for v, c in COLOURS.items())
SCRIPT = """
document.getElementById('only').addEventListener('change',e=>document.body.classList.toggle('problems',e.target.checked));
"""


def load_grid(dirs: list[Path]) -> tuple[list[dict], dict[str, dict[str, dict]]]:
    """(guests, probe -> guest label -> cell) from runs and matrices; labels carry the matrix's name when
    there are several."""
    guests: list[dict] = []
    probes: dict[str, dict[str, dict]] = {}
    for d in dirs:
        d = d.resolve()
        if (d / "summary.json").is_file():
            summary = json.loads((d / "summary.json").read_text())
        elif (d / "results.json").is_file():
            summary = _as_summary(d, json.loads((d / "results.json").read_text()))
        else:
            raise BadInput(f"report: {d}: neither a run directory (results.json) nor a matrix (summary.json)")
        prefix = f"{d.name}: " if len(dirs) > 1 else ""
        for g in summary["guests"]:
            guests.append({**g, "label": prefix + g["name"]})
        for probe, row in summary["probes"].items():
            for name, cell in row.items():
                probes.setdefault(probe, {})[prefix + name] = cell
    return guests, probes


def _as_summary(run_dir: Path, r: dict) -> dict:
    keep = ("verdict", "expected", "observed", "reason", "rule", "source", "link")
    guest = {
        "name": f"{r.get('profile')} {(r.get('kernel') or {}).get('release') or ''}".strip(),
        "run_dir": str(run_dir),
        **{k: r.get(k) for k in ("verdict", "outcome", "cause", "emulated")},
    }
    return {"guests": [guest], "probes": {p["name"]: {guest["name"]: {k: p.get(k) for k in keep}} for p in r["probes"]}}


def _made_by(run_dir: str | None) -> str:
    """ ", harness VERSION": which harness ran the guest, from its results.json (runs before 0.1.0+g… had none)."""
    results = Path(run_dir) / "results.json" if run_dir else None
    if not results or not results.is_file():
        return ""
    version = (json.loads(results.read_text()).get("harness") or {}).get("version")
    return f", harness {escape(version)}" if version else ""


def _links(run_dir: str | None, out: Path) -> str:
    if not run_dir:
        return ""
    parts = []
    for name in ("console.log", "dmesg.txt", "repro.sh"):
        target = Path(run_dir) / name
        if target.exists():
            parts.append(f'<a href="{escape(os.path.relpath(target, out.parent))}">{name}</a>')
    return " ".join(parts)


def render(guests: list[dict], probes: dict[str, dict[str, dict]], out: Path, title: str) -> str:
    head = "".join(f'<th class="g">G{i + 1}</th>' for i, _ in enumerate(guests))
    rows = []
    for probe, row in probes.items():
        cells = [row.get(g["label"]) or {} for g in guests]
        clean = all(c.get("verdict") not in PROBLEMS for c in cells)
        tds = "".join(
            f'<td class="v {str(c.get("verdict", "")).replace("-", "_")}" title="{escape(_tip(c))}">'
            f"{escape(str(c.get('verdict', '-')))}</td>"
            for c in cells
        )
        rows.append(f'<tr class="{"clean" if clean else "problem"}"><td>{escape(probe)}</td>{tds}</tr>')
    legend = [
        f"<li>G{i + 1} = {escape(g['label'])}"
        + (' <span class="emulated">EMULATED confidential guest</span>' if g.get("emulated") else "")
        + (f" <b>{g['cause'].upper()} FAULT</b>" if g.get("cause") in NOT_THE_KERNEL else "")
        + f": {escape(str(g.get('verdict')))}, outcome {escape(str(g.get('outcome')))}{_made_by(g.get('run_dir'))}"
        + f" {_links(g.get('run_dir'), out)}"
        for i, g in enumerate(guests)
    ]
    problems = [
        f"<tr><td>{escape(c['verdict'])}</td><td>{escape(probe)}</td><td>{escape(label)}</td>"
        f"<td>{escape(str(c.get('expected')))}</td><td>{escape(str(c.get('observed')))}</td>"
        f"<td>{escape(str(c.get('reason') or ''))}</td><td>{escape(str(c.get('source') or ''))}"
        + (f' <a href="{escape(c["link"])}">link</a>' if c.get("link") else "")
        + "</td></tr>"
        for probe, row in probes.items()
        for label, c in row.items()
        if c.get("verdict") in PROBLEMS
    ]
    counts = {v: sum(c.get("verdict") == v for row in probes.values() for c in row.values()) for v in COLOURS}
    summary = ", ".join(f"{v} {n}" for v, n in counts.items())
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{escape(title)}</title><style>{STYLE}</style></head>
<body><h1>{escape(title)}</h1>
<p id="counts">{escape(summary)}</p>
<label><input type="checkbox" id="only"> problems only</label>
<table id="grid"><tr><th>probe</th>{head}</tr>{"".join(rows)}</table>
<ul id="guests">{"".join(legend)}</ul>
<h2>Failing, erroring and not-run cells</h2>
<table id="problems"><tr><th>verdict</th><th>probe</th><th>guest</th><th>expected</th><th>observed</th>
<th>reason</th><th>rule source</th></tr>{"".join(problems) or '<tr><td colspan="7">none</td></tr>'}</table>
<p id="made-by">report by devmem-harness {escape(provenance.version())}</p>
<script>{SCRIPT}</script></body></html>
"""


def _tip(cell: dict) -> str:
    return f"expected {cell.get('expected')}, observed {cell.get('observed')}" if cell else "no result"


def write_report(dirs: list[Path], out: Path, title: str = "devmem-harness") -> Path:
    guests, probes = load_grid(dirs)
    out.write_text(render(guests, probes, out, title))
    return out
