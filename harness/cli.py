# SPDX-License-Identifier: GPL-2.0-only
"""Command line: `python -m harness COMMAND`, one-line errors, documented exit codes.

Each command group lives in harness/commands/ with its parser and handler; this module only wires them
together and turns what any of them raises into one line and an exit code.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from . import progress, provenance
from .commands import bisect, bisect_config, doctor, image, kernel, lava, matrix, qemu, report, run, setup
from .commands.options import Parser
from .errors import EXIT_INTERRUPTED, EXIT_NO_VERDICT, HarnessError, HostFault

# In the order `--help` lists them.
COMMANDS = (run, matrix, report, bisect, bisect_config, doctor, setup, kernel, image, qemu, lava)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="devmem-harness", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--version", action="version", version=f"devmem-harness {provenance.version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parsers(sub)
    return parser


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        # `git bisect run` reads any exit 1-127 but 125 as "bad": a mistyped bisect-step option must stop
        # the bisection (129), not blame the commit.
        if exc.code == EXIT_NO_VERDICT and argv[:1] == ["bisect-step"]:
            raise SystemExit(bisect.ABORT) from None
        raise
    if getattr(args, "quiet", False):
        progress.silence()
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGHUP, _on_sigterm)  # a CI cancel or a closed terminal: stop QEMU, keep the results
    # A shell starts background jobs with SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # `make test &` would let an interrupted run carry on.  Ctrl-C (or kill -INT) always stops a run here.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return args.handler(args)
    except HarnessError as exc:
        print(f"devmem-harness: error: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `harness probes | head`: the reader had enough, nothing went wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a full or read-only disk, anywhere: the host's fault, in the OS's words
        fault = HostFault.from_os_error(exc)
        print(f"devmem-harness: error: {fault.line()}", file=sys.stderr)
        return fault.exit_code
    except KeyboardInterrupt:
        print("devmem-harness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
