#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Kernel build times for the minimal guest base: cold, cache hit, first patch, one-file change.

Cold means a fresh harness cache directory: no build directory and an empty
ccache (the source package is downloaded and unpacked first; that is timed
apart).  A patched build reads the cached source's kept copy (kernels/patching.py):
the first one makes the copy and builds in its own O= directory, every object
served by ccache; the one-file change is then a second patch (a comment added to
drivers/char/mem.c), rebuilt incrementally in that directory.

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
+/* bench: %s */
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
        first, second = Path(tmp) / "first.patch", Path(tmp) / "one-file.patch"
        first.write_text(PATCH % "the first patch")
        second.write_text(PATCH % "a one-file change")
        first_patch = timed([*build, "--patch", str(first)], env)
        one_file = timed([*build, "--patch", str(second)], env)
    print(f"source download + unpack  {fetch:6.1f} s")
    print(f"cold build                {cold:6.1f} s  (target <= 600 s)")
    print(f"cache hit                 {hit:6.1f} s")
    print(f"first patched build       {first_patch:6.1f} s  (the kept copy made; ccache serves the objects)")
    print(f"one-file change rebuild   {one_file:6.1f} s  (target <= 30 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
