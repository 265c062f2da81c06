# SPDX-License-Identifier: GPL-2.0-only
"""Who waits for whom when builds share a tree: real flocks between threads (each holds its own open
file, as separate processes do)."""

import threading
from pathlib import Path

from harness.kernels.kbuild import _holding
from harness.kernels.source_tree import Source


def _holder(src: Source, patches: tuple, build_dir: Path):
    """A thread that holds `_holding(...)` until released; `.entered` is set once it holds it."""
    entered, release = threading.Event(), threading.Event()

    def hold():
        with _holding(src, patches, build_dir):
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    thread.entered, thread.release = entered, release
    return thread


def test_builds_of_one_tree_in_two_build_directories_run_side_by_side(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVMEM_HARNESS_CACHE", str(tmp_path / "cache"))
    debian = Source(tmp_path / "linux", "deb:linux-source-6.12=1", "linux", owned=True)
    first = _holder(debian, (), tmp_path / "bisection-O")
    assert first.entered.wait(5)
    second = _holder(debian, (), tmp_path / "test-O")
    assert second.entered.wait(5), "a build in another O= directory waited for the first"
    same = _holder(debian, (), tmp_path / "bisection-O")
    assert not same.entered.wait(0.5), "two builds in one O= directory ran at once"
    for t in (first, second):
        t.release.set()
    assert same.entered.wait(5)
    same.release.set()


def test_patched_builds_take_turns_at_the_kept_copy_and_plain_builds_never_wait(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVMEM_HARNESS_CACHE", str(tmp_path / "cache"))
    debian = Source(tmp_path / "linux", "deb:linux-source-6.12=1", "linux", owned=True)
    plain = _holder(debian, (), tmp_path / "plain-O")
    assert plain.entered.wait(5)
    patched = _holder(debian, (Path("cc-sim.patch"),), tmp_path / "linux.patched" / "cc-sim-O")
    assert patched.entered.wait(5), "a patched build waited for a plain build of the tree"
    mutant = _holder(debian, (Path("m01.patch"),), tmp_path / "linux.patched" / "mutation-O")
    assert not mutant.entered.wait(0.5), "the kept copy was patched under another build"
    other = _holder(debian, (), tmp_path / "other-O")
    assert other.entered.wait(5), "a plain build waited for a patched one"
    patched.release.set()
    assert mutant.entered.wait(5)
    for t in (plain, mutant, other):
        t.release.set()


def test_a_users_tree_is_patched_in_a_copy_so_it_is_never_held_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVMEM_HARNESS_CACHE", str(tmp_path / "cache"))
    mine = Source(tmp_path / "linux", "tree:abc", "linux", owned=False)
    plain = _holder(mine, (), tmp_path / "a-O")
    assert plain.entered.wait(5)
    patched = _holder(mine, (Path("cc-sim.patch"),), tmp_path / "b-O")
    assert patched.entered.wait(5)
    plain.release.set()
    patched.release.set()
