# SPDX-License-Identifier: GPL-2.0-only
"""Bisection: `bisect-step` is the script `git bisect run` calls; `bisect` drives a whole bisection.

Exit codes of bisect-step follow `git bisect run`: 0 good (the old term), 1 bad
(the new term), 125 skip (the commit does not build, or the host failed twice),
129 abort (the harness itself is misconfigured, or too many skips).

Flaky-boot policy (also in the README): a host-side failure (QEMU cannot start
or dies without a guest reason) is retried once, then skipped.  A kernel that
panics or hangs before the probes is the commit's fault: bad, unless
--panic-is skip.  A bisection aborts when more than a third of its steps (and
at least 3) were skipped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths
from ..errors import BadInput, HarnessError, HostFault
from ..guests.probe_binary import list_probes, select_probes
from ..guests.profiles import load_profile
from ..guests.qemu_cmd import DEFAULT_QEMU, host_qemu
from ..guests.qemu_next import resolve_qemu
from ..guests.runner import RunOptions, RunReport, apply_profile_build, require_guest_fits, run
from ..kernels.kbuild import BuildFailed, BuildRequest, build_kernel, resolve_fragment
from ..kernels.source_tree import hold_tree
from ..vocabulary import Cause, Outcome, Verdict
from .options import available_profiles, names, words

GOOD, BAD, SKIP, ABORT = 0, 1, 125, 129
ORACLE_GOOD = (Verdict.PASS, Verdict.KNOWN_ISSUE, Verdict.SKIP)
UNJUDGED = (Verdict.NOT_RUN, Verdict.ERROR)  # the probe said nothing about this commit: skip it
HOST_RETRIES = 1
LOG_ENV = "DEVMEM_HARNESS_BISECT_LOG"


@dataclass
class Expectation:
    """What "good" means: explicit observation fields, or the oracle not calling it a failure."""

    fields: dict[str, str] = field(default_factory=dict)
    oracle: bool = False

    @classmethod
    def parse(cls, expect: str | None, oracle: bool) -> Expectation:
        if oracle == bool(expect):
            raise BadInput("give exactly one of --expect OBSERVATION or --oracle")
        if oracle:
            return cls(oracle=True)
        fields = {}
        for word in expect.replace(",", " ").split():
            key, sep, value = word.partition("=")
            if not sep or not value:
                raise BadInput(f"--expect {expect}: write key=value, e.g. errno=EPERM, signal=SIGBUS, data=zeros")
            key = {"errno": "outcome", "signal": "outcome"}.get(key, key)
            fields[key] = value
        return cls(fields=fields)

    def holds(self, probe: dict) -> bool:
        if self.oracle:
            # A kernel that predates a protection, or shows a known issue, is not a regression.
            return probe.get("verdict") in ORACLE_GOOD
        obs = probe.get("observation", {})
        return all(str(obs.get(k)) == v for k, v in self.fields.items())

    def describe(self) -> str:
        if self.oracle:
            return "the oracle does not call it a failure (pass, known-issue or an expected skip)"
        return " ".join(f"{k}={v}" for k, v in self.fields.items())


def _git(tree: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise BadInput(f"git {' '.join(args)} in {tree}: {proc.stderr.strip().splitlines()[-1:] or ['failed']}")
    return proc.stdout.strip()


def _log(entry: dict) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def _read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------ one step


@dataclass
class StepOptions:
    tree: Path
    kconfig: list[Path]
    probes: list[str]
    expectation: Expectation
    append: list[str] = field(default_factory=list)
    invert: bool = False  # bisecting a fix: "old" = the expectation does not hold yet
    panic_is: str = "bad"  # or "skip"
    runs_dir: Path | None = None
    base: str = "tinyconfig"
    kernel: str | None = None  # a prebuilt kernel instead of building the tree
    profile: str = "plain"  # cc-sim: its fragments and patch join the build, its boot parameter the run
    qemu: str = DEFAULT_QEMU  # $QEMU, as for `run`


def run_step(opts: StepOptions) -> int:
    """Build, boot, judge one commit; return git bisect run's code."""
    # Options no commit can satisfy stop the bisection before a build (BadInput -> 129).
    require_guest_fits(RunOptions(append=list(opts.append), profile=opts.profile), load_profile(opts.profile))
    commit = _git(opts.tree, "rev-parse", "HEAD") if opts.kernel is None else opts.kernel
    entry: dict = {"commit": commit, "time": time.strftime("%H:%M:%S")}
    if opts.kernel is None:
        kernel_opts = _build_step(opts, entry)
        if kernel_opts is None:
            _log(entry)
            return _maybe_abort(SKIP)
    else:
        kernel_opts = {"kernel": opts.kernel}
    try:
        report = run_with_retry(opts, kernel_opts, entry)
    except BadInput as exc:
        _decide(entry, ABORT, f"bad input: {exc.line()}")
        _log(entry)
        raise
    entry.update(run_dir=str(report.run_dir), outcome=report.results.get("outcome"))
    code = judge_step(opts, report.results, entry)
    _log(entry)
    return _maybe_abort(code) if code == SKIP else code


def _build_step(opts: StepOptions, entry: dict) -> dict | None:
    """Build the tree at HEAD; the run's kernel options, or None (and a skip in `entry`) if it does not build."""
    entry["subject"] = _git(opts.tree, "log", "-1", "--format=%s")
    started = time.monotonic()
    # The same build request the run will make, so that the run finds it in the cache.
    planned = RunOptions(source=str(opts.tree), kconfig=list(opts.kconfig), base=opts.base)
    apply_profile_build(planned, load_profile(opts.profile))
    try:
        result = build_kernel(
            BuildRequest(planned.source, tuple(planned.kconfig), tuple(planned.patches), planned.base)
        )
    except (BuildFailed, HostFault) as exc:  # a host fault (a full disk under the build) is not the commit's
        reason = exc.line() if isinstance(exc, HostFault) else f"does not build: {exc.line()}"
        entry.update(verdict="skip", code=SKIP, reason=reason, build_seconds=round(time.monotonic() - started, 1))
        return None
    entry["build_seconds"] = round(time.monotonic() - started, 1)
    entry["build_cached"] = result.cached
    return {"source": planned.source, "kconfig": planned.kconfig, "patches": planned.patches, "base": opts.base}


def run_with_retry(opts: StepOptions, kernel_opts: dict, entry: dict) -> RunReport:
    """The run, once more when the host failed it (QEMU could not start or died for no guest reason, a
    full disk): a host fault is never the commit's."""
    runs_dir = opts.runs_dir or paths.default_runs_dir() / "bisect"
    for attempt in range(HOST_RETRIES + 1):
        started = time.monotonic()
        run_opts = RunOptions(
            append=list(opts.append),
            probes=list(opts.probes),
            runs_dir=runs_dir,
            quiet=True,
            profile=opts.profile,
            qemu=opts.qemu,
        )
        try:
            report = run(dataclasses.replace(run_opts, **kernel_opts))
        except HostFault as exc:
            results = {"outcome": Outcome.HOST_FAULT, "cause": Cause.HOST, "detail": exc.line(), "probes": []}
            report = RunReport(exc.run_dir or runs_dir, results, exc.exit_code)
        entry["boot_seconds"] = round(time.monotonic() - started, 1)
        if not _host_failed(report.results):
            break
        if attempt < HOST_RETRIES:
            entry["retries"] = attempt + 1  # how many times the step was run again
    return report


def _host_failed(r: dict) -> bool:
    return r.get("cause") == Cause.HOST and r.get("outcome") not in (Outcome.INTERRUPTED, Outcome.NO_HARDWARE)


def judge_step(opts: StepOptions, r: dict, entry: dict) -> int:
    """good, bad or skip for the commit from its run's results; the reason goes into `entry`."""
    outcome = r.get("outcome")
    if outcome == Outcome.INTERRUPTED:
        return _decide(entry, ABORT, "interrupted")
    if r.get("cause") == Cause.INPUT:  # the same options fail every commit: stop, blame none
        return _decide(entry, ABORT, f"bad input: {r.get('detail')}")
    if outcome == Outcome.NO_HARDWARE:  # no commit can run on this host: stop, do not skip the whole history
        return _decide(entry, ABORT, f"this host cannot run the guest: {r.get('detail')}")
    if _host_failed(r):
        return _decide(entry, SKIP, f"host failure twice: {r.get('detail')}")
    if outcome in (Outcome.PANIC, Outcome.HANG) and not any(p.get("observation") for p in r.get("probes", [])):
        code = SKIP if opts.panic_is == "skip" else BAD
        return _decide(entry, code, f"the kernel did not reach the probes: {outcome}: {r.get('detail')}")
    probes = {p["name"]: p for p in r.get("probes", [])}
    unjudged = [p for name in opts.probes if (p := probes.get(name, {"name": name})).get("verdict") in UNJUDGED]
    if unjudged or any(name not in probes for name in opts.probes):
        first = unjudged[0] if unjudged else {"name": next(n for n in opts.probes if n not in probes)}
        what = f"{first.get('verdict', 'no result')}: {first.get('reason', '')}"
        return _decide(entry, SKIP, f"{first['name']} was not judged ({what})")
    holds = all(opts.expectation.holds(probes.get(name, {})) for name in opts.probes)
    entry["observed"] = {name: probes.get(name, {}).get("observed") for name in opts.probes}
    good = holds != opts.invert
    reason = f"expectation {'holds' if holds else 'does not hold'}: {opts.expectation.describe()}"
    return _decide(entry, GOOD if good else BAD, reason)


def _decide(entry: dict, code: int, reason: str) -> int:
    entry.update(verdict={GOOD: "good", BAD: "bad", SKIP: "skip", ABORT: "abort"}[code], code=code, reason=reason)
    return code


def _maybe_abort(code: int) -> int:
    path = os.environ.get(LOG_ENV)
    if code != SKIP or not path:
        return code
    steps = _read_log(Path(path))
    skips = sum(1 for s in steps if s.get("code") == SKIP)
    if skips >= 3 and skips * 3 > len(steps):
        return ABORT
    return code


# ------------------------------------------------------------------ a whole bisection


@dataclass
class BisectReport:
    first_bad: str | None
    subject: str | None
    steps: list[dict]
    seconds: float
    message: str
    code: int


def _step_argv(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "harness", "bisect-step", *args]


def bisect_tree(
    tree: Path,
    good: str,
    bad: str,
    step_args: list[str],
    fix: bool = False,
    log_path: Path | None = None,
    quiet: bool = False,
) -> BisectReport:
    """Check the endpoints, run `git bisect run` with bisect-step, report, and always reset the tree."""
    tree = tree.resolve()
    with hold_tree(tree, "--tree"):  # nobody else moves HEAD under these builds
        return _bisect_held_tree(tree, good, bad, step_args, fix, log_path, quiet)


def _bisect_held_tree(
    tree: Path, good: str, bad: str, step_args: list[str], fix: bool, log_path: Path | None, quiet: bool
) -> BisectReport:
    good_sha, bad_sha = _check_tree(tree, good, bad)
    original = _git(tree, "symbolic-ref", "-q", "--short", "HEAD", check=False) or _git(tree, "rev-parse", "HEAD")
    log_path = log_path or (
        paths.default_runs_dir() / "bisect" / f"bisect-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.jsonl"
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, LOG_ENV: str(log_path)}
    started = time.monotonic()
    step = _step_argv([*step_args, *(["--invert"] if fix else []), "--tree", str(tree)])
    say = (lambda m: None) if quiet else (lambda m: print(f"bisect: {m}", file=sys.stderr, flush=True))
    say(f"step log: {log_path}")  # one per bisection: what a script (or a test) reads back, not the newest
    try:
        _check_endpoints(tree, good_sha, bad_sha, step, env, log_path, say)
        terms = ["--term-old=broken", "--term-new=fixed"] if fix else []
        _git(tree, "bisect", "start", *terms, bad_sha, good_sha)
        count = int(_git(tree, "rev-list", "--count", f"{good_sha}..{bad_sha}"))
        say(f"git bisect run over {count} commits")
        output = _bisect_run(tree, step, env, say, about=max(1, math.ceil(math.log2(count + 1))))
        first = next((line.split()[0] for line in output.splitlines() if line.endswith(FIRST_LINES)), None)
        steps = _read_log(log_path)
        if first is None:
            reason = (
                "too many skipped commits"
                if any(s.get("code") == ABORT for s in steps) or "skip" in output
                else (output.strip().splitlines()[-1:] or ["git bisect run failed"])[0]
            )
            return BisectReport(None, None, steps, time.monotonic() - started, f"no culprit found: {reason}", 2)
        subject = _git(tree, "log", "-1", "--format=%s", first)
        return BisectReport(first, subject, steps, time.monotonic() - started, _describe(first, subject, steps, fix), 0)
    finally:
        subprocess.run(["git", "-C", str(tree), "bisect", "reset"], capture_output=True)
        subprocess.run(["git", "-C", str(tree), "checkout", "-q", original], capture_output=True)


FIRST_LINES = ("is the first bad commit", "is the first fixed commit")


def _bisect_run(tree: Path, step: list[str], env: dict, say, about: int) -> str:
    """`git bisect run`, saying each commit it tests (step k of about log2(n)); its output, for the culprit."""
    proc = subprocess.Popen(
        ["git", "-C", str(tree), "bisect", "run", *step], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stdout.read(4096), b"")), daemon=True)
    reader.start()
    seen, k = None, 0
    try:
        while proc.poll() is None:
            head = _git(tree, "rev-parse", "HEAD", check=False)
            if head and head != seen:
                seen, k = head, k + 1
                subject = _git(tree, "log", "-1", "--format=%s", head, check=False)
                say(f"step {k} of about {about}: {head[:12]} {subject}")
            time.sleep(1)
    except BaseException:  # as subprocess.run does: an interrupted bisection does not go on without us
        proc.kill()
        proc.wait()
        raise
    reader.join()
    return b"".join(chunks).decode(errors="replace")


def _check_tree(tree: Path, good: str, bad: str) -> tuple[str, str]:
    """A clean git tree with no bisection under way; the endpoints as commit ids."""
    if not (tree / ".git").exists():
        raise BadInput(f"--tree {tree}: not a git repository")
    if _git(tree, "status", "--porcelain", "--untracked-files=no"):
        raise BadInput(f"--tree {tree}: has uncommitted changes", "commit or stash them first")
    if (tree / ".git" / "BISECT_LOG").exists():
        raise BadInput(f"--tree {tree}: a bisection is already in progress", "run `git bisect reset` there first")
    return _git(tree, "rev-parse", "--verify", f"{good}^{{commit}}"), _git(
        tree, "rev-parse", "--verify", f"{bad}^{{commit}}"
    )


def _check_endpoints(tree: Path, good_sha: str, bad_sha: str, step: list[str], env: dict, log_path: Path, say) -> None:
    """Each endpoint must be what the user says it is, or the bisection would name a wrong culprit."""
    for rev, want, name in ((good_sha, GOOD, "good"), (bad_sha, BAD, "bad")):
        _git(tree, "checkout", "-q", "--detach", rev)
        say(f"checking the {name} endpoint {rev[:12]}")
        code = subprocess.run(step, env=env).returncode
        if code != want:
            steps = _read_log(log_path)
            seen = steps[-1].get("reason") if steps else "no step log"
            raise BadInput(
                f"the {name} endpoint {rev[:12]} is not {name} (step exit {code}: {seen})",
                "pick endpoints where the expectation differs",
            )


def _describe(first: str, subject: str, steps: list[dict], fix: bool = False) -> str:
    """The culprit with both sides' observations, in the bisection's own terms (bad/good or fixed/broken)."""
    bad = next((s for s in steps if s.get("commit") == first), {})
    goods = [s for s in steps if s.get("verdict") == "good"]
    good = goods[-1] if goods else {}
    new, old = ("fixed", "broken") if fix else ("bad", "good")
    return (
        f"first {new} commit: {first[:12]} {subject}\n"
        f"  observed there: {bad.get('observed')}\n"
        f"  observed at the last {old} step {str(good.get('commit', '?'))[:12]}: {good.get('observed')}"
    )


def bisect_kernels(kernels: list[str], step: StepOptions, quiet: bool = False) -> BisectReport:
    """Binary search over an ordered list of prebuilt kernels: the first whose outcome changed."""
    if len(kernels) < 2:
        raise BadInput("--kernels needs at least two kernels, oldest first")
    log_path = paths.default_runs_dir() / "bisect" / f"kernels-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    os.environ[LOG_ENV] = str(log_path)
    if not quiet:
        print(f"bisect: step log: {log_path}", file=sys.stderr, flush=True)
    started = time.monotonic()
    cache: dict[int, int] = {}

    def verdict(i: int) -> int:
        if i not in cache:
            if not quiet:
                print(f"bisect: booting [{i}] {kernels[i]}", file=sys.stderr, flush=True)
            step.kernel = kernels[i]
            cache[i] = run_step(step)
        return cache[i]

    if verdict(0) != GOOD:
        raise BadInput(f"the first kernel {kernels[0]} is not good", "the list must start on the good side")
    if verdict(len(kernels) - 1) != BAD:
        raise BadInput(f"the last kernel {kernels[-1]} is not bad", "the list must end on the bad side")
    lo, hi = 0, len(kernels) - 1  # lo good, hi bad
    while hi - lo > 1:
        mid = (lo + hi) // 2
        code = verdict(mid)
        if code == GOOD:
            lo = mid
        elif code == BAD:
            hi = mid
        else:
            raise HarnessError(f"kernel {kernels[mid]} could not be judged (step exit {code})")
    boots = len(cache)
    bound = math.ceil(math.log2(len(kernels))) + 2
    msg = f"first changed kernel: [{hi}] {kernels[hi]} (last good: [{lo}] {kernels[lo]}); {boots} boots (bound {bound})"
    return BisectReport(kernels[hi], None, _read_log(log_path), time.monotonic() - started, msg, 0)


# ------------------------------------------------------------------ the command line


def add_parsers(sub) -> None:
    step = sub.add_parser("bisect-step", help="one `git bisect run` step: build HEAD, boot, judge (0/1/125/129)")
    _add_options(step)
    step.add_argument("--tree", type=Path, default=Path.cwd(), help="the kernel tree (default: current directory)")
    step.add_argument(
        "--terms",
        choices=("good,bad", "broken,fixed"),
        default="good,bad",
        help="broken,fixed: git's custom terms for bisecting a fix",
    )
    step.add_argument("--invert", action="store_true", help=argparse.SUPPRESS)
    step.set_defaults(handler=_cmd_bisect_step)

    bis = sub.add_parser("bisect", help="find the commit (or the prebuilt kernel) that changed a probe's outcome")
    _add_options(bis)
    bis.add_argument("--tree", type=Path, help="kernel git tree to bisect")
    bis.add_argument("--good", help="a commit where the expectation holds")
    bis.add_argument("--bad", help="a later commit where it does not")
    bis.add_argument(
        "--terms",
        choices=("good,bad", "broken,fixed"),
        default="good,bad",
        help="broken,fixed: find the first commit where the expectation starts to hold",
    )
    bis.add_argument(
        "--kernels",
        nargs="+",
        metavar="KERNEL",
        help="instead of a tree: prebuilt kernels oldest first (deb:<package> or bzImage paths)",
    )
    bis.set_defaults(handler=_cmd_bisect)


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kconfig",
        action="append",
        default=[],
        metavar="FRAGMENT",
        help="config fragment for the builds (path or kconfigs/ name); repeatable",
    )
    parser.add_argument("--base", default="tinyconfig", choices=("tinyconfig", "defconfig"))
    parser.add_argument(
        "--probe",
        action="append",
        default=[],
        required=True,
        metavar="NAME[,NAME...]",
        help="the probe(s) whose outcome decides good or bad",
    )
    parser.add_argument("--expect", help="the good observation, e.g. errno=EPERM, signal=SIGBUS, data=zeros")
    parser.add_argument("--oracle", action="store_true", help="good = the oracle's verdict is pass")
    parser.add_argument("--append", action="append", default=[], metavar="ARGS", help="kernel command line words")
    parser.add_argument(
        "--panic-is",
        choices=("bad", "skip"),
        default="bad",
        help="a kernel that panics or hangs before the probes (default: bad)",
    )
    parser.add_argument("--runs-dir", type=Path, help="run directories (default: <checkout>/runs/bisect)")
    parser.add_argument(
        "--profile",
        default="plain",
        choices=available_profiles(),
        help="guest kind of every step (default plain; cc-sim adds its fragments, patch and boot parameter)",
    )


def _step_options(args) -> StepOptions:
    probes = select_probes(names(args.probe), [p.name for p in list_probes()])
    return StepOptions(
        tree=(args.tree or Path.cwd()).resolve(),
        kconfig=[resolve_fragment(k) for k in args.kconfig],
        probes=probes,
        expectation=Expectation.parse(args.expect, args.oracle),
        append=words(args.append),
        panic_is=args.panic_is,
        runs_dir=args.runs_dir,
        base=args.base,
        profile=args.profile,
        qemu=resolve_qemu(host_qemu()),
    )


def _cmd_bisect_step(args) -> int:
    """Every failure of the harness itself aborts the bisection (129), never blames a commit."""
    try:
        opts = _step_options(args)
        opts.invert = args.invert or args.terms == "broken,fixed"
        return run_step(opts)
    except HarnessError as exc:
        print(f"devmem-harness: error: {exc.line()}", file=sys.stderr)
        return ABORT
    except KeyboardInterrupt:
        return ABORT


def _cmd_bisect(args) -> int:
    step = _step_options(args)
    if args.kernels:
        if args.tree or args.good or args.bad:
            raise BadInput("--kernels excludes --tree, --good and --bad")
        report = bisect_kernels(args.kernels, step)
    else:
        if not (args.tree and args.good and args.bad):
            raise BadInput("bisect needs --tree, --good and --bad (or --kernels)")
        report = bisect_tree(args.tree, args.good, args.bad, _step_args(args, step), fix=args.terms == "broken,fixed")
    _print_steps(report)
    return report.code


def _step_args(args, step: StepOptions) -> list[str]:
    """The options every `bisect-step` of a tree bisection gets, as `git bisect run` passes them on."""
    step_args = [f"--probe={','.join(step.probes)}", f"--base={args.base}", f"--panic-is={args.panic_is}"]
    step_args.append(f"--profile={args.profile}")
    step_args += [f"--kconfig={k}" for k in step.kconfig]
    step_args += [f"--append={a}" for a in args.append]
    step_args += ["--oracle"] if args.oracle else [f"--expect={args.expect}"]
    if args.runs_dir:
        step_args.append(f"--runs-dir={args.runs_dir}")
    return step_args


def _print_steps(report: BisectReport) -> None:
    print(f"{'STEP':<4}  {'COMMIT/KERNEL':<14}  {'BUILD s':>7}  {'BOOT s':>6}  VERDICT  SUBJECT / REASON")
    for i, s in enumerate(report.steps, 1):
        what = str(s.get("commit", "?"))
        what = what[:12] if len(what) == 40 else Path(what).name[:14]
        print(
            f"{i:<4}  {what:<14}  {s.get('build_seconds', '-'):>7}  {s.get('boot_seconds', '-'):>6}  "
            f"{s.get('verdict', '?'):<7}  {s.get('subject') or s.get('reason', '')}"
        )
    print(report.message)
    print(f"bisect: {len(report.steps)} steps in {report.seconds:.0f} s")
