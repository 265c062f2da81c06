# SPDX-License-Identifier: GPL-2.0-only
"""Matrix files, the summary table, probe patterns and the boot plan."""

from pathlib import Path

import pytest

from harness.commands.matrix import Cell, load_matrix, only_guests
from harness.errors import BadInput
from harness.guests.boots import plan_boots
from harness.guests.probe_binary import ProbeInfo, select_probes
from harness.paths import DATA_DIR
from harness.records.matrix_summary import render_table, summarize

KNOWN = ["devmem.open", "devmem.read.bios-rom", "devmem.mmap.ram-below-1m", "devport.open"]


def test_select_probes_by_name_and_glob():
    assert select_probes([], KNOWN) == KNOWN
    assert select_probes(["devport.open", "devmem.mmap.*"], KNOWN) == ["devmem.mmap.ram-below-1m", "devport.open"]
    with pytest.raises(BadInput, match="unknown probe"):
        select_probes(["devmem.nope*"], KNOWN)


def test_plan_boots_isolates_dangerous_probes_last():
    infos = [ProbeInfo(n, n in ("devmem.read.bios-rom", "devmem.mmap.ram-below-1m"), "") for n in KNOWN]
    assert plan_boots(KNOWN, infos, isolate=False) == [("main", KNOWN)]
    assert plan_boots(KNOWN, infos, isolate=True) == [
        ("main", ["devmem.open", "devport.open"]),
        ("devmem.read.bios-rom", ["devmem.read.bios-rom"]),
        ("devmem.mmap.ram-below-1m", ["devmem.mmap.ram-below-1m"]),
    ]
    assert plan_boots(["devmem.read.bios-rom"], infos, isolate=True) == [
        ("devmem.read.bios-rom", ["devmem.read.bios-rom"])
    ]


def test_matrix_file_product_and_guests(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text(
        "kernels: [deb:linux-image-6.1.0-56-amd64-unsigned, deb:linux-image-6.12.107+deb12-amd64-unsigned]\n"
        "options: ['', iomem=relaxed]\n"
        "guests:\n  - {name: mine, kernel: /k/bzImage, kernel_config: /k/.config, append: lockdown=integrity}\n"
    )
    cells = load_matrix(m)
    assert [c.name for c in cells] == ["6.1 default", "6.1 iomem=relaxed", "6.12 default", "6.12 iomem=relaxed", "mine"]
    assert cells[-1].choice.run_args() == ["--kernel", "/k/bzImage", "--kernel-config", "/k/.config"]
    assert cells[0].choice.run_args() == ["--kernel", "deb:linux-image-6.1.0-56-amd64-unsigned"]


def test_matrix_build_entries(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("kernels:\n  - build: {source: deb:linux-source-6.12, config: [strict]}\n")
    (cell,) = load_matrix(m)
    assert cell.name == "build:strict default"
    assert cell.choice.run_args() == ["--source", "deb:linux-source-6.12", "--kconfig", "strict"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("kernels: [a\n", "YAML error"),
        ("kernel: [a]\n", "unknown key"),
        ("kernels: []\n", "no guests"),
        ("guests: [{name: x, kernel: a}, {name: x, kernel: b}]\n", "named twice"),
    ],
)
def test_bad_matrix_files(tmp_path, text, message):
    m = tmp_path / "m.yaml"
    m.write_text(text)
    with pytest.raises(BadInput, match=message):
        load_matrix(m)


def test_summary_and_table_point_at_the_failing_cell():
    a = Cell(
        name="6.12 default",
        kernel="k",
        exit_code=0,
        results={
            "verdict": "pass",
            "outcome": "completed",
            "probes": [{"name": "devmem.open", "verdict": "pass", "expected": "outcome=ok", "observed": "outcome=ok"}],
        },
    )
    b = Cell(
        name="6.12 lockdown",
        kernel="k",
        exit_code=1,
        results={
            "verdict": "fail",
            "outcome": "completed",
            "probes": [
                {
                    "name": "devmem.open",
                    "verdict": "fail",
                    "expected": "outcome=ok",
                    "observed": "outcome=EPERM",
                    "rule": "r1",
                    "source": "src",
                }
            ],
        },
    )
    summary = summarize([a, b], ["devmem.open", "devport.open"])
    assert summary["exit_code"] == 1
    table = render_table(summary)
    assert "devmem.open" in table and "PASS" in table and "FAIL" in table
    assert (
        "FAIL devmem.open @ 6.12 lockdown: expected outcome=ok, observed outcome=EPERM (rule r1; source: src)" in table
    )


def test_the_full_matrix_has_a_cc_sim_column_on_the_cc_sim_kernel():
    from harness.commands.matrix import load_matrix as load
    from harness.paths import DATA_DIR

    cells = {c.name: c for c in load(DATA_DIR / "matrix-full.yaml")}
    for version, source in (("6.12", "deb:linux-source-6.12"), ("7.2", "deb:sid/linux-source-7.2")):
        sim = cells[f"{version} cc-sim"]
        assert sim.profile == "cc-sim"
        assert sim.choice.run_args() == ["--source", source, "--kconfig", "cc-sim", "--patch", "cc-sim"]
        # The same kernel also boots as a plain guest, next to it.
        assert cells[f"{version} cc-sim kernel, plain"].choice == sim.choice
        assert cells[f"{version} cc-sim kernel, plain"].profile == "plain"
    fixed = cells["7.2 cc-sim with the fix"].choice.run_args()
    assert fixed[-4:] == ["--patch", "cc-sim", "--patch", "devmem-cc-eperm"]
    assert all("--kernel" not in c.choice.run_args() for c in cells.values())  # built kernels only


def test_guest_patterns_choose_cells():
    cells = load_matrix(DATA_DIR / "matrix-full.yaml")
    assert {c.name for c in only_guests(cells, ["6.12*"], Path("m.yaml"))} == {
        c.name for c in cells if c.name.startswith("6.12")
    }
    assert only_guests(cells, [], Path("m.yaml")) == cells
    with pytest.raises(BadInput, match="no guest of m.yaml matches"):
        only_guests(cells, ["9.9*"], Path("m.yaml"))


def test_emulated_guests_are_labelled_in_the_table():
    from harness.records.matrix_summary import render_table

    summary = {
        "guests": [
            {
                "name": "6.12 cc-sim",
                "emulated": True,
                "verdict": "pass",
                "outcome": "completed",
                "exit_code": 0,
                "run_dir": "/r",
                "error": None,
            },
        ],
        "probes": {"devmem.open": {"6.12 cc-sim": {"verdict": "known-issue"}}},
    }
    table = render_table(summary)
    assert "G1 = 6.12 cc-sim [EMULATED confidential guest]: pass" in table
    assert "KNOWN" in table


def test_matrix_guests_take_a_transport(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("guests:\n  - {name: over ssh, kernel: deb:linux-image-x, transport: ssh}\n  - {kernel: deb:y}\n")
    ssh, serial = load_matrix(m)
    assert ssh.transport == "ssh" and serial.transport == "serial"
    m.write_text("guests:\n  - {kernel: deb:x, transport: telnet}\n")
    with pytest.raises(BadInput, match=r"guests\[0\]\.transport: 'telnet'"):
        load_matrix(m)
