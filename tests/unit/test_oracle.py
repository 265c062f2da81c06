"""The oracle encodes the kernel's rules: feed it synthetic configs and command lines."""

import pytest

from harness.errors import BadInput
from harness.ktap import KtapResult
from harness.oracle import Oracle, derive_facts, lockdown_level

DEBIAN = {
    "DEVMEM": "y",
    "STRICT_DEVMEM": "y",
    "IO_STRICT_DEVMEM": "y",
    "DEVPORT": "y",
    "X86_PAT": "y",
    "SECURITY_LOCKDOWN_LSM": "y",
    "SECURITY_LOCKDOWN_LSM_EARLY": "y",
    "LSM": "landlock,lockdown,yama",
}


@pytest.fixture(scope="module")
def oracle():
    return Oracle.load()


def facts(cmdline="", version="6.12.107", **overrides):
    return derive_facts({**DEBIAN, **overrides}, cmdline, version)


def expect(oracle, probe, f):
    rule = oracle.rule_for(probe, f)
    assert rule is not None, f"no rule for {probe}"
    return rule


def result(name, outcome=None, skip=None, why=None, **obs):
    """A probe's KTAP result: an observation, or a skip with its reason and its skip=... fields (`why`)."""
    observation = {"outcome": outcome, **obs} if outcome else {}
    observation.update(why or {})
    return KtapResult(
        number=1,
        name=name,
        ok=outcome == "ok",
        directive="SKIP" if skip else None,
        reason=skip or "",
        observation=observation,
    )


def test_debian_defaults(oracle):
    f = facts()
    assert expect(oracle, "devmem.open", f).expect == ({"outcome": "ok"},)
    assert expect(oracle, "devmem.read.ram-below-1m", f).expect == ({"outcome": "ok", "data": "zeros"},)
    assert expect(oracle, "devmem.read.ram-above-1m", f).expect == ({"outcome": "EPERM"},)
    assert expect(oracle, "devmem.mmap.busy-mmio", f).expect == ({"outcome": "EPERM"},)


def test_strict_devmem_off_shows_real_data(oracle):
    f = facts(STRICT_DEVMEM="n", IO_STRICT_DEVMEM="n")
    assert expect(oracle, "devmem.read.ram-below-1m", f).expect == ({"outcome": "ok", "data": "nonzero"},)
    assert expect(oracle, "devmem.read.ram-above-1m", f).expect == ({"outcome": "ok"},)
    assert expect(oracle, "devmem.mmap.ram-below-1m", f).known_issue is None
    assert expect(oracle, "devmem.mmap.busy-mmio", f).expect == ({"outcome": "ok"},)


def test_pat_copy_refuses_ram_mmap_before_6_16_only(oracle):
    before = facts(version="6.15.0", STRICT_DEVMEM="n", IO_STRICT_DEVMEM="n")
    after = facts(version="6.16.0", STRICT_DEVMEM="n", IO_STRICT_DEVMEM="n")
    assert expect(oracle, "devmem.mmap.ram-above-1m", before).expect == ({"outcome": "EINVAL"},)
    assert expect(oracle, "devmem.mmap.ram-above-1m", after).expect == ({"outcome": "ok"},)
    # STRICT_DEVMEM=y refuses in mem.c first, whatever the version.
    assert expect(oracle, "devmem.mmap.ram-above-1m", facts(version="6.15.0")).expect == ({"outcome": "EPERM"},)


def test_io_strict_off_or_relaxed_allows_busy_mmio(oracle):
    assert expect(oracle, "devmem.mmap.busy-mmio", facts(IO_STRICT_DEVMEM="n")).expect == ({"outcome": "ok"},)
    assert expect(oracle, "devmem.mmap.busy-mmio", facts("iomem=relaxed")).expect == ({"outcome": "ok"},)
    assert expect(oracle, "devmem.mmap.busy-mmio", facts("iomem=strict")).expect == ({"outcome": "EPERM"},)
    # iomem=strict cannot add busy checks to an IO_STRICT_DEVMEM=n kernel.
    f = facts("iomem=strict", IO_STRICT_DEVMEM="n")
    assert expect(oracle, "devmem.mmap.busy-mmio", f).expect == ({"outcome": "ok"},)


def test_lockdown_integrity_refuses_open(oracle):
    f = facts("console=ttyS0 lockdown=integrity")
    assert f["lockdown"] == "integrity"
    assert expect(oracle, "devmem.open", f).expect == ({"outcome": "EPERM"},)
    assert expect(oracle, "devport.open", f).expect == ({"outcome": "EPERM"},)
    assert expect(oracle, "pcisysfs.mmap.idle-bar", f).expect == ({"outcome": "EPERM"},)
    assert expect(oracle, "pcisysfs.read.config", f).expect == ({"outcome": "ok", "data": "nonzero"},)


def test_lockdown_level_derivation():
    assert lockdown_level(DEBIAN, "") == "none"
    assert lockdown_level(DEBIAN, "lockdown=confidentiality") == "confidentiality"
    assert lockdown_level({**DEBIAN, "LOCK_DOWN_KERNEL_FORCE_INTEGRITY": "y"}, "") == "integrity"
    # The command line can raise a forced level, never lower it.
    assert lockdown_level({**DEBIAN, "LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY": "y"}, "lockdown=integrity") == (
        "confidentiality"
    )
    # Without the LSM there is no lockdown to ask for.
    assert lockdown_level({**DEBIAN, "SECURITY_LOCKDOWN_LSM": "n"}, "lockdown=integrity") == "none"
    no_early = {**DEBIAN, "SECURITY_LOCKDOWN_LSM_EARLY": "n", "LSM": "yama"}
    assert lockdown_level(no_early, "lockdown=integrity") == "none"
    assert lockdown_level(no_early, "lsm=lockdown,yama lockdown=integrity") == "integrity"


def test_devmem_absent_is_a_skip(oracle):
    f = facts(DEVMEM="n")
    v = oracle.judge("devmem.open", result("devmem.open", "ENOENT"), f)
    assert v.verdict == "skip" and "CONFIG_DEVMEM" in v.reason
    # A node that exists although the config says it should not is a failure.
    assert oracle.judge("devmem.open", result("devmem.open", "ok"), f).verdict == "fail"


def test_verdicts(oracle):
    f = facts()
    assert oracle.judge("devmem.open", result("devmem.open", "ok"), f).verdict == "pass"
    failed = oracle.judge("devmem.open", result("devmem.open", "ENXIO"), f)
    assert failed.verdict == "fail" and "expected outcome=ok" in failed.reason
    hole = oracle.judge("devmem.mmap.ram-below-1m", result("x", "ok", data="persisted"), f)
    assert hole.verdict == "known-issue" and hole.link.startswith("https://")
    fixed = oracle.judge("devmem.mmap.ram-below-1m", result("x", "EPERM"), f)
    assert fixed.verdict == "pass"
    # Refused open() with nothing to explain it: the probe did not run, and that is not a skip.
    odd = result("x", skip="open(/dev/mem) refused: EACCES", why={**OPEN_EPERM, "errno": "EACCES"})
    unexplained = oracle.judge("devmem.read.bios-rom", odd, f)
    assert unexplained.verdict == "not-run" and unexplained.reason.startswith("open(/dev/mem) refused: EACCES")
    # EPERM without lockdown is a kernel stricter than its code: devmem.open judges that, this one skips.
    refused = result("x", skip="open(/dev/mem) refused: EPERM", why=OPEN_EPERM)
    stricter = oracle.judge("devmem.read.bios-rom", refused, f)
    assert stricter.verdict == "skip" and stricter.rule == "node-refused-stricter"
    locked = oracle.judge("devmem.read.bios-rom", refused, facts("lockdown=integrity"))
    assert locked.verdict == "skip" and locked.rule == "lockdown-refuses-nodes" and "lockdown" in locked.reason
    missing = oracle.judge("devmem.read.bios-rom", None, f, "no result: guest panicked")
    assert missing.verdict == "error" and missing.reason == "no result: guest panicked"
    no_target = oracle.judge("devmem.read.bios-rom", result("x", "no-target", target="System ROM"), f)
    assert no_target.verdict == "not-run" and "System ROM" in no_target.reason


def test_the_low_ram_mmap_hole_is_a_known_issue_on_every_version(oracle):
    # Before a4866aa81251 (v4.11) low RAM was simply allowed; since then read() is zeroed and mmap() is not.
    for version in ("4.9.0", "5.10.223", "7.2.13"):
        v = oracle.judge("devmem.mmap.ram-below-1m", result("x", "ok", data="persisted"), facts(version=version))
        assert v.verdict == "known-issue" and "KSPP" in v.link


def test_every_rule_names_its_source(oracle):
    for probe, rules in oracle.rules.items():
        for rule in rules:
            assert rule.source, f"{probe}: rule {rule.id} has no source"
        assert not rules[-1].when or probe in ("devmem.open",), f"{probe}: last rule should be unconditional"


OPEN_EPERM = {"skip": "open", "path": "/dev/mem", "errno": "EPERM"}


def test_user_overrides_come_first(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text(
        "probes:\n  devmem.open:\n    - id: my-patch\n      expect: {outcome: EPERM}\n      source: my series\n"
    )
    o = Oracle.load(extra)
    rule = o.rule_for("devmem.open", facts())
    assert rule.id == "my-patch" and rule.origin == str(extra)


def test_bad_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("probes:\n  devmem.open:\n    - id: x\n      expect: {outcome: EPERM\n")
    with pytest.raises(BadInput) as exc:
        Oracle.load(bad)
    assert f"{bad}:" in exc.value.line() and "YAML error" in exc.value.line()


def test_bad_rule_shape_is_reported(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("probes:\n  devmem.open:\n    - id: x\n      expct: {outcome: EPERM}\n")
    with pytest.raises(BadInput, match="unknown key"):
        Oracle.load(bad)


def test_kernel_warning_fails_a_passing_probe(oracle):
    f = facts()
    v = oracle.judge("devmem.open", result("devmem.open", "ok"), f, kernel_warnings=["WARNING: CPU: 0 PID: 1 at x"])
    assert v.verdict == "fail" and "kernel warning while the probe ran" in v.reason
    assert v.kernel_warnings == ["WARNING: CPU: 0 PID: 1 at x"]


def test_rule_can_allow_kernel_warnings(tmp_path):
    extra = tmp_path / "mine.yaml"
    extra.write_text(
        "probes:\n  devmem.open:\n    - id: noisy-but-fine\n      expect: {outcome: ok}\n"
        "      kernel_warnings: allowed\n      source: known noisy driver\n"
    )
    o = Oracle.load(extra)
    v = o.judge("devmem.open", result("devmem.open", "ok"), facts(), kernel_warnings=["WARNING: CPU: 0 PID: 1"])
    assert v.verdict == "pass"


def test_revocation_follows_io_strict_and_iomem(oracle):
    assert expect(oracle, "devmem.revoke.bar-on-bind", facts()).expect == ({"outcome": "SIGBUS", "revoked": "yes"},)
    relaxed = expect(oracle, "devmem.revoke.bar-on-bind", facts("iomem=relaxed"))
    assert relaxed.expect == ({"outcome": "ok", "revoked": "no"},)
    no_io = expect(oracle, "pcisysfs.revoke.bar-on-bind", facts(IO_STRICT_DEVMEM="n"))
    assert no_io.expect == ({"outcome": "ok", "revoked": "no"},)
    locked = expect(oracle, "pcisysfs.revoke.bar-on-bind", facts("lockdown=integrity"))
    assert locked.expect == ({"outcome": "EPERM", "step": "map"},)


def test_bound_bar_and_io_writes(oracle):
    assert expect(oracle, "pcisysfs.mmap.bound-bar", facts()).expect == ({"outcome": "EINVAL"},)
    assert expect(oracle, "pcisysfs.mmap.bound-bar", facts("iomem=relaxed")).expect == ({"outcome": "ok"},)
    assert expect(oracle, "pcisysfs.mmap.bound-bar", facts("lockdown=integrity")).expect == ({"outcome": "EPERM"},)
    assert expect(oracle, "pcisysfs.write.io-bar-3", facts()).expect == ({"outcome": "EINVAL"},)
    assert expect(oracle, "pcisysfs.write.io-bar-3", facts("lockdown=confidentiality")).expect == (
        {"outcome": "EPERM"},
    )
    assert expect(oracle, "pcisysfs.read.io-bar-2", facts("lockdown=integrity")).expect == (
        {"outcome": "ok", "ret": "2"},
    )


def test_strict_devmem_off_write_and_span(oracle):
    f = facts(STRICT_DEVMEM="n", IO_STRICT_DEVMEM="n")
    assert expect(oracle, "devmem.write.ram-below-1m", f).expect[0]["data"] == "persisted"
    assert expect(oracle, "devmem.read.span-rom-ram", f).expect == ({"outcome": "ok", "ret": "8192"},)
    assert expect(oracle, "devmem.write.ram-below-1m", facts()).expect[0]["data"] == "dropped"


def test_devport_absent_and_no_rawio(oracle):
    f = facts(DEVPORT="n")
    v = oracle.judge("devport.open.no-rawio", result("x", "ENOENT"), f)
    assert v.verdict == "skip" and "CONFIG_DEVPORT" in v.reason
    assert expect(oracle, "devport.open.no-rawio", facts()).expect == ({"outcome": "EPERM"},)


def test_confidential_guests_should_refuse_devmem(oracle):
    tdx = derive_facts(DEBIAN, "", "6.12.0", kind="tdx")
    today = oracle.judge("devmem.open", result("devmem.open", "ok"), tdx)
    assert today.verdict == "known-issue" and "lore.kernel.org" in today.link
    fixed = oracle.judge("devmem.open", result("devmem.open", "EPERM"), tdx)
    assert fixed.verdict == "pass"
    killed = oracle.judge("devmem.mmap.ram-below-1m", result("x", "guest-terminated"), tdx)
    assert killed.verdict == "known-issue"
    skipped = oracle.judge("devmem.mmap.ram-below-1m", result("x", skip="open refused", why=OPEN_EPERM), tdx)
    assert skipped.verdict == "skip" and skipped.rule == "cc-guest-refuses-nodes"
    # A plain guest dying under the same probe is a failure.
    assert oracle.judge("devmem.mmap.ram-below-1m", result("x", "guest-terminated"), facts()).verdict == "fail"
    # Lockdown still comes first.
    locked = derive_facts(DEBIAN, "lockdown=integrity", "6.12.0", kind="sev-snp")
    assert oracle.rule_for("devmem.open", locked).id == "devmem-open-lockdown"


def cc_sim_facts(**overrides):
    return derive_facts({**DEBIAN, **overrides}, "cc_sim", "6.12.117", kind="cc-sim", confidential=True, emulated=True)


def test_cc_sim_is_judged_by_the_confidential_policy(oracle):
    f = cc_sim_facts()
    today = oracle.judge("devmem.open", result("devmem.open", "ok"), f)
    assert today.verdict == "known-issue" and "lore.kernel.org" in today.link
    assert oracle.judge("devport.open", result("devport.open", "ok"), f).verdict == "known-issue"
    fixed = oracle.judge("devmem.open", result("devmem.open", "EPERM"), f)
    assert fixed.verdict == "pass"
    # The same access that is a known issue on hardware is one here too, without the hardware's effects.
    read = oracle.judge("devmem.read.ram-below-1m", result("x", "ok", data="zeros"), f)
    assert read.verdict == "known-issue" and "emulated" in read.reason
    skipped = oracle.judge("devmem.read.ram-below-1m", result("x", skip="open refused", why=OPEN_EPERM), f)
    assert skipped.verdict == "skip" and skipped.rule == "cc-guest-refuses-nodes"


def test_cc_sim_never_expects_a_terminated_guest(oracle):
    f = cc_sim_facts()
    died = oracle.judge("devmem.mmap.ram-below-1m", result("x", "guest-terminated"), f)
    assert died.verdict == "fail"
    hardware = derive_facts(DEBIAN, "", "6.12.117", kind="tdx")
    assert hardware["confidential"] is True and hardware["emulated"] is False
    assert oracle.judge("devmem.mmap.ram-below-1m", result("x", "guest-terminated"), hardware).verdict == "known-issue"


def test_lockdown_still_wins_over_the_cc_sim_rule(oracle):
    f = cc_sim_facts(LOCK_DOWN_KERNEL_FORCE_INTEGRITY="y")
    assert oracle.rule_for("devmem.open", f).id == "devmem-open-lockdown"
