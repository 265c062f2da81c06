#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Wall time of `make run`'s suite against its floor, in one run.

The floor is the same kernel booting the same way (same QEMU command, same
initramfs) to an init that powers off at once (`run --floor`).  The ratio
suite/floor is what the probes, the dmesg dump and the verdicts cost on top
of a boot.  Runs are interleaved so that drift on the host hits both alike.

    python bench/bench_run.py [--rounds N] [--kernel SPEC]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from timing import timed


def one(extra: list[str], runs_dir: Path) -> tuple[float, dict]:
    wall = timed([sys.executable, "-m", "harness", "run", "--quiet", "--runs-dir", str(runs_dir), *extra])
    return wall, json.loads((runs_dir / "latest" / "results.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--kernel", default=None)
    args = parser.parse_args()
    extra = ["--kernel", args.kernel] if args.kernel else []
    suite, floor, probes_stage = [], [], []
    with tempfile.TemporaryDirectory(prefix="devmem-bench-") as tmp:
        runs = Path(tmp)
        one(extra, runs)  # warm the caches (kernel, probe, initramfs)
        for i in range(args.rounds):
            wall, res = one(extra, runs)
            suite.append(wall)
            probes_stage.append(res["durations"].get("probes", 0.0))
            wall_f, _ = one([*extra, "--floor"], runs)
            floor.append(wall_f)
            print(f"round {i + 1}: suite {wall:.2f} s, floor {wall_f:.2f} s", flush=True)
    ms, mf = statistics.median(suite), statistics.median(floor)
    print(f"suite median  {ms:.2f} s  (n={len(suite)}; probe stage median {statistics.median(probes_stage):.2f} s)")
    print(f"floor median  {mf:.2f} s  (n={len(floor)})")
    print(f"ratio suite/floor  {ms / mf:.3f}  (target <= 1.25)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
