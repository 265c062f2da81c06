# SPDX-License-Identifier: GPL-2.0-only
"""The commands, one module per group, each with its parser (`add_parsers`) and handler: `run` and
`probes`, `matrix`, `report` (report, export, compare, merge), `bisect` (bisect, bisect-step),
`doctor`, `kernel`, `image`, `qemu`, `lava` (lava-job, lava-run, judge); `options` holds what several
share.  harness/cli.py wires them together.

A new command lands here.  Imports: anything; nothing below imports a command.
"""
