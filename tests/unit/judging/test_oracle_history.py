# SPDX-License-Identifier: GPL-2.0-only
"""Verdicts on every kernel people run: version boundaries, unknown versions, masks, skips that mean something.

Synthetic facts and observations; each boundary is checked on both sides against the
commit that moved it (the same commits the README's version table lists).
"""

import xml.etree.ElementTree as ET

import pytest

from harness.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_NO_VERDICT, EXIT_NOT_RUN, EXIT_PASS, BadInput
from harness.judging.ktap import KtapResult
from harness.judging.oracle import Oracle, derive_facts
from harness.judging.verdicts import exit_code, overall_verdict, worst_exit
from harness.records.results import write_junit

from . import test_oracle

DEBIAN = {**test_oracle.DEBIAN, "E1000": "m", "MODULE_SIG": "y", "MODULE_SIG_ALL": "y"}


@pytest.fixture(scope="module")
def oracle():
    return Oracle.load()


def facts(version="6.12.107", cmdline="", kind="plain", **config):
    return derive_facts({**DEBIAN, **config}, cmdline, version, kind=kind)


def obs(outcome=None, reason=None, **fields):
    """A KTAP result: an observation, or (with `reason`) a SKIP whose skip=... fields are in `fields`."""
    observation = {"outcome": outcome, **fields} if outcome else dict(fields)
    return KtapResult(1, "x", outcome == "ok", "SKIP" if reason else None, reason or "", observation=observation)


def judge(oracle, probe, observation, f, **kw):
    return oracle.judge(probe, observation, f, **kw)


# ------------------------------------------------------------------ each boundary, both sides

BOUNDARIES = [
    # probe, commit, last version before, first version with it, what older kernels show, what newer ones show
    (
        "devmem.read.ram-below-1m",
        "a4866aa81251",
        "4.10.17",
        "4.11",
        {"outcome": "ok", "data": "nonzero"},
        {"outcome": "ok", "data": "zeros"},
    ),
    (
        "devmem.write.ram-below-1m",
        "a4866aa81251",
        "4.10",
        "4.11.0",
        {"outcome": "ok", "ret": "8", "data": "persisted"},
        {"outcome": "ok", "ret": "8", "data": "dropped"},
    ),
    ("devmem.mmap.beyond-phys-bits", "be62a3204406", "4.14.336", "4.15", {"outcome": "ok"}, {"outcome": "EINVAL"}),
    (
        "devmem.revoke.bar-on-bind",
        "3234ac664a87",
        "5.7.19",
        "5.8",
        {"outcome": "ok", "revoked": "no"},
        {"outcome": "SIGBUS", "revoked": "yes"},
    ),
    (
        "pcisysfs.revoke.bar-on-bind",
        "636b21b50152",
        "5.10.223",
        "5.12",
        {"outcome": "ok", "revoked": "no"},
        {"outcome": "SIGBUS", "revoked": "yes"},
    ),
]


@pytest.mark.parametrize("probe, commit, before, since, old, new", BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_a_kernel_that_predates_a_protection_is_a_known_issue_with_its_commit(
    oracle, probe, commit, before, since, old, new
):
    older, newer = facts(before), facts(since)
    v = judge(oracle, probe, obs(**old), older)
    assert v.verdict == "known-issue", v.reason
    assert commit in v.link and f"predates {commit}" in v.reason and f"(v{since.rsplit('.', 1)[0]}" in v.reason
    # The same observation on a kernel that has the commit is a regression.
    assert judge(oracle, probe, obs(**old), newer).verdict == "fail"
    # The new behaviour passes on both sides (a stable backport is not a failure).
    assert judge(oracle, probe, obs(**new), newer).verdict == "pass"
    assert judge(oracle, probe, obs(**new), older).verdict == "pass"
    # Anything else fails on both sides, naming both expectations.
    other = judge(oracle, probe, obs("EIO"), older)
    assert other.verdict == "fail" and f"before v{since.rsplit('.', 1)[0]}" in other.expected


def test_revocation_boundaries_only_where_io_strict_revokes(oracle):
    # iomem=relaxed and IO_STRICT_DEVMEM=n never revoke, on any version: nothing to predate.
    for f in (facts("5.10.223", "iomem=relaxed"), facts("5.4.0", IO_STRICT_DEVMEM="n")):
        v = judge(oracle, "pcisysfs.revoke.bar-on-bind", obs("ok", revoked="no"), f)
        assert v.verdict == "pass" and v.rule == "sysfs-no-revocation"


def test_pat_copy_boundary_both_sides(oracle):
    nostrict = {"STRICT_DEVMEM": "n", "IO_STRICT_DEVMEM": "n"}
    assert judge(oracle, "devmem.mmap.ram-above-1m", obs("EINVAL"), facts("6.15.9", **nostrict)).verdict == "pass"
    assert judge(oracle, "devmem.mmap.ram-above-1m", obs("ok"), facts("6.16", **nostrict)).verdict == "pass"
    assert judge(oracle, "devmem.mmap.ram-above-1m", obs("ok"), facts("6.15.9", **nostrict)).verdict == "fail"


def test_offset_overflow_is_eoverflow_from_file_mmap_ok_on(oracle):
    # be83bbf80682 (v4.17) refuses in do_mmap() before mmap_mem()'s own wrap check (EINVAL) is reached.
    assert judge(oracle, "devmem.mmap.offset-overflow", obs("EOVERFLOW"), facts("4.17")).verdict == "pass"
    assert judge(oracle, "devmem.mmap.offset-overflow", obs("EINVAL"), facts("4.17")).verdict == "fail"
    assert judge(oracle, "devmem.mmap.offset-overflow", obs("EINVAL"), facts("4.16.18")).verdict == "pass"
    assert judge(oracle, "devmem.mmap.offset-overflow", obs("EOVERFLOW"), facts("4.16.18")).verdict == "fail"


# ------------------------------------------------------------------ unknown versions


def test_unknown_version_is_an_error_for_every_version_keyed_probe(oracle):
    f = facts(version=None)
    for probe, *_rest, new in BOUNDARIES:
        v = judge(oracle, probe, obs(**new), f)
        assert v.verdict == "error" and "version is unknown" in v.reason, probe
    wrap = judge(oracle, "devmem.mmap.offset-overflow", obs("EOVERFLOW"), f)
    assert wrap.verdict == "error" and "version >=4.17" in wrap.reason
    pat = judge(oracle, "devmem.mmap.ram-above-1m", obs("ok"), facts(None, STRICT_DEVMEM="n"))
    assert pat.verdict == "error" and "version <6.16" in pat.reason
    # Probes whose expectation does not depend on the version are still judged.
    assert judge(oracle, "devmem.open", obs("ok"), f).verdict == "pass"
    assert judge(oracle, "devmem.mmap.ram-above-1m", obs("EPERM"), f).verdict == "pass"  # STRICT refuses first


# ------------------------------------------------------------------ known issues never mask regressions


def test_a_confidential_guest_whose_ram_above_1m_reads_fails(oracle):
    for kind, extra in (("tdx", {}), ("sev-snp", {}), ("cc-sim", {"confidential": True, "emulated": True})):
        f = derive_facts(DEBIAN, "", "6.12.107", kind=kind, **extra)
        span = judge(oracle, "devmem.read.span-rom-ram", obs("ok", ret="8192", data="nonzero"), f)
        assert span.verdict == "fail" and "forbidden on any guest" in span.reason, kind
        assert judge(oracle, "devmem.read.ram-above-1m", obs("ok", data="nonzero"), f).verdict == "fail"
        # Low RAM showing real data under STRICT_DEVMEM is a regression too, not the confidential issue.
        low = judge(oracle, "devmem.read.ram-below-1m", obs("ok", data="nonzero"), f)
        assert low.verdict == "fail" and "strict-low-ram-reads-zeros" in low.reason
        # What the plain rules allow stays the confidential known issue.
        assert judge(oracle, "devmem.read.ram-below-1m", obs("ok", data="zeros"), f).verdict == "known-issue"
    # On hardware a terminated guest is the hazard itself, never compared with the plain rules.
    tdx = derive_facts(DEBIAN, "", "6.12.107", kind="tdx")
    assert judge(oracle, "devmem.read.ram-below-1m", obs("guest-terminated"), tdx).verdict == "known-issue"


# ------------------------------------------------------------------ the write probe stands on its own


def test_the_write_probe_with_mmap_refused_passes(oracle):
    refused = obs("ok", ret="8", data="hidden", check="read", map="EPERM")
    assert judge(oracle, "devmem.write.ram-below-1m", refused, facts()).verdict == "pass"
    seen = obs("ok", ret="8", data="persisted", check="read", map="EPERM")
    assert judge(oracle, "devmem.write.ram-below-1m", seen, facts()).verdict == "fail"
    # Without STRICT_DEVMEM the write must be seen.
    nostrict = facts(STRICT_DEVMEM="n", IO_STRICT_DEVMEM="n")
    assert judge(oracle, "devmem.write.ram-below-1m", refused, nostrict).verdict == "fail"


# ------------------------------------------------------------------ skips that mean something

NO_MODULE = {"skip": "no-module", "driver": "e1000", "module": "/lib/modules/e1000.ko"}


def test_a_missing_driver_is_not_run_naming_every_device_tried(oracle):
    from harness.kernels.spare import choose

    def verdict(symbols: dict, where: str):
        spare = choose(symbols, (), where).record()
        f = {**facts(**symbols), "modules_from": where, "spare": spare}
        return judge(oracle, "devmem.revoke.bar-on-bind", obs(reason="no e1000 driver", **NO_MODULE), f)

    missing = verdict({"E1000": "m", "VIRTIO_PCI": "n", "VMXNET3": "m", "BLK_DEV_NVME": "n"}, "--modules /tmp/empty")
    assert missing.verdict == "not-run"
    assert "e1000: CONFIG_E1000=m but no e1000.ko in --modules /tmp/empty" in missing.reason, missing.reason
    assert "vmxnet3: CONFIG_VMXNET3=m but no vmxnet3.ko" in missing.reason and "--modules DIR" in missing.reason
    off = verdict({"E1000": "n", "VIRTIO_PCI": "n", "VMXNET3": "n", "BLK_DEV_NVME": "n"}, "deb:x")
    assert off.verdict == "not-run" and "CONFIG_E1000 is not set" in off.reason
    assert "virtio-rng-pci: CONFIG_VIRTIO_PCI is not set" in off.reason and "=m or =y" in off.reason


def test_module_refusal_is_expected_only_where_lockdown_meets_unsigned_modules(oracle):
    refused = obs(reason="the kernel refused e1000.ko: EPERM", **{**NO_MODULE, "skip": "module-load"}, errno="EPERM")
    unsigned = facts(cmdline="lockdown=integrity", MODULE_SIG_ALL="n")
    v = judge(oracle, "pcisysfs.mmap.bound-bar", refused, unsigned)
    assert v.verdict == "skip" and v.rule == "lockdown-refuses-unsigned-module"
    log = ["Lockdown: devmem-probe: unsigned module loading is restricted; see man kernel_lockdown.7"]
    signed = judge(oracle, "pcisysfs.mmap.bound-bar", refused, facts(cmdline="lockdown=integrity"), probe_log=log)
    assert signed.verdict == "not-run" and "the kernel said: Lockdown: devmem-probe: unsigned" in signed.reason


def test_absent_nodes_and_cc_refusals_are_expected_skips(oracle):
    port = obs(reason="open(/dev/port) refused: ENOENT", skip="open", path="/dev/port", errno="ENOENT")
    assert judge(oracle, "devport.read.port-0x80", port, facts(DEVPORT="n")).verdict == "skip"
    assert judge(oracle, "devport.read.port-0x80", port, facts()).verdict == "not-run"
    fixed = obs(reason="open(/dev/mem) refused: EPERM", skip="open", path="/dev/mem", errno="EPERM")
    tdx = derive_facts(DEBIAN, "", "6.12.107", kind="tdx")
    assert judge(oracle, "devmem.mmap.smbios-anchor", fixed, tdx).verdict == "skip"


def test_a_skip_without_a_cause_is_not_run(oracle):
    v = judge(oracle, "devmem.open", obs(reason="something odd"), facts())
    assert v.verdict == "not-run" and v.reason.startswith("something odd")


# ------------------------------------------------------------------ the run's verdict and exit code


def _v(verdict):
    from harness.judging.oracle import Judgement

    return Judgement(name=f"p-{verdict}", verdict=verdict, expected="-", observed="-", reason=f"because {verdict}")


def test_not_run_exits_3_and_never_hides_a_failure():
    assert overall_verdict([_v("pass"), _v("not-run"), _v("skip")], "completed") == "not-run"
    assert exit_code("not-run", "completed") == EXIT_NOT_RUN == 3
    assert overall_verdict([_v("pass"), _v("not-run"), _v("fail")], "completed") == "fail"
    assert overall_verdict([_v("pass"), _v("not-run"), _v("error")], "completed") == "error"
    assert overall_verdict([_v("pass"), _v("known-issue"), _v("skip")], "completed") == "pass"
    assert worst_exit([EXIT_PASS, EXIT_NOT_RUN, EXIT_NO_VERDICT]) == EXIT_NO_VERDICT
    assert worst_exit([EXIT_NOT_RUN, EXIT_FAIL, EXIT_NO_VERDICT]) == EXIT_FAIL
    assert worst_exit([EXIT_PASS, EXIT_NOT_RUN]) == EXIT_NOT_RUN
    assert worst_exit([EXIT_FAIL, EXIT_INTERRUPTED]) == EXIT_INTERRUPTED


def test_junit_shows_not_run_apart_from_skip(tmp_path):
    path = tmp_path / "junit.xml"
    write_junit(path, [_v("pass"), _v("skip"), _v("not-run")], "suite", {})
    root = ET.parse(path).getroot()
    cases = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert cases["p-skip"].find("skipped") is not None
    err = cases["p-not-run"].find("error")
    assert err is not None and err.get("type") == "not-run" and cases["p-not-run"].find("skipped") is None
    assert root.get("errors") == "1" and root.get("skipped") == "1"


# ------------------------------------------------------------------ the rules file


def test_since_needs_a_commit_and_a_release(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "probes:\n  devmem.open:\n    - expect: {outcome: ok}\n      source: x\n"
        "      since: {version: '5.12', commit: 'v5.12', before: {outcome: ok}}\n"
    )
    with pytest.raises(BadInput, match="since.commit"):
        Oracle.load(bad)


def test_every_since_cites_a_commit_the_readme_lists(oracle):
    from harness import paths

    readme = (paths.REPO_ROOT / "README.md").read_text()
    for rules in oracle.rules.values():
        for rule in rules:
            if rule.since:
                assert rule.since.commit in readme and f"v{rule.since.version}" in readme, rule.id
