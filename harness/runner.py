"""One run end to end: kernel -> guest image -> boot -> probes -> verdicts -> run directory.

The run directory is created before anything slow happens and results.json
is rewritten at every step, so an interrupted, timed-out or crashed run still
says what happened.
"""

from __future__ import annotations

import shlex
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, paths
from .console import GuestTranscript, normalize, parse_console
from .errors import HarnessError
from .initramfs import build_initramfs
from .kernel import Kernel, resolve_kernel
from .ktap import parse_ktap
from .oracle import Oracle, Verdict, derive_facts
from .probe_binary import build_probe, list_probes, select_probes
from .qemu_cmd import DEFAULT_QEMU, Timeouts, VMSpec, pick_accel
from .results import (
    SCHEMA_VERSION,
    counts,
    exit_code,
    overall_verdict,
    probe_entries,
    summary_table,
    write_json_atomic,
    write_junit,
    write_ktap,
)
from .rundir import create_run_dir, point_latest
from .vm import VMResult, run_vm


@dataclass
class RunOptions:
    kernel: str | None = None
    kernel_config: str | None = None
    append: list[str] = field(default_factory=list)
    probes: list[str] = field(default_factory=list)
    memory_mib: int = 512
    vcpus: int = 1
    accel: str = "auto"
    qemu: str = DEFAULT_QEMU
    runs_dir: Path | None = None
    expectations: Path | None = None
    timeout_scale: float = 1.0
    boot_timeout: float | None = None
    profile: str = "plain"
    floor: bool = False  # boot to an init that powers off at once (the benchmark's floor)
    quiet: bool = False


@dataclass
class RunReport:
    run_dir: Path
    results: dict
    exit_code: int


def _spec_identity(opts: RunOptions) -> dict:
    return {
        "kernel": opts.kernel,
        "kernel_config": opts.kernel_config,
        "append": opts.append,
        "probes": opts.probes,
        "memory": opts.memory_mib,
        "vcpus": opts.vcpus,
        "accel": opts.accel,
        "profile": opts.profile,
        "floor": opts.floor,
        "qemu": opts.qemu,
    }


def _kernel_label(opts: RunOptions, default: str) -> str:
    spec = opts.kernel or default
    if spec.startswith("deb:"):
        return spec[4:].removeprefix("linux-image-").removesuffix("-unsigned")
    return Path(spec).name


def _short_socket_path(run_dir: Path) -> Path:
    """Unix socket paths are limited to 107 bytes; fall back to /tmp for deep run dirs."""
    path = run_dir / "qmp.sock"
    if len(str(path)) < 100:
        return path
    return Path("/tmp") / f"devmem-harness-{run_dir.name[-24:]}.qmp"


class Run:
    def __init__(self, opts: RunOptions):
        self.opts = opts
        self.results: dict = {}
        self.run_dir: Path | None = None
        self.started = time.time()

    def log(self, msg: str) -> None:
        if not self.opts.quiet:
            print(f"harness: {msg}", file=sys.stderr, flush=True)

    def save(self) -> None:
        if self.run_dir is not None:
            write_json_atomic(self.run_dir / "results.json", self.results)

    def prepare_dir(self, default_kernel: str) -> Path:
        runs_dir = (self.opts.runs_dir or paths.default_runs_dir()).resolve()
        self.run_dir = create_run_dir(
            runs_dir, self.opts.profile, _kernel_label(self.opts, default_kernel), _spec_identity(self.opts)
        )
        self.results = {
            "schema_version": SCHEMA_VERSION,
            "verdict": "error",
            "outcome": "preparing",
            "cause": None,
            "detail": "the run stopped before the guest was started",
            "profile": self.opts.profile,
            "emulated": False,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "harness": {
                "version": __version__,
                "command": shlex.join(["devmem-harness", *sys.argv[1:]]),
                "host": socket.gethostname(),
            },
            "probes": [],
        }
        self.save()
        point_latest(runs_dir, self.run_dir)
        return self.run_dir

    def execute(self, oracle: Oracle, kernel: Kernel, selection: list[str]) -> VMResult:
        opts = self.opts
        probe = build_probe()
        initrd = build_initramfs(probe, kernel.modules, kernel.load)
        accel, accel_reason = pick_accel(opts.accel, opts.qemu)
        append = list(opts.append)
        if selection != [p.name for p in list_probes(probe)]:
            append.append("harness.probes=" + ",".join(selection))
        if opts.floor:
            append.append("harness.mode=floor")
        spec = VMSpec(
            kernel=kernel.image,
            initrd=initrd,
            append=tuple(append),
            memory_mib=opts.memory_mib,
            vcpus=opts.vcpus,
            accel=accel,
            qemu=opts.qemu,
            qmp_socket=_short_socket_path(self.run_dir),
        )
        timeouts = Timeouts.sized(opts.memory_mib, opts.vcpus, accel, opts.timeout_scale)
        if opts.boot_timeout is not None:
            timeouts = Timeouts(boot=opts.boot_timeout, probes=timeouts.probes, shutdown=timeouts.shutdown)
        (self.run_dir / "repro.sh").write_text(
            "#!/bin/sh\n# The exact QEMU command of this run; the serial console is on stdio.\n"
            f'exec {spec.shell()} "$@"\n'
        )
        (self.run_dir / "repro.sh").chmod(0o755)
        self.results.update(
            outcome="running",
            detail="the guest was started; the harness did not finish",
            kernel={
                "release": kernel.release,
                "version": kernel.version,
                "source": kernel.source,
                "image": str(kernel.image),
                "config": str(kernel.config_path),
            },
            accel=accel,
            accel_reason=accel_reason,
            cmdline=spec.cmdline,
            qemu={"binary": opts.qemu, "argv": spec.argv()},
            timeouts={"boot": timeouts.boot, "probes": timeouts.probes, "shutdown": timeouts.shutdown},
            initramfs=str(initrd),
        )
        self.save()
        self.log(f"booting {kernel.label} ({accel}, {opts.memory_mib} MiB, {opts.vcpus} vCPU) in {self.run_dir}")
        return run_vm(spec, self.run_dir, timeouts)

    def conclude(self, oracle: Oracle, kernel: Kernel, selection: list[str], vm: VMResult) -> int:
        run_dir = self.run_dir
        console_text = (run_dir / "console.log").read_bytes().decode(errors="replace")
        t = parse_console(console_text)
        self._write_dmesg(t, console_text)
        ktap_text = t.sections.get("ktap", "")
        (run_dir / "probe.ktap").write_text(normalize(ktap_text).strip() + "\n")
        doc = parse_ktap(ktap_text)
        guest_cmdline = t.sections.get("cmdline", "").strip() or self.results.get("cmdline", "")
        version = kernel.version or (t.sections.get("uname", "").strip() or None)
        facts = derive_facts(kernel.symbols, guest_cmdline, version, kind=self.opts.profile)
        results = doc.by_name()
        missing = _missing_reason(vm, t)
        verdicts: list[Verdict] = []
        if not self.opts.floor:
            verdicts = [oracle.judge(name, results.get(name), facts, missing) for name in selection]
        verdict = (
            overall_verdict(verdicts, vm.outcome)
            if not self.opts.floor
            else ("pass" if vm.outcome == "completed" else "error")
        )
        lockdown_seen = t.sections.get("lockdown", "").strip() or None
        self.results.update(
            verdict=verdict,
            outcome=vm.outcome,
            cause=vm.cause,
            detail=vm.detail,
            stage=vm.stage,
            kernel={
                **self.results.get("kernel", {}),
                "release": (t.sections.get("uname") or "").strip() or kernel.release,
            },
            cmdline=guest_cmdline,
            facts={
                "lockdown_expected": facts["lockdown"],
                "lockdown_observed": lockdown_seen,
                "iomem": facts["iomem"],
                "kind": facts["kind"],
                "version": version,
                "panic": t.panic,
                "oopses": t.oopses[:20],
            },
            exit={"qemu": vm.qemu_exit, "qemu_signal": vm.qemu_signal, "probe": t.probe_exit},
            durations=vm.durations,
            events=vm.events,
            counts=counts(verdicts),
            probes=probe_entries(verdicts),
        )
        warnings = []
        if lockdown_seen and f"[{facts['lockdown']}]" not in lockdown_seen:
            warnings.append(
                f"lockdown: expected [{facts['lockdown']}] from config and cmdline, guest shows {lockdown_seen}"
            )
        if doc.garbage:
            warnings.append(f"{len(doc.garbage)} non-KTAP line(s) inside the probe output")
        if t.probe_exit not in (0, None):
            warnings.append(f"the probe binary exited with status {t.probe_exit}")
        self.results["warnings"] = warnings
        self.save()
        suite = f"devmem-harness.{self.opts.profile}"
        props = {
            "kernel": self.results["kernel"]["release"] or "",
            "cmdline": guest_cmdline,
            "outcome": vm.outcome,
            "accel": self.results.get("accel", ""),
        }
        write_junit(run_dir / "junit.xml", verdicts, suite, props)
        write_ktap(
            run_dir / "results.ktap",
            verdicts,
            [f"devmem-harness {self.opts.profile} kernel {props['kernel']} outcome {vm.outcome}"],
        )
        return exit_code(verdict, vm.outcome)

    def _write_dmesg(self, t: GuestTranscript, console_text: str) -> None:
        dmesg = t.sections.get("dmesg")
        if dmesg is not None and "dmesg" not in t.incomplete:
            text = normalize(dmesg).strip() + "\n"
        else:
            # The guest never dumped dmesg: what the kernel printed on the console is all there is.
            text = "# dmesg was not dumped by the guest; this is the kernel's console output so far\n" + normalize(
                console_text
            )
        (self.run_dir / "dmesg.txt").write_text(text)

    def fail_early(self, outcome: str, cause: str, detail: str) -> None:
        self.results.update(verdict="error", outcome=outcome, cause=cause, detail=detail)
        self.save()


def _missing_reason(vm: VMResult, t: GuestTranscript) -> str:
    if vm.outcome == "completed":
        if t.probe_exit not in (0, None):
            return f"no result: the probe binary exited with status {t.probe_exit} before reporting it"
        return "no result: the probe binary did not report this probe"
    return f"no result: the guest ended ({vm.outcome}: {vm.detail}) before this probe reported"


def run(opts: RunOptions) -> RunReport:
    """The `run` command. Raises HarnessError for bad input before anything boots."""
    from .kernel import KernelCatalog

    catalog = KernelCatalog.load()
    oracle = Oracle.load(opts.expectations)
    known = [p.name for p in list_probes(build_probe())]
    selection = select_probes(opts.probes, known)
    kernel = resolve_kernel(opts.kernel, opts.kernel_config, catalog)
    r = Run(opts)
    r.prepare_dir(catalog.default)
    try:
        vm = r.execute(oracle, kernel, selection)
        code = r.conclude(oracle, kernel, selection, vm)
    except HarnessError as exc:
        r.fail_early("qemu-failed" if r.results.get("outcome") == "running" else "not-started", "host", exc.line())
        raise
    except KeyboardInterrupt:
        r.fail_early("interrupted", "host", "interrupted by the user before the guest started")
        return RunReport(r.run_dir, r.results, exit_code("error", "interrupted"))
    if not opts.quiet and not opts.floor:
        print(
            summary_table(
                [
                    Verdict(**{k: v for k, v in p.items() if k in Verdict.__dataclass_fields__})
                    for p in r.results["probes"]
                ]
            )
        )
    if not opts.quiet:
        c = r.results.get("counts", {})
        print(
            f"verdict: {r.results['verdict']}  outcome: {r.results['outcome']} ({r.results['detail']})  "
            f"pass {c.get('pass', 0)}, fail {c.get('fail', 0)}, known-issue {c.get('known-issue', 0)}, "
            f"skip {c.get('skip', 0)}, error {c.get('error', 0)}  "
            f"[{r.results.get('durations', {}).get('total', 0):.1f} s]"
        )
        print(f"results: {r.run_dir}")
    return RunReport(r.run_dir, r.results, code)
