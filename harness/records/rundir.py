# SPDX-License-Identifier: GPL-2.0-only
"""Run directories: unique names per guest spec (kernel label, profile, a hash of the options), and an
atomically updated `latest` link."""

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


def run_identity(opts) -> dict:
    """Everything in a run's options that defines its guest: equal options, equal hash."""
    return {
        "kernel": opts.kernel,
        "kernel_config": opts.kernel_config,
        "modules": opts.modules,
        "append": opts.append,
        "probes": opts.probes,
        "memory": opts.memory_mib,
        "vcpus": opts.vcpus,
        "accel": opts.accel,
        "profile": opts.profile,
        "floor": opts.floor,
        "qemu": opts.qemu,
        "isolate": opts.isolate,
        "source": opts.source,
        "kconfig": [str(k) for k in opts.kconfig],
        "patches": [str(p) for p in opts.patches],
        "base": opts.base,
        "transport": opts.transport,
        "image": str(opts.image) if opts.image else None,
    }


def kernel_label(opts, default: str) -> str:
    """A short name for the run's kernel: `build-strict`, `bullseye-amd64`, `6.12.107+deb12-amd64`, a file name."""
    if opts.source:
        return "build-" + "+".join(Path(k).stem for k in opts.kconfig) if opts.kconfig else "build-base"
    spec = opts.kernel or default
    if spec.startswith("deb:"):
        suite, _, package = spec[4:].rpartition("/")
        return (f"{suite}-" if suite else "") + package.removeprefix("linux-image-").removesuffix("-unsigned")
    return Path(spec).name
