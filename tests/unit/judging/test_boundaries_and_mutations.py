# SPDX-License-Identifier: GPL-2.0-only
"""Boundary probes, tightenings and the mutation set: synthetic observations against the real rules.

The mutation set is data (bench/mutations/*.patch); these tests check its shape
(every patch says what it breaks, equivalents carry their argument) and that
it applies to the tree it was written for when that tree is in the cache.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from harness import paths
from harness.errors import BadInput
from harness.judging.oracle import Oracle

from .test_oracle_history import facts, judge, obs

MUTATIONS = paths.REPO_ROOT / "bench" / "mutations"


@pytest.fixture(scope="module")
def oracle():
    return Oracle.load()


def _score_module():
    spec = importlib.util.spec_from_file_location("mutation_score", paths.REPO_ROOT / "bench" / "mutation_score.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation_score"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ tightenings are never regressions


@pytest.mark.parametrize(
    "probe, observed",
    [
        ("devmem.open", {"outcome": "EPERM"}),
        ("devport.open", {"outcome": "EPERM"}),
        ("devmem.read.ram-below-1m", {"outcome": "EPERM"}),
        ("devmem.write.ram-below-1m", {"outcome": "EPERM"}),
        ("pcisysfs.write.io-bar-2", {"outcome": "EPERM"}),
        ("pcisysfs.write.config", {"outcome": "EPERM"}),
    ],
)
def test_a_stricter_kernel_passes_and_says_so(oracle, probe, observed):
    v = judge(oracle, probe, obs(**observed), facts())
    assert v.verdict == "pass" and "a tightening, not a regression" in v.reason, v


def test_looser_is_still_a_failure(oracle):
    assert judge(oracle, "devmem.read.ram-above-1m", obs("ok", data="nonzero"), facts()).verdict == "fail"
    assert judge(oracle, "devmem.read.ram-below-1m", obs("ok", data="nonzero"), facts()).verdict == "fail"
    # A different errno is an ABI change, not a tightening.
    assert judge(oracle, "devmem.read.ram-above-1m", obs("EACCES"), facts()).verdict == "fail"


def test_probes_behind_a_refused_node_are_expected_skips(oracle):
    refused = obs(reason="open(/dev/port) refused: EPERM", skip="open", path="/dev/port", errno="EPERM")
    v = judge(oracle, "devport.read.port-0x80", refused, facts())
    assert v.verdict == "skip" and v.rule == "node-refused-stricter", v
    # Lockdown's own reason still comes first.
    locked = judge(oracle, "devport.read.port-0x80", refused, facts(cmdline="lockdown=integrity"))
    assert locked.rule == "lockdown-refuses-nodes"


def test_tighter_needs_its_title(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "probes:\n  devmem.open:\n    - expect: {outcome: ok}\n      tighter: {observed: {outcome: EPERM}}\n"
    )
    with pytest.raises(BadInput, match="tighter needs 'observed' and 'title'"):
        Oracle.load(bad)


# ------------------------------------------------------------------ the boundary probes' rules


def test_spans_are_refused_whole_on_strict_and_by_the_pat_copy_before_6_16(oracle):
    for probe in ("devmem.mmap.span-rom-ram", "devmem.mmap.span-ram-end"):
        assert judge(oracle, probe, obs("EPERM"), facts()).verdict == "pass"
        assert judge(oracle, probe, obs("ok"), facts()).verdict == "fail"  # a check of one end only
        nostrict = dict(STRICT_DEVMEM="n", IO_STRICT_DEVMEM="n")
        assert judge(oracle, probe, obs("EINVAL"), facts(**nostrict)).verdict == "pass"
        assert judge(oracle, probe, obs("ok"), facts(version="6.16.1", **nostrict)).verdict == "pass"


def test_partial_revocation_fails(oracle):
    for probe in ("devmem.revoke.bar-on-bind", "devmem.revoke.private-cow", "devmem.revoke.forked-child"):
        assert judge(oracle, probe, obs("SIGBUS", revoked="yes"), facts()).verdict == "pass"
        partly = judge(oracle, probe, obs("ok", revoked="partly", first="SIGBUS", last="ok"), facts())
        assert partly.verdict == "fail", partly
        assert judge(oracle, probe, obs("ok", revoked="no"), facts(cmdline="iomem=relaxed")).verdict == "pass"
        old = judge(oracle, probe, obs("ok", revoked="no"), facts(version="5.7.19"))
        assert old.verdict == "known-issue" and "3234ac664a87" in old.reason


def test_phys_limit_edges(oracle):
    assert judge(oracle, "devmem.mmap.last-phys-page", obs("ok"), facts()).verdict == "pass"
    assert judge(oracle, "devmem.mmap.last-phys-page", obs("EINVAL"), facts()).verdict == "fail"
    assert judge(oracle, "devmem.mmap.span-phys-limit", obs("EINVAL"), facts()).verdict == "pass"
    assert judge(oracle, "devmem.mmap.span-phys-limit", obs("ok"), facts()).verdict == "fail"
    assert judge(oracle, "devmem.mmap.span-phys-limit", obs("ok"), facts(version="4.14.336")).verdict == "known-issue"


def test_port_and_sysfs_edges(oracle):
    assert judge(oracle, "devport.read.position", obs("ok", ret="2", pos="0x82"), facts()).verdict == "pass"
    assert judge(oracle, "devport.read.position", obs("ok", ret="2", pos="0x80"), facts()).verdict == "fail"
    assert judge(oracle, "devport.write.past-65535", obs("ok", ret="1"), facts()).verdict == "fail"
    assert judge(oracle, "pcisysfs.read.config-no-admin", obs("ok", ret="256"), facts()).verdict == "fail"
    assert judge(oracle, "pcisysfs.read.io-bar-straddle", obs("ok", ret="2"), facts()).verdict == "pass"
    lockdown = facts(cmdline="lockdown=integrity")
    assert judge(oracle, "pcisysfs.mmap.past-bar-end", obs("EPERM"), lockdown).verdict == "pass"


# ------------------------------------------------------------------ the mutation set


def test_every_mutation_says_what_it_changes():
    score = _score_module()
    loaded = [score.load(p) for p in sorted(MUTATIONS.glob("*.patch"))]
    kinds = [m.kind for m in loaded]
    assert kinds.count("mutant") + kinds.count("equivalent") >= 30
    assert kinds.count("tightening") >= 5
    for m in loaded:
        assert len(m.what) > 20, m.name
        assert m.kind != "equivalent" or len(m.argument) > 80, f"{m.name}: an equivalent mutant needs its argument"
        assert "+++ b/" in m.path.read_text(), m.name


def test_a_patch_without_its_line_is_refused(tmp_path):
    score = _score_module()
    bare = tmp_path / "m99-bare.patch"
    bare.write_text("--- a/drivers/char/mem.c\n+++ b/drivers/char/mem.c\n")
    with pytest.raises(SystemExit, match="line 1 must be 'Breaks: ...' or 'Tightens: ...'"):
        score.load(bare)


def test_every_mutation_applies_to_debian_6_12():
    trees = sorted((paths.cache_dir() / "sources").glob("linux-source-6.12_*/linux-source-6.12"))
    if not trees:
        pytest.skip("Debian's 6.12 source is not in the cache yet (make mutation-score or make test fetches it)")
    for patch in sorted(MUTATIONS.glob("*.patch")):
        cmd = ["patch", "-p1", "--dry-run", "--batch", "--silent", "-i", str(patch)]
        proc = subprocess.run(cmd, cwd=trees[-1], capture_output=True, text=True)
        assert proc.returncode == 0, f"{patch.name}: {proc.stdout}{proc.stderr}"


def test_the_fix_shipped_for_the_hole_is_the_first_tightening():
    shipped = (paths.REPO_ROOT / "kconfigs" / "patches" / "devmem-close-low-ram-mmap.patch").read_text()
    mutation = (MUTATIONS / "fix01-close-low-ram-mmap.patch").read_text()
    assert "devmem_is_allowed(pfn) != 1" in shipped and "devmem_is_allowed(pfn) != 1" in mutation
    assert Path(MUTATIONS / "fix01-close-low-ram-mmap.patch").read_text().startswith("Tightens: ")
