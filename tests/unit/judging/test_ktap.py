# SPDX-License-Identifier: GPL-2.0-only
"""KTAP parser: golden transcripts from real guests and hand-made edge cases."""

from pathlib import Path

from harness.judging.console import parse_console
from harness.judging.ktap import parse_ktap, parse_observation

DATA = Path(__file__).parents[1] / "data"


def ktap_of(name: str) -> str:
    return parse_console((DATA / name).read_bytes().decode()).sections["ktap"]


def test_completed_transcript_has_every_probe_with_an_observation():
    doc = parse_ktap(ktap_of("console-6.1-completed.log"))
    assert doc.version == "KTAP 1"
    assert doc.plan == 12
    assert len(doc.results) == 12
    assert [r.number for r in doc.results] == list(range(1, 13))
    assert all("outcome" in r.observation for r in doc.results)
    hole = doc.by_name()["devmem.mmap.ram-below-1m"]
    assert hole.ok and hole.observation["data"] == "persisted"
    denied = doc.by_name()["devmem.read.ram-above-1m"]
    assert not denied.ok and denied.observation["outcome"] == "EPERM"
    assert doc.garbage == []


def test_skip_directive_and_reason():
    doc = parse_ktap(ktap_of("console-6.12-lockdown.log"))
    read = doc.by_name()["devmem.read.ram-below-1m"]
    assert read.skipped and read.directive == "SKIP"
    assert read.reason == "open(/dev/mem) refused: EPERM"
    assert read.observation == {}
    assert doc.by_name()["devmem.open"].observation["outcome"] == "EPERM"


def test_truncated_output_keeps_results_so_far():
    doc = parse_ktap(ktap_of("console-panic-mid-probes.log"))
    assert doc.plan == 12
    assert [r.name for r in doc.results][-1] == "devmem.read.bios-rom"
    assert len(doc.results) == 3


def test_observation_quoting_and_stray_words():
    obs = parse_observation('outcome=no-target target="System RAM below 1M" oops')
    assert obs == {"outcome": "no-target", "target": "System RAM below 1M", "_": "oops"}


def test_noise_lines_are_set_aside():
    doc = parse_ktap("KTAP version 1\n1..1\n[  1.0] random kernel line\n# observe: outcome=ok\nok 1 a.b.c\n")
    assert doc.garbage == ["[  1.0] random kernel line"]
    assert doc.results[0].name == "a.b.c" and doc.results[0].observation == {"outcome": "ok"}


def test_diagnostics_attach_to_the_next_result_only():
    doc = parse_ktap("KTAP version 1\n1..2\n# observe: outcome=EPERM\nnot ok 1 x\nok 2 y # SKIP why not\n")
    assert doc.results[0].observation == {"outcome": "EPERM"}
    assert doc.results[1].observation == {} and doc.results[1].reason == "why not"
