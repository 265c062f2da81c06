# SPDX-License-Identifier: GPL-2.0-only
"""The oracle: what each probe should observe on this kernel, and the verdict.

Expectations are data (data/expectations.yaml); this module only derives the
facts they are keyed on and applies the first matching rule.  It encodes the
kernel's rules, never this machine's observations: a rule whose behaviour arrived
with a commit says so (`since`), and a kernel older than that commit shows the
older behaviour as a known issue, never a failure.  A probe that could not run is
an expected skip only when a rule says so; otherwise it is not-run, loudly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import BadInput
from ..kernels.kconfig import version_tuple
from ..kernels.spare import load_catalog
from ..vocabulary import CONFIDENTIAL_KINDS, GUEST_TERMINATED, Verdict
from ..yamlfile import load_yaml, require_mapping
from .ktap import KtapResult

VERDICTS = tuple(Verdict)
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


def iomem_mode(cmdline: str) -> str:
    """`iomem=` as kernel/resource.c strict_iomem() reads it: strstr() for "relaxed", then for "strict",
    in every occurrence (so `iomem=relaxed,nosmt` is relaxed and `iomem=relaxed,strict` strict)."""
    mode = "default"
    for word in cmdline.split():
        if word.startswith("iomem="):
            arg = word.removeprefix("iomem=")
            if "relaxed" in arg:
                mode = "relaxed"
            if "strict" in arg:
                mode = "strict"
    return mode


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
    facts: dict[str, Any] = {f"CONFIG_{k}": v for k, v in symbols.items()}
    facts.update(
        lockdown=lockdown_level(symbols, cmdline),
        iomem=iomem_mode(cmdline),
        kind=kind,
        confidential=kind in CONFIDENTIAL_KINDS if confidential is None else confidential,
        emulated=emulated,
        version=version,
    )
    return facts


# ------------------------------------------------------------------ rules

COMMIT_URL = "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/commit/?id={}"
GUEST_KIND_FACTS = ("confidential", "emulated", "kind")
# Outcomes that are the confidential-guest hazard itself, which a plain guest cannot show.
HAZARDS = (GUEST_TERMINATED, "killed", "SIGBUS", "SIGSEGV", "timeout")


@dataclass(frozen=True)
class KnownIssue:
    observed: tuple[dict, ...]
    title: str
    link: str
    kernels: str | None = None


@dataclass(frozen=True)
class Tighter:
    """Observations stricter than this kernel's code requires: a tightening someone proposed, judged a pass."""

    observed: tuple[dict, ...]
    title: str


@dataclass(frozen=True)
class Since:
    """The expectation arrived with a commit: older kernels show `before` (a known issue, never a failure)."""

    version: str
    commit: str
    title: str
    before: tuple[dict, ...]

    @property
    def link(self) -> str:
        return COMMIT_URL.format(self.commit)


@dataclass(frozen=True)
class Rule:
    id: str
    probe: str
    when: dict
    expect: tuple[dict, ...]
    source: str
    skip: str | None = None
    known_issue: KnownIssue | None = None
    since: Since | None = None
    tighter: Tighter | None = None
    kernel_warnings: str = "fail"  # or "allowed": a WARN/BUG logged during the probe does not fail it
    origin: str = "built-in"

    @property
    def guest_kind(self) -> bool:
        """Keyed on the guest kind (confidential, emulated): its known issue must not excuse a plain failure."""
        return any(k in self.when for k in GUEST_KIND_FACTS)


@dataclass(frozen=True)
class ExpectedSkip:
    """A reason a probe could not run that the kernel's rules predict (lockdown refused the node)."""

    id: str
    when: dict
    skipped: tuple[dict, ...]
    reason: str
    source: str
    origin: str = "built-in"


@dataclass
class Judgement:
    """One probe's verdict, with what was expected and observed, and the rule that decided."""

    name: str
    verdict: Verdict
    expected: str
    observed: str
    reason: str
    rule: str | None = None
    source: str | None = None
    link: str | None = None
    observation: dict = field(default_factory=dict)
    kernel_warnings: list = field(default_factory=list)


class VersionUnknown(Exception):
    """A rule needs the kernel's version and nothing told it."""


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


def _since(value: Any, where: str) -> Since | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(value.get(k) for k in ("version", "commit", "before")):
        raise BadInput(f"{where}: since needs 'version', 'commit' and 'before' (what older kernels show)")
    if not re.fullmatch(r"\d+\.\d+", str(value["version"])):
        raise BadInput(f"{where}: since.version {value['version']!r} is not a release like 5.12")
    if not re.fullmatch(r"[0-9a-f]{12,40}", str(value["commit"])):
        raise BadInput(f"{where}: since.commit {value['commit']!r} is not a commit id (12 to 40 hex digits)")
    return Since(str(value["version"]), str(value["commit"]), value.get("title", ""), _matchers(value["before"], where))


RULE_KEYS = {"id", "when", "expect", "known_issue", "skip", "source", "note", "kernel_warnings", "since", "tighter"}


def _rule(probe: str, entry: Any, i: int, where: str, sources: dict, origin: str) -> Rule:
    if not isinstance(entry, dict):
        raise BadInput(f"{where}: a rule must be a mapping")
    unknown = set(entry) - RULE_KEYS
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
        known = KnownIssue(_matchers(ki["observed"], where), ki.get("title", ""), ki["link"], ki.get("kernels"))
    tighter = entry.get("tighter")
    if tighter is not None and (
        not isinstance(tighter, dict) or not tighter.get("observed") or not tighter.get("title")
    ):
        raise BadInput(f"{where}: tighter needs 'observed' and 'title' (the tightening it stands for)")
    source_key = entry.get("source", "")
    return Rule(
        id=entry.get("id") or f"{probe}#{i}",
        probe=probe,
        when=when,
        expect=expect,
        source=sources.get(source_key, source_key),
        skip=entry.get("skip"),
        known_issue=known,
        since=_since(entry.get("since"), where),
        tighter=Tighter(_matchers(tighter["observed"], where), tighter["title"]) if tighter else None,
        kernel_warnings=entry.get("kernel_warnings", "fail"),
        origin=origin,
    )


def _expected_skip(entry: Any, i: int, where: str, sources: dict, origin: str) -> ExpectedSkip:
    if not isinstance(entry, dict) or not entry.get("skipped") or not entry.get("reason"):
        raise BadInput(f"{where}: an expected skip needs 'skipped' (the probe's skip=... fields) and 'reason'")
    unknown = set(entry) - {"id", "when", "skipped", "reason", "source", "note"}
    if unknown:
        raise BadInput(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    when = entry.get("when") or {}
    if not isinstance(when, dict):
        raise BadInput(f"{where}: 'when' must be a mapping of fact: value")
    source_key = entry.get("source", "")
    return ExpectedSkip(
        id=entry.get("id") or f"expected_skips#{i}",
        when=when,
        skipped=_matchers(entry["skipped"], where),
        reason=entry["reason"],
        source=sources.get(source_key, source_key),
        origin=origin,
    )


def load_rules(path: Path, origin: str) -> tuple[dict[str, list[Rule]], list[ExpectedSkip]]:
    data = require_mapping(load_yaml(path), path, "the expectations file")
    sources = data.get("sources") or {}
    probes = require_mapping(data.get("probes") or {}, path, "'probes'")
    rules: dict[str, list[Rule]] = {}
    for probe, entries in probes.items():
        if not isinstance(entries, list):
            raise BadInput(f"{path}: probes.{probe} must be a list of rules")
        for i, entry in enumerate(entries):
            rules.setdefault(probe, []).append(_rule(probe, entry, i, f"{path}: probes.{probe}[{i}]", sources, origin))
    skips_data = data.get("expected_skips") or []
    if not isinstance(skips_data, list):
        raise BadInput(f"{path}: expected_skips must be a list")
    skips = [_expected_skip(e, i, f"{path}: expected_skips[{i}]", sources, origin) for i, e in enumerate(skips_data)]
    return rules, skips


def version_matches(spec: str, version: str | None) -> bool:
    if version is None:
        raise VersionUnknown(f"a rule is keyed on version {spec}")
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


def rule_applies(rule: Rule | ExpectedSkip, facts: dict[str, Any]) -> bool:
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


def _unknown_version_reason(what: str) -> str:
    return f"the kernel's version is unknown (no version in its config header or image, no uname -r): {what}"


_TIMESTAMP = re.compile(r"^\s*\[\s*\d+\.\d+\]\s*")


def _kernel_says(log: list[str] | None, driver: str) -> str | None:
    """The kernel's own words about a module or driver, from the probe's window of the kernel log."""
    pattern = re.compile(rf"\b{re.escape(driver)}\b|module|Lockdown|signature|key|version magic|Unknown symbol", re.I)
    found = [_TIMESTAMP.sub("", ln).strip() for ln in log or [] if pattern.search(ln) and "harness-probe:" not in ln]
    return found[0] if found else None


def not_run_reason(obs: dict, reason: str, facts: dict[str, Any], log: list[str] | None = None) -> str:
    """Why a probe did not run, with the way out."""
    cause = obs.get("skip")
    driver = obs.get("driver", "the spare device's driver")
    said = _kernel_says(log, driver)
    kernel = f"; the kernel said: {said}" if said else ""
    if cause == "no-module":
        return _no_driver_reason(obs, facts)
    if cause == "module-load":
        return f"{reason}{kernel}; pass --modules DIR with the modules built for this very kernel"
    if cause in ("bind", "unbind"):
        return f"{reason}{kernel}"
    if cause == "open":
        return f"{reason}, and no rule expects that on this kernel (see the {obs.get('path', '')} open probe)"
    if obs.get("outcome") == "no-target":
        return f"no target in this guest: {obs.get('target', '?')} (another machine type or firmware?)"
    return reason or "the probe could not run and said no more"


def _no_driver_reason(obs: dict, facts: dict[str, Any]) -> str:
    """No driver for the spare device: the devices the harness tried and why each was passed over."""
    spare = facts.get("spare") or {}
    tried = "; ".join(f"{t['device']}: {t['why_not']}" for t in spare.get("tried") or [])
    symbols = [f"CONFIG_{d.config}" for d in load_catalog().devices]
    way_out = (
        f"build {', '.join(symbols[:-1])} or {symbols[-1]} =m or =y, or pass --modules DIR"
        " (the kernel's lib/modules/<release> or build tree)"
    )
    if tried and not spare.get("available", True):
        return f"no driver for a spare PCI device in this kernel (tried {tried}); {way_out}"
    where = facts.get("modules_from") or "the kernel given"
    module = obs.get("module", "its module").rsplit("/", 1)[-1]
    return f"no {obs.get('driver', '?')} driver in the guest: not built in, and no {module} in {where}; {way_out}"


class Oracle:
    def __init__(self, rules: dict[str, list[Rule]], skips: list[ExpectedSkip] | None = None):
        self.rules = rules
        self.skips = skips or []

    @classmethod
    def load(cls, overrides: Path | None = None) -> Oracle:
        rules, skips = load_rules(paths.DATA_DIR / "expectations.yaml", "built-in")
        if overrides is not None:
            extra_rules, extra_skips = load_rules(overrides, str(overrides))
            for probe, extra in extra_rules.items():
                rules[probe] = extra + rules.get(probe, [])
            skips = extra_skips + skips
        return cls(rules, skips)

    def rule_for(self, probe: str, facts: dict[str, Any]) -> Rule | None:
        """The first rule that applies; VersionUnknown if deciding needs a version nobody knows."""
        return next((r for r in self.rules.get(probe, []) if rule_applies(r, facts)), None)

    def judge(
        self,
        probe: str,
        result: KtapResult | None,
        facts: dict[str, Any],
        missing_reason: str = "no result: the guest stopped before this probe reported",
        kernel_warnings: list[str] | None = None,
        probe_log: list[str] | None = None,
    ) -> Judgement:
        verdict = self._judge(probe, result, facts, missing_reason, probe_log)
        if kernel_warnings:
            verdict.kernel_warnings = list(kernel_warnings)
            try:
                rule = self.rule_for(probe, facts)
            except VersionUnknown:
                rule = None
            allowed = rule is not None and rule.kernel_warnings == "allowed"
            if verdict.verdict in (Verdict.PASS, Verdict.KNOWN_ISSUE) and not allowed:
                verdict.verdict = Verdict.FAIL
                verdict.link = None
                verdict.reason = f"kernel warning while the probe ran: {kernel_warnings[0]}"
        return verdict

    def _judge_skip(self, base: dict, result: KtapResult, facts: dict[str, Any], log: list[str] | None) -> Judgement:
        obs = result.observation
        reason = result.reason or ("no target" if obs.get("outcome") == "no-target" else "skipped")
        for s in self.skips:
            try:
                applies = rule_applies(s, facts) and observation_matches(obs, s.skipped)
            except VersionUnknown:
                continue
            if applies:
                return Judgement(
                    **{**base, "rule": s.id, "source": s.source}, verdict=Verdict.SKIP, reason=f"{s.reason} ({reason})"
                )
        return Judgement(**base, verdict=Verdict.NOT_RUN, reason=not_run_reason(obs, reason, facts, log))

    def _judge(
        self,
        probe: str,
        result: KtapResult | None,
        facts: dict[str, Any],
        missing_reason: str,
        log: list[str] | None = None,
    ) -> Judgement:
        base: dict[str, Any] = dict(name=probe, expected="-", rule=None, source=None)
        try:
            rule = self.rule_for(probe, facts)
        except VersionUnknown as exc:
            rule, unknown = None, str(exc)
        else:
            unknown = None
        if rule is not None:
            expected = describe(rule.expect)
            if rule.since:
                expected += f" (before v{rule.since.version}, {rule.since.commit}: {describe(rule.since.before)})"
            base.update(expected=expected, rule=rule.id, source=rule.source)
        if result is None:
            return Judgement(verdict=Verdict.ERROR, observed="-", reason=missing_reason, **base)
        obs = result.observation
        observed = describe_observation(obs) if obs.get("outcome") else ("skipped" if result.skipped else "-")
        base.update(observed=observed, observation=obs)
        if result.skipped or obs.get("skip"):
            return self._judge_skip(base, result, facts, log)
        if obs.get("outcome") == "no-target":
            return self._judge_skip(base, result, facts, log)
        if "outcome" not in obs:
            return Judgement(verdict=Verdict.ERROR, reason="the probe reported no observation", **base)
        if unknown is not None:
            return Judgement(verdict=Verdict.ERROR, reason=_unknown_version_reason(unknown), **base)
        if rule is None:
            return Judgement(verdict=Verdict.ERROR, reason="no expectation applies to this kernel (add a rule)", **base)
        try:
            return self._judge_rule(probe, rule, result, facts, base)
        except VersionUnknown as exc:
            return Judgement(verdict=Verdict.ERROR, reason=_unknown_version_reason(str(exc)), **base)

    def _judge_rule(self, probe: str, rule: Rule, result: KtapResult, facts: dict[str, Any], base: dict) -> Judgement:
        obs = result.observation
        observed = base["observed"]
        if rule.skip:
            if observation_matches(obs, rule.expect):
                return Judgement(verdict=Verdict.SKIP, reason=rule.skip, **base)
            return Judgement(verdict=Verdict.FAIL, reason=f"expected the probe not to run ({rule.skip})", **base)
        predates = rule.since is not None and version_tuple(_need_version(facts, rule.since)) < version_tuple(
            rule.since.version
        )
        if observation_matches(obs, rule.expect):
            return Judgement(verdict=Verdict.PASS, reason="", **base)
        if rule.tighter and observation_matches(obs, rule.tighter.observed):
            return Judgement(
                verdict=Verdict.PASS,
                reason=f"stricter than this kernel's code requires ({rule.tighter.title}): "
                "a tightening, not a regression",
                **base,
            )
        if predates and observation_matches(obs, rule.since.before):
            s = rule.since
            return Judgement(
                verdict=Verdict.KNOWN_ISSUE,
                reason=f"this kernel ({facts['version']}) predates {s.commit} {s.title!r} (v{s.version})",
                link=s.link,
                **base,
            )
        ki = rule.known_issue
        if ki and observation_matches(obs, ki.observed):
            if ki.kernels is None or version_matches(ki.kernels, facts.get("version")):
                forbidden = self._plain_forbids(probe, result, facts) if rule.guest_kind else None
                if forbidden is not None:
                    return Judgement(
                        verdict=Verdict.FAIL,
                        reason=f"forbidden on any guest, not the confidential known issue: {forbidden.reason}"
                        f" (plain rule {forbidden.rule})",
                        **base,
                    )
                return Judgement(verdict=Verdict.KNOWN_ISSUE, reason=ki.title, link=ki.link, **base)
        return Judgement(verdict=Verdict.FAIL, reason=f"expected {base['expected']}, observed {observed}", **base)

    def _plain_forbids(self, probe: str, result: KtapResult, facts: dict[str, Any]) -> Judgement | None:
        """The plain rules' verdict when they forbid what a confidential guest showed, else None.

        A confidential guest's known issue (the access reached memory) must not hide a plain
        regression (RAM above 1 MiB readable under STRICT_DEVMEM).  Faults and terminations are
        the confidential hazard itself, which a plain guest cannot show: they are not compared.
        """
        if result.observation.get("outcome") in HAZARDS:
            return None
        plain = {**facts, "confidential": False, "emulated": False, "kind": "plain"}
        verdict = self._judge(probe, result, plain, "")
        return verdict if verdict.verdict == Verdict.FAIL else None


def _need_version(facts: dict[str, Any], since: Since) -> str:
    if facts.get("version") is None:
        raise VersionUnknown(f"this expectation changed at v{since.version} ({since.commit})")
    return facts["version"]
