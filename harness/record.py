"""results.json of one run, owned by one small object and rewritten at every step.

The record is written when the run directory is made, before anything slow,
and again after every change, atomically (a temporary file renamed into
place): a run that is interrupted, times out or crashes still says what
happened and how far it got.
"""

from __future__ import annotations

import shlex
import socket
import sys
import time
from pathlib import Path

from . import __version__
from .results import SCHEMA_VERSION, write_json_atomic
from .vocabulary import Cause, Outcome, Verdict


class RunRecord:
    def __init__(self, run_dir: Path, data: dict):
        self.run_dir = run_dir
        self.data = data

    @classmethod
    def create(cls, run_dir: Path, profile: str, emulated: bool, started: float) -> RunRecord:
        record = cls(
            run_dir,
            {
                "schema_version": SCHEMA_VERSION,
                "verdict": Verdict.ERROR,
                "outcome": Outcome.PREPARING,
                "cause": None,
                "detail": "the run stopped before the guest was started",
                "profile": profile,
                "emulated": emulated,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
                "harness": {
                    "version": __version__,
                    "command": shlex.join(["devmem-harness", *sys.argv[1:]]),
                    "host": socket.gethostname(),
                },
                "probes": [],
            },
        )
        record.save()
        return record

    def save(self) -> None:
        write_json_atomic(self.run_dir / "results.json", self.data)

    def update(self, **fields) -> None:
        self.data.update(fields)
        self.save()

    def warn(self, message: str) -> None:
        self.data.setdefault("warnings", []).append(message)
        self.save()

    def first_boot_command(self, cmdline: str, qemu: str, argv: list[str]) -> None:
        """The main boot's kernel command line and QEMU argv (an isolated boot's only when it is the first)."""
        if "cmdline" not in self.data:
            self.update(cmdline=cmdline, qemu={"binary": qemu, "argv": argv})

    def fail(self, outcome: Outcome, cause: Cause, detail: str) -> None:
        """The run ended without verdicts: every word of why."""
        self.update(verdict=Verdict.ERROR, outcome=outcome, cause=cause, detail=detail)

    @property
    def started_guest(self) -> bool:
        return self.data.get("outcome") == Outcome.RUNNING
