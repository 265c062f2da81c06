# SPDX-License-Identifier: GPL-2.0-only
"""Patches applied without writing the source: which files a patch touches, the kept copy of a
harness-owned tree (made once, patched and restored build by build, restored after a killed build),
a user's tree's per-build copy.  Real files, real patch(1)."""

import json
import os
from pathlib import Path

import pytest

from harness.errors import BuildFailed
from harness.kernels.kbuild import resolve_patch
from harness.kernels.patching import CARRIES, already_applied, config_patches, kept_copy, patch_files, patched
from harness.kernels.source_tree import Source

ORIGINAL = "line one\nline two\nline three\n"


def _diff(tmp_path: Path, name: str, added: str) -> Path:
    patch = tmp_path / f"{name}.patch"
    patch.write_text(
        "--- a/drivers/char/mem.c\n+++ b/drivers/char/mem.c\n"
        f"@@ -1,3 +1,4 @@\n line one\n+{added}\n line two\n line three\n"
    )
    return patch


@pytest.fixture
def debian(tmp_path) -> Source:
    """A harness-owned tree with an O= directory of its own inside it."""
    tree = tmp_path / "cache" / "sources" / "linux-source-6.12_1" / "linux-source-6.12"
    (tree / "drivers/char").mkdir(parents=True)
    (tree / "drivers/char/mem.c").write_text(ORIGINAL)
    (tree / "Makefile").write_text("all:\n")
    (tree / ".harness-build-0123").mkdir()
    (tree / ".harness-build-0123" / "vmlinux.o").write_text("objects")
    return Source(tree, "deb:linux-source-6.12=1", "linux-source-6.12", owned=True)


def test_patch_files():
    p = Path(__file__).parents[1] / "data" / "two-files.patch"
    assert patch_files(p) == ["drivers/char/mem.c", "kernel/resource.c"]


def test_shipped_patches_say_they_are_test_only_and_touch_what_they_claim():
    sim = resolve_patch("cc-sim")
    assert "TEST-ONLY" in sim.read_text().split("---", 1)[0]
    assert patch_files(sim) == ["arch/x86/coco/core.c"]
    assert 'early_param("cc_sim"' in sim.read_text()
    fix = resolve_patch("devmem-cc-eperm")
    assert patch_files(fix) == ["drivers/char/mem.c"]
    assert "cc_platform_has(CC_ATTR_GUEST_MEM_ENCRYPT)" in fix.read_text()


def test_a_patch_already_in_a_tree_is_recognised(tmp_path):
    tree = tmp_path / "tree"
    (tree / "drivers/char").mkdir(parents=True)
    original = "line one\nline two\nline three\n"
    (tree / "drivers/char/mem.c").write_text(original)
    patch = tmp_path / "p.patch"
    patch.write_text(
        "--- a/drivers/char/mem.c\n+++ b/drivers/char/mem.c\n"
        "@@ -1,3 +1,4 @@\n line one\n+added\n line two\n line three\n"
    )
    assert not already_applied(tree, patch)
    (tree / "drivers/char/mem.c").write_text("line one\nadded\nline two\nline three\n")
    assert already_applied(tree, patch)


def test_only_a_patch_that_can_change_kconfig_is_applied_to_configure(tmp_path):
    code = [resolve_patch(n) for n in ("cc-sim", "devmem-cc-eperm", "devmem-close-low-ram-mmap")]
    assert config_patches(tuple(code)) == ()
    kconfig = tmp_path / "kconfig.patch"
    kconfig.write_text("--- a/drivers/char/Kconfig\n+++ b/drivers/char/Kconfig\n@@ -1 +1 @@\n-a\n+b\n")
    assert config_patches((code[0], kconfig)) == (kconfig,)


def test_a_patched_build_reads_a_kept_copy_and_never_writes_the_source(debian, tmp_path):
    source_mem = debian.path / "drivers/char/mem.c"
    with patched(debian, (_diff(tmp_path, "a", "added by a"),), tmp_path / "O") as tree:
        assert tree == kept_copy(debian) == debian.path.with_name("linux-source-6.12.patched")
        assert "added by a" in (tree / "drivers/char/mem.c").read_text()
        assert source_mem.read_text() == ORIGINAL, "the source was written"
        assert (tree / "Makefile").stat().st_ino == (debian.path / "Makefile").stat().st_ino, "not hard-linked"
        assert not list(tree.glob(".harness-build-*")), "the source's objects were copied"
        assert json.loads((tree / CARRIES).read_text()) == ["drivers/char/mem.c"]
        patched_at = (tree / "drivers/char/mem.c").stat().st_mtime_ns
    assert (tree / "drivers/char/mem.c").read_text() == ORIGINAL and not (tree / CARRIES).exists()
    assert (tree / "drivers/char/mem.c").stat().st_mtime_ns >= patched_at, "restored older: make would not rebuild"
    made = (tree / "Makefile").stat().st_ctime_ns
    with patched(debian, (_diff(tmp_path, "b", "added by b"),), tmp_path / "O") as again:
        assert again == tree and (again / "Makefile").stat().st_ctime_ns == made, "the copy was made again"
        assert "added by b" in (again / "drivers/char/mem.c").read_text()
        assert "added by a" not in (again / "drivers/char/mem.c").read_text()
    with patched(debian, (), tmp_path / "O") as plain:
        assert plain == debian.path


def test_a_copy_left_patched_by_a_killed_build_is_restored_before_the_next(debian, tmp_path):
    killed = patched(debian, (_diff(tmp_path, "a", "added by a"),), tmp_path / "O")
    tree = killed.__enter__()  # and never left: SIGKILL
    assert "added by a" in (tree / "drivers/char/mem.c").read_text()
    with patched(debian, (_diff(tmp_path, "b", "added by b"),), tmp_path / "O") as tree:
        text = (tree / "drivers/char/mem.c").read_text()
        assert "added by b" in text and "added by a" not in text
    assert (debian.path / "drivers/char/mem.c").read_text() == ORIGINAL


def test_a_copy_half_made_is_made_again(debian, tmp_path):
    half = kept_copy(debian)
    (half / "drivers").mkdir(parents=True)  # cp -al killed half-way, renamed by hand: no completion mark
    stale = half.with_name(f"{half.name}.tmp999999")
    stale.mkdir()
    with patched(debian, (_diff(tmp_path, "a", "added"),), tmp_path / "O") as tree:
        assert (tree / "Makefile").is_file() and "added" in (tree / "drivers/char/mem.c").read_text()
    assert not stale.exists()


def test_a_patch_that_does_not_apply_is_one_line_and_the_copy_is_restored(debian, tmp_path):
    wrong = tmp_path / "wrong.patch"
    wrong.write_text("--- a/drivers/char/mem.c\n+++ b/drivers/char/mem.c\n@@ -1,2 +1,2 @@\n-no such\n+line\n zz\n")
    with pytest.raises(BuildFailed, match=r"--patch .*wrong.patch: does not apply") as exc:
        with patched(debian, (_diff(tmp_path, "a", "added"), wrong), tmp_path / "O"):
            pass
    assert "\n" not in exc.value.line()
    copy = kept_copy(debian)
    assert (copy / "drivers/char/mem.c").read_text() == ORIGINAL and not (copy / CARRIES).exists()
    assert not list(copy.rglob("*.rej")) and not list(copy.rglob("*.orig"))


def test_a_users_tree_is_patched_in_a_copy_made_for_the_build(tmp_path):
    mine = tmp_path / "linux"
    (mine / "drivers/char").mkdir(parents=True)
    (mine / "drivers/char/mem.c").write_text(ORIGINAL)
    src = Source(mine, "tree:abc", "linux", owned=False)
    with patched(src, (_diff(tmp_path, "a", "added"),), tmp_path / "O") as tree:
        assert tree == tmp_path / "O" / "patched-tree" and "added" in (tree / "drivers/char/mem.c").read_text()
    assert (mine / "drivers/char/mem.c").read_text() == ORIGINAL
    assert not os.path.exists(kept_copy(src))
