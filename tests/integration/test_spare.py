# SPDX-License-Identifier: GPL-2.0-only
"""Revocation on the kernels people boot: the spare PCI device follows the kernel's drivers.

Real Debian kernels under QEMU: bookworm's cloud 6.12 (no E1000, virtio_pci built in),
and the generic 6.12 with each catalogued device forced.  A kernel with no driver for any
of them: tests/integration/test_history.py (5.10 by path with an empty --modules).
"""

import pytest

from harness.kernels.spare import load_catalog

from ..conftest import harness

pytestmark = pytest.mark.guest

CLOUD = "deb:linux-image-6.12.107+deb12-cloud-amd64-unsigned"
# The probes that bind the spare device's driver; the first four are the issue's.
BIND_PROBES = (
    "devmem.revoke.bar-on-bind",
    "pcisysfs.revoke.bar-on-bind",
    "devmem.mmap.bound-bar",
    "pcisysfs.mmap.bound-bar",
    "devmem.revoke.private-cow",
    "devmem.revoke.forked-child",
    "pciprocfs.revoke.bar-on-bind",
    "pciprocfs.mmap.bound-bar",
    "pciprocfs.revoke.private-cow",
    "pciprocfs.revoke.forked-child",
)
# What each must show with a driver bound under IO_STRICT_DEVMEM (expectations.yaml's rules).
STRICT = {
    "devmem.revoke.bar-on-bind": ("SIGBUS", "yes"),
    "pcisysfs.revoke.bar-on-bind": ("SIGBUS", "yes"),
    "devmem.mmap.bound-bar": ("EPERM", None),
    "pcisysfs.mmap.bound-bar": ("EINVAL", None),
    "devmem.revoke.private-cow": ("SIGBUS", "yes"),
    "devmem.revoke.forked-child": ("SIGBUS", "yes"),
    "pciprocfs.revoke.bar-on-bind": ("SIGBUS", "yes"),
    "pciprocfs.mmap.bound-bar": ("EINVAL", None),
    "pciprocfs.revoke.private-cow": ("SIGBUS", "yes"),
    "pciprocfs.revoke.forked-child": ("SIGBUS", "yes"),
}


def test_cloud_kernel_runs_the_revocation_probes_on_the_built_in_virtio_device(tmp_path):
    run = harness("run", "--kernel", CLOUD, runs_dir=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    r = run.results
    spare = r["spare"]
    assert (spare["device"], spare["driver"], spare["available"]) == ("virtio-rng-pci", "virtio-pci", True), spare
    assert "CONFIG_VIRTIO_PCI=y" in spare["why"] and spare["modules"] == []
    assert {"device": "e1000", "why_not": "CONFIG_E1000 is not set"} in spare["tried"]
    for probe, (outcome, revoked) in STRICT.items():
        entry = run.probe(probe)
        obs = entry["observation"]
        assert entry["verdict"] == "pass" and obs["outcome"] == outcome, entry
        assert obs.get("spare") == "virtio-rng-pci" and obs.get("driver") == "virtio-pci", entry
        if revoked:
            assert obs["revoked"] == revoked, entry
    skipped = sorted(p["name"] for p in r["probes"] if p["verdict"] == "skip")
    # No /dev/port on the cloud kernel, and QEMU gives virtio-rng-pci no option ROM.
    assert skipped and all(name.startswith("devport.") or name == "pcisysfs.read.rom" for name in skipped), skipped
    assert run.probe("pcisysfs.read.rom")["rule"] == "spare-without-rom"
    assert r["counts"]["not-run"] == 0 and r["counts"]["fail"] == 0 and r["counts"]["error"] == 0


@pytest.mark.parametrize("device", load_catalog().names)
@pytest.mark.parametrize("iomem", ["strict", "relaxed"])
def test_each_catalogued_device_forced_on_the_generic_kernel(device, iomem, tmp_path):
    append = ["--append", "iomem=relaxed"] if iomem == "relaxed" else []
    run = harness("run", "--spare", device, "--probe", ",".join(BIND_PROBES), *append, runs_dir=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    spare = run.results["spare"]
    driver = load_catalog().get(device).driver
    assert (spare["device"], spare["forced"], spare["available"]) == (device, True, True), spare
    for probe in BIND_PROBES:
        entry = run.probe(probe)
        obs = entry["observation"]
        assert entry["verdict"] == "pass", entry
        assert (obs.get("spare"), obs.get("driver")) == (device, driver), entry
        if iomem == "relaxed":  # IO_STRICT_DEVMEM's checks are off: nothing revoked, the bound BAR maps
            assert obs["outcome"] == "ok" and obs.get("revoked", "no") == "no", entry
        else:
            outcome, revoked = STRICT[probe]
            assert obs["outcome"] == outcome and obs.get("revoked") == revoked, entry
