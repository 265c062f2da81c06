# SPDX-License-Identifier: GPL-2.0-only
"""`lava-job` (the suite as a LAVA QEMU job), `lava-run` (a job on this machine's lava-dispatcher) and
`judge --lava` (a job's log judged like a local run)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .. import paths
from ..errors import EXIT_NO_VERDICT, BadInput
from ..guests.runner import RunOptions
from ..kernels.kbuild import resolve_fragment, resolve_patch
from ..lava.job import job_inputs, write_job
from ..lava.judge import judge_lava
from ..lava.local import run_job
from .options import add_build_options, add_spare_option, available_profiles, names, positive_int, require_file, words


def add_parsers(sub) -> None:
    job = sub.add_parser("lava-job", help="the probe suite as a LAVA QEMU job (kernel, initramfs, job.yaml)")
    judge = sub.add_parser("judge", help="judge what another system recorded, like a local run (--lava LOG)")
    for p in (job, judge):
        p.add_argument("--kernel", help="as for run (default: the pinned Debian 6.12; judge: the job's)")
        p.add_argument("--kernel-config", help="the .config of a --kernel PATH")
        add_build_options(p, required=False)
        p.add_argument("--append", action="append", default=[], metavar="ARGS", help="extra kernel command line words")
        p.add_argument("--profile", choices=available_profiles(), help="guest kind (default plain; judge: the job's)")
        add_spare_option(p)
    _add_job_options(job)
    job.set_defaults(handler=_cmd_lava_job)
    lrun = sub.add_parser("lava-run", help="run a LAVA job with this machine's lava-run (lava-dispatcher)")
    lrun.add_argument("job", type=Path, help="job.yaml from lava-job")
    lrun.add_argument("--out", type=Path, help="where the job's log goes (default: a lava-run dir beside the job)")
    lrun.set_defaults(handler=_cmd_lava_run)
    judge.add_argument("--lava", type=Path, required=True, metavar="LOG", help="a LAVA job log (YAML), or its dir")
    judge.add_argument("--job", type=Path, help="the job it ran (default: job.yaml or definition.yaml beside LOG)")
    judge.add_argument("--expectations", type=Path, metavar="YAML", help="extra expectation rules")
    judge.add_argument("--runs-dir", type=Path, help="where the run directory goes (default: <checkout>/runs)")
    judge.add_argument("--quiet", action="store_true", help="print nothing but errors")
    judge.set_defaults(handler=_cmd_judge)


def _add_job_options(job) -> None:
    job.add_argument("--probe", action="append", default=[], metavar="NAME[,NAME...]", help="run only these probes")
    job.add_argument("--memory", type=positive_int, metavar="MIB", help="guest memory (default: the profile's)")
    job.add_argument("--vcpus", type=positive_int, default=1, help="guest vCPUs (default 1)")
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


def _lava_options(args, **more) -> RunOptions:
    return RunOptions(
        kernel=args.kernel,
        kernel_config=args.kernel_config,
        append=words(args.append),
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
        probes=names(args.probe),
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
    log, status = run_job(args.job, args.out or args.job.parent / "lava-run")
    print(log)
    if status != 0:
        print(f"devmem-harness: lava-run exited with status {status}; its log is {log}", file=sys.stderr)
        return EXIT_NO_VERDICT
    return 0


def _cmd_judge(args) -> int:
    require_file("--expectations", args.expectations)
    if not args.lava.exists():
        raise BadInput(f"--lava {args.lava}: no such file or directory")
    require_file("--job", args.job)
    opts = _lava_options(args, expectations=args.expectations, runs_dir=args.runs_dir)
    opts.quiet = args.quiet
    return judge_lava(opts, args.lava, args.job).exit_code
