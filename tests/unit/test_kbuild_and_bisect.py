"""Kernel-build and bisection logic that needs no kernel: fragment checks, patch parsing, expectations."""

from pathlib import Path

import pytest

from harness.bisect import Expectation
from harness.errors import BadInput
from harness.kbuild import _patch_files, resolve_fragment, verify_config

KCONFIG = """\
config STRICT_DEVMEM
\tbool "Filter access to /dev/mem"
\tdepends on MMU
\tdepends on DEVMEM

config IO_STRICT_DEVMEM
\tbool "Filter I/O access to /dev/mem"
\tdepends on STRICT_DEVMEM

config CHOSEN
\tbool
"""


def fragment(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "f.config"
    f.write_text(text)
    return f


def test_a_dropped_symbol_names_its_dependency(tmp_path):
    (tmp_path / "Kconfig.debug").write_text(KCONFIG)
    f = fragment(tmp_path, "CONFIG_IO_STRICT_DEVMEM=y\n")
    with pytest.raises(BadInput) as exc:
        verify_config((f,), {"MMU": "y", "DEVMEM": "y", "STRICT_DEVMEM": "n"}, tmp_path)
    line = exc.value.line()
    assert "CONFIG_IO_STRICT_DEVMEM=y was dropped" in line
    assert "depends on STRICT_DEVMEM" in line and "off here: CONFIG_STRICT_DEVMEM" in line


def test_all_dependencies_are_listed(tmp_path):
    (tmp_path / "Kconfig").write_text(KCONFIG)
    f = fragment(tmp_path, "CONFIG_STRICT_DEVMEM=y\n")
    with pytest.raises(BadInput, match="depends on MMU && DEVMEM; off here: CONFIG_DEVMEM"):
        verify_config((f,), {"MMU": "y"}, tmp_path)


def test_unknown_symbol_and_kept_symbols(tmp_path):
    (tmp_path / "Kconfig").write_text(KCONFIG)
    ok = fragment(tmp_path, "CONFIG_STRICT_DEVMEM=y\n# CONFIG_IO_STRICT_DEVMEM is not set\n")
    verify_config((ok,), {"STRICT_DEVMEM": "y"}, tmp_path)  # unset reads as n: kept
    typo = fragment(tmp_path, "CONFIG_STRICT_DEVMME=y\n")
    with pytest.raises(BadInput, match="no such symbol"):
        verify_config((typo,), {}, tmp_path)


def test_fragment_names_resolve_to_kconfigs():
    assert resolve_fragment("strict").name == "strict.config"
    assert resolve_fragment("kconfigs/nostrict.config").name == "nostrict.config"
    with pytest.raises(BadInput, match="no such fragment"):
        resolve_fragment("strcit")


def test_every_shipped_fragment_says_what_it_is_for():
    for f in Path(resolve_fragment("strict")).parent.glob("*.config"):
        assert f.read_text().startswith("#"), f"{f.name} starts with a comment"


def test_patch_files():
    p = Path(__file__).parent / "data" / "two-files.patch"
    assert _patch_files(p) == ["drivers/char/mem.c", "kernel/resource.c"]


def test_expectations():
    e = Expectation.parse("errno=EPERM", False)
    assert e.fields == {"outcome": "EPERM"}
    assert e.holds({"observation": {"outcome": "EPERM"}})
    assert not e.holds({"observation": {"outcome": "ok"}})
    two = Expectation.parse("outcome=ok,data=zeros", False)
    assert two.holds({"observation": {"outcome": "ok", "data": "zeros"}})
    assert not two.holds({"observation": {"outcome": "ok", "data": "nonzero"}})
    assert Expectation.parse(None, True).holds({"verdict": "pass"})
    assert not Expectation.parse(None, True).holds({"verdict": "known-issue"})
    with pytest.raises(BadInput):
        Expectation.parse("EPERM", False)
    with pytest.raises(BadInput):
        Expectation.parse("errno=EPERM", True)
