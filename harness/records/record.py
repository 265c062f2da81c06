# SPDX-License-Identifier: GPL-2.0-only
"""results.json of one run, owned by one small object and rewritten at every step.

The record is written when the run directory is made, before anything slow,
and again after every change, atomically (a temporary file renamed into
place): a run that is interrupted, times out or crashes still says what
happened and how far it got.
"""

from __future__ import annotations

import errno
import shlex
import socket
import sys
import time
from pathlib import Path

from .. import provenance
from ..vocabulary import Cause, Outcome, Verdict
from .results import SCHEMA_VERSION, write_json_atomic

# Space for the last word of a run on a full disk (results.json of a run with every probe in error).
RESERVE = ".reserve"
RESERVE_BYTES = 48 * 1024


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
                    "version": provenance.version(),
                    "commit": provenance.commit(),
                    "command": shlex.join(["devmem-harness", *sys.argv[1:]]),
                    "host": socket.gethostname(),
                },
                "probes": [],
            },
        )
        record.save()
        record.reserve()
        return record

    def save(self) -> None:
        """Write results.json; on a full disk, give up the reserve once so that it still says what happened."""
        try:
            write_json_atomic(self.run_dir / "results.json", self.data)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not self._release_reserve():
                raise
            write_json_atomic(self.run_dir / "results.json", self.data)

    def reserve(self) -> None:
        """Hold RESERVE_BYTES of the run directory's file system for the last results.json of a full disk."""
        with open(self.run_dir / RESERVE, "wb") as f:
            f.write(b"\0" * RESERVE_BYTES)

    def _release_reserve(self) -> bool:
        try:
            (self.run_dir / RESERVE).unlink()
            return True
        except FileNotFoundError:
            return False

    def close(self) -> None:
        """The run is over: the reserve is not needed any more."""
        self._release_reserve()

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

    def fail(self, outcome: Outcome, cause: Cause, detail: str, probes: list[str] = ()) -> None:
        """The run ended without verdicts: every word of why, and every probe it was to run an error."""
        if probes and not self.data.get("probes"):
            no_result = f"no result: {detail}"
            self.data["probes"] = [{"name": p, "verdict": Verdict.ERROR, "reason": no_result} for p in probes]
            self.data["counts"] = {**{str(v): 0 for v in Verdict}, Verdict.ERROR: len(probes)}
        self.update(verdict=Verdict.ERROR, outcome=outcome, cause=cause, detail=detail)
        self.close()

    def fail_quietly(self, outcome: Outcome, cause: Cause, detail: str, probes: list[str] = ()) -> None:
        """fail() on a host that may not let it write: the last results.json that was written stays whole."""
        try:
            self.fail(outcome, cause, detail, probes)
        except OSError:
            pass

    @property
    def started_guest(self) -> bool:
        return self.data.get("outcome") == Outcome.RUNNING
