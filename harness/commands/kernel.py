# SPDX-License-Identifier: GPL-2.0-only
"""`kernel build` (a guest kernel from a tree and fragments) and `kernel fetch` (packaged kernels into
the cache)."""

from __future__ import annotations

import sys

from ..errors import BadInput
from ..kernels.debian import DebSpec
from ..kernels.kbuild import BuildRequest, build_kernel, resolve_fragment, resolve_patch
from ..kernels.kernel import KernelCatalog, resolve_kernel
from ..kernels.source_tree import fetch_deb_source
from .options import Parser, add_build_options


def add_parsers(sub) -> None:
    kernel = sub.add_parser("kernel", help="kernel helpers")
    ksub = kernel.add_subparsers(dest="kernel_command", required=True, parser_class=Parser)
    build = ksub.add_parser("build", help="build a guest kernel from a source tree and kconfig fragments")
    add_build_options(build, required=True)
    build.set_defaults(handler=_cmd_build)
    fetch = ksub.add_parser("fetch", help="download and unpack packaged kernels (or kernel sources) into the cache")
    fetch.add_argument(
        "specs",
        nargs="*",
        help="deb:[SUITE/]PACKAGE, a linux-image or linux-source-X.Y (default: the pinned default and older kernels)",
    )
    fetch.set_defaults(handler=_cmd_fetch)


def _cmd_build(args) -> int:
    req = BuildRequest(
        args.source,
        tuple(resolve_fragment(k) for k in args.kconfig),
        tuple(resolve_patch(p) for p in args.patch),
        args.base,
    )
    result = build_kernel(req)
    print(f"kernel: {result.kernel.image}")
    print(f"config: {result.kernel.config_path}")
    print(
        f"{'cache hit' if result.cached else 'built'} in {result.seconds:.1f} s (identity {result.identity};"
        f" log {result.log})"
    )
    return 0


def _cmd_fetch(args) -> int:
    catalog = KernelCatalog.load()
    specs = args.specs or [s for s in (catalog.default, catalog.older) if s]
    for spec in specs:
        if not spec.startswith("deb:"):
            raise BadInput(f"kernel fetch {spec}: only deb:<package> kernels can be fetched")
        deb = DebSpec.parse(spec, "kernel fetch")
        if deb.package.startswith("linux-source-"):
            source = fetch_deb_source(deb)
            print(f"{spec}: {source.path} ({source.identity})")
            continue
        kernel = resolve_kernel(spec, None, catalog)
        for warning in kernel.warnings:
            print(f"devmem-harness: warning: {warning}", file=sys.stderr)
        print(f"{spec}: {kernel.image} ({kernel.release}; {', '.join('='.join(p) for p in kernel.packages)})")
    return 0
