# SPDX-License-Identifier: GPL-2.0-only
"""The oracle encodes the kernel's rules: feed it synthetic configs and command lines."""

import pytest

from harness.errors import BadInput
from harness.judging.ktap import KtapResult
from harness.judging.oracle import Oracle, derive_facts, lockdown_level

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


def test_pat_copy_refuses_ram_mmap_before_6_16_only(oracle):
    """arch/x86/mm/pat: before 6.16 the PAT copy refused a RAM mapping (EINVAL) on a STRICT_DEVMEM=n kernel."""
    before = facts(version="6.15.0", STRICT_DEVMEM="n", IO_STRICT_DEVMEM="n")
    after = facts(version="6.16.0", STRICT_DEVMEM="n", IO_STRICT_DEVMEM="n")
    refused, mapped = result("x", "EINVAL"), result("x", "ok")
    assert oracle.judge("devmem.mmap.ram-above-1m", refused, before).verdict == "pass"
    assert oracle.judge("devmem.mmap.ram-above-1m", mapped, after).verdict == "pass"
    assert oracle.judge("devmem.mmap.ram-above-1m", mapped, before).verdict == "fail"
    # STRICT_DEVMEM=y refuses in mem.c first, whatever the version: a mapping is a failure.
    assert oracle.judge("devmem.mmap.ram-above-1m", mapped, facts(version="6.15.0")).verdict == "fail"
    assert oracle.judge("devmem.mmap.ram-above-1m", result("x", "EPERM"), facts(version="6.15.0")).verdict == "pass"


def test_lockdown_on_the_command_line_is_the_lockdown_fact():
    assert facts("console=ttyS0 lockdown=integrity")["lockdown"] == "integrity"
    assert facts("lockdown=bogus")["lockdown"] == "none"


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


def test_the_low_ram_mmap_hole_is_a_known_issue_from_4_11_and_no_hole_before(oracle):
    # Since a4866aa81251 (v4.11) read() is zeroed and mmap() is not: the hole, never closed.
    for version in ("4.11.0", "5.10.223", "7.2.13"):
        v = oracle.judge("devmem.mmap.ram-below-1m", result("x", "ok", data="persisted"), facts(version=version))
        assert v.verdict == "known-issue" and "KSPP" in v.link
    # Before it low RAM was simply allowed, read() too: a real mapping is the rule, not a hole.
    old = oracle.judge("devmem.mmap.ram-below-1m", result("x", "ok", data="persisted"), facts(version="4.9.0"))
    assert old.verdict == "pass" and old.rule == "low-ram-mmap-before-zeroing"


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


def test_strict_devmem_off_write_and_span(oracle):
    off = facts(STRICT_DEVMEM="n", IO_STRICT_DEVMEM="n")
    persisted = result("x", "ok", ret="8", data="persisted", check="mmap")
    dropped = result("x", "ok", ret="8", data="dropped", check="mmap")
    assert oracle.judge("devmem.write.ram-below-1m", persisted, off).verdict == "pass"
    assert oracle.judge("devmem.write.ram-below-1m", dropped, facts()).verdict == "pass"
    assert oracle.judge("devmem.write.ram-below-1m", persisted, facts()).verdict != "pass"
    assert oracle.judge("devmem.read.span-rom-ram", result("x", "ok", ret="8192"), off).verdict == "pass"
    assert oracle.judge("devmem.read.span-rom-ram", result("x", "ok", ret="8192"), facts()).verdict == "fail"


def test_devport_absent_and_no_rawio(oracle):
    f = facts(DEVPORT="n")
    v = oracle.judge("devport.open.no-rawio", result("x", "ENOENT"), f)
    assert v.verdict == "skip" and "CONFIG_DEVPORT" in v.reason
    assert oracle.judge("devport.open.no-rawio", result("x", "EPERM"), facts()).verdict == "pass"
    assert oracle.judge("devport.open.no-rawio", result("x", "ok"), facts()).verdict == "fail"


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
