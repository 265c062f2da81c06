# SPDX-License-Identifier: GPL-2.0-only
"""The host's C compiler as make reads $CC: a command that may carry words of its own (CC="ccache gcc",
as ccache's manual has it), not one program name."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess


def c_compiler() -> list[str]:
    """$CC (default gcc) split as the shell would."""
    return shlex.split(os.environ.get("CC", "")) or ["gcc"]


def found() -> str | None:
    """Where the compiler's program is, or None: for ccache gcc, both must be there."""
    where = [shutil.which(word) for word in c_compiler() if "=" not in word and not word.startswith("-")]
    return where[-1] if where and all(where) else None


def identity() -> str:
    """The first line of `$CC --version`: what a build's products are keyed on."""
    cc = c_compiler()
    try:
        out = subprocess.run([*cc, "--version"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    return out.splitlines()[0] if out else " ".join(cc)
