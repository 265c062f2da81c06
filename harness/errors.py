"""Errors the user sees as one line, each carrying the exit code it maps to."""

from __future__ import annotations

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


class RequirementMissing(HarnessError):
    """The host lacks something the run needs (a tool, a package, hardware)."""

    exit_code = EXIT_REQUIREMENT
