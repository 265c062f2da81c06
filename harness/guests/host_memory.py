# SPDX-License-Identifier: GPL-2.0-only
"""Proof of confidentiality from the host's side: can the host read what the guest wrote?

The guest plants a marker in its own memory (guest-images/suite.sh: the SHA-256 of a
random word on its command line, so it exists only where the guest computed it, written
to a tmpfs file, so page cache, so guest RAM) and says so on the console.  The harness then stops the VM
over QMP, saves guest physical memory with `pmemsave`, resumes it, and looks for the
marker.  In a TDX or SEV-SNP guest private memory is encrypted (or not readable at all):
the marker must not be found.  In a plain or emulated (cc-sim) guest it is found, and
that is recorded too, as canonical/tdx's memory-confidentiality test does.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path

MARKER_WORD = "harness.marker"
MIB = 1024 * 1024
CHUNK = 16 * MIB


def new_marker() -> str:
    """A per-boot marker the guest repeats in memory; long enough never to occur by chance."""
    return "devmem-harness-marker-" + secrets.token_hex(12)


def marker_in(append: tuple[str, ...] | list[str]) -> str | None:
    for word in append:
        key, _, value = word.partition("=")
        if key == MARKER_WORD and value:
            return value
    return None


def planted(marker: str) -> bytes:
    """What the guest writes: the marker's SHA-256 in hex (`echo -n MARKER | sha256sum`)."""
    return hashlib.sha256(marker.encode()).hexdigest().encode()


def find_in_file(path: Path, needle: bytes) -> bool:
    """Chunked search (with an overlap) of a file the size of guest RAM."""
    tail = b""
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            if needle in tail + chunk:
                return True
            tail = chunk[-(len(needle) - 1) :]
    return False


def check(watcher, marker: str, memory_mib: int, directory: Path) -> dict:
    """Stop the VM, pmemsave its RAM (below 2 GiB: q35's low RAM, where the guest's page cache is), resume,
    search for the marker.  Every failure is recorded, never raised: it is evidence, not a crash."""
    dump = directory / "guest-memory.dump"
    size = min(memory_mib, 2048) * MIB
    out: dict = {"method": "pmemsave", "bytes": size, "marker_found": None}
    started = time.monotonic()
    try:
        watcher.call("stop")
        try:
            watcher.call("pmemsave", 60.0, {"val": 0, "size": size, "filename": str(dump)})
        finally:
            watcher.call("cont")
        out["marker_found"] = find_in_file(dump, planted(marker))
    except Exception as exc:  # noqa: BLE001 - a refusal (encrypted guest) is itself the finding
        out["error"] = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        if dump.exists():
            os.unlink(dump)
    out["seconds"] = round(time.monotonic() - started, 3)
    return out
