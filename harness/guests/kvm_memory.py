# SPDX-License-Identifier: GPL-2.0-only
"""A KVM that failed a real guest on this host, remembered so later runs do not pay for it again.

QEMU's paused smoke test (qemu_cmd.kvm_check) passes on some nested hosts where every real guest
then dies at once with a KVM internal error; `--accel auto` retries such a boot under TCG.  That
costs each run a second boot (3 s of 7 here; 37 s when the guest hangs silently instead), so the
failure is kept in the harness's state directory, for this QEMU binary and this host kernel: the
next `auto` run goes straight to TCG and says why.  A new QEMU or a new host kernel tries KVM
again; so does `--accel kvm`, and `doctor` shows the record.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from .. import paths


def _record_path() -> Path:
    return paths.state_dir() / "kvm-failed.json"


def _identity(qemu: str) -> dict:
    binary = shutil.which(qemu) or qemu
    try:
        st = os.stat(binary)
        stamp = [st.st_size, int(st.st_mtime)]
    except OSError:
        stamp = None
    return {"qemu": os.path.realpath(binary), "qemu_stamp": stamp, "host_kernel": os.uname().release}


def remembered(qemu: str) -> dict | None:
    """The recorded failure, if it was recorded for this QEMU binary on this host kernel."""
    try:
        record = json.loads(_record_path().read_text())
    except (OSError, ValueError):
        return None
    ident = _identity(qemu)
    return record if all(record.get(k) == v for k, v in ident.items()) else None


def remember(qemu: str, detail: str) -> None:
    path = _record_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps({**_identity(qemu), "detail": detail, "at": time.strftime("%Y-%m-%d %H:%M")}))
        os.replace(tmp, path)
    except OSError:
        pass  # only a time saving: a state directory that cannot take it costs the next run its KVM attempt


def forget() -> None:
    _record_path().unlink(missing_ok=True)
