#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Disk-image guests: image build (cold and cached) and boot-to-SSH-ready, with the serial run beside it.

Cold means a fresh harness cache directory (debootstrap downloads from Debian's
registry; the pinned kernel is fetched first and timed apart).  Boot-to-SSH-ready
is the run's own boot stage (QEMU start to SSH answering), read from
results.json; the median of the rounds is reported, with the whole SSH run's
wall time against a serial run of the same kernel.

    python bench/bench_ssh.py [--rounds 3] [--skip-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from timing import timed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-cold", action="store_true", help="do not time a cold image build (saves ~2 min)")
    args = parser.parse_args()
    py = [sys.executable, "-m", "harness"]
    if not args.skip_cold:
        with tempfile.TemporaryDirectory(prefix="devmem-bench-ssh-") as tmp:
            env = {**os.environ, "DEVMEM_HARNESS_CACHE": tmp}
            fetch = timed([*py, "kernel", "fetch"], env)
            cold = timed([*py, "image", "build"], env)
            cached = timed([*py, "image", "build"], env)
        print(f"kernel fetch (not part of the image):  {fetch:7.1f} s")
        print(f"image build, cold cache:               {cold:7.1f} s")
        print(f"image build, cached:                   {cached:7.1f} s")
    timed([*py, "image", "build"])  # the real cache's image, so the rounds below only boot
    ready, ssh_wall, serial_wall = [], [], []
    with tempfile.TemporaryDirectory(prefix="devmem-bench-ssh-runs-") as runs:
        for i in range(args.rounds):
            ssh_wall.append(timed([*py, "run", "--quiet", "--runs-dir", f"{runs}/ssh{i}", "--transport", "ssh"]))
            result = json.loads((Path(runs) / f"ssh{i}" / "latest" / "results.json").read_text())
            ready.append(result["durations"]["boot"])
            serial_wall.append(timed([*py, "run", "--quiet", "--runs-dir", f"{runs}/serial{i}"]))
    print(f"boot to SSH ready, median of {args.rounds}:     {statistics.median(ready):7.1f} s   (all: {ready})")
    print(f"whole SSH run, median:                 {statistics.median(ssh_wall):7.1f} s")
    print(f"whole serial run, median:              {statistics.median(serial_wall):7.1f} s")
    print(
        f"SSH / serial wall time:                {statistics.median(ssh_wall) / statistics.median(serial_wall):7.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
