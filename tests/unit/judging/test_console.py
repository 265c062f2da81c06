# SPDX-License-Identifier: GPL-2.0-only
"""Console transcript parsing: init sections, probe exit status, panics."""

from pathlib import Path

from harness.judging.console import normalize, parse_console

DATA = Path(__file__).parents[1] / "data"


def test_completed_run_sections():
    t = parse_console((DATA / "console-6.1-completed.log").read_bytes().decode())
    assert t.init_started and t.done
    assert t.probe_exit == 0
    assert t.sections["uname"].strip() == "6.1.0-56-amd64"
    assert "System RAM" in t.sections["iomem"]
    assert t.sections["lockdown"].strip() == "[none] integrity confidentiality"
    assert "Linux version" in t.sections["dmesg"]
    assert t.panic is None and t.incomplete == []


def test_panic_mid_probes():
    t = parse_console((DATA / "console-panic-mid-probes.log").read_bytes().decode())
    assert t.init_started and not t.done
    assert t.panic == "Fatal exception"
    assert t.incomplete == ["ktap"]
    assert t.probe_exit is None


def test_serial_line_endings():
    assert normalize("a\r\r\nb\r\nc\rd") == "a\nb\nc\nd"


DMESG = """[    3.100000] harness-probe: begin 1 devmem.open
[    3.100100] harness-probe: end 1 devmem.open
[    3.200000] harness-probe: begin 2 devmem.read.bios-rom
[    3.200100] ------------[ cut here ]------------
[    3.200200] WARNING: CPU: 0 PID: 77 at arch/x86/mm/ioremap.c:217 __ioremap_caller+0x2a/0x300
[    3.200300] Call Trace:
[    3.200400] harness-probe: end 2 devmem.read.bios-rom
[    3.300000] BUG: unable to handle page fault for address: ffff888000000000
[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
[    0.500000] Memory Encryption Features active: Intel TDX
"""


def test_kernel_warnings_are_attributed_to_the_probe_that_ran():
    from harness.judging.console import warnings_by_probe

    found = warnings_by_probe(DMESG)
    assert list(found) == ["devmem.read.bios-rom"]
    assert found["devmem.read.bios-rom"][0].startswith("WARNING: CPU: 0 PID: 77")
    assert "Call Trace:" in found["devmem.read.bios-rom"]


def test_environment_facts_from_dmesg():
    from harness.judging.console import e820_map, memory_encryption

    assert memory_encryption(DMESG) == "Intel TDX"
    assert memory_encryption("nothing here") is None
    assert e820_map(DMESG) == ["[mem 0x0000000000000000-0x000000000009fbff] usable"]


def test_modules_the_init_could_not_load_come_with_the_kernels_words():
    from harness.judging.console import failed_modules, parse_console

    console = (
        "@@harness init-started\r\n"
        "insmod: pvpanic-mmio.ko failed\r\n"
        "@@harness begin dmesg\r\n"
        "[    1.0] pvpanic_mmio: disagrees about version of symbol module_layout\r\n"
        "@@harness end dmesg\r\n"
    )
    t = parse_console(console)
    assert t.insmod_failed == ["pvpanic-mmio.ko"]
    assert failed_modules(t) == [
        "pvpanic-mmio.ko: [    1.0] pvpanic_mmio: disagrees about version of symbol module_layout"
    ]
