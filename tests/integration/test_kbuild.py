# SPDX-License-Identifier: GPL-2.0-only
"""Kernels built from Debian's 6.12 source with the kconfigs/ fragments: real builds, real boots.

Each distinct config is a full build on a cold machine (about 8 to 9 minutes
on 2 cores); the cache makes every later run a hit.  Marked `kbuild` so that
`make test-quick` can skip them; `make test` (and CI) runs them.
"""

import re
import time
from pathlib import Path

import pytest

from harness.kernels.source_tree import IN_TREE_BUILD

from ..conftest import harness

pytestmark = [pytest.mark.guest, pytest.mark.kbuild, pytest.mark.slow]

SOURCE = "deb:linux-source-6.12"


def test_dropped_symbol_names_the_symbol_and_its_dependency(tmp_path):
    fragment = tmp_path / "broken.config"
    fragment.write_text("# CONFIG_STRICT_DEVMEM is not set\nCONFIG_IO_STRICT_DEVMEM=y\n")
    run = harness("kernel", "build", "--source", SOURCE, "--kconfig", str(fragment), timeout=1800)
    assert run.returncode == 2
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, run.stderr
    assert "CONFIG_IO_STRICT_DEVMEM=y was dropped" in lines[0]
    assert "depends on STRICT_DEVMEM" in lines[0] and "off here: CONFIG_STRICT_DEVMEM" in lines[0]


@pytest.mark.parametrize("config", ["strict", "nostrict", "strict-no-io"])
def test_built_kernel_boots_and_passes(tmp_path, config):
    run = harness("run", "--source", SOURCE, "--kconfig", config, runs_dir=tmp_path, timeout=3000)
    assert run.returncode == 0, run.stderr[-3000:]
    r = run.results
    assert r["kernel"]["source"].startswith("build:deb:linux-source-6.12=")
    assert {p["verdict"] for p in r["probes"]} <= {"pass", "known-issue"}, [
        (p["name"], p["verdict"], p["reason"]) for p in r["probes"] if p["verdict"] not in ("pass", "known-issue")
    ]
    obs = {p["name"]: p["observation"] for p in r["probes"]}
    if config == "strict":
        assert obs["devmem.read.ram-below-1m"]["data"] == "zeros"
        assert obs["devmem.revoke.bar-on-bind"]["outcome"] == "SIGBUS"
        assert obs["pcisysfs.revoke.bar-on-bind"]["outcome"] == "SIGBUS"
    elif config == "nostrict":
        assert obs["devmem.read.ram-below-1m"]["data"] == "nonzero"  # real data, no zeroing
        assert obs["devmem.read.ram-above-1m"]["outcome"] == "ok"
        assert obs["devmem.write.ram-below-1m"]["data"] == "persisted"
        assert obs["devmem.revoke.bar-on-bind"]["revoked"] == "no"
    else:
        assert obs["devmem.read.ram-below-1m"]["data"] == "zeros"
        assert obs["devmem.mmap.busy-mmio"]["outcome"] == "ok"
        assert obs["devmem.revoke.bar-on-bind"]["revoked"] == "no"
        assert obs["pcisysfs.revoke.bar-on-bind"]["revoked"] == "no"
        assert obs["pcisysfs.mmap.bound-bar"]["outcome"] == "ok"


def test_second_build_is_a_cache_hit_and_a_patch_rebuilds_incrementally(tmp_path):
    first = harness("kernel", "build", "--source", SOURCE, "--kconfig", "strict", timeout=3000)
    assert first.returncode == 0, first.stderr
    products = Path(re.search(r"^kernel: (\S+)$", first.stdout, re.M).group(1)).parent
    sealed = (products / "build.json").stat().st_mtime_ns
    again = harness("kernel", "build", "--source", SOURCE, "--kconfig", "strict", timeout=600)
    assert again.returncode == 0, again.stderr
    assert "cache hit" in again.stdout and f"kernel: {products}/bzImage" in again.stdout
    assert (products / "build.json").stat().st_mtime_ns == sealed  # nothing built, nothing sealed again
    # Changes this run has never built (the products of earlier runs are cached by identity).  The first
    # patched build of the tree may make its kept copy and O= directory (ccache serves the objects); the
    # second is the one-file change.
    marker = f"a one-file change {time.time_ns()}"  # ours alone: another run may patch the tree meanwhile
    for name, text in (("first", f"{marker}, first"), ("comment", marker)):
        patch = tmp_path / f"{name}.patch"
        patch.write_text(
            "--- a/drivers/char/mem.c\n+++ b/drivers/char/mem.c\n@@ -1,3 +1,4 @@\n"
            f" // SPDX-License-Identifier: GPL-2.0\n+/* devmem-harness: {text} */\n"
            " /*\n  *  linux/drivers/char/mem.c\n"
        )
    first = harness(
        "kernel",
        "build",
        "--source",
        SOURCE,
        "--kconfig",
        "strict",
        "--patch",
        str(tmp_path / "first.patch"),
        timeout=1800,
    )
    assert first.returncode == 0, first.stderr
    progress = {"DEVMEM_HARNESS_PROGRESS_INTERVAL": "0.5"}  # not a terminal: a plain line per interval
    build = ("kernel", "build", "--source", SOURCE, "--kconfig", "strict", "--patch", str(patch))
    rebuilt = harness(*build, timeout=1800, env=progress)
    assert rebuilt.returncode == 0, rebuilt.stderr
    lines = [ln for ln in rebuilt.stderr.splitlines() if ln.startswith("kernel build (")]
    assert lines and re.search(r"\d+(/about \d+)? files( \(\d+%\))?, \dm\d\ds", lines[-1]), rebuilt.stderr[-2000:]
    assert "built in" in rebuilt.stdout
    # Incremental, counted rather than timed (a loaded machine is slow, not wrong): the changed file and
    # what links it into bzImage, never the thousands of a full build.
    log = Path(re.search(r"^kernel: (\S+)$", rebuilt.stdout, re.M).group(1)).parent / "build.log"
    compiled = re.findall(r"^\s+(?:CC|AS)(?: \[M\])?\s+(\S+)", log.read_text(), re.M)
    assert "drivers/char/mem.o" in compiled and len(compiled) <= 12, compiled
    # The cached source was never written; its kept copy is restored after the build.
    from harness import paths

    (mem_c,) = (paths.cache_dir() / "sources").glob("linux-source-6.12_*/linux-source-6.12/drivers/char/mem.c")
    assert marker not in mem_c.read_text()
    assert f"linux-source-6.12.patched/{IN_TREE_BUILD}" in str(log), log
    copied = mem_c.parents[3] / "linux-source-6.12.patched" / "drivers/char/mem.c"
    assert copied.read_text() == mem_c.read_text()


@pytest.mark.parametrize(
    "fragment",
    ["strict", "nostrict", "strict-no-io", "nodevmem", "lockdown-forced", "tdx-guest", "snp-guest", "cc-sim"],
)
def test_every_shipped_fragment_survives_olddefconfig(tmp_path, fragment):
    """Config only (seconds, no compile): every symbol a shipped fragment asks for is still set after
    tinyconfig + base + fragment + olddefconfig. tdx-guest once lost INTEL_TDX_GUEST to EFI_STUB."""
    from harness.kernels.kbuild import BuildRequest, normalised_config, resolve_fragment
    from harness.kernels.kconfig import parse_config

    # normalised_config checks every symbol the fragments asked for (verify_config), as a build does.
    config = parse_config(normalised_config(BuildRequest(SOURCE, (resolve_fragment(fragment),), workspace="fragments")))
    assert config["DEVMEM"] == ("n" if fragment == "nodevmem" else "y")
