# SPDX-License-Identifier: GPL-2.0-only
import sys

if sys.argv[1:2] == ["setup"]:
    # `make setup` runs this with the host's python3, before the harness's dependencies are installed.
    from .host_packages import main as setup_main

    raise SystemExit(setup_main(sys.argv[2:]))

from .cli import main  # noqa: E402

raise SystemExit(main())
