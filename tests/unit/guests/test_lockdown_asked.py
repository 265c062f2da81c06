# SPDX-License-Identifier: GPL-2.0-only
"""lockdown= asked of a kernel that cannot honour it: bad input, refused before the boot (guests/runner.py)."""

from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.guests.runner import require_lockdown_honoured
from harness.kernels.kernel import Kernel


def kernel(tmp_path: Path, *lines: str) -> Kernel:
    config = tmp_path / "config"
    config.write_text("\n".join(lines) + "\n")
    return Kernel(image=tmp_path / "bzImage", config_path=config, source="test", release="6.12.0-test")


def test_a_kernel_without_the_lockdown_lsm_is_refused_with_the_symbol(tmp_path):
    k = kernel(tmp_path, "CONFIG_STRICT_DEVMEM=y", "# CONFIG_SECURITY_LOCKDOWN_LSM is not set")
    with pytest.raises(BadInput) as e:
        require_lockdown_honoured(k, ["console=ttyS0", "lockdown=integrity"])
    assert "CONFIG_SECURITY_LOCKDOWN_LSM" in e.value.line() and "6.12.0-test" in e.value.line()
    assert e.value.exit_code == 2


def test_an_lsm_list_without_lockdown_is_refused_unless_it_starts_early(tmp_path):
    k = kernel(tmp_path, "CONFIG_SECURITY_LOCKDOWN_LSM=y")
    with pytest.raises(BadInput, match="lsm=yama,apparmor"):
        require_lockdown_honoured(k, ["lsm=yama,apparmor", "lockdown=confidentiality"])
    early = kernel(tmp_path, "CONFIG_SECURITY_LOCKDOWN_LSM=y", "CONFIG_SECURITY_LOCKDOWN_LSM_EARLY=y")
    require_lockdown_honoured(early, ["lsm=yama,apparmor", "lockdown=confidentiality"])


def test_a_word_that_is_no_level_is_refused_and_honourable_requests_pass(tmp_path):
    k = kernel(tmp_path, "CONFIG_SECURITY_LOCKDOWN_LSM=y")
    with pytest.raises(BadInput, match="lockdown=integrty: not a lockdown level"):
        require_lockdown_honoured(k, ["lockdown=integrty"])
    require_lockdown_honoured(k, ["lockdown=integrity"])
    require_lockdown_honoured(kernel(tmp_path, "# CONFIG_SECURITY_LOCKDOWN_LSM is not set"), ["quiet"])
