# SPDX-License-Identifier: GPL-2.0-only
"""Errors the user sees as one line, each carrying the exit code it maps to."""

from __future__ import annotations

import errno
from pathlib import Path

# Exit codes of `python -m harness run` (README, "Exit codes").
EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_NO_VERDICT = 2
EXIT_NOT_RUN = 3  # nothing failed, but a probe could not run (no driver, no device): never a silent pass
EXIT_REQUIREMENT = 4
EXIT_INTERRUPTED = 130


class HarnessError(Exception):
    """A problem the user can act on: printed as one line, never a traceback."""

    exit_code = EXIT_NO_VERDICT

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class BadInput(HarnessError):
    """Bad options or files: the run never started."""


class BuildFailed(HarnessError):
    """The kernel did not build (or a patch did not apply): one line with the first error and where the log is."""


class HostFault(HarnessError):
    """The host failed the run (a full or read-only disk, a corrupt cache, QEMU itself): never the kernel's fault."""

    run_dir = None  # the run directory, when the fault came after it was made

    @classmethod
    def from_os_error(cls, exc: OSError, doing: str = "") -> HostFault:
        """The OS's own words and the file: "host fault: No space left on device: /runs/x/console.log"."""
        where = f": {exc.filename}" if exc.filename else ""
        what = f" while {doing}" if doing else ""
        hint = HINTS.get(exc.errno, "")
        return cls(f"host fault{what}: {exc.strerror or exc}{where}", hint or None)


# The OS's words for a host fault, as tools print them.
HOST_FAULT_WORDS = {
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "Read-only file system": errno.EROFS,
    "Input/output error": errno.EIO,
}


def host_fault_in(output: str, doing: str, where: Path | str) -> HostFault | None:
    """A tool failed: if its output is the OS saying the disk is full or read-only, that is a HostFault."""
    for words, code in HOST_FAULT_WORDS.items():
        if words in output:
            return HostFault(f"host fault while {doing}: {words}: {where}", HINTS.get(code))
    return None


# What to do about the usual host faults.
HINTS = {
    errno.ENOSPC: "free space there, or point --runs-dir / DEVMEM_HARNESS_CACHE elsewhere",
    errno.EDQUOT: "free space there, or point --runs-dir / DEVMEM_HARNESS_CACHE elsewhere",
    errno.EROFS: "that file system is read-only: point --runs-dir / DEVMEM_HARNESS_CACHE at a writable one",
    errno.EACCES: "check the permissions, or point --runs-dir / DEVMEM_HARNESS_CACHE elsewhere",
    errno.EIO: "the disk reports I/O errors: check the host",
}


class RequirementMissing(HarnessError):
    """The host lacks something the run needs (a tool, a package, hardware)."""

    exit_code = EXIT_REQUIREMENT
