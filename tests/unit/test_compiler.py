# SPDX-License-Identifier: GPL-2.0-only
"""$CC as make reads it: a command with words of its own (CC="ccache gcc")."""

import shutil

from harness import compiler


def test_cc_is_a_command_with_words_of_its_own(monkeypatch):
    monkeypatch.setenv("CC", "env gcc")  # a wrapper in front, as ccache is: env is on every host
    assert compiler.c_compiler() == ["env", "gcc"]
    assert compiler.found() == shutil.which("gcc")
    assert compiler.identity().startswith("gcc")
    monkeypatch.setenv("CC", "env no-such-cc")
    assert compiler.found() is None
    monkeypatch.delenv("CC")
    assert compiler.c_compiler() == ["gcc"]
