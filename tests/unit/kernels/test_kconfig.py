# SPDX-License-Identifier: GPL-2.0-only
from harness.kernels.kconfig import config_version, parse_config, version_tuple

CONFIG = """#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.12.107 Kernel Configuration
#
CONFIG_DEVMEM=y
# CONFIG_STRICT_DEVMEM is not set
CONFIG_LSM="landlock,lockdown,yama"
CONFIG_NR_CPUS=64
"""


def test_parse_config_values_and_unset():
    sym = parse_config(CONFIG)
    assert sym["DEVMEM"] == "y"
    assert sym["STRICT_DEVMEM"] == "n"
    assert sym["LSM"] == "landlock,lockdown,yama"
    assert sym["NR_CPUS"] == "64"


def test_config_version():
    assert config_version(CONFIG) == "6.12.107"
    assert config_version("CONFIG_X=y\n") is None


def test_version_tuple():
    assert version_tuple("6.12.107+deb12-amd64") == (6, 12, 107)
    assert version_tuple("6.16") == (6, 16, 0)
    assert version_tuple("6.1.0-56-amd64") == (6, 1, 0)
