# SPDX-License-Identifier: GPL-2.0-only
"""`setup`'s table: each need named for apt and dnf hosts, the family read from os-release."""

import os
import subprocess
import sys

import pytest

from harness import host_packages
from harness.paths import REPO_ROOT


@pytest.mark.parametrize(
    "release, family",
    [
        ({"ID": "debian"}, "debian"),
        ({"ID": "ubuntu", "ID_LIKE": "debian"}, "debian"),
        ({"ID": "fedora"}, "fedora"),
        ({"ID": "centos", "ID_LIKE": "rhel fedora"}, "fedora"),
        ({"ID": "rocky", "ID_LIKE": "rhel centos fedora"}, "fedora"),
        ({"ID": "linuxmint", "ID_LIKE": "ubuntu debian"}, "debian"),
        ({"ID": "arch"}, None),
    ],
)
def test_family_from_os_release(release, family):
    assert host_packages.family(release) == family


def test_every_need_is_named_for_both_families_or_says_why_not():
    for need, (deb, rpm) in host_packages.PACKAGES.items():
        assert deb, need  # Debian names everything
        assert rpm or ("fedora", need) in host_packages._NOTES, need
    for group in host_packages.GROUPS.values():
        assert set(group) <= set(host_packages.PACKAGES)


def setup_on(tmp_path, os_release: str, *args: str) -> subprocess.CompletedProcess:
    """`python3 -m harness setup` with the host's python3 (no venv: it runs before one exists) on a root
    whose os-release is `os_release`."""
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "etc/os-release").write_text(os_release)
    env = {**os.environ, "DEVMEM_HARNESS_HOST_ROOT": str(tmp_path), "PYTHONNOUSERSITE": "1"}
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    return subprocess.run(
        [python, "-m", "harness", "setup", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )


def test_setup_names_dnf_packages_on_a_fedora_host(tmp_path):
    out = setup_on(tmp_path, "ID=fedora\n", "--all", "--print")
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("dnf install ") and "glibc-static" in line and "distribution-gpg-keys" in line
    assert "lava: not packaged" in out.stderr


def test_setup_on_an_unknown_family_names_both_tables_and_exits_4(tmp_path):
    out = setup_on(tmp_path, 'ID=arch\nPRETTY_NAME="Arch Linux"\n')
    assert out.returncode == 4
    assert (
        out.stdout.startswith("debian: apt-get install qemu-system-x86 ")
        and "fedora: dnf install qemu-kvm" in out.stdout
    )
    assert (
        out.stderr.strip()
        == "devmem-harness: error: Arch Linux: no package table for this family (install the above by hand)"
    )


def test_install_hints_follow_the_host(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text("ID=centos\nID_LIKE=rhel fedora\n")
    monkeypatch.setenv("DEVMEM_HARNESS_HOST_ROOT", str(tmp_path))
    assert host_packages.install_hint("busybox") == "dnf install busybox"
    assert host_packages.install_hint("lava").startswith("lava: not packaged")
    (tmp_path / "etc/os-release").write_text("ID=ubuntu\nID_LIKE=debian\n")
    assert host_packages.install_hint("busybox") == "apt-get install busybox-static"
