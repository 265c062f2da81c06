# SPDX-License-Identifier: GPL-2.0-only
"""Progress of long work (a cold kernel build is minutes of silence otherwise).

On a terminal: one updating line, drawn by tqdm.  Elsewhere (a CI log, a pipe): a plain
line every 30 s (DEVMEM_HARNESS_PROGRESS_INTERVAL), since a log keeps every redraw.
Quiet work shows nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

from tqdm import tqdm

INTERVAL_ENV = "DEVMEM_HARNESS_PROGRESS_INTERVAL"
_silenced = False  # a --quiet command: no progress anywhere in it, however deep the work that draws it


def silence() -> None:
    global _silenced
    _silenced = True


class Progress:
    """`what`: done of about `total` `unit`s (total None: not known), elapsed and rate."""

    def __init__(self, what: str, total: int | None, unit: str, stream=None, quiet: bool = False, clock=time.monotonic):
        self.what, self.total, self.unit, self.quiet, self.clock = what, total, unit, quiet or _silenced, clock
        self.stream = stream or sys.stderr
        self.started = self.last_line = clock()
        self.done = 0
        self.interval = float(os.environ.get(INTERVAL_ENV, "30"))
        self.bar = None
        if not self.quiet and self.stream.isatty():
            # A pty that reports no size (script(1), some CI runners' terminals) made tqdm draw nothing.
            sized = _columns(self.stream) > 0
            self.bar = tqdm(
                total=total,
                desc=what,
                unit=f" {unit}",
                file=self.stream,
                leave=False,
                dynamic_ncols=sized,
                ncols=None if sized else 100,
                nrows=None if sized else 20,  # tqdm hides bars below a terminal of 0 rows
            )

    def update(self, done: int) -> None:
        if self.quiet:
            return
        if self.total is not None and done > self.total:
            self.total = done  # more than the estimate (the last build of the tree): it grows
            if self.bar is not None:
                self.bar.total = done
        if self.bar is not None:
            self.bar.update(done - self.done)
        elif self.clock() - self.last_line >= self.interval:
            self.last_line = self.clock()
            print(f"{self.what}: {self.line(done)}", file=self.stream, flush=True)
        self.done = done

    def line(self, done: int) -> str:
        elapsed = self.clock() - self.started
        share = (
            f"{done}/about {self.total} {self.unit} ({100 * done // self.total}%)"
            if self.total
            else f"{done} {self.unit}"
        )
        rate = f", {done / elapsed:.1f} {self.unit}/s" if elapsed > 0 else ""
        return f"{share}, {int(elapsed // 60)}m{int(elapsed % 60):02d}s{rate}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _columns(stream) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):  # not a real terminal (a test's stand-in)
        return 80


def follow(proc: subprocess.Popen, progress: Progress, measure: Callable[[], int]) -> int:
    """Wait for `proc`, showing `measure()` (bytes on disk, lines in a log) once a second; its exit status."""
    try:
        while True:
            try:
                return proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                progress.update(measure())
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        progress.close()
