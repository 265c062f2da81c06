# SPDX-License-Identifier: GPL-2.0-only
"""Proof of confidentiality from the host's side, on real guests: the host looks for what the guest wrote.

A plain guest and an emulated confidential one (cc-sim) encrypt nothing: the host must find the
marker, or the check proves nothing when a TDX or SEV-SNP guest hides it.  The guest writes only the
marker's digest, so finding it means reading what the guest computed, not the command line the host
gave it."""

import pytest

from ..conftest import harness

pytestmark = pytest.mark.guest


def test_the_host_finds_a_plain_guests_marker_and_says_so(tmp_path):
    run = harness("run", "--host-memory-check", "always", "--probe", "devmem.open", runs_dir=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    proof = run.results["confidential_proof"]
    assert proof["status"] == "not a confidential guest"
    assert proof["host_look"]["marker_found"] is True and proof["host_look"]["bytes"] == 512 * 1024 * 1024
    assert "found the guest's marker" in proof["host"]
    assert not (run.run_dir / "guest-memory.dump").exists()  # 512 MiB is not kept per run


def test_no_look_unless_asked_on_a_plain_guest(default_run):
    assert default_run.results["confidential_proof"] is None
    assert "harness.marker=" not in default_run.results["cmdline"]
