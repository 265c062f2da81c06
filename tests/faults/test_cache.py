# SPDX-License-Identifier: GPL-2.0-only
"""A cache that cannot poison a run: each kind of cached artifact corrupted, and found out before use."""

import json
import os
import subprocess
import sys

import pytest

from harness import paths

from ..conftest import REPO, harness
from .conftest import assert_cache_clean, planting_in_the_shared_cache, private_cache

pytestmark = pytest.mark.guest


def default_kernel_dir(cache):
    (k,) = (cache / "kernels").glob("linux-image-6.12.107+deb12-amd64-unsigned_*")
    return k


def flip_a_byte(path, at=None):
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if at is None else at
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def run_on(cache, tmp_path, *args):
    env = {"DEVMEM_HARNESS_CACHE": str(cache)}
    return harness("run", "--probe", "devmem.open,devport.open", *args, runs_dir=tmp_path / "runs", env=env)


def rejected(run, what):
    warnings = run.results.get("warnings") or []
    return [w for w in warnings if w.startswith("cache:") and "does not match its SHA-256 seal" in w and what in w]


def test_truncated_kernel_is_refetched(tmp_path):
    cache = private_cache(tmp_path)
    image = default_kernel_dir(cache) / "vmlinuz"
    os.truncate(image, 3 * 1024 * 1024)
    run = run_on(cache, tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert rejected(run, "vmlinuz") and run.results["kernel"]["fetched"] is True
    assert image.stat().st_size > 3 * 1024 * 1024
    assert_cache_clean(cache)


def test_corrupt_module_is_refetched(tmp_path):
    cache = private_cache(tmp_path)
    flip_a_byte(default_kernel_dir(cache) / "modules" / "e1000.ko")
    run = run_on(cache, tmp_path, "--probe", "devmem.revoke.bar-on-bind")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert rejected(run, "e1000.ko")
    assert run.probe("devmem.revoke.bar-on-bind")["observation"]["outcome"] == "SIGBUS"  # the module loaded
    assert_cache_clean(cache)


def test_corrupt_initramfs_is_rewritten(tmp_path):
    cache = private_cache(tmp_path)
    archives = sorted((cache / "initramfs").glob("*.cpio"))
    for archive in archives:
        flip_a_byte(archive)
    run = run_on(cache, tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    (used,) = rejected(run, "initramfs")
    assert run.results["initramfs"] in used
    assert_cache_clean(cache)


def test_corrupt_probe_is_recompiled(tmp_path):
    cache = private_cache(tmp_path)
    for probe in (cache / "probe").glob("*/devmem-probe"):
        flip_a_byte(probe, at=100)
    run = run_on(cache, tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert rejected(run, "devmem-probe")
    assert_cache_clean(cache)


@pytest.mark.kbuild
def test_corrupt_built_kernel_is_rebuilt(tmp_path):
    """In the shared cache: the strict build's bzImage changed; the rebuild (incremental) restores it."""
    from harness.kernels.kbuild import BuildRequest, build_kernel, resolve_fragment

    source = "deb:linux-source-6.12"
    with planting_in_the_shared_cache():
        built = build_kernel(BuildRequest(source, (resolve_fragment("strict"),)))
        flip_a_byte(built.kernel.image)
        strict = ("--source", source, "--kconfig", "strict")
        run = harness("run", *strict, "--probe", "devmem.open", runs_dir=tmp_path / "runs", timeout=3000)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "does not match its SHA-256 seal" in run.stderr and "built again" in run.stderr
    assert_cache_clean(paths.cache_dir())


@pytest.mark.slow
def test_corrupt_disk_image_is_rebuilt(tmp_path):
    """In the shared cache: the SSH guests' disk image changed; it is built again and the SSH run passes."""
    from harness.guests.image import build_image
    from harness.kernels.kernel import resolve_kernel

    with planting_in_the_shared_cache():
        image, _, _ = build_image(resolve_kernel(None, None))
        flip_a_byte(image.path)
        run = harness("run", "--transport", "ssh", "--probe", "devmem.open", runs_dir=tmp_path / "runs", timeout=3000)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert rejected(run, "disk.qcow2") or "disk.qcow2 does not match its SHA-256 seal" in run.stderr
    assert_cache_clean(paths.cache_dir())


def test_two_harnesses_on_a_cold_cache(tmp_path):
    """Both pass; the kernel is downloaded once: the second waits on the cache lock and finds it."""
    cache = tmp_path / "cold"
    env = {**os.environ, "DEVMEM_HARNESS_CACHE": str(cache)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "--probe", "devmem.open", "--runs-dir", str(tmp_path / f"r{i}")],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    results = [json.loads((tmp_path / f"r{i}" / "latest" / "results.json").read_text()) for i in (1, 2)]
    assert sorted(r["kernel"]["fetched"] for r in results) == [False, True]
    assert_cache_clean(cache)
