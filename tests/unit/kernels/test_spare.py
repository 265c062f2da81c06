# SPDX-License-Identifier: GPL-2.0-only
"""The spare-device choice (harness/kernels/spare.py): which device, which modules, in which order, and why."""

import struct

import pytest

from harness.errors import BadInput
from harness.guests.qemu_cmd import VMSpec
from harness.kernels.spare import choose, load_catalog, modinfo, module_chain

NONE = {"E1000": "n", "VIRTIO_PCI": "n", "VMXNET3": "n", "BLK_DEV_NVME": "n"}


def fake_module(path, **info):
    """A minimal ELF64 with a .modinfo section: enough for modinfo(), which reads only that."""
    modinfo_data = b"".join(f"{k}={v}\0".encode() for k, v in info.items())
    shstr = b"\0.modinfo\0.shstrtab\0"
    body_off = 64
    shstr_off = body_off + len(modinfo_data)
    shoff = shstr_off + len(shstr)
    header = bytearray(64)
    header[:5] = b"\x7fELF\x02"
    struct.pack_into("<Q", header, 0x28, shoff)
    struct.pack_into("<HHH", header, 0x3A, 64, 3, 2)

    def sh(name, offset, size):
        return struct.pack("<IIQQQQ", name, 1, 0, 0, offset, size) + bytes(24)

    sections = bytes(64) + sh(1, body_off, len(modinfo_data)) + sh(10, shstr_off, len(shstr))
    path.write_bytes(bytes(header) + modinfo_data + shstr + sections)
    return path


def test_generic_kernels_keep_e1000_and_cloud_kernels_get_the_built_in_virtio(tmp_path):
    e1000 = fake_module(tmp_path / "e1000.ko", depends="")
    generic = choose({"E1000": "m", "VIRTIO_PCI": "y"}, (e1000,), "deb:generic")
    assert (generic.device.name, generic.modules, generic.tried) == ("e1000", (e1000,), ())
    cloud = choose({"E1000": "n", "VIRTIO_PCI": "y", "VMXNET3": "m"}, (), "deb:cloud")
    assert cloud.device.name == "virtio-rng-pci" and cloud.modules == () and "built in" in cloud.how
    assert cloud.tried == (("e1000", "CONFIG_E1000 is not set"),)
    assert "harness.spare=1af4:1005" in cloud.append and "harness.spare-bar=4" in cloud.append


def test_a_module_comes_with_its_dependencies_first(tmp_path):
    auth = fake_module(tmp_path / "nvme-auth.ko", depends="")
    core = fake_module(tmp_path / "nvme-core.ko", depends="nvme-auth")
    nvme = fake_module(tmp_path / "nvme.ko", depends="nvme-core")
    choice = choose({**NONE, "BLK_DEV_NVME": "m"}, (nvme, core, auth), "deb:x")
    assert choice.device.name == "nvme" and choice.modules == (auth, core, nvme)
    loaded = choice.probe_args()[-6:][1::2]
    assert loaded == ["/lib/modules/nvme-auth.ko", "/lib/modules/nvme-core.ko", "/lib/modules/nvme.ko"]
    chain, missing = module_chain("nvme", {"nvme": nvme})
    assert missing == "nvme_core" and chain == []


def test_no_driver_anywhere_names_every_device_tried_and_keeps_a_device_for_the_idle_probes():
    choice = choose(NONE, (), "deb:x")
    assert not choice.available and choice.device.name == "e1000"
    assert [n for n, _ in choice.tried] == load_catalog().names
    record = choice.record()
    assert record["available"] is False and len(record["tried"]) == len(load_catalog().names)


def test_forcing_a_device_the_kernel_lacks_is_an_honest_not_run_and_an_unsuitable_one_is_refused():
    forced = choose({"E1000": "m", "VMXNET3": "n"}, (), "deb:x", forced="vmxnet3")
    assert not forced.available and forced.forced and forced.tried == (("vmxnet3", "CONFIG_VMXNET3 is not set"),)
    with pytest.raises(BadInput, match="pvpanic-pci: not a spare device: .*never requests the region"):
        load_catalog().get("pvpanic-pci")
    with pytest.raises(BadInput, match="rtl8139: no such spare device"):
        load_catalog().get("rtl8139")


def test_the_device_reaches_the_qemu_line_and_the_guest(tmp_path):
    choice = choose({**NONE, "VMXNET3": "y"}, (), "deb:x")
    spec = VMSpec(kernel=tmp_path / "k", initrd=tmp_path / "i", spare=choice)
    argv = spec.argv()
    assert argv[argv.index("-device", argv.index("pvpanic")) + 1] == "vmxnet3,netdev=spare0"
    assert "harness.spare-driver=vmxnet3" in spec.cmdline and "e1000" not in " ".join(argv)
    virtio = choose({**NONE, "VIRTIO_PCI": "y"}, (), "deb:x")
    assert "virtio-rng-pci" in VMSpec(kernel=tmp_path / "k", initrd=tmp_path / "i", spare=virtio).argv()


def test_modinfo_reads_the_first_value_of_each_key(tmp_path):
    ko = fake_module(tmp_path / "x.ko", name="x", depends="a,b-c", vermagic="6.12.107 SMP")
    assert modinfo(ko) == {"name": "x", "depends": "a,b-c", "vermagic": "6.12.107 SMP"}
    (tmp_path / "bad.ko").write_bytes(b"not an elf")
    with pytest.raises(BadInput, match="not a 64-bit ELF kernel module"):
        modinfo(tmp_path / "bad.ko")
