# SPDX-License-Identifier: GPL-2.0-only
"""Full and read-only file systems under the runs directory and the cache: the host's fault, in its words."""

import pytest

from ..conftest import harness
from .conftest import assert_left_whole, one_error_line, private_cache, run_dir_of, tmpfs

pytestmark = pytest.mark.guest


def test_runs_dir_full(tmp_path):
    with tmpfs(tmp_path / "small", "64k") as runs:
        run = harness("run", runs_dir=runs)
        assert run.returncode == 2, run.stderr[-2000:]
        line = one_error_line(run.stderr)
        # The file that met the full disk is named (console.log, or another of the run's files when a
        # KVM attempt that died at once left little to write first).
        assert "host fault" in line and "No space left on device" in line and str(runs) + "/" in line, line
        r = assert_left_whole(run_dir_of(runs))
        assert (r["outcome"], r["cause"], r["verdict"]) == ("host-fault", "host", "error")
        assert "No space left on device" in r["detail"]
        assert r["probes"] and {p["verdict"] for p in r["probes"]} == {"error"}


def test_runs_dir_read_only(tmp_path):
    with tmpfs(tmp_path / "ro", "1m", read_only=True) as runs:
        run = harness("run", runs_dir=runs)
        assert run.returncode == 2, run.stderr[-2000:]
        line = one_error_line(run.stderr)
        assert "host fault" in line and "Read-only file system" in line and str(runs) in line, line
        assert list(runs.iterdir()) == []  # nothing could be written, and nothing was started


@pytest.mark.parametrize(
    "read_only, words", [(False, "No space left on device"), (True, "Read-only file system")], ids=["full", "read_only"]
)
def test_cache_unwritable(read_only, words, tmp_path):
    with tmpfs(tmp_path / "cache", "256k", read_only=read_only) as cache:
        env = {"DEVMEM_HARNESS_CACHE": str(cache)}
        run = harness("run", "--probe", "devmem.open", runs_dir=tmp_path / "runs", env=env)
        assert run.returncode == 2, run.stderr[-2000:]
        line = one_error_line(run.stderr)
        assert "host fault" in line and words in line and str(cache) in line, line


def test_cache_full_while_fetching_a_kernel(tmp_path):
    """The probe is cached already; the kernel's download and unpacking meet the full disk."""
    cache = private_cache(tmp_path)
    (cache / "kernels").rename(tmp_path / "kernels-aside")
    with tmpfs(cache / "kernels", "2m"):
        run = harness(
            "run", "--probe", "devmem.open", runs_dir=tmp_path / "runs", env={"DEVMEM_HARNESS_CACHE": str(cache)}
        )
        assert run.returncode == 2, run.stderr[-2000:]
        line = one_error_line(run.stderr)
        assert "host fault" in line and "No space left on device" in line and str(cache / "kernels") in line, line
