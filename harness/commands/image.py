# SPDX-License-Identifier: GPL-2.0-only
"""`image build`: the Debian disk image SSH guests boot, built once and kept in the cache."""

from __future__ import annotations

from ..guests.image import build_image
from ..kernels.kernel import KernelCatalog, resolve_kernel
from .options import Parser


def add_parsers(sub) -> None:
    image = sub.add_parser("image", help="disk images for guests reached over SSH")
    isub = image.add_subparsers(dest="image_command", required=True, parser_class=Parser)
    ibuild = isub.add_parser("build", help="build (or find in the cache) the Debian bookworm image for a kernel")
    ibuild.add_argument("--kernel", help="deb:<linux-image package> whose modules the image carries (default: pinned)")
    ibuild.set_defaults(handler=_cmd_image)


def _cmd_image(args) -> int:
    catalog = KernelCatalog.load()
    kernel = resolve_kernel(args.kernel, None, catalog)
    image, built, seconds = build_image(kernel)
    print(f"image: {image.path}")
    print(f"initrd: {image.initrd}")
    print(f"key: {image.key} (user {image.user}); host key: {image.host_key}")
    print(f"{'built' if built else 'cache hit'} in {seconds:.1f} s")
    return 0
