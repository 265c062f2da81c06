# SPDX-License-Identifier: GPL-2.0-only
"""The oracle against the kernel's rules, written here from the kernel's code, not from expectations.yaml.

`kernel_shows()` is a small model of what a kernel does for each probe, given its config,
command line, guest kind and version; each branch cites the code it follows.  The test
walks every combination of the inputs the rules depend on and asserts that the oracle
gives the model's verdict for what the model says the kernel shows, and that the looser
observation (what a kernel that broke the rule would show) is never a pass.  A rule in
expectations.yaml that drifts from the kernel fails here, however the YAML spells it.

Sources (Linux, v5.8 to v7.2 unless said):
- drivers/char/mem.c: open_port() refuses without CAP_SYS_RAWIO, then asks
  security_locked_down(LOCKDOWN_DEV_MEM) (EPERM at integrity and confidentiality);
  read_mem() zero-fills pages devmem_is_allowed() returns 2 for, refuses (EPERM) where 0;
  mmap_mem() asks range_is_allowed(), which is devmem_is_allowed() only with STRICT_DEVMEM.
- arch/x86/mm/init.c devmem_is_allowed(): RAM below 1 MiB -> 2 ("show zeros", since
  a4866aa81251, v4.11; before it low RAM was allowed), other RAM -> 0, a page
  iomem_is_exclusive() claims -> 0, anything else -> 1.
- kernel/resource.c: strict_iomem_checks starts at 1 with STRICT_DEVMEM; `iomem=` is parsed
  with strstr(): "relaxed" clears it, then "strict" sets it.  iomem_is_exclusive() is false
  without it, else true for a busy resource when IO_STRICT_DEVMEM (or the resource is
  IORESOURCE_EXCLUSIVE).  revoke_iomem() (3234ac664a87, v5.8) zaps the iomem inode's
  mappings of a region a driver claims unless devmem_is_allowed() still allows it; PCI
  resourceN mappings share that inode since 636b21b50152 (v5.12).
- drivers/pci/pci-sysfs.c: pci_mmap_resource() asks LOCKDOWN_PCI_ACCESS (EPERM) before
  iomem_is_exclusive() (EINVAL); config writes and I/O-BAR writes ask LOCKDOWN_PCI_ACCESS,
  reads do not; an I/O-BAR access of 3 bytes is EINVAL.
- security/lockdown: LOCKDOWN_DEV_MEM, LOCKDOWN_PCI_ACCESS, LOCKDOWN_IOPORT are all below
  LOCKDOWN_INTEGRITY_MAX, so both levels refuse them.
- The confidential-guest policy (../shared/background.md): a TDX or SEV-SNP guest should
  refuse /dev/mem and /dev/port as if locked down; today's kernels open them, a known issue.
- drivers/pci/proc.c: ioctl() and mmap() ask LOCKDOWN_PCI_ACCESS first (EPERM; mmap also
  CAP_SYS_RAWIO); a range no BAR holds is ENODEV; a busy BAR is EINVAL since dc217d2c5a7e
  (v5.12), and procfs mappings are revoked since 636b21b50152 (v5.12).  pci-sysfs.c: rom has
  no capability and no lockdown check; resourceN_wc goes through pci_mmap_resource().
- arch/x86/kernel/ioport.c: ioperm() is EINVAL past port 65535, then EPERM without
  CAP_SYS_RAWIO or under LOCKDOWN_IOPORT; only granted ports pass the I/O bitmap (else #GP,
  SIGSEGV); iopl(3) is the all-ports bitmap.  TDX guests fault every user-space IN (#VE,
  only CPUID handled); SEV-SNP guests check the ioperm() bitmap in #VC since b9cb9c45583b
  (v6.6), so iopl(3) alone faults there.
- fs/proc/kcore.c: open needs CAP_SYS_RAWIO and is refused by confidentiality lockdown only.
- mm/secretmem.c: memfd_secret() is on by default since v6.5; /dev/mem read of its page is
  EPERM under STRICT_DEVMEM, else EFAULT (no direct map); mmap() is EPERM under STRICT_DEVMEM,
  EINVAL through PAT's range_is_allowed() copy before v6.16, else shows the secret (known issue).
"""

import itertools
from dataclasses import dataclass

import pytest

from harness.judging.ktap import KtapResult
from harness.judging.oracle import Oracle, derive_facts

DEBIAN = {
    "DEVMEM": "y",
    "X86_PAT": "y",
    "SECURITY_LOCKDOWN_LSM": "y",
    "SECURITY_LOCKDOWN_LSM_EARLY": "y",
    "LSM": "landlock,lockdown,yama",
    "X86_IOPL_IOPERM": "y",
    "PROC_KCORE": "y",
    "SECRETMEM": "y",
}
VERSIONS = ("4.9.0", "5.7.19", "5.10.223", "6.1.192", "6.12.107", "7.2.13")
IOMEM = ("", "iomem=relaxed", "iomem=strict", "iomem=relaxed,strict", "iomem=relaxed,nosmt")
LOCKDOWN = ("none", "integrity", "confidentiality")
# STRICT_DEVMEM, IO_STRICT_DEVMEM (which depends on it)
STRICTNESS = (("n", "n"), ("y", "n"), ("y", "y"))
KINDS = ("plain", "tdx", "sev-snp")
PASS, FAIL, SKIP, KNOWN = "pass", "fail", "skip", "known-issue"


def version(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split(".")[:2])


@dataclass(frozen=True)
class K:
    """One kernel and boot: what the rules depend on."""

    strict: bool
    io_strict: bool
    devport: bool
    lockdown: str
    iomem: str  # the command line word, as given
    kind: str
    version: str

    @property
    def locked(self) -> bool:
        return self.lockdown != "none"

    @property
    def confidential(self) -> bool:
        return self.kind in ("tdx", "sev-snp")

    @property
    def strict_iomem_checks(self) -> bool:
        value = self.strict  # kernel/resource.c: 1 with STRICT_DEVMEM
        arg = self.iomem.partition("=")[2]
        if "relaxed" in arg:
            value = False
        if "strict" in arg:
            value = True
        return value

    @property
    def busy_is_exclusive(self) -> bool:
        """iomem_is_exclusive() of a busy, non-exclusive region (a claimed BAR, PCI ECAM)."""
        return self.strict_iomem_checks and self.io_strict

    @property
    def devmem_refuses_busy(self) -> bool:
        """mmap_mem() of a busy MMIO page: range_is_allowed() is devmem_is_allowed() only with STRICT_DEVMEM."""
        return self.strict and self.busy_is_exclusive

    def since(self, v: str) -> bool:
        return version(self.version) >= version(v)


def obs(outcome, **more):
    return {"outcome": outcome, **more}


OPEN_REFUSED = {"skip": "open", "errno": "EPERM"}


def kernel_shows(probe: str, k: K):
    """(what the probe reports, the verdict the oracle must give, the looser report or None).

    A report is an observation dict, or ("SKIP", fields) for a probe that could not start."""
    dev_mem_refused = ("SKIP", {**OPEN_REFUSED, "path": "/dev/mem"})
    if k.confidential and not k.since("5.19"):
        return None  # TDX and SEV-SNP guest support arrived in v5.19: no such guest
    if probe == "devmem.open":
        if k.locked:
            return obs("EPERM"), PASS, obs("ok")
        if k.confidential:  # the policy asks EPERM; today's kernel opens: a known issue, not a pass
            return obs("ok"), KNOWN, None
        return obs("ok"), PASS, None
    if probe == "devport.open":
        if not k.devport:
            return obs("ENOENT"), SKIP, None
        if k.locked:
            return obs("EPERM"), PASS, obs("ok")
        if k.confidential:
            return obs("ok"), KNOWN, None
        return obs("ok"), PASS, None
    if probe.startswith("ioport."):
        return ioport_shows(probe, k)
    if k.confidential:
        return None  # the access probes of a confidential guest are the cc policy's (test_oracle.py)
    if probe.startswith(("pciprocfs.", "kcore.", "secretmem.")) or probe in (
        "pcisysfs.read.rom",
        "pcisysfs.mmap.wc-bar",
    ):
        return other_door_shows(probe, k)
    if probe == "devport.read.port-0x80":
        if not k.devport:
            return ("SKIP", {"skip": "open", "path": "/dev/port", "errno": "ENOENT"}), SKIP, None
        if k.locked:
            return ("SKIP", {"skip": "open", "path": "/dev/port", "errno": "EPERM"}), SKIP, None
        return obs("ok", ret="1"), PASS, None
    if probe.startswith("devmem.") and k.locked:
        return dev_mem_refused, SKIP, None
    if probe == "devmem.read.ram-below-1m":
        if k.strict and k.since("4.11"):  # devmem_is_allowed() == 2: zero-filled
            return obs("ok", ret="647168", data="zeros"), PASS, obs("ok", ret="647168", data="nonzero")
        if k.strict:  # the kernel predates the zeroing (a4866aa81251): a known issue with its commit
            return obs("ok", ret="647168", data="nonzero"), KNOWN, None
        return obs("ok", ret="647168", data="nonzero"), PASS, None
    if probe == "devmem.read.ram-above-1m":
        if k.strict:  # RAM above 1 MiB: devmem_is_allowed() == 0
            return obs("EPERM", ret="-1"), PASS, obs("ok", ret="4096", data="nonzero")
        return obs("ok", ret="4096", data="nonzero"), PASS, None
    if probe == "devmem.mmap.ram-below-1m":
        if k.strict and k.since("4.11"):  # read() zeroed, mmap() real: the low-1MB hole, never closed
            return obs("ok", touch="write", data="persisted"), KNOWN, None
        # Before v4.11 low RAM was simply allowed, read() and mmap() alike: no hole, mmap() is real by design.
        return obs("ok", touch="write", data="persisted"), PASS, None
    if probe in ("devmem.mmap.busy-mmio", "devmem.mmap.bound-bar"):
        if k.devmem_refuses_busy:
            return obs("EPERM"), PASS, obs("ok", touch="read")
        return obs("ok", touch="read"), PASS, None
    if probe == "devmem.mmap.idle-bar":
        return obs("ok", touch="read"), PASS, None
    if probe == "pcisysfs.mmap.idle-bar":
        return (obs("EPERM"), PASS, obs("ok", touch="read")) if k.locked else (obs("ok", touch="read"), PASS, None)
    if probe == "pcisysfs.mmap.bound-bar":
        if k.locked:  # LOCKDOWN_PCI_ACCESS is asked first
            return obs("EPERM"), PASS, obs("ok")
        if k.busy_is_exclusive:
            return obs("EINVAL"), PASS, obs("ok")
        return obs("ok"), PASS, None
    if probe == "pcisysfs.read.config":
        return obs("ok", ret="64", data="nonzero"), PASS, None
    if probe == "pcisysfs.write.config":
        if k.locked:
            return obs("EPERM", ret="-1"), PASS, obs("ok", ret="1", data="persisted")
        return obs("ok", ret="1", data="persisted"), PASS, None
    if probe == "pcisysfs.read.io-bar-2":
        return obs("ok", ret="2"), PASS, None
    if probe == "pcisysfs.write.io-bar-2":
        return (obs("EPERM", ret="-1"), PASS, obs("ok", ret="2")) if k.locked else (obs("ok", ret="2"), PASS, None)
    if probe == "pcisysfs.write.io-bar-3":
        return (obs("EPERM", ret="-1"), PASS, obs("ok", ret="3")) if k.locked else (obs("EINVAL", ret="-1"), PASS, None)
    if probe in ("devmem.revoke.bar-on-bind", "pcisysfs.revoke.bar-on-bind"):
        if probe.startswith("pcisysfs.") and k.locked:  # resourceN opens; its mmap() asks LOCKDOWN_PCI_ACCESS
            return obs("EPERM", step="map"), PASS, obs("ok", revoked="no", step="touch-after-bind")
        revoked = obs("SIGBUS", revoked="yes", step="touch-after-bind")
        live = obs("ok", revoked="no", step="touch-after-bind")
        if not k.busy_is_exclusive:  # devmem_is_allowed() still allows the claimed BAR: nothing revoked
            return live, PASS, None
        since = "5.8" if probe.startswith("devmem.") else "5.12"
        if not k.since(since):  # the kernel predates the revocation: a known issue with its commit
            return live, KNOWN, None
        return revoked, PASS, live
    raise AssertionError(f"no model for {probe}")


def ioport_shows(probe: str, k: K):
    if probe == "ioport.ioperm.past-65535":  # the range check comes before the capability and lockdown
        return obs("EINVAL"), PASS, obs("ok")
    if probe == "ioport.in.without-grant":
        return obs("SIGSEGV"), PASS, obs("ok")
    if k.locked:  # LOCKDOWN_IOPORT refuses raising the permission
        return obs("EPERM"), PASS, obs("ok")
    if probe == "ioport.ioperm.neighbour":
        return obs("SIGSEGV"), PASS, obs("ok")
    if k.kind == "tdx":  # #VE from user space: only CPUID is handled
        return obs("SIGSEGV"), PASS, None
    if probe == "ioport.iopl.level-3" and k.kind == "sev-snp":
        return (obs("SIGSEGV"), PASS, obs("ok")) if k.since("6.6") else (obs("ok"), KNOWN, None)
    return obs("ok"), PASS, None


def other_door_shows(probe: str, k: K):
    pci_refused = (obs("EPERM"), PASS, obs("ok"))
    if probe == "pcisysfs.read.rom":  # no lockdown check in any version
        return obs("ok", data="rom-signature"), PASS, None
    if probe in ("pciprocfs.mmap.idle-bar", "pcisysfs.mmap.wc-bar", "pciprocfs.ioctl.mmap-is-mem"):
        return pci_refused if k.locked else (obs("ok"), PASS, None)
    if probe == "pciprocfs.write.config":
        return pci_refused if k.locked else (obs("ok", ret="1", data="persisted"), PASS, None)
    if probe == "pciprocfs.mmap.no-rawio":
        return pci_refused
    if probe == "pciprocfs.mmap.past-bar-end":
        return pci_refused if k.locked else (obs("ENODEV"), PASS, obs("ok"))
    if probe == "pciprocfs.mmap.bound-bar":
        if k.locked:
            return pci_refused
        if k.busy_is_exclusive:
            return (obs("EINVAL"), PASS, obs("ok")) if k.since("5.12") else (obs("ok"), KNOWN, None)
        return obs("ok"), PASS, None
    if probe.startswith("pciprocfs.revoke."):
        if k.locked:
            return obs("EPERM", step="map"), PASS, obs("ok", revoked="no", step="touch-after-bind")
        live = obs("ok", revoked="no", step="touch-after-bind")
        if not k.busy_is_exclusive:
            return live, PASS, None
        if not k.since("5.12"):
            return live, KNOWN, None
        return obs("SIGBUS", revoked="yes", step="touch-after-bind"), PASS, live
    if probe == "kcore.open":
        return (obs("EPERM"), PASS, obs("ok")) if k.lockdown == "confidentiality" else (obs("ok"), PASS, None)
    if probe == "kcore.read.own-page":
        if k.lockdown == "confidentiality":
            return ("SKIP", {**OPEN_REFUSED, "path": "/proc/kcore"}), SKIP, None
        return obs("ok", data="match"), PASS, None
    # secretmem.*: through /dev/mem
    if k.locked:
        return ("SKIP", {**OPEN_REFUSED, "path": "/dev/mem"}), SKIP, None
    if not k.since("6.5"):
        return obs("no-target", call="memfd_secret", errno="ENOSYS"), SKIP, None
    secret = obs("ok", data="secret")
    if k.strict:  # RAM above 1 MiB
        return obs("EPERM"), PASS, secret
    if probe == "secretmem.devmem.read":  # the direct map has no entry: copy_from_kernel_nofault() fails
        return obs("EFAULT"), PASS, secret
    if not k.since("6.16"):  # PAT's range_is_allowed() copy (X86_PAT=y)
        return obs("EINVAL"), PASS, secret
    return secret, KNOWN, None


PROBES = (
    "devmem.open",
    "devport.open",
    "devport.read.port-0x80",
    "devmem.read.ram-below-1m",
    "devmem.read.ram-above-1m",
    "devmem.mmap.ram-below-1m",
    "devmem.mmap.busy-mmio",
    "devmem.mmap.bound-bar",
    "devmem.mmap.idle-bar",
    "pcisysfs.mmap.idle-bar",
    "pcisysfs.mmap.bound-bar",
    "pcisysfs.read.config",
    "pcisysfs.write.config",
    "pcisysfs.read.io-bar-2",
    "pcisysfs.write.io-bar-2",
    "pcisysfs.write.io-bar-3",
    "devmem.revoke.bar-on-bind",
    "pcisysfs.revoke.bar-on-bind",
    "pcisysfs.read.rom",
    "pcisysfs.mmap.wc-bar",
    "pciprocfs.ioctl.mmap-is-mem",
    "pciprocfs.write.config",
    "pciprocfs.mmap.idle-bar",
    "pciprocfs.mmap.no-rawio",
    "pciprocfs.mmap.past-bar-end",
    "pciprocfs.mmap.bound-bar",
    "pciprocfs.revoke.bar-on-bind",
    "pciprocfs.revoke.private-cow",
    "pciprocfs.revoke.forked-child",
    "ioport.ioperm.port-0x80",
    "ioport.ioperm.neighbour",
    "ioport.ioperm.past-65535",
    "ioport.in.without-grant",
    "ioport.iopl.level-3",
    "kcore.open",
    "kcore.read.own-page",
    "secretmem.devmem.read",
    "secretmem.devmem.mmap",
)


def kernels():
    for (strict, io_strict), devport, lockdown, iomem, kind, v in itertools.product(
        STRICTNESS, (True, False), LOCKDOWN, IOMEM, KINDS, VERSIONS
    ):
        yield K(strict == "y", io_strict == "y", devport, lockdown, iomem, kind, v)


def facts_for(k: K) -> dict:
    symbols = {
        **DEBIAN,
        "STRICT_DEVMEM": "y" if k.strict else "n",
        "IO_STRICT_DEVMEM": "y" if k.io_strict else "n",
        "DEVPORT": "y" if k.devport else "n",
    }
    cmdline = " ".join(w for w in (k.iomem, "" if k.lockdown == "none" else f"lockdown={k.lockdown}") if w)
    return derive_facts(symbols, cmdline, k.version, kind=k.kind)


def report(probe: str, shown) -> KtapResult:
    if isinstance(shown, tuple):
        _, fields = shown
        return KtapResult(
            1, probe, True, "SKIP", f"open({fields['path']}) refused: {fields['errno']}", observation=fields
        )
    return KtapResult(1, probe, shown["outcome"] == "ok", None, "", observation=dict(shown))


@pytest.fixture(scope="module")
def oracle():
    return Oracle.load()


def disagreements(oracle: Oracle) -> list[str]:
    bad = []
    for k in kernels():
        f = facts_for(k)
        for probe in PROBES:
            case = kernel_shows(probe, k)
            if case is None:
                continue
            shown, verdict, looser = case
            got = oracle.judge(probe, report(probe, shown), f)
            if got.verdict != verdict:
                bad.append(f"{probe} on {k}: the kernel shows {shown}, want {verdict}, oracle says {got.verdict}")
            if looser is not None:
                worse = oracle.judge(probe, report(probe, looser), f)
                if worse.verdict == PASS:
                    bad.append(f"{probe} on {k}: the looser {looser} passes")
    return bad


def test_the_oracle_agrees_with_the_kernels_rules_on_every_combination(oracle):
    bad = disagreements(oracle)
    assert not bad, f"{len(bad)} disagreements, e.g.:\n" + "\n".join(bad[:15])


def test_the_table_covers_every_input_the_rules_depend_on():
    ks = list(kernels())
    assert len(ks) == len(STRICTNESS) * 2 * len(LOCKDOWN) * len(IOMEM) * len(KINDS) * len(VERSIONS)
    # Both sides of every version boundary the model knows (v4.11 zeroing, v5.8 and v5.12 revocation).
    assert any(version(v) < (4, 11) for v in VERSIONS) and any(version(v) < (5, 8) for v in VERSIONS)
    assert any((5, 8) <= version(v) < (5, 12) for v in VERSIONS) and any(version(v) >= (5, 12) for v in VERSIONS)


def test_iomem_is_parsed_with_strstr_like_the_kernel():
    relaxed_and_more = K(True, True, True, "none", "iomem=relaxed,nosmt", "plain", "6.12.107")
    assert not relaxed_and_more.strict_iomem_checks
    assert facts_for(relaxed_and_more)["iomem"] == "relaxed"
    both = K(True, True, True, "none", "iomem=relaxed,strict", "plain", "6.12.107")
    assert both.strict_iomem_checks and facts_for(both)["iomem"] == "strict"
