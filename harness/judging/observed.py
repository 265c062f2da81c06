# SPDX-License-Identifier: GPL-2.0-only
"""What a run observed, in the shape judging takes it: how a guest ended and what one boot printed.

The guests wing fills these in (a QEMU process's ending, a boot's console parsed into
sections and KTAP); judging reads them and nothing else of the guest, so a verdict is a
function of observations and can be computed again from a recorded transcript.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..vocabulary import Cause, Outcome, Stage
from .console import GuestTranscript
from .ktap import KtapDocument

RUNNING = re.compile(r"^# running: \d+ (\S+)", re.M)


@dataclass
class VMResult:
    """What happened to the guest, independent of what the probes observed."""

    outcome: Outcome
    cause: Cause | None  # None when completed
    detail: str
    stage: Stage  # the stage the guest was in when it ended
    qemu_exit: int | None
    qemu_signal: int | None
    durations: dict[str, float] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    host_memory: dict | None = None  # the host's look at guest memory (guests/host_memory.py), if taken


@dataclass
class Boot:
    """One guest boot and what it printed."""

    name: str  # "main", "resume-N" or the isolated probe's name
    directory: Path
    probes: list[str]
    vm: VMResult
    transcript: GuestTranscript
    doc: KtapDocument
    console_tail: tuple[str, ...] = ()  # the console's last lines, for a termination's record
    kernel_spoke: bool = True  # the kernel printed its banner ("Linux version ...") on the console
    terminated: str | None = None  # the probe the guest died under, if it died during the probes

    def died_under(self) -> str | None:
        """The probe that was running when the guest died, from the probe's "# running:" lines."""
        if self.vm.outcome in (Outcome.COMPLETED, Outcome.INTERRUPTED) or self.vm.stage != Stage.PROBES:
            return None
        reported = set(self.doc.by_name())
        running = RUNNING.findall(self.transcript.sections.get("ktap", ""))
        # Only a probe that had started and not reported; a guest that died in its init died under none.
        return running[-1] if running and running[-1] not in reported else None
