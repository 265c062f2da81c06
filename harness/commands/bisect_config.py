# SPDX-License-Identifier: GPL-2.0-only
"""`bisect-config`: which Kconfig option changed a probe's outcome, found by building and booting configs
between a good and a bad one (the search is kernels/config_bisection.py; ktest.pl's config_bisect).

A step is good when the probe observes what it observed on the good config and bad when it observes
what it did on the bad one; anything else (another observation, a kernel that does not build or does
not reach the probes) is a third outcome: reported, never forced into good or bad.  --expect and
--oracle judge as commit bisection does.  A host fault is retried once, then stops the bisection
(resumable with --resume): it is never a step's verdict.

Everything lands in one directory: the inputs, both endpoints' normalised configs, each step's config,
build log and run directory, steps.jsonl, result.json and repro.sh (builds and boots the final bad config).
"""

from __future__ import annotations

import json
import math
import shlex
import shutil
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import BadInput, HostFault
from ..guests.probe_binary import list_probes, select_probes
from ..guests.profiles import load_profile
from ..guests.qemu_cmd import host_qemu
from ..guests.qemu_next import resolve_qemu
from ..guests.runner import RunOptions, require_guest_fits
from ..kernels.config_bisection import BAD, GOOD, OTHER, Config, Tried, config_key, differing, search
from ..kernels.kbuild import (
    BuildFailed,
    BuildRequest,
    build_kernel,
    drop_workspace,
    module_targets,
    normalised_config,
    resolve_fragment,
    resolve_patch,
    resolve_source,
)
from ..kernels.kconfig import one_choice
from ..kernels.kernel import resolve_kernel
from ..kernels.source_tree import IN_TREE_BUILD, digest, hold_tree
from .bisect import ABORT, SKIP, Expectation, StepOptions, judge_step, run_with_retry
from .bisect import GOOD as STEP_GOOD
from .options import available_profiles, names, words

HEADER = "Kernel Configuration"  # the second line of every generated .config
BUILDABLE = paths.KCONFIGS / "distro-buildable.config"  # a distribution's whole config, built outside its packaging


# ------------------------------------------------------------------ configs as text


def read_config(text: str) -> Config:
    """Symbol -> the value as written (strings keep their quotes), 'is not set' -> 'n'."""
    out: Config = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("CONFIG_") and "=" in line:
            symbol, _, raw = line[len("CONFIG_") :].partition("=")
            out[symbol] = raw
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            out[line[len("# CONFIG_") : -len(" is not set")]] = "n"
    return out


def write_config(config: Config) -> str:
    return "".join(f"# CONFIG_{s} is not set\n" if v == "n" else f"CONFIG_{s}={v}\n" for s, v in sorted(config.items()))


@dataclass
class Endpoint:
    """--good or --bad: a whole config file, a package's config (deb:...), or a fragment."""

    option: str
    spec: str

    def request(self, source: str, base: str, patches: tuple[Path, ...], workspace: str, scratch: Path) -> BuildRequest:
        if self.spec.startswith("deb:"):
            kernel = resolve_kernel(self.spec, None)  # a linux-image package: its /boot/config-*
            whole = scratch / f"{self.option.strip('-')}.package.config"
            shutil.copyfile(kernel.config_path, whole)
            return BuildRequest(source, (BUILDABLE,), patches, base, whole, workspace)
        path = Path(self.spec).expanduser()
        if path.is_file() and HEADER in "".join(path.read_text(errors="replace").splitlines()[:4]):
            return BuildRequest(source, (BUILDABLE,), patches, base, path.resolve(), workspace)
        fragment = resolve_fragment(self.spec) if not path.is_file() else path.resolve()
        return BuildRequest(source, (fragment,), patches, base, None, workspace)


# ------------------------------------------------------------------ one bisection


@dataclass
class Inputs:
    good: str
    bad: str
    source: str
    probes: list[str]
    expect: str | None = None
    oracle: bool = False
    append: tuple[str, ...] = ()
    profile: str = "plain"
    base: str = "tinyconfig"

    @classmethod
    def load(cls, directory: Path) -> Inputs:
        try:
            data = json.loads((directory / "inputs.json").read_text())
        except (OSError, ValueError):
            raise BadInput(f"--resume {directory}: no inputs.json there", "give a bisect-config directory") from None
        return cls(**{**data, "append": tuple(data.get("append", ()))})


class ConfigBisection:
    """The directory, the builds and boots of the candidates, and what the search makes of them."""

    def __init__(self, inputs: Inputs, directory: Path, say=None):
        self.inputs, self.dir = inputs, directory
        self.say = say or (lambda m: print(f"bisect-config: {m}", file=sys.stderr, flush=True))
        profile = load_profile(inputs.profile)
        require_guest_fits(RunOptions(append=list(inputs.append), profile=inputs.profile), profile)
        self.patches = tuple(Path(p) for p in (profile.build.patches if profile.build else ()))
        # the profile's fragments go under each endpoint's own (strict over cc-sim's); a candidate is a whole
        # config made of the endpoints' values, built as it is
        self.fragments = tuple(resolve_fragment(k) for k in (profile.build.kconfig if profile.build else ()))
        self.workspace = f"bisect-config-{digest(str(directory))[:12]}"  # its own O=, whoever else bisects
        self.step = StepOptions(
            tree=Path.cwd(),
            kconfig=[],
            probes=inputs.probes,
            expectation=Expectation(),
            append=list(inputs.append),
            runs_dir=directory / "runs",
            profile=inputs.profile,
            qemu=resolve_qemu(host_qemu()),
        )
        self.explicit = Expectation.parse(inputs.expect, inputs.oracle) if (inputs.expect or inputs.oracle) else None
        self.seen: dict[str, dict] = {}  # the endpoints' observations: what good and bad look like
        self.builds = 0
        self.about = 1
        self.judged_steps = 0
        self.started, self.seconds_before = time.monotonic(), 0.0

    # the pieces the search calls

    def normalise(self, config: Config) -> Config:
        path = self.dir / "work" / "candidate.config"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(write_config(config))
        req = BuildRequest(self.inputs.source, (), self.patches, self.inputs.base, path, self.workspace)
        return read_config(normalised_config(req))

    def judge(self, cand: Tried) -> str:
        self.judged_steps += 1
        left = len(differing(self.current[0], self.current[1]))
        self.about = steps_about(self.judged_steps, left)
        self.say(f"step {self.judged_steps} of about {self.about}, {left} options left: {_asked(cand)}")
        entry = self.boot(f"step-{self.judged_steps:02}", cand.config)
        entry["asked"], entry["direction"] = cand.asked, cand.direction
        entry["reverted"], entry["dragged"] = cand.reverted, cand.dragged
        cand.detail = entry["detail"]
        self._log(entry)
        return entry["judged"]

    def on_step(self, cand: Tried, left: list[str]) -> None:
        if cand.judged == GOOD:
            self.current = (cand.config, self.current[1])
        elif cand.judged == BAD:
            self.current = (self.current[0], cand.config)
        if cand.judged is None:
            self._log({"name": None, "asked": cand.asked, "direction": cand.direction, "detail": cand.detail})
        self._save_state()

    # building and booting one config

    def boot(self, name: str, config: Config) -> dict:
        """Build `config` in the bisection's own O= directory and boot it; judged GOOD, BAD or OTHER."""
        step_dir = self.dir / name
        step_dir.mkdir(parents=True, exist_ok=True)
        (step_dir / "config").write_text(write_config(config))
        entry: dict = {"name": name, "config": str(step_dir / "config"), "time": time.strftime("%H:%M:%S")}
        req = BuildRequest(self.inputs.source, (), self.patches, self.inputs.base, step_dir / "config", self.workspace)
        started = time.monotonic()
        try:
            built = build_kernel(req, progress=False)
        except BuildFailed as exc:
            entry.update(build_seconds=round(time.monotonic() - started, 1), judged=OTHER)
            entry["detail"] = f"does not build: {exc.line()}"
            return entry
        self.builds += 0 if built.cached else 1
        shutil.copyfile(built.log, step_dir / "build.log")
        entry.update(build_seconds=round(time.monotonic() - started, 1), build_cached=built.cached)
        kept = _keep_kernel(built.kernel.image.parent, step_dir / "kernel")
        kernel_opts = {"kernel": str(kept / "bzImage"), "kernel_config": str(kept / "config")}
        if built.kernel.modules:
            kernel_opts["modules"] = str(kept)
        step_entry: dict = {}
        report = run_with_retry(self.step, kernel_opts, step_entry)
        entry.update(run_dir=str(report.run_dir), boot_seconds=step_entry.get("boot_seconds"))
        if "retries" in step_entry:
            entry["retries"] = step_entry["retries"]
        entry["judged"], entry["detail"] = self._verdict(report.results, step_entry)
        entry["observed"] = step_entry.get("observed")
        return entry

    def _verdict(self, results: dict, step_entry: dict) -> tuple[str, str]:
        self.step.expectation = self.explicit or Expectation(oracle=True)
        code = judge_step(self.step, results, step_entry)
        reason = step_entry.get("reason", "")
        if code == ABORT:
            raise BadInput(f"bisect-config stopped: {reason}", f"resume with --resume {self.dir}")
        if reason.startswith("host failure"):
            raise HostFault(
                f"bisect-config stopped: {reason}", f"resume with --resume {self.dir} once the host is fixed"
            )
        observed = step_entry.get("observed")
        if self.explicit is not None:  # as commit bisection: a kernel that panics before the probes is bad
            if code == SKIP:
                return OTHER, reason
            return (GOOD if code == STEP_GOOD else BAD), _observed_line(observed) if observed else reason
        if observed is None:  # no probe observation: panic, hang, not judged
            return OTHER, reason
        for side in (GOOD, BAD):
            if self.seen.get(side) == observed:
                return side, _observed_line(observed)
        return OTHER, _observed_line(observed)

    # the whole bisection

    def endpoints(self) -> tuple[Config, Config]:
        """Both endpoints as whole normalised configs, each built and booted once: what good and bad look like."""
        configs = []
        for option, spec, side in (("--good", self.inputs.good, GOOD), ("--bad", self.inputs.bad, BAD)):
            kept = self.dir / f"{side}.config"
            if not kept.is_file():
                req = Endpoint(option, spec).request(
                    self.inputs.source, self.inputs.base, self.patches, self.workspace, self.dir
                )
                req = BuildRequest(req.source, self.fragments + req.fragments, *_rest(req))
                kept.write_text(normalised_config(req))
            configs.append(read_config(kept.read_text()))
        good, bad = configs
        if not differing(good, bad):
            raise BadInput("--good and --bad make the same config after olddefconfig: nothing to bisect")
        for side, config in ((GOOD, good), (BAD, bad)):
            if side in self.seen:
                continue
            self.say(f"booting the {side} endpoint")
            entry = self.boot(f"{side}-endpoint", config)
            observed = entry.get("observed")
            if observed is None and self.explicit is None:
                raise BadInput(
                    f"the {side} endpoint was not judged: {entry['detail']}",
                    "give endpoints where the probe runs (--expect judges a kernel that does not reach it)",
                )
            if self.explicit is None:
                entry["judged"] = side  # what this endpoint shows is what `side` means from now on
            self._log(entry)
            if self.explicit is not None and entry["judged"] != side:
                raise BadInput(
                    f"the {side} endpoint is not {side}: {entry['detail']}", "pick endpoints the expectation splits"
                )
            self.seen[side] = observed
        if self.explicit is None and self.seen[GOOD] == self.seen[BAD]:
            raise BadInput(
                f"the probe observes the same on both configs ({_observed_line(self.seen[GOOD])}): nothing to bisect",
                "pick another probe, or configs where it differs",
            )
        return good, bad

    def run(self) -> dict:
        self.started = time.monotonic()
        state = self._load_state()
        self.seen = state.get("seen", {}) if state else {}
        self.seconds_before = state.get("seconds", 0.0) if state else 0.0  # the runs this one resumes
        good, bad = self.endpoints()
        total = len(differing(good, bad))
        if state:
            good, bad = read_config(Path(state["good"]).read_text()), read_config(Path(state["bad"]).read_text())
            self.judged_steps = state.get("steps", 0)
            steps = f"{self.judged_steps} step{'' if self.judged_steps == 1 else 's'}"
            self.say(f"resumed after {steps}, {len(differing(good, bad))} options left")
        self.current = (good, bad)
        self._save_state()  # from here on, --resume does not boot the endpoints again
        self.about = max(1, math.ceil(math.log2(total))) if total > 1 else 0
        self.say(f"{total} options differ between the normalised configs; about {self.about} steps")
        tree = resolve_source(self.inputs.source).path
        out = search(
            good, bad, self.normalise, self.judge, self.on_step, self._judged_before(), lambda s: one_choice(tree, s)
        )
        return self._finish(out, total, self._seconds())

    def _finish(self, out, total: int, seconds: float) -> dict:
        (self.dir / "final-good.config").write_text(write_config(out.good))
        (self.dir / "final-bad.config").write_text(write_config(out.bad))

        def values(symbols: list[str]) -> list[dict]:
            return [
                {"option": f"CONFIG_{s}", "good": out.good.get(s, "n"), "bad": out.bad.get(s, "n")} for s in symbols
            ]

        result = {
            "single": out.single,
            "options": values(out.suspects),
            "why_not_split": out.why or None,
            "follows": values(out.follows),
            "differing_at_start": total,
            "steps": self.judged_steps,
            "builds": self.builds,
            "candidates_tried": len(out.tried),
            "seconds": round(seconds, 1),
            "observed": {"good": self.seen.get(GOOD), "bad": self.seen.get(BAD)},
            "inputs": self.inputs.__dict__ | {"append": list(self.inputs.append)},
        }
        (self.dir / "result.json").write_text(json.dumps(result, indent=1) + "\n")
        self._write_repro()
        drop_workspace(BuildRequest(self.inputs.source, (), self.patches, self.inputs.base, workspace=self.workspace))
        return result

    # the directory

    def _log(self, entry: dict) -> None:
        with open(self.dir / "steps.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")

    def _steps(self) -> list[dict]:
        return self.steps_of(self.dir)

    @staticmethod
    def steps_of(directory: Path) -> list[dict]:
        path = directory / "steps.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []

    def _judged_before(self) -> dict:
        """A resumed bisection does not build and boot again what it judged before it stopped."""
        known = {}
        for s in self._steps():
            if s.get("name", "").startswith("step-") and s.get("judged") and Path(s["config"]).is_file():
                known[config_key(read_config(Path(s["config"]).read_text()))] = (s["judged"], s.get("detail", ""))
        return known

    def _save_state(self) -> None:
        for side, config in zip((GOOD, BAD), self.current, strict=True):
            (self.dir / f"current-{side}.config").write_text(write_config(config))
        state = {
            "good": str(self.dir / "current-good.config"),
            "bad": str(self.dir / "current-bad.config"),
            "steps": self.judged_steps,
            "seen": self.seen,
            "seconds": round(self._seconds(), 1),
        }
        (self.dir / "state.json").write_text(json.dumps(state, indent=1))

    def _seconds(self) -> float:
        """The bisection's time so far, the runs it resumed included."""
        return self.seconds_before + time.monotonic() - self.started

    def _load_state(self) -> dict | None:
        path = self.dir / "state.json"
        if not path.is_file():
            return None
        return json.loads(path.read_text())

    def _write_repro(self) -> None:
        """repro.sh: the final bad config built and booted by hand, with the same probe.  A profile's
        patches are kept beside it and applied to a copy of the tree (the source itself is never written)."""
        src = resolve_source(self.inputs.source).path
        final = read_config((self.dir / "final-bad.config").read_text())
        modules = module_targets(src, final, whole=True)  # each step is a whole config: the suite's modules
        kept = []
        if self.patches:
            (self.dir / "patches").mkdir(exist_ok=True)
            for p in self.patches:
                p = resolve_patch(str(p))
                shutil.copyfile(p, self.dir / "patches" / p.name)
                kept.append(p.name)
        lines = [
            "#!/bin/sh",
            "# SPDX-License-Identifier: GPL-2.0-only",
            f"# Builds and boots the final bad config of {self.dir.name} (devmem-harness bisect-config).",
            "set -eu",
            'here=$(cd "$(dirname "$0")" && pwd)',
            f"SRC=${{SRC:-{shlex.quote(str(src))}}}  # --source {self.inputs.source}",
            'OUT=${OUT:-"$here/repro-build"}',
        ]
        if kept:  # the tree the bisection built: the source with the profile's patches
            lines += [
                f"# --profile {self.inputs.profile} builds the source with {', '.join(kept)} applied",
                'TREE="$here/repro-tree"',
                'if [ ! -d "$TREE" ]; then',
                '    rm -rf "$TREE.tmp" && mkdir "$TREE.tmp"',
                f"    tar -C \"$SRC\" --exclude='./{IN_TREE_BUILD}*' --exclude=./.git -cf - ."
                ' | tar -C "$TREE.tmp" -xf -',  # the harness's own O= directories stay behind
                *(f'    patch -p1 --batch -d "$TREE.tmp" -i "$here/patches/{name}"' for name in kept),
                '    mv "$TREE.tmp" "$TREE"',
                "fi",
                'SRC="$TREE"',
            ]
        lines += [
            'mkdir -p "$OUT" && cp "$here/final-bad.config" "$OUT/.config"',
            'set --; if [ -n "${CC:-}" ]; then set -- CC="$CC"; fi  # CC="ccache gcc", say',
            'make -C "$SRC" O="$OUT" "$@" olddefconfig',
            'make -C "$SRC" O="$OUT" "$@" -j"$(nproc)" bzImage ' + " ".join(modules),
            'devmem-harness run --kernel "$OUT/arch/x86/boot/bzImage" --kernel-config "$OUT/.config" '
            + " ".join(f"--probe {shlex.quote(p)}" for p in self.inputs.probes)
            + f" --profile {self.inputs.profile}"
            + "".join(f" --append {shlex.quote(a)}" for a in self.inputs.append),
        ]
        repro = self.dir / "repro.sh"
        repro.write_text("\n".join(lines) + "\n")
        repro.chmod(0o755)


def _keep_kernel(products: Path, kept: Path) -> Path:
    """A step's bzImage, config and modules copied beside it: its run directory stays bootable after the
    bisection's O= directory (gigabytes for a distribution config) is removed."""
    kept.mkdir(exist_ok=True)
    for f in products.iterdir():
        if f.name in ("bzImage", "config") or f.suffix == ".ko":
            shutil.copy2(f, kept / f.name)
    return kept


def _rest(req: BuildRequest) -> tuple:
    return req.patches, req.base, req.whole, req.workspace


def steps_about(step: int, left: int) -> int:
    """Step `step`'s estimate of the whole: the steps so far and log2 of what is left, as Kconfig's
    dragging makes halves shrink slower than halving (3851 options: about 12 at the start, 17 in the end)."""
    return step - 1 + max(1, math.ceil(math.log2(left))) if left > 1 else step


def _asked(cand: Tried) -> str:
    shown = ", ".join(f"{s}={v}" for s, v in list(cand.asked.items())[:4])
    return f"{shown}{' ...' if len(cand.asked) > 4 else ''} ({cand.direction})"


def _observed_line(observed: dict) -> str:
    return "; ".join(f"{name}: {value}" for name, value in observed.items())


# ------------------------------------------------------------------ the command line


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "bisect-config", help="find the Kconfig option (or the smallest set) that changed a probe's outcome"
    )
    p.add_argument(
        "--good", help="the config where the probe behaves: a .config, a fragment (kconfigs/ name) or deb:PACKAGE"
    )
    p.add_argument("--bad", help="the config where it does not, as --good")
    p.add_argument("--source", help="the kernel tree both are built from, or deb:linux-source-X.Y")
    p.add_argument("--probe", action="append", default=[], metavar="NAME[,NAME...]", help="the probe(s) that decide")
    p.add_argument("--expect", help="judge by this observation (as bisect) instead of by the endpoints' observations")
    p.add_argument("--oracle", action="store_true", help="judge by the oracle's verdict (as bisect)")
    p.add_argument("--append", action="append", default=[], metavar="ARGS", help="kernel command line words")
    p.add_argument("--profile", default="plain", choices=available_profiles(), help="guest kind of every step")
    p.add_argument(
        "--base",
        default="tinyconfig",
        choices=("tinyconfig", "defconfig"),
        help="what a fragment endpoint is merged onto (with kconfigs/base.config; default tinyconfig)",
    )
    p.add_argument("--runs-dir", type=Path, help="where the bisection's directory goes (default: <runs>/bisect-config)")
    p.add_argument("--resume", type=Path, metavar="DIR", help="go on with an interrupted bisection from its directory")
    p.set_defaults(handler=_cmd_bisect_config)


def _inputs(args) -> Inputs:
    missing = [o for o in ("good", "bad", "source") if not getattr(args, o)]
    if missing or not args.probe:
        need = ", ".join(f"--{o}" for o in [*missing, *([] if args.probe else ["probe"])])
        raise BadInput(f"bisect-config needs {need}", "or --resume DIR to go on with an interrupted one")
    if args.expect and args.oracle:
        raise BadInput("give at most one of --expect and --oracle")
    if args.expect:
        Expectation.parse(args.expect, False)  # a malformed --expect is refused before any build
    probes = select_probes(names(args.probe), [p.name for p in list_probes()])
    source = args.source if args.source.startswith("deb:") else str(Path(args.source).expanduser().resolve())
    resolve_source(source)  # a tree that is not one, or a package that does not exist: said before anything
    for option, spec in (("--good", args.good), ("--bad", args.bad)):
        if spec.startswith("deb:"):
            continue
        try:
            path = Path(spec).expanduser() if Path(spec).expanduser().is_file() else resolve_fragment(spec)
        except BadInput as exc:  # name the option the user typed, not --kconfig
            raise BadInput(exc.line().replace(f"--kconfig {spec}", f"{option} {spec}", 1)) from None
        if not read_config(path.read_text(errors="replace")):
            raise BadInput(f"{option} {spec}: no CONFIG_ lines", "give a .config, a fragment or deb:PACKAGE")
    return Inputs(
        args.good,
        args.bad,
        source,
        probes,
        args.expect,
        args.oracle,
        tuple(words(args.append)),
        args.profile,
        args.base,
    )


def _cmd_bisect_config(args) -> int:
    if args.resume:
        given = [o for o in ("good", "bad", "source", "expect") if getattr(args, o)] + (["probe"] if args.probe else [])
        if given:
            raise BadInput(f"--resume takes the inputs from {args.resume}/inputs.json: drop --{', --'.join(given)}")
        directory = args.resume.resolve()
        inputs = Inputs.load(directory)
    else:
        inputs = _inputs(args)
        root = args.runs_dir or paths.default_runs_dir() / "bisect-config"
        directory = _new_directory(root)
        data = inputs.__dict__ | {"append": list(inputs.append)}
        (directory / "inputs.json").write_text(json.dumps(data, indent=1) + "\n")
    print(f"bisect-config: directory {directory}", file=sys.stderr, flush=True)
    user_tree = None if inputs.source.startswith("deb:") else Path(inputs.source)
    with hold_tree(user_tree, "--source") if user_tree else nullcontext():
        result = ConfigBisection(inputs, directory).run()
    _print_result(result, directory)
    return 0


def _new_directory(root: Path) -> Path:
    """runs/bisect-config/<time>, -2, -3 ... when another bisection started in the same second."""
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 100):
        directory = root / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            directory.mkdir()
            return directory.resolve()
        except FileExistsError:
            continue
    raise BadInput(f"--runs-dir {root}: a hundred bisections started this second", "give another --runs-dir")


def _print_result(result: dict, directory: Path) -> None:
    steps = [s for s in ConfigBisection.steps_of(directory)]
    print(f"{'STEP':<12}  {'BUILD s':>7}  {'BOOT s':>6}  {'JUDGED':<6}  ASKED / OBSERVED")
    for s in steps:
        asked = ", ".join(f"{k}={v}" for k, v in (s.get("asked") or {}).items())
        print(
            f"{s.get('name') or '(not built)':<12}  {s.get('build_seconds', '-'):>7}  {s.get('boot_seconds', '-'):>6}  "
            f"{s.get('judged') or '-':<6}  {asked[:60]}{' | ' if asked else ''}{s.get('detail', '')[:120]}"
        )
    opts = result["options"]
    if result["single"]:
        o = opts[0]
        print(f"the option: {o['option']} ({o['good']} on the good side, {o['bad']} on the bad side)")
        for f in result["follows"]:
            print(f"  Kconfig moves {f['option']} with it ({f['good']} -> {f['bad']})")
    else:
        listed = ", ".join(f"{o['option']} {o['good']}->{o['bad']}" for o in opts)
        print(f"the smallest set: {listed}")
        print(f"  not split: {result['why_not_split']}")
    print(
        f"bisect-config: {result['differing_at_start']} options at the start, {result['steps']} steps "
        f"({result['builds']} builds) in {result['seconds']:.0f} s; repro: {directory}/repro.sh"
    )
