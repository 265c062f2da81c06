#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""How fast bad input is refused: each of the five inputs that once became a kernel verdict after a boot
(or 80 s of a hang), now refused before the guest, timed over a few rounds with its exit code and line.

    python bench/bench_bad_input.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import REPO


def cases(tmp: Path) -> dict[str, list[str]]:
    cut = tmp / "truncated-bzImage"
    header = bytearray(5 * 512)
    header[0x202:0x206] = b"HdrS"
    cut.write_bytes(bytes(header[:700]))
    config = tmp / "config"
    config.write_text("CONFIG_DEVMEM=y\n")
    return {
        "--append of 5000 bytes": ["--append", "x" * 5000],
        "--memory 16": ["--memory", "16"],
        "--kernel truncated bzImage": ["--kernel", str(cut), "--kernel-config", str(config)],
        "--kernel /bin/ls": ["--kernel", "/bin/ls", "--kernel-config", str(config)],
        "--kernel deb:nosuchsuite/...": ["--kernel", "deb:nosuchsuite/linux-image-amd64"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="devmem-bench-input-") as tmp:
        for name, extra in cases(Path(tmp)).items():
            times, codes, line = [], set(), ""
            for _ in range(args.rounds):
                argv = [sys.executable, "-m", "harness", "run", "--runs-dir", f"{tmp}/runs", *extra]
                start = time.monotonic()
                proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
                times.append(time.monotonic() - start)
                codes.add(proc.returncode)
                line = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
            judged = list(Path(tmp, "runs").glob("*/results.json"))
            print(f"{name:30s} median {statistics.median(times):5.2f} s  max {max(times):5.2f} s  exit {sorted(codes)}")
            print(f"{'':30s} {line[:150]}")
            if judged:
                print(f"{'':30s} a run directory was made: {judged}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
