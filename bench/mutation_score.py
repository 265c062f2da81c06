#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The kernel mutation score: how many planted regressions in the policy code the probe suite catches.

Each patch in bench/mutations/ changes one branch of the /dev/mem, /dev/port or
PCI sysfs policy in Debian's 6.12 source.  Its first line says what it breaks
(`Breaks:`) or how it tightens the policy (`Tightens:`); a mutant that user space
cannot tell apart from the real kernel carries an `Equivalent:` line with the
argument.  For each patch: an incremental build of the strict kernel plus the
patch, then the probe suite in the default, lockdown=integrity and iomem=relaxed
boots.

  - a mutant is killed when some boot exits 1 with a failed probe (the later
    boots are skipped once one has killed it);
  - a tightening must exit 0 in every boot: a fix is never a regression;
  - an equivalent mutant runs every boot too: if a probe kills it, the argument
    was wrong and it counts as an ordinary mutant.

    python bench/mutation_score.py [--only NAME ...] [--runs-dir DIR] [--jobs N]

Prints the table and the score, writes table.md and score.json into the runs
directory, exits 0 when the score reaches --min-score and every tightening
passed, 1 otherwise, 2 when the unpatched kernel is not green to begin with.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MUTATIONS = Path(__file__).resolve().parent / "mutations"
BOOTS = {
    "default": [],
    "lockdown": ["--append", "lockdown=integrity"],
    "relaxed": ["--append", "iomem=relaxed"],
    # /proc/kcore is the one door only confidentiality lockdown shuts (LOCKDOWN_KCORE).
    "confidentiality": ["--append", "lockdown=confidentiality"],
}


@dataclass
class Mutation:
    name: str
    path: Path
    kind: str  # mutant | tightening | equivalent
    what: str
    argument: str = ""


@dataclass
class Boot:
    name: str
    exit: int
    failed: list[str]
    run_dir: str
    detail: str = ""


@dataclass
class Row:
    mutation: Mutation
    build_seconds: float = 0.0
    boot_seconds: float = 0.0
    boots: list[Boot] = field(default_factory=list)
    error: str = ""

    @property
    def killers(self) -> list[str]:
        return [f"{b.name}: {', '.join(b.failed)}" for b in self.boots if b.exit == 1 and b.failed]

    @property
    def result(self) -> str:
        if self.error:
            return "error"
        if self.mutation.kind == "tightening":
            return "fix ok" if all(b.exit == 0 for b in self.boots) else "FIX REPORTED AS REGRESSION"
        if self.killers:
            return "killed" if self.mutation.kind == "mutant" else "killed (not equivalent)"
        if any(b.exit not in (0, 1) for b in self.boots):
            return "not judged"  # a crash, a hang or a not-run: neither killed nor survived
        return "equivalent" if self.mutation.kind == "equivalent" else "SURVIVED"


def load(path: Path) -> Mutation:
    """The header lines before the diff: `Breaks:`/`Tightens:` and an optional `Equivalent:`."""
    fields: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith(("--- ", "diff ")):
            break
        key, sep, value = line.partition(": ")
        if sep and key in ("Breaks", "Tightens", "Equivalent"):
            fields[key] = value.strip()
    if "Breaks" not in fields and "Tightens" not in fields:
        sys.exit(f"mutation_score: {path}: line 1 must be 'Breaks: ...' or 'Tightens: ...'")
    if "Tightens" in fields:
        return Mutation(path.stem, path, "tightening", fields["Tightens"])
    kind = "equivalent" if "Equivalent" in fields else "mutant"
    return Mutation(path.stem, path, kind, fields["Breaks"], fields.get("Equivalent", ""))


def harness(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *argv], cwd=REPO, capture_output=True, text=True)


def build_args(args, patch: Path | None) -> list[str]:
    out = ["--source", args.source, *[a for k in args.kconfig for a in ("--kconfig", k)]]
    return out + (["--patch", str(patch)] if patch else [])


def boot(args, patch: Path | None, name: str, runs: Path) -> Boot:
    runs.mkdir(parents=True, exist_ok=True)
    proc = harness("run", *build_args(args, patch), *BOOTS[name], "--quiet", "--runs-dir", str(runs))
    results = runs / "latest" / "results.json"
    if not results.is_file():
        return Boot(name, proc.returncode, [], str(runs), proc.stderr.strip()[-300:])
    res = json.loads(results.read_text())
    failed = [p["name"] for p in res["probes"] if p["verdict"] == "fail"]
    return Boot(name, proc.returncode, failed, str(results.parent.resolve()), res.get("detail", ""))


def score_one(args, m: Mutation | None, runs: Path) -> Row:
    """Build the kernel with the patch, then boot it until a boot kills it (all boots for the others)."""
    patch = m.path if m else None
    row = Row(m or Mutation("unpatched", Path(), "tightening", "the kernel as Debian ships it"))
    start = time.monotonic()
    built = harness("kernel", "build", *build_args(args, patch))
    row.build_seconds = time.monotonic() - start
    if built.returncode != 0:
        row.error = (built.stderr.strip().splitlines() or ["build failed"])[-1][:200]
        return row
    start = time.monotonic()
    names = list(BOOTS)
    if row.mutation.kind == "mutant":  # stop at the first boot that kills it
        row.boots.append(boot(args, patch, names[0], runs / names[0]))
        names = names[1:] if not row.killers else []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        row.boots += list(pool.map(lambda n: boot(args, patch, n, runs / n), names))
    row.boot_seconds = time.monotonic() - start
    return row


def table(rows: list[Row]) -> str:
    lines = [
        "| mutation | what it changes | result | killed by / argument | build s | boots s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        m = r.mutation
        if r.error:
            by = r.error
        elif m.kind == "tightening":
            by = "; ".join(
                f"{b.name}: exit {b.exit}" + (f" ({', '.join(b.failed)})" if b.failed else "") for b in r.boots
            )
        elif r.killers:
            by = "; ".join(r.killers)
        elif m.kind == "equivalent":
            by = m.argument
        else:
            by = "; ".join(f"{b.name}: exit {b.exit} {b.detail}".strip() for b in r.boots)
        cells = [m.name, m.what, r.result, by, f"{r.build_seconds:.0f}", f"{r.boot_seconds:.0f}"]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mutations", type=Path, default=MUTATIONS, help="directory of *.patch (default bench/mutations)"
    )
    parser.add_argument("--only", nargs="*", default=[], help="only these mutations (names or name prefixes)")
    parser.add_argument("--source", default="deb:linux-source-6.12")
    parser.add_argument(
        "--kconfig", action="append", default=None, help="fragment(s) of the scored kernel (default strict)"
    )
    parser.add_argument("--runs-dir", type=Path, default=None, help="default runs/mutation-score-<time>")
    parser.add_argument("--jobs", type=int, default=2, help="boots of one kernel run side by side (default 2)")
    parser.add_argument("--min-score", type=float, default=95.0, help="percent of non-equivalent mutants to kill")
    args = parser.parse_args()
    args.kconfig = args.kconfig or ["strict"]
    patches = sorted(args.mutations.glob("*.patch"))
    if args.only:
        patches = [p for p in patches if any(p.stem.startswith(o) for o in args.only)]
    if not patches:
        sys.exit(f"mutation_score: no mutation in {args.mutations} matches {' '.join(args.only) or '*.patch'}")
    mutations = [load(p) for p in patches]
    runs = args.runs_dir or REPO / "runs" / time.strftime("mutation-score-%Y%m%d-%H%M%S")
    started = time.monotonic()

    base = score_one(args, None, runs / "unpatched")
    if base.result != "fix ok":
        print(table([base]))
        print(f"mutation_score: the unpatched kernel is not green, nothing to score (runs in {runs / 'unpatched'})")
        return 2
    rows: list[Row] = []
    for m in mutations:
        row = score_one(args, m, runs / m.name)
        rows.append(row)
        print(
            f"{m.name:<40} {row.result:<26} {row.build_seconds:5.0f} s build {row.boot_seconds:5.0f} s boots",
            flush=True,
        )

    scored = [r for r in rows if r.mutation.kind != "tightening" and r.result not in ("equivalent", "error")]
    killed = [r for r in scored if r.result.startswith("killed")]
    fixes = [r for r in rows if r.mutation.kind == "tightening"]
    fixes_ok = all(r.result == "fix ok" for r in fixes)
    score = 100.0 * len(killed) / len(scored) if scored else 0.0
    wall = time.monotonic() - started
    text = table(rows)
    summary = (
        f"score {score:.1f} % ({len(killed)} of {len(scored)} non-equivalent mutants killed; "
        f"{sum(r.result == 'equivalent' for r in rows)} equivalent); "
        f"tightenings exit 0 in every boot: {sum(r.result == 'fix ok' for r in fixes)} of {len(fixes)}; "
        f"{wall / 60:.1f} min"
    )
    print("\n" + text + "\n\n" + summary)
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "table.md").write_text(text + "\n\n" + summary + "\n")
    (runs / "score.json").write_text(
        json.dumps(
            {
                "score": round(score, 1),
                "killed": len(killed),
                "scored": len(scored),
                "fixes_ok": fixes_ok,
                "seconds": round(wall),
                "rows": [
                    {
                        "mutation": r.mutation.name,
                        "kind": r.mutation.kind,
                        "result": r.result,
                        "build_seconds": round(r.build_seconds, 1),
                        "boot_seconds": round(r.boot_seconds, 1),
                        "boots": [b.__dict__ for b in r.boots],
                        "error": r.error,
                    }
                    for r in rows
                ],
            },
            indent=1,
        )
    )
    print(f"table and score: {runs}")
    errors = [r for r in rows if r.result in ("error", "not judged")]
    return 0 if score >= args.min_score and fixes_ok and not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
