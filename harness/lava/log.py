# SPDX-License-Identifier: GPL-2.0-only
"""What a LAVA job recorded, read back from its log: the guest's console and LAVA's results.

A LAVA job log (lava-run's, tuxrun's --log-file-yaml, or the one a LAVA server lets you
download) is a YAML list of {dt, lvl, msg}: `target` lines are what the guest printed on
its console, `results` lines are LAVA's own actions and the test cases the test
definition reported, and the last `results` line of definition `lava` case `job` says
how the job ended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from ..errors import BadInput

BOOT_COMMAND = re.compile(r"^Boot command: (.*)")
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: a job log has thousands of lines
DEFINITION = "devmem-probes"  # guest-images/lava/devmem-probes.yaml: LAVA prefixes its index ("1_devmem-probes")


@dataclass
class LavaLog:
    console: str  # the guest's console, one target line after another
    cases: dict[str, str] = field(default_factory=dict)  # the definition's test cases: name -> pass/skip/fail
    actions: list[dict] = field(default_factory=list)  # LAVA's own results (definition "lava")
    job_result: str | None = None  # pass/fail, None when the log ends before the job did
    error_type: str | None = None  # LAVA's class of a failed job: Infrastructure, Job, Test, Bug, ...
    error_msg: str | None = None
    boot_command: str | None = None
    qemu_version: str | None = None
    seconds: float | None = None  # the job's first to last log line

    @property
    def summary(self) -> str:
        if self.job_result is None:
            return "the LAVA log ends before the job did"
        if self.job_result == "pass":
            return "LAVA job complete"
        return f"LAVA job incomplete: {self.error_type or 'error'}: {self.error_msg or 'no message'}"


def read_lava_log(path: Path) -> LavaLog:
    """Read a LAVA job log; a file that is not one is a BadInput naming it."""
    try:
        entries = yaml.load(path.read_text(errors="replace"), Loader=LOADER)
    except OSError as exc:
        raise BadInput(f"--lava {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise BadInput(f"--lava {path}{where}: not a LAVA job log (YAML)", "give the job's log.yaml") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "lvl" in e for e in entries):
        raise BadInput(
            f"--lava {path}: not a LAVA job log (a YAML list of dt/lvl/msg)",
            "give lava-run's log, tuxrun's --log-file-yaml, or the log a LAVA server offers",
        )
    return _parse(entries)


def _parse(entries: list[dict]) -> LavaLog:
    log = LavaLog(console="")
    lines: list[str] = []
    for e in entries:
        lvl, msg = e.get("lvl"), e.get("msg")
        if lvl == "target" and isinstance(msg, str):
            lines.append(msg)
        elif lvl == "results" and isinstance(msg, dict):
            _result(log, msg)
        elif lvl in ("info", "debug") and isinstance(msg, str) and (m := BOOT_COMMAND.match(msg)):
            log.boot_command = m.group(1)
    log.console = "\n".join(lines) + ("\n" if lines else "")
    stamps = [_time(e.get("dt")) for e in (entries[0], entries[-1])] if entries else []
    if len(stamps) == 2 and None not in stamps:
        log.seconds = round((stamps[1] - stamps[0]).total_seconds(), 3)
    return log


def _result(log: LavaLog, msg: dict) -> None:
    definition, case = str(msg.get("definition", "")), str(msg.get("case", ""))
    if definition == "lava":
        log.actions.append(msg)
        if case == "job":
            log.job_result = msg.get("result")
            log.error_type, log.error_msg = msg.get("error_type"), msg.get("error_msg")
        elif case == "execute-qemu":
            log.qemu_version = (msg.get("extra") or {}).get("qemu_version")
    elif definition.split("_", 1)[-1] == DEFINITION:
        log.cases[case] = str(msg.get("result"))


def _time(stamp) -> datetime | None:
    try:
        return datetime.fromisoformat(str(stamp))
    except ValueError:
        return None
