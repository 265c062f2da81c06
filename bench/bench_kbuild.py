#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Kernel build times for the minimal guest base: cold, cache hit, one-file change.

Cold means a fresh harness cache directory: no build directory and an empty
ccache (the source package is downloaded and unpacked first; that is timed
apart).  The one-file change is a comment added to drivers/char/mem.c by a
patch, which the harness applies in place to its cached source and rebuilds
incrementally in the same O= directory.

    python bench/bench_kbuild.py [--kconfig strict] [--keep-cache DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from timing import timed

PATCH = """--- a/drivers/char/mem.c
+++ b/drivers/char/mem.c
@@ -1,3 +1,4 @@
 // SPDX-License-Identifier: GPL-2.0
+/* bench: a one-file change */
 /*
  *  linux/drivers/char/mem.c
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kconfig", default="strict")
    parser.add_argument(
        "--keep-cache", type=Path, help="use (and keep) this cache directory instead of a temporary one"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="devmem-bench-kbuild-") as tmp:
        cache = args.keep_cache or Path(tmp)
        env = {**os.environ, "DEVMEM_HARNESS_CACHE": str(cache)}
        py = [
            sys.executable,
            "-c",
            "from harness.kernels.kbuild import resolve_source; resolve_source('deb:linux-source-6.12')",
        ]
        fetch = timed(py, env)
        build = [
            sys.executable,
            "-m",
            "harness",
            "kernel",
            "build",
            "--source",
            "deb:linux-source-6.12",
            "--kconfig",
            args.kconfig,
        ]
        cold = timed(build, env)
        hit = timed(build, env)
        patch = Path(tmp) / "one-file.patch"
        patch.write_text(PATCH)
        one_file = timed([*build, "--patch", str(patch)], env)
    print(f"source download + unpack  {fetch:6.1f} s")
    print(f"cold build                {cold:6.1f} s  (target <= 600 s)")
    print(f"cache hit                 {hit:6.1f} s")
    print(f"one-file change rebuild   {one_file:6.1f} s  (target <= 30 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
