"""The oracle: what each probe should observe on this kernel, and the verdict.

Expectations are data (data/expectations.yaml); this module only derives the
facts they are keyed on and applies the first matching rule.  It encodes the
kernel's rules, never this machine's observations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .errors import BadInput
from .kconfig import version_tuple
from .ktap import KtapResult
from .yamlfile import load_yaml, require_mapping

VERDICTS = ("pass", "fail", "known-issue", "skip", "error")
LOCKDOWN_LEVELS = ("none", "integrity", "confidentiality")
_VERSION_COND = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\d+(?:\.\d+){0,2})\s*$")


# ------------------------------------------------------------------ facts


def cmdline_params(cmdline: str) -> dict[str, str]:
    """Kernel command line words to a dict (last one wins, as for most early params)."""
    params = {}
    for word in cmdline.split():
        key, sep, value = word.partition("=")
        params[key] = value if sep else ""
    return params


def lockdown_level(symbols: dict[str, str], cmdline: str) -> str:
    """The lockdown level the kernel should be in, from its config and command line."""
    if symbols.get("SECURITY_LOCKDOWN_LSM", "n") != "y":
        return "none"
    params = cmdline_params(cmdline)
    lsms = params.get("lsm", symbols.get("LSM", "lockdown"))
    if "lockdown" not in lsms.split(",") and symbols.get("SECURITY_LOCKDOWN_LSM_EARLY", "n") != "y":
        return "none"
    level = 0
    if symbols.get("LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY") == "y":
        level = 2
    elif symbols.get("LOCK_DOWN_KERNEL_FORCE_INTEGRITY") == "y":
        level = 1
    requested = params.get("lockdown")
    if requested in LOCKDOWN_LEVELS[1:]:
        level = max(level, LOCKDOWN_LEVELS.index(requested))
    return LOCKDOWN_LEVELS[level]


def derive_facts(
    symbols: dict[str, str],
    cmdline: str,
    version: str | None,
    kind: str = "plain",
    confidential: bool | None = None,
    emulated: bool = False,
) -> dict[str, Any]:
    """The facts rules are keyed on. `confidential` defaults to the kind being a hardware confidential one."""
    from .profiles import CONFIDENTIAL_KINDS

    facts: dict[str, Any] = {f"CONFIG_{k}": v for k, v in symbols.items()}
    params = cmdline_params(cmdline)
    iomem = params.get("iomem", "default")
    facts.update(
        lockdown=lockdown_level(symbols, cmdline),
        iomem=iomem if iomem in ("relaxed", "strict") else "default",
        kind=kind,
        confidential=kind in CONFIDENTIAL_KINDS if confidential is None else confidential,
        emulated=emulated,
        version=version,
    )
    return facts


# ------------------------------------------------------------------ rules


@dataclass(frozen=True)
class KnownIssue:
    observed: tuple[dict, ...]
    title: str
    link: str
    kernels: str | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    probe: str
    when: dict
    expect: tuple[dict, ...]
    source: str
    skip: str | None = None
    known_issue: KnownIssue | None = None
    kernel_warnings: str = "fail"  # or "allowed": a WARN/BUG logged during the probe does not fail it
    origin: str = "built-in"


@dataclass
class Verdict:
    name: str
    verdict: str
    expected: str
    observed: str
    reason: str
    rule: str | None = None
    source: str | None = None
    link: str | None = None
    observation: dict = field(default_factory=dict)
    kernel_warnings: list = field(default_factory=list)


def _matchers(value: Any, where: str) -> tuple[dict, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, dict):
            raise BadInput(f"{where}: an expectation must be a mapping like {{outcome: EPERM}}")
    return tuple({k: v for k, v in item.items()} for item in items)


def _version_ok(spec: str, where: str) -> None:
    for part in str(spec).split(","):
        if not _VERSION_COND.match(part):
            raise BadInput(
                f"{where}: version condition {spec!r} not understood", 'write e.g. ">=6.16" or ">=5.8,<6.16"'
            )


def load_rules(path: Path, origin: str) -> dict[str, list[Rule]]:
    data = require_mapping(load_yaml(path), path, "the expectations file")
    sources = data.get("sources") or {}
    probes = require_mapping(data.get("probes") or {}, path, "'probes'")
    rules: dict[str, list[Rule]] = {}
    for probe, entries in probes.items():
        if not isinstance(entries, list):
            raise BadInput(f"{path}: probes.{probe} must be a list of rules")
        for i, entry in enumerate(entries):
            where = f"{path}: probes.{probe}[{i}]"
            if not isinstance(entry, dict):
                raise BadInput(f"{where}: a rule must be a mapping")
            unknown = set(entry) - {"id", "when", "expect", "known_issue", "skip", "source", "note", "kernel_warnings"}
            if unknown:
                raise BadInput(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
            when = entry.get("when") or {}
            if not isinstance(when, dict):
                raise BadInput(f"{where}: 'when' must be a mapping of fact: value")
            if "version" in when:
                _version_ok(when["version"], where)
            expect = _matchers(entry.get("expect"), where)
            if not expect and not entry.get("skip"):
                raise BadInput(f"{where}: a rule needs 'expect' or 'skip'")
            if entry.get("kernel_warnings", "fail") not in ("fail", "allowed"):
                raise BadInput(f"{where}: kernel_warnings must be 'fail' or 'allowed'")
            ki = entry.get("known_issue")
            known = None
            if ki is not None:
                if not isinstance(ki, dict) or not ki.get("link") or not ki.get("observed"):
                    raise BadInput(f"{where}: known_issue needs 'observed' and 'link'")
                if ki.get("kernels"):
                    _version_ok(ki["kernels"], where)
                known = KnownIssue(
                    observed=_matchers(ki["observed"], where),
                    title=ki.get("title", ""),
                    link=ki["link"],
                    kernels=ki.get("kernels"),
                )
            source_key = entry.get("source", "")
            rules.setdefault(probe, []).append(
                Rule(
                    id=entry.get("id") or f"{probe}#{i}",
                    probe=probe,
                    when=when,
                    expect=expect,
                    source=sources.get(source_key, source_key),
                    skip=entry.get("skip"),
                    known_issue=known,
                    kernel_warnings=entry.get("kernel_warnings", "fail"),
                    origin=origin,
                )
            )
    return rules


def version_matches(spec: str, version: str | None) -> bool:
    if version is None:
        return False
    have = version_tuple(version)
    for part in str(spec).split(","):
        op, want = _VERSION_COND.match(part).groups()
        want_t = version_tuple(want)
        ok = {
            ">=": have >= want_t,
            "<=": have <= want_t,
            ">": have > want_t,
            "<": have < want_t,
            "==": have == want_t,
            "!=": have != want_t,
        }[op]
        if not ok:
            return False
    return True


def _fact_matches(key: str, want: Any, facts: dict[str, Any]) -> bool:
    if key == "version":
        return version_matches(want, facts.get("version"))
    have = facts.get(key, "n" if key.startswith("CONFIG_") else None)
    wants = want if isinstance(want, list) else [want]
    if isinstance(have, bool):  # confidential, emulated: YAML true/false
        return any(have is (w is True or str(w).lower() in ("true", "yes", "y")) for w in wants)
    return any(str(have) == str(w if w is not False else "n") for w in wants)


def rule_applies(rule: Rule, facts: dict[str, Any]) -> bool:
    return all(_fact_matches(k, v, facts) for k, v in rule.when.items())


def observation_matches(observation: dict, matchers: tuple[dict, ...]) -> bool:
    for matcher in matchers:
        if all(
            str(observation.get(k)) in [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in matcher.items()
        ):
            return True
    return False


def describe(matchers: tuple[dict, ...]) -> str:
    def one(m: dict) -> str:
        return " ".join(f"{k}={'|'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in m.items())

    return " or ".join(one(m) for m in matchers) or "-"


def describe_observation(obs: dict) -> str:
    keys = ["outcome", "data", "ret"]
    return " ".join(f"{k}={obs[k]}" for k in keys if k in obs) or "-"


class Oracle:
    def __init__(self, rules: dict[str, list[Rule]]):
        self.rules = rules

    @classmethod
    def load(cls, overrides: Path | None = None) -> Oracle:
        rules = load_rules(paths.DATA_DIR / "expectations.yaml", "built-in")
        if overrides is not None:
            for probe, extra in load_rules(overrides, str(overrides)).items():
                rules[probe] = extra + rules.get(probe, [])
        return cls(rules)

    def rule_for(self, probe: str, facts: dict[str, Any]) -> Rule | None:
        return next((r for r in self.rules.get(probe, []) if rule_applies(r, facts)), None)

    def judge(
        self,
        probe: str,
        result: KtapResult | None,
        facts: dict[str, Any],
        missing_reason: str = "no result: the guest stopped before this probe reported",
        kernel_warnings: list[str] | None = None,
    ) -> Verdict:
        verdict = self._judge(probe, result, facts, missing_reason)
        if kernel_warnings:
            verdict.kernel_warnings = list(kernel_warnings)
            rule = self.rule_for(probe, facts)
            allowed = rule is not None and rule.kernel_warnings == "allowed"
            if verdict.verdict in ("pass", "known-issue") and not allowed:
                verdict.verdict = "fail"
                verdict.link = None
                verdict.reason = f"kernel warning while the probe ran: {kernel_warnings[0]}"
        return verdict

    def _judge(self, probe: str, result: KtapResult | None, facts: dict[str, Any], missing_reason: str) -> Verdict:
        rule = self.rule_for(probe, facts)
        expected = describe(rule.expect) if rule else "-"
        base = dict(name=probe, expected=expected, rule=rule.id if rule else None, source=rule.source if rule else None)
        if result is None:
            return Verdict(verdict="error", observed="-", reason=missing_reason, **base)
        obs = result.observation
        observed = describe_observation(obs) if obs else ("skipped" if result.skipped else "-")
        base.update(observed=observed, observation=obs)
        if result.skipped and not obs.get("outcome"):
            return Verdict(verdict="skip", reason=rule.skip if rule and rule.skip else result.reason, **base)
        if obs.get("outcome") == "no-target":
            return Verdict(verdict="error", reason=f"no target in this guest: {obs.get('target', '?')}", **base)
        if "outcome" not in obs:
            return Verdict(verdict="error", reason="the probe reported no observation", **base)
        if rule is None:
            return Verdict(verdict="error", reason="no expectation applies to this kernel (add a rule)", **base)
        if result.skipped:
            return Verdict(verdict="skip", reason=result.reason, **base)
        if rule.skip and observation_matches(obs, rule.expect):
            return Verdict(verdict="skip", reason=rule.skip, **base)
        if not rule.skip and observation_matches(obs, rule.expect):
            return Verdict(verdict="pass", reason="", **base)
        ki = rule.known_issue
        if ki and observation_matches(obs, ki.observed):
            if ki.kernels is None or version_matches(ki.kernels, facts.get("version")):
                return Verdict(verdict="known-issue", reason=ki.title, link=ki.link, **base)
        if rule.skip:
            return Verdict(verdict="fail", reason=f"expected the probe not to run ({rule.skip})", **base)
        return Verdict(verdict="fail", reason=f"expected {expected}, observed {observed}", **base)
