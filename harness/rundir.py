"""Run directories: unique names per guest spec, and an atomically updated `latest` link."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path


def spec_hash(spec: dict) -> str:
    """Short hash of everything that defines the guest, so matrix cells never collide."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+_-]+", "_", text).strip("_")[:60] or "kernel"


def create_run_dir(runs_dir: Path, profile: str, kernel_label: str, spec: dict) -> Path:
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{_slug(profile)}-{_slug(kernel_label)}-{spec_hash(spec)}"
    for n in range(100):
        path = runs_dir / (base if n == 0 else f"{base}.{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run directory under {runs_dir}")


def point_latest(runs_dir: Path, run: Path) -> None:
    """Replace runs/latest with a link to `run` in one rename."""
    tmp = runs_dir / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run.name)
    os.replace(tmp, runs_dir / "latest")
