# SPDX-License-Identifier: GPL-2.0-only
"""A run's verdict from its probes' verdicts, their counts, and the exit code they give.

One place says how verdicts add up: the run's own (a failure outranks no verdict, which
outranks not-run), the exit status of a run, and the worst of a set of runs (a matrix).
"""

from __future__ import annotations

from dataclasses import asdict

from ..errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_NO_VERDICT, EXIT_NOT_RUN, EXIT_PASS, EXIT_REQUIREMENT
from ..vocabulary import Outcome, Verdict
from .oracle import VERDICTS, Judgement


def overall_verdict(verdicts: list[Judgement], outcome: str) -> Verdict:
    """fail: a probe failed; error: no verdict; not-run: a probe could not run; pass: something passed."""
    kinds = [v.verdict for v in verdicts]
    if Verdict.FAIL in kinds:
        return Verdict.FAIL
    if outcome != Outcome.COMPLETED or Verdict.ERROR in kinds:
        return Verdict.ERROR
    if Verdict.NOT_RUN in kinds:
        return Verdict.NOT_RUN
    return Verdict.PASS if Verdict.PASS in kinds else Verdict.ERROR


def exit_code(verdict: str, outcome: str) -> int:
    if outcome == Outcome.INTERRUPTED:
        return EXIT_INTERRUPTED
    if outcome == Outcome.NO_HARDWARE:
        return EXIT_REQUIREMENT
    codes = {Verdict.PASS: EXIT_PASS, Verdict.FAIL: EXIT_FAIL, Verdict.NOT_RUN: EXIT_NOT_RUN}
    return codes.get(verdict, EXIT_NO_VERDICT)


# From worst to best: what a set of runs (a matrix) exits with.
EXIT_SEVERITY = (EXIT_INTERRUPTED, EXIT_REQUIREMENT, EXIT_FAIL, EXIT_NO_VERDICT, EXIT_NOT_RUN, EXIT_PASS)


def worst_exit(codes: list[int]) -> int:
    """A failure outranks no verdict, which outranks not-run; unknown codes count as no verdict."""
    known = [c if c in EXIT_SEVERITY else EXIT_NO_VERDICT for c in codes]
    return min(known, key=EXIT_SEVERITY.index) if known else EXIT_NO_VERDICT


def counts(verdicts: list[Judgement]) -> dict[str, int]:
    out = {k: 0 for k in VERDICTS}
    for v in verdicts:
        out[v.verdict] += 1
    return out


def probe_entries(verdicts: list[Judgement]) -> list[dict]:
    return [{k: v for k, v in asdict(x).items() if v not in (None, {}, [])} for x in verdicts]
