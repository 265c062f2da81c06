# SPDX-License-Identifier: GPL-2.0-only
"""The host's look at guest memory (guests/host_memory.py) and the proof it adds (judging/conclusion.py)."""

import hashlib

from harness.guests.host_memory import CHUNK, find_in_file, marker_in, new_marker, planted
from harness.judging.conclusion import proof_record


class Kind:
    def __init__(self, confidential, emulated):
        self.kind, self.confidential, self.emulated = "x", confidential, emulated
        self.proof_dmesg, self.proof_device = (), None


def test_what_the_guest_plants_is_the_markers_digest_never_the_marker_itself():
    m = new_marker()
    assert planted(m) == hashlib.sha256(m.encode()).hexdigest().encode() and m.encode() not in planted(m)
    assert marker_in(("console=ttyS0", f"harness.marker={m}")) == m and marker_in(("quiet",)) is None


def test_the_search_finds_a_marker_across_a_chunk_boundary_and_nothing_else(tmp_path):
    needle = planted(new_marker())
    dump = tmp_path / "dump"
    dump.write_bytes(b"\0" * (CHUNK - 10) + needle + b"\0" * 100)
    assert find_in_file(dump, needle)
    assert not find_in_file(dump, planted(new_marker()))


def test_a_hardware_guest_whose_memory_the_host_reads_is_not_proven():
    found = {"marker_found": True}
    assert proof_record(Kind(True, False), None, found)["status"].startswith("not proven: the host read")
    assert proof_record(Kind(True, False), None, {"marker_found": False})["status"] == "proven"
    # pmemsave refused (an encrypted guest's memory): evidence the host cannot read it, still proven by the guest
    refused = proof_record(Kind(True, False), None, {"marker_found": None, "error": "QMPError: ..."})
    assert refused["status"] == "proven" and "could not read" in refused["host"]
    emulated = proof_record(Kind(True, True), None, found)
    assert emulated["status"] == "proven" and "expected: an emulated" in emulated["host"]
    assert proof_record(Kind(False, False), None, None) is None
    assert proof_record(Kind(False, False), None, found)["status"] == "not a confidential guest"
