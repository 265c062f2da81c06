# SPDX-License-Identifier: GPL-2.0-only
"""Every probe's literal observation on real guests (Debian 6.12: STRICT_DEVMEM=y, IO_STRICT_DEVMEM=y).

These assert what the guest observed — errno, signal, data class — not
merely that it agreed with the oracle, so a wrong expectation file cannot
make them pass.
"""

import pytest

from harness.guests.probe_binary import list_probes

pytestmark = pytest.mark.guest

# probe -> observation fields on the default guest.
DEFAULT = {
    "devmem.open": {"outcome": "ok"},
    "devmem.open.no-rawio": {"outcome": "EPERM"},
    "devmem.read.ram-below-1m": {"outcome": "ok", "data": "zeros"},
    "devmem.read.bios-rom": {"outcome": "ok", "data": "nonzero", "addr": "0xf0000"},
    "devmem.read.ram-above-1m": {"outcome": "EPERM"},
    "devmem.read.past-end-of-ram": {"outcome": "EFAULT"},
    "devmem.read.span-rom-ram": {"outcome": "EPERM", "len": "8192"},
    "devmem.write.ram-below-1m": {"outcome": "ok", "ret": "8", "data": "dropped", "check": "mmap"},
    "devmem.mmap.ram-below-1m": {"outcome": "ok", "data": "persisted"},
    "devmem.mmap.smbios-anchor": {"outcome": "ok", "data": "anchor-found", "len": "65536"},
    "devmem.mmap.private-rom": {"outcome": "ok", "data": "private"},
    "devmem.mmap.ram-above-1m": {"outcome": "EPERM"},
    "devmem.mmap.offset-overflow": {"outcome": "EOVERFLOW"},
    "devmem.mmap.beyond-phys-bits": {"outcome": "EINVAL"},
    "devmem.mmap.idle-bar": {"outcome": "ok", "driver": "none"},
    "devmem.mmap.busy-mmio": {"outcome": "EPERM"},
    "devport.open": {"outcome": "ok"},
    "devport.open.no-rawio": {"outcome": "EPERM"},
    "devport.read.port-0x80": {"outcome": "ok", "ret": "1"},
    "devport.write.port-0x80": {"outcome": "ok", "ret": "1"},
    "devport.read.past-65535": {"outcome": "ok", "ret": "0"},
    "pcisysfs.read.config": {"outcome": "ok", "vendor": "0x8086"},
    "pcisysfs.write.config": {"outcome": "ok", "data": "persisted"},
    "pcisysfs.mmap.idle-bar": {"outcome": "ok", "driver": "none"},
    "pcisysfs.read.io-bar-1": {"outcome": "ok", "ret": "1"},
    "pcisysfs.read.io-bar-2": {"outcome": "ok", "ret": "2"},
    "pcisysfs.read.io-bar-4": {"outcome": "ok", "ret": "4"},
    "pcisysfs.read.io-bar-3": {"outcome": "EINVAL"},
    "pcisysfs.write.io-bar-1": {"outcome": "ok", "ret": "1"},
    "pcisysfs.write.io-bar-2": {"outcome": "ok", "ret": "2"},
    "pcisysfs.write.io-bar-4": {"outcome": "ok", "ret": "4"},
    "pcisysfs.write.io-bar-3": {"outcome": "EINVAL"},
    # Both ends of the whole BAR are touched: a revocation of part of it shows as revoked=partly.
    "devmem.revoke.bar-on-bind": {"outcome": "SIGBUS", "revoked": "yes", "driver": "e1000", "len": "131072"},
    "pcisysfs.revoke.bar-on-bind": {"outcome": "SIGBUS", "revoked": "yes", "driver": "e1000", "len": "131072"},
    "devmem.mmap.bound-bar": {"outcome": "EPERM", "driver": "e1000"},
    "pcisysfs.mmap.bound-bar": {"outcome": "EINVAL", "driver": "e1000"},
    # Boundaries: ranges that straddle a policy edge, or start or end one byte or one page from it.
    "devmem.read.low-ram-edge": {"outcome": "ok", "data": "zeros", "check": "cookie", "addr": "0x9f000"},
    "devmem.read.unaligned-span": {"outcome": "EPERM", "addr": "0xffff8", "len": "16"},
    "devmem.read.span-end-of-ram": {"outcome": "EFAULT", "len": "8192"},
    "devmem.write.own-page": {"outcome": "EPERM", "data": "unchanged"},
    "devmem.write.past-end-of-ram": {"outcome": "EFAULT"},
    "devmem.mmap.span-rom-ram": {"outcome": "EPERM", "addr": "0xff000", "len": "8192"},
    "devmem.mmap.span-ram-end": {"outcome": "EPERM", "len": "8192"},
    "devmem.mmap.page-before-busy": {"outcome": "ok", "addr": "0xaffff000", "touch": "read"},
    "devmem.mmap.page-after-busy": {"outcome": "ok", "addr": "0xc0000000", "touch": "read"},
    "devmem.mmap.last-phys-page": {"outcome": "ok", "touch": "none"},
    "devmem.mmap.span-phys-limit": {"outcome": "EINVAL", "len": "8192"},
    "devmem.mremap.grow": {"outcome": "EFAULT"},
    "devmem.mprotect.write": {"outcome": "EACCES"},
    "devmem.madvise.dontneed": {"outcome": "EINVAL"},
    "devport.write.past-65535": {"outcome": "ok", "ret": "0"},
    "devport.read.straddle-65535": {"outcome": "ok", "ret": "1"},
    "devport.read.position": {"outcome": "ok", "ret": "2", "pos": "0x82"},
    "pcisysfs.read.config-no-admin": {"outcome": "ok", "len": "256", "ret": "64"},
    "pcisysfs.mmap.last-bar-page": {"outcome": "ok", "touch": "read"},
    "pcisysfs.mmap.past-bar-end": {"outcome": "EINVAL"},
    "pcisysfs.read.io-bar-at-end": {"outcome": "ok", "ret": "0"},
    "pcisysfs.read.io-bar-straddle": {"outcome": "ok", "len": "4", "ret": "2"},
    "devmem.revoke.private-cow": {"outcome": "SIGBUS", "revoked": "yes", "first": "SIGBUS", "last": "SIGBUS"},
    "devmem.revoke.forked-child": {"outcome": "SIGBUS", "revoked": "yes", "first": "SIGBUS", "last": "SIGBUS"},
    # The other doors to the same memory and ports.
    "pcisysfs.read.rom": {"outcome": "ok", "enabled": "1", "ret": "512", "data": "rom-signature"},
    "pcisysfs.mmap.wc-bar": {"outcome": "ok", "touch": "read", "bar_len": "0x400000"},
    "pcisysfs.mmap.wc-past-end": {"outcome": "EINVAL"},
    "pciprocfs.read.config": {"outcome": "ok", "ret": "64", "vendor": "0x8086"},
    "pciprocfs.read.config-no-admin": {"outcome": "ok", "len": "256", "ret": "64"},
    "pciprocfs.write.config": {"outcome": "ok", "data": "persisted"},
    "pciprocfs.ioctl.mmap-is-mem": {"outcome": "ok", "cmd": "PCIIOC_MMAP_IS_MEM"},
    "pciprocfs.ioctl.write-combine": {"outcome": "ok", "cmd": "PCIIOC_WRITE_COMBINE"},
    "pciprocfs.mmap.idle-bar": {"outcome": "ok", "touch": "read", "driver": "none"},
    "pciprocfs.mmap.no-rawio": {"outcome": "EPERM"},
    "pciprocfs.mmap.no-ioctl": {"outcome": "EINVAL"},
    "pciprocfs.mmap.last-bar-page": {"outcome": "ok", "touch": "read"},
    "pciprocfs.mmap.past-bar-end": {"outcome": "ENODEV"},
    "pciprocfs.mmap.bound-bar": {"outcome": "EINVAL", "driver": "e1000"},
    "pciprocfs.revoke.bar-on-bind": {"outcome": "SIGBUS", "revoked": "yes", "driver": "e1000", "len": "131072"},
    "pciprocfs.revoke.private-cow": {"outcome": "SIGBUS", "revoked": "yes", "first": "SIGBUS", "last": "SIGBUS"},
    "pciprocfs.revoke.forked-child": {"outcome": "SIGBUS", "revoked": "yes", "first": "SIGBUS", "last": "SIGBUS"},
    "ioport.ioperm.port-0x80": {"outcome": "ok", "port": "0x80"},
    "ioport.ioperm.no-rawio": {"outcome": "EPERM", "call": "ioperm"},
    "ioport.ioperm.neighbour": {"outcome": "SIGSEGV", "port": "0x81"},
    "ioport.ioperm.past-65535": {"outcome": "EINVAL", "call": "ioperm"},
    "ioport.in.without-grant": {"outcome": "SIGSEGV"},
    "ioport.iopl.level-3": {"outcome": "ok", "port": "0x80"},
    "ioport.iopl.no-rawio": {"outcome": "EPERM", "call": "iopl"},
    "kcore.open": {"outcome": "ok"},
    "kcore.open.no-rawio": {"outcome": "EPERM"},
    "kcore.read.own-page": {"outcome": "ok", "data": "match"},
    "devkmem.open": {"outcome": "ENOENT"},
    "secretmem.devmem.read": {"outcome": "EPERM"},
    "secretmem.devmem.mmap": {"outcome": "EPERM"},
    # Zeros through the direct map; the kernel-image alias depends on where the page lands (alias=).
    "secretmem.kcore.read": {"outcome": "ok", "data": "zeros"},
}

# With lockdown=integrity: what changes for the probes that still run.
LOCKDOWN = {
    "devmem.open": {"outcome": "EPERM"},
    "devport.open": {"outcome": "EPERM"},
    "pcisysfs.mmap.idle-bar": {"outcome": "EPERM"},
    "pcisysfs.mmap.bound-bar": {"outcome": "EPERM"},
    "pcisysfs.write.config": {"outcome": "EPERM"},
    "pcisysfs.write.io-bar-1": {"outcome": "EPERM"},
    "pcisysfs.write.io-bar-3": {"outcome": "EPERM"},
    "pcisysfs.read.io-bar-4": {"outcome": "ok", "ret": "4"},
    "pcisysfs.read.config": {"outcome": "ok"},
    "pcisysfs.revoke.bar-on-bind": {"outcome": "EPERM", "step": "map"},
    "pcisysfs.mmap.last-bar-page": {"outcome": "EPERM"},
    "pcisysfs.mmap.past-bar-end": {"outcome": "EPERM"},
    "pcisysfs.read.config-no-admin": {"outcome": "ok", "ret": "64"},
    "pcisysfs.read.io-bar-straddle": {"outcome": "ok", "ret": "2"},
    "pcisysfs.read.rom": {"outcome": "ok", "data": "rom-signature"},  # no lockdown check on rom
    "pcisysfs.mmap.wc-bar": {"outcome": "EPERM"},
    "pciprocfs.read.config": {"outcome": "ok", "ret": "64"},
    "pciprocfs.write.config": {"outcome": "EPERM"},
    "pciprocfs.ioctl.mmap-is-mem": {"outcome": "EPERM"},
    "pciprocfs.mmap.idle-bar": {"outcome": "EPERM", "ioctl": "EPERM"},
    "pciprocfs.mmap.no-ioctl": {"outcome": "EPERM"},
    "pciprocfs.revoke.bar-on-bind": {"outcome": "EPERM", "step": "map"},
    "pciprocfs.revoke.private-cow": {"outcome": "EPERM", "step": "map"},
    "pciprocfs.revoke.forked-child": {"outcome": "EPERM", "step": "map"},
    "ioport.ioperm.port-0x80": {"outcome": "EPERM"},
    "ioport.ioperm.past-65535": {"outcome": "EINVAL"},  # the range is checked before lockdown
    "ioport.iopl.level-3": {"outcome": "EPERM"},
    "kcore.open": {"outcome": "ok"},  # LOCKDOWN_KCORE is a confidentiality reason
    "kcore.read.own-page": {"outcome": "ok", "data": "match"},
}

# With iomem=relaxed: busy regions stay mappable and nothing is revoked.
RELAXED = {
    "devmem.mmap.busy-mmio": {"outcome": "ok"},
    "devmem.revoke.bar-on-bind": {"outcome": "ok", "revoked": "no", "driver": "e1000"},
    "pcisysfs.revoke.bar-on-bind": {"outcome": "ok", "revoked": "no", "driver": "e1000"},
    "devmem.mmap.bound-bar": {"outcome": "ok", "driver": "e1000"},
    "pcisysfs.mmap.bound-bar": {"outcome": "ok", "driver": "e1000"},
    "devmem.read.ram-above-1m": {"outcome": "EPERM"},
    "devmem.revoke.private-cow": {"outcome": "ok", "revoked": "no"},
    "devmem.revoke.forked-child": {"outcome": "ok", "revoked": "no"},
    "devmem.mmap.page-before-busy": {"outcome": "ok"},
    "pciprocfs.mmap.bound-bar": {"outcome": "ok", "driver": "e1000"},
    "pciprocfs.revoke.bar-on-bind": {"outcome": "ok", "revoked": "no", "driver": "e1000"},
    "pciprocfs.revoke.private-cow": {"outcome": "ok", "revoked": "no"},
    "pciprocfs.revoke.forked-child": {"outcome": "ok", "revoked": "no"},
}


def test_every_probe_has_a_literal_expectation():
    assert set(DEFAULT) == {p.name for p in list_probes()}
    assert len(DEFAULT) >= 55


def assert_observed(run, probe, wanted):
    obs = run.probe(probe).get("observation", {})
    for key, value in wanted.items():
        assert obs.get(key) == value, f"{probe}: {key}={obs.get(key)!r}, wanted {value!r}; observation {obs}"


@pytest.mark.parametrize("probe", sorted(DEFAULT))
def test_default_guest(default_run, probe):
    assert_observed(default_run, probe, DEFAULT[probe])


@pytest.mark.parametrize("probe", sorted(LOCKDOWN))
def test_lockdown_guest(lockdown_run, probe):
    assert_observed(lockdown_run, probe, LOCKDOWN[probe])


def test_lockdown_skips_carry_the_refusal(lockdown_run):
    skipped = [p for p in lockdown_run.results["probes"] if p["verdict"] == "skip"]
    assert len(skipped) >= 15
    for p in skipped:
        # The guest's own words, and the rule that predicts them: an expected skip, not a silent one.
        assert p["observation"]["skip"] == "open" and p["observation"]["errno"] == "EPERM", p
        assert p["rule"] == "lockdown-refuses-nodes" and "refused: EPERM" in p["reason"], p
    assert lockdown_run.results["counts"]["not-run"] == 0


@pytest.mark.parametrize("probe", sorted(RELAXED))
def test_relaxed_guest(relaxed_run, probe):
    assert_observed(relaxed_run, probe, RELAXED[probe])


def test_probe_markers_reach_the_kernel_log(default_run):
    dmesg = (default_run.run_dir / "dmesg.txt").read_text()
    assert "harness-probe: begin 1 devmem.open" in dmesg
    last = list_probes()[-1].name
    assert f"harness-probe: end {len(list_probes())} {last}" in dmesg
    assert default_run.results["facts"]["e820"], "e820 map recorded"
    assert default_run.results["facts"]["memory_encryption"] is None
