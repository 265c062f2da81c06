# SPDX-License-Identifier: GPL-2.0-only
"""`export --kcidb`: runs and matrices as a KCIDB v5 document, the form KernelCI's database takes.

One checkout per kernel source, one build per kernel image, one test per probe per run,
at the dotted path `devmem.<probe>`.  Verdicts map to KCIDB statuses:

    pass -> PASS          fail -> FAIL           known-issue -> FAIL, with an incident of the
    skip -> SKIP          not-run -> MISS          issue named by its rule (report_url: the rule's link)
    error -> ERROR (the guest's or the kernel's), MISS when the host left it without a verdict

The console log is the test's `log_url` and dmesg an `output_files` entry (file:// URLs of
the run directory: a CI job that uploads the runs rewrites the prefix with --url-base).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from ..errors import BadInput
from ..vocabulary import NOT_THE_KERNEL, Verdict

STATUS = {
    Verdict.PASS: "PASS",
    Verdict.FAIL: "FAIL",
    Verdict.KNOWN_ISSUE: "FAIL",
    Verdict.SKIP: "SKIP",
    Verdict.NOT_RUN: "MISS",
    Verdict.ERROR: "ERROR",
}
VERSION = {"major": 5, "minor": 3}


def _id(origin: str, *parts: str) -> str:
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]
    return f"{origin}:{digest}"


def run_dirs(paths: list[Path]) -> list[Path]:
    """Every run directory behind the arguments: a run itself, or a matrix's guests."""
    found = []
    for p in paths:
        p = p.resolve()
        if (p / "results.json").is_file():
            found.append(p)
        elif (p / "summary.json").is_file():
            summary = json.loads((p / "summary.json").read_text())
            found += [Path(g["run_dir"]) for g in summary["guests"] if g.get("run_dir")]
        else:
            raise BadInput(f"export: {p}: neither a run directory (results.json) nor a matrix (summary.json)")
    return found


def _url(path: Path, url_base: str | None, root: Path) -> str:
    if url_base:
        return url_base.rstrip("/") + "/" + str(path.relative_to(root))
    return path.resolve().as_uri()


def document(paths: list[Path], origin: str = "devmem_harness", url_base: str | None = None) -> dict:
    """The KCIDB document for these runs and matrices."""
    doc: dict = {"version": VERSION, "checkouts": {}, "builds": {}, "tests": [], "issues": {}, "incidents": []}
    for run_dir in run_dirs(paths):
        _add_run(doc, run_dir, json.loads((run_dir / "results.json").read_text()), origin, url_base)
    return {**doc, "checkouts": list(doc["checkouts"].values()), "builds": list(doc["builds"].values()),
            "issues": list(doc["issues"].values())}  # fmt: skip


def _add_run(doc: dict, run_dir: Path, r: dict, origin: str, url_base: str | None) -> None:
    kernel = r.get("kernel") or {}
    source = str(kernel.get("source") or "unknown")
    checkout_id = _id(origin, "checkout", source)
    doc["checkouts"].setdefault(checkout_id, {"id": checkout_id, "origin": origin, "comment": source})
    build_id = _id(origin, "build", source, str(kernel.get("image")))
    doc["builds"].setdefault(
        build_id,
        {
            "id": build_id,
            "checkout_id": checkout_id,
            "origin": origin,
            "architecture": "x86_64",
            "comment": f"{kernel.get('release') or kernel.get('version') or 'unknown release'} ({source})",
            "status": "PASS",  # the harness boots kernels that were built or packaged
            "misc": {"image": kernel.get("image"), "config": kernel.get("config")},
        },
    )
    root = run_dir.parent
    harness = r.get("harness") or {}
    environment = {
        "comment": _environment(r),
        "misc": {
            **{k: r.get(k) for k in ("profile", "emulated", "accel")},
            "harness_version": harness.get("version"),
            "harness_commit": harness.get("commit"),
        },
    }
    host = r.get("cause") in NOT_THE_KERNEL
    for p in r.get("probes", []):
        test_id = _id(origin, "test", str(run_dir), p["name"])
        status = "MISS" if host and p["verdict"] == Verdict.ERROR else STATUS[p["verdict"]]
        test = {
            "id": test_id,
            "build_id": build_id,
            "origin": origin,
            "path": f"devmem.{p['name']}",
            "status": status,
            "environment": environment,
            "comment": p.get("reason") or p["verdict"],
            "log_url": _url(run_dir / "console.log", url_base, root),
            "output_files": [{"name": "dmesg.txt", "url": _url(run_dir / "dmesg.txt", url_base, root)}],
            "misc": {k: p.get(k) for k in ("verdict", "expected", "observed", "rule", "source", "link")},
        }
        if r.get("started"):
            test["start_time"] = _rfc3339(r["started"])
        doc["tests"].append(test)
        if p["verdict"] == Verdict.KNOWN_ISSUE and p.get("rule"):
            _add_known_issue(doc, p, test_id, origin)


def _rfc3339(stamp: str) -> str:
    """results.json's `2026-12-02T02:42:55+0000` as KCIDB's date-time, `2026-12-02T02:42:55+00:00`."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").isoformat()


def _environment(r: dict) -> str:
    emulated = ", EMULATED confidential guest (no hardware)" if r.get("emulated") else ""
    return f"QEMU {r.get('qemu_version') or '?'} ({r.get('accel')}), profile {r.get('profile')}{emulated}"


def _add_known_issue(doc: dict, p: dict, test_id: str, origin: str) -> None:
    issue_id = f"{origin}:{p['rule']}"
    issue = {"id": issue_id, "version": 1, "origin": origin, "culprit": {"code": True}}
    if p.get("source"):
        issue["comment"] = p["source"]
    if p.get("link", "").startswith(("http://", "https://")):
        issue["report_url"] = p["link"]
    issue["report_subject"] = p.get("reason") or p["rule"]
    doc["issues"].setdefault(issue_id, issue)
    doc["incidents"].append(
        {"id": f"{test_id}-{p['rule']}", "origin": origin, "issue_id": issue_id, "issue_version": 1,
         "test_id": test_id, "present": True}
    )  # fmt: skip
