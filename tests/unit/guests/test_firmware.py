# SPDX-License-Identifier: GPL-2.0-only
"""Firmware descriptors (QEMU docs/interop/firmware.json) read as libvirt reads them: precedence,
masking, features, targets and mapping.  The descriptors are written here; the real Debian packages
are tested in tests/integration/test_firmware_packages.py."""

import json
from pathlib import Path

from harness.guests.firmware import FirmwareNeed, descriptors, find, memory_image

TDX = FirmwareNeed("-bios", "TDVF", "intel-tdx", "ovmf-inteltdx", ("/usr/share/ovmf/OVMF.inteltdx.fd",))


def descriptor(features, device="memory", filename="/fw/tdx.fd", machines=("pc-q35-*",), arch="x86_64") -> dict:
    return {
        "interface-types": ["uefi"],
        "mapping": {"device": device, "filename": filename}
        if device == "memory"
        else {"device": "flash", "executable": {"filename": filename, "format": "raw"}},
        "targets": [{"architecture": arch, "machines": list(machines)}],
        "features": list(features),
    }


def install(root: Path, directory: str, name: str, desc: dict | None, image: str | None = None) -> None:
    d = root / directory
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(json.dumps(desc) if desc is not None else "")
    if image:
        (root / image.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (root / image.lstrip("/")).write_bytes(b"fw")


def test_only_a_memory_mapped_image_with_the_feature_on_q35():
    assert memory_image(descriptor(["intel-tdx"]), "intel-tdx") == "/fw/tdx.fd"
    assert memory_image(descriptor(["amd-sev", "amd-sev-es"]), "amd-sev-snp") is None  # bookworm's OVMF
    assert memory_image(descriptor(["intel-tdx"], device="flash"), "intel-tdx") is None  # pflash: not -bios
    assert memory_image(descriptor(["intel-tdx"], machines=("pc-i440fx-*",)), "intel-tdx") is None
    assert memory_image(descriptor(["intel-tdx"], arch="aarch64"), "intel-tdx") is None


def test_precedence_name_order_and_masking(tmp_path):
    share, etc = "usr/share/qemu/firmware", "etc/qemu/firmware"
    install(tmp_path, share, "60-tdx.json", descriptor(["intel-tdx"], filename="/fw/share.fd"), "/fw/share.fd")
    install(tmp_path, share, "70-other.json", descriptor(["intel-tdx"], filename="/fw/later.fd"), "/fw/later.fd")
    found = find(TDX, None, [tmp_path])
    assert found.path == tmp_path / "fw/share.fd" and found.source == "descriptor /usr/share/qemu/firmware/60-tdx.json"
    # The same name in /etc hides the distribution's descriptor.
    install(tmp_path, etc, "60-tdx.json", descriptor(["intel-tdx"], filename="/fw/etc.fd"), "/fw/etc.fd")
    assert find(TDX, None, [tmp_path]).path == tmp_path / "fw/etc.fd"
    # An empty file masks it: the next descriptor by name is chosen.
    install(tmp_path, etc, "60-tdx.json", None)
    assert [p.name for p in descriptors(tmp_path)] == ["70-other.json"]
    assert find(TDX, None, [tmp_path]).path == tmp_path / "fw/later.fd"


def test_a_descriptor_whose_image_is_missing_or_broken_is_passed_over(tmp_path):
    install(tmp_path, "usr/share/qemu/firmware", "10-broken.json", None)
    (tmp_path / "usr/share/qemu/firmware/10-broken.json").write_text("{ not json")
    install(tmp_path, "usr/share/qemu/firmware", "20-gone.json", descriptor(["intel-tdx"], filename="/fw/gone.fd"))
    assert find(TDX, None, [tmp_path]) is None
    install(tmp_path, "usr/share/ovmf", "x", None)
    (tmp_path / "usr/share/ovmf/OVMF.inteltdx.fd").write_bytes(b"fw")
    found = find(TDX, None, [tmp_path])
    assert found.path == tmp_path / "usr/share/ovmf/OVMF.inteltdx.fd" and found.source == "path list"


def test_firmware_option_wins_and_must_exist(tmp_path):
    (tmp_path / "mine.fd").write_bytes(b"fw")
    assert find(TDX, str(tmp_path / "mine.fd"), [tmp_path]).source == "--firmware"
    assert find(TDX, str(tmp_path / "absent.fd"), [tmp_path]) is None
