# SPDX-License-Identifier: GPL-2.0-only
"""`harness judge --lava LOG`: a LAVA job's log judged exactly like a local run.

The log holds the guest's console, and the console holds the same "@@harness"
sections a local boot prints (guest-images/suite.sh), so the judging is the
local one: the same console parser, the same `conclude()`, the same run
directory (results.json, junit.xml, results.ktap, console.log, dmesg.txt).
What differs is only how the guest's end is known: from LAVA's job result
instead of QEMU's exit, with an Infrastructure error the host's fault.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import time
from pathlib import Path

from .. import paths
from ..errors import BadInput
from ..guests.boots import console_boot, record_console
from ..guests.guest_setup import kernel_record
from ..guests.runner import EMULATED_NOTE, RunOptions, RunReport, plan_run
from ..judging.conclusion import RunFacts, conclude
from ..judging.console import GuestTranscript
from ..judging.observed import VMResult
from ..records.record import RunRecord
from ..records.results import print_summary, write_reports
from ..records.rundir import create_run_dir, kernel_label, point_latest, run_identity
from ..vocabulary import Cause, Outcome, Stage
from .job import job_metadata
from .log import LavaLog, read_lava_log

PROBES_WORD = re.compile(r"(?:^|\s)harness\.probes=(\S+)")
LOG_NAMES = ("logs.yaml", "log.yaml", "output.yaml")  # tuxrun --log-file-yaml, a LAVA server's download, lava-run
JOB_NAMES = ("job.yaml", "definition.yaml")  # harness lava-job, tuxrun's saved definition


def find_inputs(path: Path, job: Path | None) -> tuple[Path, Path | None]:
    """The log and (if there is one) the job: a directory holding both works as well as the files."""
    log = path
    if path.is_dir():
        found = [path / n for n in LOG_NAMES if (path / n).is_file()]
        if not found:
            raise BadInput(f"--lava {path}: no {' or '.join(LOG_NAMES)} in this directory", "give the log file")
        log = found[0]
    if job is None:
        job = next((d / n for d in {log.parent, path} for n in JOB_NAMES if (d / n).is_file()), None)
    return log, job


def options_from_job(opts: RunOptions, job: Path | None) -> RunOptions:
    """The kernel, profile and append the rendered job booted, where the command line does not say."""
    meta = job_metadata(job) if job is not None else {}
    return dataclasses.replace(
        opts,
        kernel=opts.kernel or meta.get("kernel") or None,
        kernel_config=opts.kernel_config or meta.get("kernel-config") or None,
        profile=opts.profile or meta.get("profile") or "plain",
        append=opts.append or meta.get("append", "").split(),
        spare=opts.spare or meta.get("spare") or None,
    )


USERSPACE = ("Run /init as init process", "login:")  # the kernel handed over to a userspace (ours or a lab's)


def vm_result(log: LavaLog, t: GuestTranscript) -> VMResult:
    """How the guest ended, from what it printed and how LAVA ended the job.

    The kernel is blamed only for what it did: a panic, or output that stopped before the suite or
    the boot finished.  A job that reached a userspace and never started the suite (a prompt LAVA
    did not recognise, a test shell that failed) is the lab's problem, and so is a guest that never
    printed at all or an Infrastructure error."""
    durations = {"total": log.seconds} if log.seconds is not None else {}
    spoke = "Linux version" in log.console
    suite_began = "uname" in t.sections
    stage = Stage.SHUTDOWN if t.done else (Stage.PROBES if "ktap" in t.sections else Stage.BOOT)
    if t.done:
        return VMResult(Outcome.COMPLETED, None, f"the suite ran to its end; {log.summary}", stage, 0, None, durations)
    if t.panic:
        return VMResult(Outcome.PANIC, Cause.KERNEL, f"kernel panic: {t.panic}; {log.summary}", stage, None, None)
    if log.error_type == "Infrastructure" or not spoke:
        detail = f"{log.summary}; the kernel {'spoke' if spoke else 'never printed'} on the console"
        return VMResult(Outcome.QEMU_FAILED, Cause.HOST, detail, stage, None, None, durations)
    if not suite_began and any(mark in log.console for mark in USERSPACE):
        detail = f"the guest reached its userspace but LAVA never started the suite; {log.summary}"
        return VMResult(Outcome.HOST_FAULT, Cause.HOST, detail, stage, None, None, durations)
    detail = f"the guest stopped printing before the {'suite' if suite_began else 'boot'} ended; {log.summary}"
    return VMResult(Outcome.HANG, Cause.KERNEL, detail, stage, None, None, durations)


def judge_lava(opts: RunOptions, log_path: Path, job: Path | None = None) -> RunReport:
    log_path, job = find_inputs(log_path, job)
    log = read_lava_log(log_path)
    opts = options_from_job(dataclasses.replace(opts, dry_run=True), job)
    if m := PROBES_WORD.search(log.console):  # the job ran a subset: the probes it asked for are the selection
        opts.probes = m.group(1).split(",")
    plan = plan_run(opts)
    runs_dir = (opts.runs_dir or paths.default_runs_dir()).resolve()
    identity = {**run_identity(opts), "lava": str(log_path.resolve())}
    run_dir = create_run_dir(runs_dir, opts.profile, kernel_label(opts, plan.default_kernel), identity)
    record = RunRecord.create(run_dir, opts.profile, plan.profile.emulated, time.time())
    point_latest(runs_dir, run_dir)
    shutil.copyfile(log_path, run_dir / "lava-log.yaml")
    (run_dir / "console.log").write_text(log.console)
    t = record_console(run_dir, log.console)
    vm = vm_result(log, t)
    record.update(
        kernel=kernel_record(plan.kernel),
        accel="lava",
        accel_reason="judged from a LAVA job's log",
        qemu_version=log.qemu_version,
        transport="lava",
        lava=lava_record(log, log_path, job, t),
        boot_command=log.boot_command,
        spare=plan.spare.record(),
    )
    main = console_boot("main", run_dir, plan.selection, vm, t, log.console)
    main.terminated = main.died_under()
    facts = RunFacts(opts.profile, plan.profile, False, "", run_dir, plan.spare.record())
    c = conclude(plan.oracle, plan.kernel, plan.selection, [main], facts)
    record.update(**c.results, kernel={**record.data["kernel"], "release": c.release}, warnings=c.warnings)
    for warning in lava_disagreements(log, set(main.doc.by_name())):
        record.warn(warning)
    write_reports(run_dir, c.verdicts, record.data, EMULATED_NOTE)
    record.close()
    if not opts.quiet:
        print_summary(record.data, EMULATED_NOTE)
        print(f"results: {run_dir}")
    return RunReport(run_dir, record.data, c.code)


def lava_record(log: LavaLog, log_path: Path, job: Path | None, t: GuestTranscript) -> dict:
    return {
        "log": str(log_path.resolve()),
        "job": str(job.resolve()) if job else None,
        "job_result": log.job_result,
        "error_type": log.error_type,
        "error_msg": log.error_msg,
        "test_cases": log.cases,
        "seconds": log.seconds,
    }


def lava_disagreements(log: LavaLog, ran: set[str]) -> list[str]:
    """Where LAVA's test cases and the console's KTAP tell different stories (a lost line, a broken shell)."""
    told = {name for name in log.cases if name != "probe-exit"}
    out = []
    if missing := sorted(ran - told):
        out.append(f"LAVA has no test case for {len(missing)} probe(s) the console shows: {', '.join(missing[:5])}")
    if extra := sorted(told - ran):
        out.append(f"LAVA recorded test cases the console has no KTAP result for: {', '.join(extra[:5])}")
    return out
