# SPDX-License-Identifier: GPL-2.0-only
"""Kernel-build and bisection logic that needs no kernel: fragment checks, patch parsing, expectations."""

from pathlib import Path

import pytest

from harness.commands.bisect import Expectation, StepOptions, judge_step
from harness.errors import BadInput
from harness.kernels.kbuild import _first_error, resolve_fragment, resolve_patch
from harness.kernels.kconfig import verify_config

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


def test_expectations():
    e = Expectation.parse("errno=EPERM", False)
    assert e.fields == {"outcome": "EPERM"}
    assert e.holds({"observation": {"outcome": "EPERM"}})
    assert not e.holds({"observation": {"outcome": "ok"}})
    two = Expectation.parse("outcome=ok,data=zeros", False)
    assert two.holds({"observation": {"outcome": "ok", "data": "zeros"}})
    assert not two.holds({"observation": {"outcome": "ok", "data": "nonzero"}})
    oracle = Expectation.parse(None, True)
    assert oracle.holds({"verdict": "pass"}) and not oracle.holds({"verdict": "fail"})
    # A kernel that predates a protection (known issue) is not a regression: --oracle calls it good.
    assert oracle.holds({"verdict": "known-issue"}) and oracle.holds({"verdict": "skip"})
    with pytest.raises(BadInput):
        Expectation.parse("EPERM", False)
    with pytest.raises(BadInput):
        Expectation.parse("errno=EPERM", True)


def test_patch_names_resolve_to_kconfigs_patches():
    assert resolve_patch("cc-sim").name == "cc-sim.patch"
    assert resolve_patch("kconfigs/patches/devmem-cc-eperm.patch").is_absolute()
    with pytest.raises(BadInput, match="--patch cc-smi: no such file") as exc:
        resolve_patch("cc-smi")
    assert "cc-sim" in exc.value.line() and "\n" not in exc.value.line()


def test_a_later_fragment_overrides_an_earlier_one(tmp_path):
    (tmp_path / "Kconfig").write_text(KCONFIG)
    on = tmp_path / "on.config"
    on.write_text("CONFIG_STRICT_DEVMEM=y\n")
    off = tmp_path / "off.config"
    off.write_text("# CONFIG_STRICT_DEVMEM is not set\n")
    verify_config((on, off), {"MMU": "y", "DEVMEM": "y"}, tmp_path)  # nodevmem over base, say
    with pytest.raises(BadInput, match="off.config: CONFIG_STRICT_DEVMEM=n was dropped"):
        verify_config((on, off), {"MMU": "y", "DEVMEM": "y", "STRICT_DEVMEM": "y"}, tmp_path)
    # what a later fragment turns off takes what depends on it along: cc-sim's IO_STRICT_DEVMEM=y, nostrict
    both = tmp_path / "cc-sim.config"
    both.write_text("CONFIG_STRICT_DEVMEM=y\nCONFIG_IO_STRICT_DEVMEM=y\n")
    verify_config((both, off), {"MMU": "y", "DEVMEM": "y"}, tmp_path)
    io = tmp_path / "io.config"
    io.write_text("CONFIG_IO_STRICT_DEVMEM=y\n")
    with pytest.raises(BadInput, match="io.config: CONFIG_IO_STRICT_DEVMEM=y was dropped"):
        verify_config((off, io), {"MMU": "y", "DEVMEM": "y"}, tmp_path)  # asked after: the asker is told


@pytest.mark.parametrize(
    "outcome, code",
    [
        ("no-hardware", 129),  # the host cannot run the guest at any commit: abort, never skip the history
        ("host-fault", 125),  # a full disk under this step: skip it, the commit is not to blame
        ("qemu-failed", 125),
        ("interrupted", 129),
    ],
)
def test_a_steps_host_ending_is_never_the_commits(outcome, code, tmp_path):
    opts = StepOptions(tmp_path, [], ["devmem.open"], Expectation.parse(None, True))
    entry: dict = {}
    assert judge_step(opts, {"outcome": outcome, "cause": "host", "detail": "QEMU's words"}, entry) == code
    assert "QEMU's words" in entry["reason"] or outcome == "interrupted"


def test_the_first_error_is_an_error_not_a_file_named_error(tmp_path):
    """A Debian config's build log compiles arch/x86/boot/compressed/error.o long before modpost fails."""
    log = tmp_path / "build.log"
    log.write_text(
        "  CC      kernel/trace/error_report-traces.o\n"
        "  CC      arch/x86/boot/compressed/error.o\n"
        "  LD [M]  drivers/nvme/host/nvme-core.o\n"
        'ERROR: modpost: "nvme_auth_hmac_name" [drivers/nvme/host/nvme-core.ko] undefined!\n'
        "make[4]: *** [../scripts/Makefile.modpost:145: Module.symvers] Error 1\n"
    )
    assert _first_error(log) == 'ERROR: modpost: "nvme_auth_hmac_name" [drivers/nvme/host/nvme-core.ko] undefined!'
    log.write_text("  CC      drivers/char/mem.o\n../drivers/char/mem.c:12:1: error: expected ';'\n")
    assert _first_error(log) == "../drivers/char/mem.c:12:1: error: expected ';'"
