# SPDX-License-Identifier: GPL-2.0-only
"""The confidential profiles' firmware, chosen from the real Debian packages' QEMU descriptors.

Debian's `ovmf-inteltdx` and `ovmf-amdsev` (sid) are unpacked under a fake root: doctor and
`--dry-run` must pick their images from their descriptors.  With only the generic `ovmf`
(bookworm: OVMF.fd, descriptors for pflash with amd-sev but not SNP or TDX) both profiles
are refused with exit 4 naming the package to install.
"""

import json

import pytest

from ..conftest import harness
from ..ovmf_packages import CONFIDENTIAL, GENERIC, unpacked_root

CHOSEN = {
    "tdx": ("usr/share/ovmf/OVMF.inteltdx.ms.fd", "/usr/share/qemu/firmware/60-edk2-x86_64-inteltdx.json"),
    "sev-snp": ("usr/share/ovmf/OVMF.amdsev.fd", "/usr/share/qemu/firmware/60-edk2-x86_64-amdsev.json"),
}
PACKAGE = {"tdx": "ovmf-inteltdx", "sev-snp": "ovmf-amdsev"}


@pytest.fixture(scope="module")
def confidential_root(tmp_path_factory):
    return unpacked_root(tmp_path_factory.mktemp("cc-fw") / "root", CONFIDENTIAL + GENERIC)


@pytest.fixture(scope="module")
def generic_root(tmp_path_factory):
    return unpacked_root(tmp_path_factory.mktemp("generic-fw") / "root", GENERIC)


def test_doctor_chooses_each_image_from_its_descriptor(confidential_root):
    doctor = json.loads(harness("doctor", "--json", "--root", str(confidential_root)).stdout)
    checks = {c["name"]: c for c in doctor["checks"]}
    for profile, (image, descriptor) in CHOSEN.items():
        check = checks[f"{profile}-firmware"]
        assert check["ok"] is True, check
        assert f"{confidential_root / image} (from descriptor {descriptor})" in check["detail"]


@pytest.mark.parametrize("profile", sorted(CHOSEN))
def test_dry_run_loads_the_descriptors_image(profile, confidential_root):
    run = harness("run", "--profile", profile, "--dry-run", env={"DEVMEM_HARNESS_HOST_ROOT": str(confidential_root)})
    assert run.returncode == 0, run.stderr
    assert f"-bios {confidential_root / CHOSEN[profile][0]}" in run.stdout
    assert "OVMF.fd" not in run.stdout  # the generic firmware, installed beside it, is never chosen


@pytest.mark.parametrize("profile", sorted(CHOSEN))
def test_generic_firmware_only_is_a_missing_requirement(profile, generic_root):
    assert (generic_root / "usr/share/ovmf/OVMF.fd").is_file()
    env = {"DEVMEM_HARNESS_HOST_ROOT": str(generic_root)}
    run = harness("run", "--profile", profile, "--dry-run", env=env)
    assert run.returncode == 4
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert f"apt-get install {PACKAGE[profile]}" in lines[0] and f"profile {profile}: no " in lines[0]
    doctor = harness("doctor", "--root", str(generic_root))
    row = next(ln for ln in doctor.stdout.splitlines() if ln.startswith(f"{profile}-firmware"))
    assert "MISSING" in row and f"apt-get install {PACKAGE[profile]}" in row
