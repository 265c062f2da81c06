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


def test_kbuild_compiles_with_cc_through_ccache():
    from harness.kernels.kbuild import _cc_argument

    assert _cc_argument(["gcc"], with_ccache=True, chosen=False) == ["CC=ccache gcc"]  # as before: no key moved
    assert _cc_argument(["clang"], with_ccache=True, chosen=True) == ["CC=ccache clang"]
    assert _cc_argument(["/usr/bin/ccache", "gcc-12"], with_ccache=True, chosen=True) == ["CC=/usr/bin/ccache gcc-12"]
    assert _cc_argument(["clang"], with_ccache=False, chosen=True) == ["CC=clang"]
    assert _cc_argument(["gcc"], with_ccache=False, chosen=False) == []  # the Makefile's own gcc
