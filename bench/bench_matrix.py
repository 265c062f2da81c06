#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The default matrix's wall time with -j1 and with -j2, and the speed-up.

Each guest is one TCG QEMU process that keeps one core busy, so on a
2-core host the ideal speed-up is 2x; what is lost goes to the harness's
own work and to the host.  Runs alternate -j1 and -j2 so drift hits both.

    python bench/bench_matrix.py [--rounds N] [--matrix FILE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from timing import timed


def one(jobs: int, matrix: str | None, runs: Path) -> float:
    cmd = [sys.executable, "-m", "harness", "matrix", "--quiet", "-j", str(jobs), "--runs-dir", str(runs)]
    return timed(cmd[:4] + [matrix] + cmd[4:] if matrix else cmd)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--matrix", default=None)
    args = parser.parse_args()
    serial, parallel = [], []
    with tempfile.TemporaryDirectory(prefix="devmem-bench-matrix-") as tmp:
        for i in range(args.rounds):
            serial.append(one(1, args.matrix, Path(tmp)))
            parallel.append(one(2, args.matrix, Path(tmp)))
            print(f"round {i + 1}: -j1 {serial[-1]:.1f} s, -j2 {parallel[-1]:.1f} s", flush=True)
    m1, m2 = statistics.median(serial), statistics.median(parallel)
    print(f"-j1 median  {m1:.1f} s  (n={len(serial)})")
    print(f"-j2 median  {m2:.1f} s  (n={len(parallel)})")
    print(f"speed-up -j1/-j2  {m1 / m2:.2f}x  (target >= 1.7x on 2 cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
