# SPDX-License-Identifier: GPL-2.0-only
"""`report`, `export`, `compare` and `merge`: what runs and matrices left behind, read again and shown
another way (report.html, KCIDB, what changed since last night, shards joined)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from .. import paths
from ..errors import BadInput
from ..records.compare import compare, exit_code, load_cells, render
from ..records.kcidb import document as kcidb_document
from ..records.matrix_summary import merge, write_summary
from ..records.report import write_report


def add_parsers(sub) -> None:
    merge_parser = sub.add_parser("merge", help="join the matrix directories of --shard runs into one")
    merge_parser.add_argument(
        "dirs", nargs="+", type=Path, metavar="DIR", help="matrix directories (with summary.json)"
    )
    merge_parser.add_argument(
        "--out", type=Path, help="the merged matrix directory (default: runs/matrix-merged-<time>)"
    )
    merge_parser.set_defaults(handler=_cmd_merge)
    compare_parser = sub.add_parser(
        "compare", help="what changed between two runs or matrices; exit 1 on a new failure"
    )
    compare_parser.add_argument("old", type=Path, help="the earlier run or matrix directory (last night's)")
    compare_parser.add_argument("new", type=Path, help="the later one")
    compare_parser.add_argument("--format", default="text", choices=("text", "markdown", "json"))
    compare_parser.set_defaults(handler=_cmd_compare)
    report = sub.add_parser("report", help="one self-contained report.html for runs and matrices")
    report.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run or matrix directories")
    report.add_argument("--out", type=Path, help="where to write it (default: report.html in the first DIR)")
    report.set_defaults(handler=_cmd_report)
    export = sub.add_parser("export", help="runs and matrices in another system's format (KCIDB)")
    export.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run or matrix directories")
    export.add_argument("--kcidb", type=Path, required=True, metavar="FILE", help="write a KCIDB v5 document here")
    export.add_argument("--origin", default="devmem_harness", help="the KCIDB origin (lower case, digits, _)")
    export.add_argument("--url-base", help="URL the runs directory is published at (default: file:// paths)")
    export.set_defaults(handler=_cmd_export)


def _cmd_merge(args) -> int:
    summaries = []
    for d in args.dirs:
        path = d / "summary.json"
        try:
            summaries.append((d, json.loads(path.read_text())))
        except (OSError, ValueError) as exc:
            raise BadInput(f"merge: {path}: unreadable ({exc})", "name matrix directories") from None
    out = args.out or paths.default_runs_dir() / f"matrix-merged-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    out.mkdir(parents=True, exist_ok=True)
    merged = merge(summaries)
    print(write_summary(out, merged))
    (out / "kcidb.json").write_text(json.dumps(kcidb_document([out]), indent=1) + "\n")
    print(f"matrix: {out} (summary.json, summary.txt, report.html, kcidb.json)")
    return merged["exit_code"]


def _cmd_report(args) -> int:
    out = args.out or args.dirs[0] / "report.html"
    print(f"report: {write_report(args.dirs, out, ' + '.join(d.resolve().name for d in args.dirs))}")
    return 0


def _cmd_export(args) -> int:
    if not re.fullmatch(r"[a-z0-9_]+", args.origin):
        raise BadInput(f"--origin {args.origin}: KCIDB origins are lower-case letters, digits and _")
    doc = kcidb_document(args.dirs, args.origin, args.url_base)
    args.kcidb.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"kcidb: {args.kcidb}: {len(doc['tests'])} tests, {len(doc['builds'])} builds, {len(doc['issues'])} issues")
    return 0


def _cmd_compare(args) -> int:
    changes = compare(load_cells(args.old), load_cells(args.new))
    print(render(changes, args.format))
    return exit_code(changes)
