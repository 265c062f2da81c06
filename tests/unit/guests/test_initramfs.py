# SPDX-License-Identifier: GPL-2.0-only
"""The initramfs writer: newc layout, static busybox, content-addressed cache."""

import stat
import sys
from pathlib import Path

import pytest

from harness.guests import initramfs
from harness.guests.initramfs import Member, cpio_names, is_static_elf, newc_archive


def test_newc_round_trip():
    members = [
        Member("bin", stat.S_IFDIR | 0o755),
        Member("bin/x", stat.S_IFREG | 0o755, b"12345"),
        Member("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
    ]
    archive = newc_archive(members)
    assert archive.startswith(b"070701")
    assert len(archive) % 4 == 0
    assert cpio_names(archive) == ["bin", "bin/x", "dev/console"]


def test_static_elf_detection(tmp_path):
    assert is_static_elf(initramfs.find_busybox())
    assert not is_static_elf(Path(sys.executable).resolve())  # the Python running this is dynamic
    text = tmp_path / "script"
    text.write_text("#!/bin/sh\n")
    assert not is_static_elf(text)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVMEM_HARNESS_CACHE", str(tmp_path))
    return tmp_path


def test_cache_is_keyed_by_content(cache, tmp_path):
    probe = tmp_path / "probe"
    probe.write_bytes(b"\x7fELF-one")
    first = initramfs.build_initramfs(probe)
    assert initramfs.build_initramfs(probe) == first
    probe.write_bytes(b"\x7fELF-two")
    second = initramfs.build_initramfs(probe)
    assert second != first
    names = cpio_names(second.read_bytes())
    assert {"init", "bin/busybox", "bin/devmem-probe", "dev/console"} <= set(names)


def test_modules_and_load_order(cache, tmp_path):
    probe = tmp_path / "probe"
    probe.write_bytes(b"p")
    mod = tmp_path / "pvpanic.ko"
    mod.write_bytes(b"ko")
    names = cpio_names(initramfs.build_initramfs(probe, (mod,), ("pvpanic.ko",)).read_bytes())
    assert "lib/modules/pvpanic.ko" in names and "lib/modules/load-order" in names
