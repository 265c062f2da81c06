"""Command line: `python -m harness run|probes|kernel`, one-line errors, documented exit codes."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import paths, progress
from .bisect import ABORT, Expectation, StepOptions, bisect_kernels, bisect_tree, run_step
from .compare import compare as compare_cells
from .compare import exit_code as compare_exit
from .compare import load_cells
from .compare import render as render_changes
from .doctor import as_json, first_missing, offer_checks, pick_qemu, qemu_offers, render, run_checks
from .errors import (
    EXIT_INTERRUPTED,
    EXIT_NO_VERDICT,
    EXIT_REQUIREMENT,
    BadInput,
    HarnessError,
    HostFault,
    RequirementMissing,
)
from .image import build_image
from .kbuild import BuildRequest, build_kernel, resolve_fragment, resolve_patch
from .kcidb import document as kcidb_document
from .kernel import KernelCatalog, resolve_kernel
from .lava_job import job_inputs, write_job
from .lava_judge import judge_lava
from .lava_local import run_job as run_lava_job
from .matrix import DEFAULT_MATRIX, merge, parse_shard, run_matrix, write_summary
from .probe_binary import list_probes, select_probes
from .profiles import available, load_profile
from .qemu_next import NEXT, SUITES, resolve_qemu
from .qemu_next import fetch as fetch_qemu
from .report import write_report
from .runner import RunOptions, run
from .spare import load_catalog


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad options as one line with the way out, exit 2."""

    def error(self, message: str):
        self.exit(EXIT_NO_VERDICT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def available_profiles() -> list[str]:
    return available()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def _add_build_options(parser: argparse.ArgumentParser, required: bool) -> None:
    what = "build from this kernel tree, or deb:linux-source-6.12" + ("" if required else " (then boot it)")
    parser.add_argument("--source", required=required, help=what)
    parser.add_argument(
        "--kconfig",
        action="append",
        default=[],
        metavar="FRAGMENT",
        help="config fragment (path, or a name from kconfigs/); repeatable",
    )
    parser.add_argument(
        "--patch",
        action="append",
        default=[],
        metavar="PATCH",
        help="apply this patch first (path, or a name from kconfigs/patches/); repeatable",
    )
    parser.add_argument(
        "--base",
        default="tinyconfig",
        choices=("tinyconfig", "defconfig"),
        help="start from tinyconfig + kconfigs/base.config (default) or defconfig",
    )


def _add_bisect_options(parser: argparse.ArgumentParser) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="devmem-harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="boot a guest and run the probe suite")
    _add_run_kernel_options(run)
    _add_run_guest_options(run)
    _add_run_output_options(run)
    _add_matrix_parser(sub)
    _add_bisect_parsers(sub)
    _add_host_parsers(sub)
    _add_lava_parsers(sub)
    return parser


def _add_spare_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--spare",
        metavar="DEVICE",
        help=f"one of {', '.join(load_catalog().names)}: the spare PCI device the revocation probes bind"
        " (default: the first whose driver the kernel has)",
    )


def _add_run_kernel_options(run: argparse.ArgumentParser) -> None:
    """Which kernel a run boots, and what it probes."""
    run.add_argument(
        "--kernel",
        help="deb:[SUITE/]PACKAGE (e.g. deb:sid/linux-image-amd64) or PATH to a bzImage (default: pinned Debian 6.12)",
    )
    run.add_argument("--kernel-config", help="the .config of a --kernel PATH")
    run.add_argument(
        "--modules",
        metavar="DIR",
        help="where a --kernel PATH's modules are (default: its build tree or a lib/modules/<release> beside it)",
    )
    _add_build_options(run, required=False)
    _add_spare_option(run)
    run.add_argument(
        "--append",
        action="append",
        default=[],
        metavar="ARGS",
        help="extra kernel command line words, e.g. lockdown=integrity (repeatable)",
    )
    run.add_argument(
        "--probe",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help="run only these probes (repeatable; default: all)",
    )
    run.add_argument(
        "--expectations", type=Path, metavar="YAML", help="extra expectation rules, tried before the built-in ones"
    )


def _add_run_guest_options(run: argparse.ArgumentParser) -> None:
    """The guest's machine, profile and transport."""
    run.add_argument("--memory", type=_positive_int, metavar="MIB", help="guest memory (default: the profile's)")
    run.add_argument("--vcpus", type=_positive_int, default=1, help="guest vCPUs (default 1)")
    run.add_argument("--accel", default="auto", choices=("auto", "kvm", "tcg"), help="accelerator (default auto)")
    run.add_argument("--qemu", default=None, help="QEMU binary (default qemu-system-x86_64, or $QEMU)")
    run.add_argument(
        "--profile",
        default="plain",
        choices=available_profiles(),
        help="guest kind (default plain): " + ", ".join(available_profiles()),
    )
    run.add_argument("--firmware", help="firmware for confidential guests (TDVF, SNP OVMF); default: the profile's")
    run.add_argument(
        "--transport",
        default="serial",
        choices=("serial", "ssh"),
        help="serial: busybox initramfs on the console (default); ssh: a disk-image guest reached over SSH",
    )
    run.add_argument(
        "--image", type=Path, help="with --transport ssh: your qcow2 (default: the harness's Debian image)"
    )
    run.add_argument("--ssh-user", default="root", help="with --image: the user to log in as (default root)")
    run.add_argument("--ssh-key", type=Path, help="with --image: the private key for --ssh-user (never a password)")
    run.add_argument(
        "--timeout-scale", type=_positive_float, default=1.0, help="multiply every stage timeout (slow hosts)"
    )
    run.add_argument("--boot-timeout", type=_positive_float, help="override the boot stage timeout, seconds")
    run.add_argument(
        "--shutdown-timeout", type=_positive_float, help="override the shutdown stage timeout (poweroff), seconds"
    )
    run.add_argument(
        "--isolate",
        default="auto",
        choices=("auto", "always", "never"),
        help="run dangerous probes in boots of their own (auto: in guest kinds they can kill)",
    )
    run.add_argument(
        "--floor",
        action="store_true",
        help="boot to an init that powers off at once (the benchmark's floor; no probes)",
    )


def _add_run_output_options(run: argparse.ArgumentParser) -> None:
    """Where a run's results go and how much it says."""
    run.add_argument("--dry-run", action="store_true", help="print the QEMU command line and stop")
    run.add_argument("--runs-dir", type=Path, help="where run directories go (default: <checkout>/runs)")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _add_matrix_parser(sub) -> None:
    matrix = sub.add_parser("matrix", help="run many guests in parallel and summarize them")
    matrix.add_argument("file", nargs="?", type=Path, help="matrix YAML (default: harness/data/matrix.yaml)")
    matrix.add_argument(
        "-j", "--jobs", type=_positive_int, default=os.cpu_count() or 1, help="guests at once (default: cores)"
    )
    matrix.add_argument("--runs-dir", type=Path, help="where the matrix directory goes (default: <checkout>/runs)")
    matrix.add_argument("--expectations", type=Path, metavar="YAML", help="extra expectation rules for every guest")
    matrix.add_argument("--probe", action="append", default=[], metavar="PATTERN", help="run only these probes")
    matrix.add_argument(
        "--guest", action="append", default=[], metavar="PATTERN", help="run only the guests whose name matches"
    )
    matrix.add_argument("--shard", metavar="I/N", help="run only shard I of N (every Nth guest; join with merge)")
    merge = sub.add_parser("merge", help="join the matrix directories of --shard runs into one")
    merge.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="matrix directories (with summary.json)")
    merge.add_argument("--out", type=Path, help="the merged matrix directory (default: runs/matrix-merged-<time>)")
    compare = sub.add_parser("compare", help="what changed between two runs or matrices; exit 1 on a new failure")
    compare.add_argument("old", type=Path, help="the earlier run or matrix directory (last night's)")
    compare.add_argument("new", type=Path, help="the later one")
    compare.add_argument("--format", default="text", choices=("text", "markdown", "json"))
    report = sub.add_parser("report", help="one self-contained report.html for runs and matrices")
    report.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run or matrix directories")
    report.add_argument("--out", type=Path, help="where to write it (default: report.html in the first DIR)")
    export = sub.add_parser("export", help="runs and matrices in another system's format (KCIDB)")
    export.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="run or matrix directories")
    export.add_argument("--kcidb", type=Path, required=True, metavar="FILE", help="write a KCIDB v5 document here")
    export.add_argument("--origin", default="devmem_harness", help="the KCIDB origin (lower case, digits, _)")
    export.add_argument("--url-base", help="URL the runs directory is published at (default: file:// paths)")
    matrix.add_argument("--accel", default="auto", choices=("auto", "kvm", "tcg"))
    matrix.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _add_lava_parsers(sub) -> None:
    """LAVA: render a job that runs the suite in a lab, and judge the log it leaves."""
    job = sub.add_parser("lava-job", help="the probe suite as a LAVA QEMU job (kernel, initramfs, job.yaml)")
    judge = sub.add_parser("judge", help="judge what another system recorded, like a local run (--lava LOG)")
    for p in (job, judge):
        p.add_argument("--kernel", help="as for run (default: the pinned Debian 6.12; judge: the job's)")
        p.add_argument("--kernel-config", help="the .config of a --kernel PATH")
        _add_build_options(p, required=False)
        p.add_argument("--append", action="append", default=[], metavar="ARGS", help="extra kernel command line words")
        p.add_argument("--profile", choices=available_profiles(), help="guest kind (default plain; judge: the job's)")
        _add_spare_option(p)
    job.add_argument("--probe", action="append", default=[], metavar="NAME[,NAME...]", help="run only these probes")
    job.add_argument("--memory", type=_positive_int, metavar="MIB", help="guest memory (default: the profile's)")
    job.add_argument("--vcpus", type=_positive_int, default=1, help="guest vCPUs (default 1)")
    job.add_argument("--firmware", help="firmware path on the lab's dispatcher (confidential profiles)")
    job.add_argument("--out", type=Path, help="where job.yaml, vmlinuz and the initramfs go (default runs/lava/...)")
    job.add_argument("--url-base", help="the URL --out is served at for the lab (default: file:// paths)")
    job.add_argument(
        "--rootfs",
        metavar="URL",
        help="the lab's cpio ramdisk instead of the harness's initramfs (the suite is overlaid)",
    )
    job.add_argument("--login", default="root", help="with --rootfs: the user its login prompt takes (default root)")
    job.add_argument(
        "--prompt", action="append", default=[], metavar="REGEX", help="with --rootfs: its shell prompt (repeatable)"
    )
    lrun = sub.add_parser("lava-run", help="run a LAVA job with this machine's lava-run (lava-dispatcher)")
    lrun.add_argument("job", type=Path, help="job.yaml from lava-job")
    lrun.add_argument("--out", type=Path, help="where the job's log goes (default: a lava-run dir beside the job)")
    judge.add_argument("--lava", type=Path, required=True, metavar="LOG", help="a LAVA job log (YAML), or its dir")
    judge.add_argument("--job", type=Path, help="the job it ran (default: job.yaml or definition.yaml beside LOG)")
    judge.add_argument("--expectations", type=Path, metavar="YAML", help="extra expectation rules")
    judge.add_argument("--runs-dir", type=Path, help="where the run directory goes (default: <checkout>/runs)")
    judge.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _lava_options(args, **more) -> RunOptions:
    return RunOptions(
        kernel=args.kernel,
        kernel_config=args.kernel_config,
        append=[w for item in args.append for w in item.split()],
        source=args.source,
        kconfig=[resolve_fragment(k) for k in args.kconfig],
        patches=[resolve_patch(p) for p in args.patch],
        base=args.base,
        profile=args.profile or "",
        spare=args.spare,
        quiet=True,
        **more,
    )


def _cmd_lava_job(args) -> int:
    opts = _lava_options(
        args,
        probes=[p for item in args.probe for p in item.split(",") if p],
        memory_mib=args.memory,
        vcpus=args.vcpus,
        firmware=args.firmware,
    )
    opts.profile = opts.profile or "plain"
    inputs = job_inputs(opts, args.rootfs, args.login, tuple(args.prompt))
    out = args.out or paths.default_runs_dir() / "lava" / f"{time.strftime('%Y%m%d-%H%M%S')}-{inputs.label}"
    print(write_job(inputs, out, args.url_base))
    return 0


def _cmd_lava_run(args) -> int:
    if not args.job.is_file():
        raise BadInput(f"{args.job}: no such job file", "make one with `devmem-harness lava-job`")
    log, status = run_lava_job(args.job, args.out or args.job.parent / "lava-run")
    print(log)
    if status != 0:
        print(f"devmem-harness: lava-run exited with status {status}; its log is {log}", file=sys.stderr)
        return EXIT_NO_VERDICT
    return 0


def _cmd_judge(args) -> int:
    if args.expectations is not None and not args.expectations.is_file():
        raise BadInput(f"--expectations {args.expectations}: no such file")
    if not args.lava.exists():
        raise BadInput(f"--lava {args.lava}: no such file or directory")
    if args.job is not None and not args.job.is_file():
        raise BadInput(f"--job {args.job}: no such file")
    opts = _lava_options(args, expectations=args.expectations, runs_dir=args.runs_dir)
    opts.quiet = args.quiet
    return judge_lava(opts, args.lava, args.job).exit_code


def _add_bisect_parsers(sub) -> None:
    step = sub.add_parser("bisect-step", help="one `git bisect run` step: build HEAD, boot, judge (0/1/125/129)")
    _add_bisect_options(step)
    step.add_argument("--tree", type=Path, default=Path.cwd(), help="the kernel tree (default: current directory)")
    step.add_argument(
        "--terms",
        choices=("good,bad", "broken,fixed"),
        default="good,bad",
        help="broken,fixed: git's custom terms for bisecting a fix",
    )
    step.add_argument("--invert", action="store_true", help=argparse.SUPPRESS)

    bis = sub.add_parser("bisect", help="find the commit (or the prebuilt kernel) that changed a probe's outcome")
    _add_bisect_options(bis)
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


def _add_host_parsers(sub) -> None:
    """doctor, probes, kernel and image: what the host has, and what the harness keeps in its cache."""
    qemu = sub.add_parser("qemu", help="a newer QEMU than the host's, in the cache")
    qsub = qemu.add_subparsers(dest="qemu_command", required=True, parser_class=_Parser)
    qfetch = qsub.add_parser("fetch", help="debootstrap Debian's qemu-system-x86 into the cache (--qemu next runs it)")
    qfetch.add_argument("--suite", default="sid", choices=SUITES, help="the Debian suite (default sid)")
    doc = sub.add_parser("doctor", help="what this host can run, and why not")
    doc.add_argument("--json", action="store_true", help="JSON instead of a table")
    doc.add_argument("--root", type=Path, default=Path("/"), help="read /sys, /proc and /dev under this root")
    doc.add_argument("--profile", choices=available_profiles(), help="exit 4 unless this profile can run here")
    doc.add_argument("--qemu", default=None, help="QEMU binary (default qemu-system-x86_64, or $QEMU)")
    doc.add_argument("--firmware", help="firmware file to check for the confidential profiles")
    doc.add_argument(
        "--pick-qemu",
        metavar="PROFILE",
        choices=available_profiles(),
        help="print the --qemu to use for PROFILE: the host's QEMU if it can launch it, else next",
    )

    sub.add_parser("probes", help="list the probes with what each does")

    kernel = sub.add_parser("kernel", help="kernel helpers")
    ksub = kernel.add_subparsers(dest="kernel_command", required=True, parser_class=_Parser)
    build = ksub.add_parser("build", help="build a guest kernel from a source tree and kconfig fragments")
    _add_build_options(build, required=True)
    fetch = ksub.add_parser("fetch", help="download and unpack packaged kernels into the cache")
    fetch.add_argument("specs", nargs="*", help="deb:[SUITE/]PACKAGE (default: the pinned default and older kernels)")
    image = sub.add_parser("image", help="disk images for guests reached over SSH")
    isub = image.add_subparsers(dest="image_command", required=True, parser_class=_Parser)
    ibuild = isub.add_parser("build", help="build (or find in the cache) the Debian bookworm image for a kernel")
    ibuild.add_argument("--kernel", help="deb:<linux-image package> whose modules the image carries (default: pinned)")


def _cmd_image(args) -> int:

    catalog = KernelCatalog.load()
    kernel = resolve_kernel(args.kernel, None, catalog)
    image, built, seconds = build_image(kernel)
    print(f"image: {image.path}")
    print(f"initrd: {image.initrd}")
    print(f"key: {image.key} (user {image.user}); host key: {image.host_key}")
    print(f"{'built' if built else 'cache hit'} in {seconds:.1f} s")
    return 0


def _cmd_qemu(args) -> int:
    wrapper, built, seconds = fetch_qemu(args.suite)
    version = subprocess.run([str(wrapper), "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    print(f"qemu: {wrapper} ({version[0] if version else 'version unknown'})")
    print(f"{'debootstrapped' if built else 'cache hit'} in {seconds:.1f} s; run with --qemu next")
    return 0


def _cmd_run(args) -> int:

    probes = [p for item in args.probe for p in item.split(",") if p]
    if (args.kconfig or args.patch) and not args.source and not load_profile(args.profile).build:
        raise BadInput("--kconfig and --patch need --source (the tree to build)")
    append = [w for item in args.append for w in item.split()]
    if args.expectations is not None and not args.expectations.is_file():
        raise BadInput(f"--expectations {args.expectations}: no such file")
    opts = RunOptions(
        kernel=args.kernel,
        kernel_config=args.kernel_config,
        modules=args.modules,
        spare=args.spare,
        append=append,
        probes=probes,
        memory_mib=args.memory,
        vcpus=args.vcpus,
        accel=args.accel,
        qemu=resolve_qemu(args.qemu or os.environ.get("QEMU") or "qemu-system-x86_64"),
        runs_dir=args.runs_dir,
        expectations=args.expectations,
        timeout_scale=args.timeout_scale,
        boot_timeout=args.boot_timeout,
        shutdown_timeout=args.shutdown_timeout,
        isolate=args.isolate,
        firmware=args.firmware,
        dry_run=args.dry_run,
        source=args.source,
        kconfig=[resolve_fragment(k) for k in args.kconfig],
        patches=[resolve_patch(p) for p in args.patch],
        base=args.base,
        profile=args.profile,
        floor=args.floor,
        quiet=args.quiet,
        transport=args.transport,
        image=args.image,
        ssh_user=args.ssh_user,
        ssh_key=args.ssh_key,
    )
    if args.image is not None and not args.image.is_file():
        raise BadInput(f"--image {args.image}: no such file")
    if args.ssh_key is not None and not args.ssh_key.is_file():
        raise BadInput(f"--ssh-key {args.ssh_key}: no such file")
    if not shutil.which(opts.qemu):
        raise RequirementMissing(
            f"QEMU binary {opts.qemu!r} not found", "apt-get install qemu-system-x86, or set QEMU="
        )
    report = run(opts)
    return report.exit_code


def _cmd_matrix(args) -> int:

    path = args.file or DEFAULT_MATRIX
    if not path.is_file():
        raise BadInput(f"matrix file {path}: no such file")
    common = ["--accel", args.accel]
    if args.expectations is not None:
        if not args.expectations.is_file():
            raise BadInput(f"--expectations {args.expectations}: no such file")
        common += ["--expectations", str(args.expectations.resolve())]
    if args.probe:
        select_probes([p for item in args.probe for p in item.split(",") if p], [p.name for p in list_probes()])
        common += [f"--probe={p}" for p in args.probe]
    part = parse_shard(args.shard) if args.shard else (1, 1)
    return run_matrix(path.resolve(), args.jobs, args.runs_dir, common, args.quiet, args.guest, part)


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

    changes = compare_cells(load_cells(args.old), load_cells(args.new))
    print(render_changes(changes, args.format))
    return compare_exit(changes)


def _step_options(args):

    probes = select_probes([p for item in args.probe for p in item.split(",") if p], [p.name for p in list_probes()])
    return StepOptions(
        tree=(args.tree or Path.cwd()).resolve(),
        kconfig=[resolve_fragment(k) for k in args.kconfig],
        probes=probes,
        expectation=Expectation.parse(args.expect, args.oracle),
        append=[w for item in args.append for w in item.split()],
        panic_is=args.panic_is,
        runs_dir=args.runs_dir,
        base=args.base,
        profile=args.profile,
        qemu=resolve_qemu(os.environ.get("QEMU") or "qemu-system-x86_64"),
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
        step_args = [f"--probe={','.join(step.probes)}", f"--base={args.base}", f"--panic-is={args.panic_is}"]
        step_args.append(f"--profile={args.profile}")
        step_args += [f"--kconfig={k}" for k in step.kconfig]
        step_args += [f"--append={a}" for a in args.append]
        step_args += ["--oracle"] if args.oracle else [f"--expect={args.expect}"]
        if args.runs_dir:
            step_args.append(f"--runs-dir={args.runs_dir}")
        report = bisect_tree(args.tree, args.good, args.bad, step_args, fix=args.terms == "broken,fixed")
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
    return report.code


def _cmd_doctor(args) -> int:

    named = args.qemu or os.environ.get("QEMU") or "qemu-system-x86_64"
    qemu = resolve_qemu(named)
    offers = qemu_offers(args.root, "qemu-system-x86_64" if named == NEXT else named)
    if args.pick_qemu:
        print(pick_qemu(args.pick_qemu, offers))
        return 0
    checks = run_checks(args.root, qemu, firmware=args.firmware)
    print(as_json(checks, offers) if args.json else render([*checks, *offer_checks(offers)]))
    if args.profile:
        missing = first_missing(load_profile(args.profile), checks)
        if missing:
            print(
                f"devmem-harness: profile {args.profile} cannot run here: {missing.detail}"
                + (f" ({missing.hint})" if missing.hint else ""),
                file=sys.stderr,
            )
            return EXIT_REQUIREMENT
    return 0


def _cmd_probes(args) -> int:

    for p in list_probes():
        print(f"{p.name:<30} {'dangerous' if p.dangerous else '':<9}  {p.what}")
    return 0


def _cmd_kernel(args) -> int:

    if args.kernel_command == "build":
        req = BuildRequest(
            args.source,
            tuple(resolve_fragment(k) for k in args.kconfig),
            tuple(resolve_patch(p) for p in args.patch),
            args.base,
        )
        result = build_kernel(req)
        print(f"kernel: {result.kernel.image}")
        print(f"config: {result.kernel.config_path}")
        print(
            f"{'cache hit' if result.cached else 'built'} in {result.seconds:.1f} s (identity {result.identity};"
            f" log {result.log})"
        )
        return 0

    catalog = KernelCatalog.load()
    specs = args.specs or [s for s in (catalog.default, catalog.older) if s]
    for spec in specs:
        if not spec.startswith("deb:"):
            raise BadInput(f"kernel fetch {spec}: only deb:<package> kernels can be fetched")
        kernel = resolve_kernel(spec, None, catalog)
        for warning in kernel.warnings:
            print(f"devmem-harness: warning: {warning}", file=sys.stderr)
        print(f"{spec}: {kernel.image} ({kernel.release}; {', '.join('='.join(p) for p in kernel.packages)})")
    return 0


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "quiet", False):
        progress.silence()
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)  # a CI cancel or a closed terminal: stop QEMU, keep the results
    # A shell starts background jobs with SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # `make test &` would let an interrupted run carry on.  Ctrl-C (or kill -INT) always stops a run here.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    handler = {
        "run": _cmd_run,
        "matrix": _cmd_matrix,
        "merge": _cmd_merge,
        "compare": _cmd_compare,
        "export": _cmd_export,
        "report": _cmd_report,
        "probes": _cmd_probes,
        "kernel": _cmd_kernel,
        "bisect-step": _cmd_bisect_step,
        "bisect": _cmd_bisect,
        "doctor": _cmd_doctor,
        "image": _cmd_image,
        "qemu": _cmd_qemu,
        "lava-job": _cmd_lava_job,
        "lava-run": _cmd_lava_run,
        "judge": _cmd_judge,
    }[args.command]
    try:
        return handler(args)
    except HarnessError as exc:
        print(f"devmem-harness: error: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `harness probes | head`: the reader had enough, nothing went wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a full or read-only disk, anywhere: the host's fault, in the OS's words
        fault = HostFault.from_os_error(exc)
        print(f"devmem-harness: error: {fault.line()}", file=sys.stderr)
        return fault.exit_code
    except KeyboardInterrupt:
        print("devmem-harness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
