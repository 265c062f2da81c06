# SPDX-License-Identifier: GPL-2.0-only
"""Confidential profiles without hardware: golden command lines from QEMU's docs, doctor on fake roots."""

import shlex
from pathlib import Path

import pytest

from harness.errors import RequirementMissing
from harness.guests import guest_setup, host_checks
from harness.guests.guest_setup import vm_spec
from harness.guests.host_checks import QemuInfo, first_missing, parse_object_types, parse_qemu_version, run_checks
from harness.guests.profiles import available, load_profile, read_cbitpos
from harness.guests.runner import RunOptions
from harness.kernels.kernel import Kernel

GOLDEN = Path(__file__).parents[1] / "golden"


def golden_argv(name: str) -> list[str]:
    lines = [ln for ln in (GOLDEN / name).read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return [word for ln in lines for word in shlex.split(ln)]


@pytest.mark.parametrize("profile, firmware", [("tdx", "OVMF.inteltdx.ms.fd"), ("sev-snp", "OVMF.amdsev.fd")])
def test_command_line_matches_qemu_documentation(profile, firmware, monkeypatch, tmp_path):
    monkeypatch.setattr(guest_setup, "read_cbitpos", lambda root: None)  # the documented default, 51
    (tmp_path / firmware).write_bytes(b"fw")  # --firmware must name a file that exists
    p = load_profile(profile)
    kernel = Kernel(image=Path("/k/bzImage"), config_path=Path("/k/config"), source="test")
    opts = RunOptions(profile=profile, memory_mib=p.memory_mib, firmware=str(tmp_path / firmware))
    spec = vm_spec(kernel, Path("/i/initrd.cpio"), [], opts, "kvm", p, Path("/r/qmp.sock"), Path("/r/qemu.pid"))
    argv = [a.replace(str(tmp_path), "/fw") for a in spec.argv()]
    assert argv == golden_argv(f"{profile}.argv")


def test_profiles_are_complete():
    assert set(available()) >= {"plain", "tdx", "sev-snp"}
    for name in ("tdx", "sev-snp"):
        p = load_profile(name)
        assert p.confidential and p.accelerator == "kvm" and p.qemu_min_version
        assert p.kernel_symbols and p.proof_dmesg and p.proof_device and p.host_checks
    assert load_profile("tdx").qemu_min_version == (10, 1, 0)
    assert load_profile("sev-snp").qemu_min_version == (9, 1, 0)
    assert not load_profile("tdx").emulated and not load_profile("plain").confidential


def test_cc_sim_is_an_emulated_confidential_profile_that_builds_its_kernel():
    p = load_profile("cc-sim")
    assert p.confidential and p.emulated and p.accelerator == "any"
    assert p.cpu == "max"  # RDRAND, or cc_random_init() panics
    assert p.append == ("cc_sim",)
    assert p.build and p.build.source == "deb:linux-source-6.12"
    assert p.build.kconfig == ("cc-sim",) and p.build.patches == ("cc-sim",)
    assert any("cc_sim: SIMULATED" in line for line in p.proof_dmesg)
    assert "Memory Encryption Features active" in p.proof_dmesg


def test_cc_sim_command_line_under_tcg():
    p = load_profile("cc-sim")
    kernel = Kernel(image=Path("/k/bzImage"), config_path=Path("/k/config"), source="test")
    opts = RunOptions(profile="cc-sim", memory_mib=p.memory_mib)
    spec = vm_spec(kernel, Path("/i/initrd.cpio"), [*p.append], opts, "tcg", p, Path("/r/qmp.sock"))
    argv = spec.argv()
    assert argv[argv.index("-cpu") + 1] == "max"
    assert "cc_sim" in argv[argv.index("-append") + 1].split()
    assert "-object" not in argv and "-bios" not in argv and "confidential-guest-support" not in " ".join(argv)


def test_a_profile_build_joins_the_run_options():
    from harness.guests.runner import apply_profile_build

    p = load_profile("cc-sim")
    opts = RunOptions(profile="cc-sim", patches=[Path("kconfigs/patches/devmem-cc-eperm.patch").resolve()])
    apply_profile_build(opts, p)
    assert opts.source == "deb:linux-source-6.12"
    assert [k.name for k in opts.kconfig] == ["cc-sim.config"]
    assert [x.name for x in opts.patches] == ["cc-sim.patch", "devmem-cc-eperm.patch"]
    apply_profile_build(opts, p)  # idempotent: a bisection step and its run both apply it
    assert len(opts.kconfig) == 1 and len(opts.patches) == 2
    mine = RunOptions(profile="cc-sim", source="/src/linux")
    apply_profile_build(mine, p)
    assert mine.source == "/src/linux" and [x.name for x in mine.patches] == ["cc-sim.patch"]
    prebuilt = RunOptions(profile="cc-sim", kernel="/k/bzImage")
    apply_profile_build(prebuilt, p)
    assert prebuilt.source is None and not prebuilt.patches


def test_qemu_output_parsers():
    assert parse_qemu_version("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n") == (7, 2, 22)
    assert parse_qemu_version("QEMU emulator version 10.1.0\nCopyright") == (10, 1, 0)
    objs = parse_object_types("List of user creatable objects:\n  authz-list\n  sev-snp-guest\n  tdx-guest\n")
    assert {"sev-snp-guest", "tdx-guest", "authz-list"} <= objs


def fake_root(tmp_path: Path, tdx: bool = False, snp: bool = False, firmware: bool = True) -> Path:
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    (root / "dev/kvm").write_text("")
    (root / "proc").mkdir()
    flags = "fpu vme" + (" tdx_host_platform" if tdx else "") + (" sev_snp" if snp else "")
    (root / "proc/cpuinfo").write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    for module, param, on in (("kvm_intel", "tdx", tdx), ("kvm_amd", "sev_snp", snp)):
        d = root / "sys/module" / module / "parameters"
        d.mkdir(parents=True)
        (d / param).write_text("Y\n" if on else "N\n")
    if firmware:
        for path in ("usr/share/ovmf/OVMF.inteltdx.ms.fd", "usr/share/ovmf/OVMF.amdsev.fd"):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(b"fw")
    return root


NEW_QEMU = QemuInfo(
    "qemu-system-x86_64", (10, 1, 0), "QEMU emulator version 10.1.0", frozenset({"tdx-guest", "sev-snp-guest"})
)
OLD_QEMU = QemuInfo("qemu-system-x86_64", (7, 2, 22), "QEMU emulator version 7.2.22", frozenset({"sev-guest"}))


def test_doctor_tdx_host(tmp_path):
    checks = run_checks(fake_root(tmp_path, tdx=True), info=NEW_QEMU)
    assert first_missing(load_profile("tdx"), checks) is None
    assert first_missing(load_profile("sev-snp"), checks).name == "sev-snp-host"


def test_doctor_snp_host(tmp_path):
    checks = run_checks(fake_root(tmp_path, snp=True), info=NEW_QEMU)
    assert first_missing(load_profile("sev-snp"), checks) is None
    missing = first_missing(load_profile("tdx"), checks)
    assert missing.name == "tdx-host" and "kvm_intel" in missing.detail and missing.hint


def test_doctor_old_qemu(tmp_path):
    missing = first_missing(load_profile("sev-snp"), run_checks(fake_root(tmp_path, snp=True), info=OLD_QEMU))
    assert missing.name == "sev-snp-qemu" and "needs >= 9.1.0" in missing.detail


def test_doctor_missing_firmware(tmp_path):
    root = fake_root(tmp_path, tdx=True, firmware=False)
    missing = first_missing(load_profile("tdx"), run_checks(root, info=NEW_QEMU))
    assert missing.name == "tdx-firmware" and "--firmware" in missing.hint


def test_doctor_no_kvm(tmp_path):
    root = fake_root(tmp_path, tdx=True)
    (root / "dev/kvm").unlink()
    missing = first_missing(load_profile("tdx"), run_checks(root, info=NEW_QEMU))
    assert missing.name == "kvm-device"
    assert first_missing(load_profile("plain"), run_checks(root, info=NEW_QEMU)) is None


def test_cbitpos_from_the_cpuid_device(tmp_path):
    root = tmp_path
    (root / "dev/cpu/0").mkdir(parents=True)
    with open(root / "dev/cpu/0/cpuid", "wb") as f:  # sparse: the leaf is the file offset
        f.seek(0x8000001F)
        f.write((0x1).to_bytes(4, "little") + (0x0000_0173).to_bytes(4, "little") + bytes(8))
    assert read_cbitpos(root) == 0x33  # 51
    assert read_cbitpos(tmp_path / "nowhere") is None


def test_require_profile_names_the_first_missing_thing(tmp_path):
    with pytest.raises(RequirementMissing) as exc:
        host_checks.require_profile(load_profile("tdx"), "qemu-system-x86_64", None, fake_root(tmp_path), NEW_QEMU)
    assert "profile tdx cannot run here" in exc.value.line() and "kvm_intel" in exc.value.line()
