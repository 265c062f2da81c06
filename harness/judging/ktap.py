# SPDX-License-Identifier: GPL-2.0-only
"""KTAP parsing (Documentation/dev-tools/ktap.rst) for the probe's output.

The probe prints one flat KTAP document: a version line, a plan, and per probe
a "# observe: key=value ..." diagnostic followed by its result line.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

_RESULT = re.compile(r"^(ok|not ok) (\d+)(?: -)? ?([^#]*?)\s*(?:#\s*(\S+)\s*(.*))?$")
_PLAN = re.compile(r"^1\.\.(\d+)")
_VERSION = re.compile(r"^(KTAP|TAP) version (\d+)")


@dataclass
class KtapResult:
    number: int
    name: str
    ok: bool
    directive: str | None = None  # "SKIP", "TODO", ...
    reason: str = ""
    diagnostics: list[str] = field(default_factory=list)
    observation: dict[str, str] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        return (self.directive or "").upper() == "SKIP"


@dataclass
class KtapDocument:
    version: str | None
    plan: int | None
    results: list[KtapResult]
    garbage: list[str] = field(default_factory=list)  # lines that are not KTAP (kernel noise)

    def by_name(self) -> dict[str, KtapResult]:
        return {r.name: r for r in self.results}


def parse_observation(line: str) -> dict[str, str]:
    """'outcome=ok call=pread target="System ROM"' -> dict; malformed words are kept under '_'."""
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    obs: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if sep:
            obs[key] = value
        else:
            obs["_"] = (obs.get("_", "") + " " + word).strip()
    return obs


def parse_ktap(text: str) -> KtapDocument:
    version = plan = None
    results: list[KtapResult] = []
    pending: list[str] = []
    observation: dict[str, str] = {}
    garbage: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if m := _VERSION.match(line):
            version = f"{m.group(1)} {m.group(2)}"
        elif (m := _PLAN.match(line)) and plan is None:
            plan = int(m.group(1))
        elif m := _RESULT.match(line):
            results.append(
                KtapResult(
                    number=int(m.group(2)),
                    name=m.group(3).strip(),
                    ok=m.group(1) == "ok",
                    directive=(m.group(4) or None),
                    reason=(m.group(5) or "").strip(),
                    diagnostics=pending,
                    observation=observation,
                )
            )
            pending, observation = [], {}
        elif line.startswith("#"):
            body = line[1:].strip()
            pending.append(body)
            if body.startswith("observe:"):
                observation.update(parse_observation(body[len("observe:") :]))
        else:
            garbage.append(line)
    return KtapDocument(version=version, plan=plan, results=results, garbage=garbage)
