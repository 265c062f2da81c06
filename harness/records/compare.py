# SPDX-License-Identifier: GPL-2.0-only
"""`compare OLD NEW`: what changed between two runs or two matrices, such as last night's and tonight's.

A cell is one probe in one guest (a run directory is one guest, named `run`).  The
changes, worst first: a new failure (exit 1), a new error or not-run, a verdict that
changed otherwise (pass -> known-issue), a fix, an observation that changed under an
unchanged verdict (a different errno, data that is no longer zeros), and cells that
appeared or vanished (a probe added, a guest dropped from the matrix).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import BadInput
from ..vocabulary import Verdict

PROBLEMS = (Verdict.ERROR, Verdict.NOT_RUN)
BAD = (Verdict.FAIL, *PROBLEMS)
KINDS = (
    "new failure",
    "new problem",
    "changed verdict",
    "fixed",
    "changed observation",
    "appeared",
    "vanished",
)


@dataclass(frozen=True)
class Change:
    kind: str
    guest: str
    probe: str
    old: str  # "verdict observed", or "-" when the cell did not exist
    new: str


def load_cells(path: Path) -> dict[tuple[str, str], dict]:
    """(guest, probe) -> {verdict, observed} from a matrix's summary.json or a run's results.json."""
    path = path.resolve()
    for name in ("summary.json", "results.json"):
        if path.name == name:
            path = path.parent
    if (path / "summary.json").is_file():
        data = _read(path / "summary.json")
        return {(g, p): cell for p, row in data.get("probes", {}).items() for g, cell in row.items()}
    if (path / "results.json").is_file():
        data = _read(path / "results.json")
        return {("run", p["name"]): p for p in data.get("probes", [])}
    raise BadInput(f"{path}: neither a matrix directory (summary.json) nor a run directory (results.json)")


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path}: unreadable ({exc})", "name a finished run or matrix directory") from None


def _show(cell: dict | None) -> str:
    return "-" if cell is None else f"{cell.get('verdict')} {cell.get('observed') or ''}".strip()


def _kind(old: dict | None, new: dict | None) -> str | None:
    if old is None:
        return "appeared"
    if new is None:
        return "vanished"
    was, now = old.get("verdict"), new.get("verdict")
    if was != now:
        if now == Verdict.FAIL:
            return "new failure"
        if now in PROBLEMS:
            return "new problem"
        return "fixed" if was in BAD else "changed verdict"
    return "changed observation" if old.get("observed") != new.get("observed") else None


def compare(old: dict[tuple[str, str], dict], new: dict[tuple[str, str], dict]) -> list[Change]:
    changes = []
    for key in sorted(set(old) | set(new)):
        kind = _kind(old.get(key), new.get(key))
        if kind:
            changes.append(Change(kind, key[0], key[1], _show(old.get(key)), _show(new.get(key))))
    return sorted(changes, key=lambda c: KINDS.index(c.kind))


def exit_code(changes: list[Change]) -> int:
    return 1 if any(c.kind == "new failure" for c in changes) else 0


def render(changes: list[Change], fmt: str = "text") -> str:
    """Plain text for a terminal, markdown for a CI job summary, or JSON."""
    if fmt == "json":
        return json.dumps({"changes": [asdict(c) for c in changes], "exit_code": exit_code(changes)}, indent=2)
    counts = {k: sum(c.kind == k for c in changes) for k in KINDS}
    head = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no change"
    if fmt == "markdown":
        rows = [f"| {c.kind} | {c.guest} | `{c.probe}` | {c.old} | {c.new} |" for c in changes]
        table = ["| change | guest | probe | before | now |", "|---|---|---|---|---|", *rows] if rows else []
        return "\n".join([f"**compare:** {head}", "", *table])
    lines = [f"{c.kind.upper()}: {c.probe} @ {c.guest}: {c.old} -> {c.new}" for c in changes]
    return "\n".join([*lines, f"compare: {head}"])
