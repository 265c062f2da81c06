# SPDX-License-Identifier: GPL-2.0-only
"""LAVA labs: the suite rendered as a LAVA QEMU job (`job`), a job run by this machine's
lava-dispatcher (`local`), a job's log read back (`log`) and judged like a local run (`judge`).

Imports: the ground floor and every wing below it (kernels, judging, records, guests); no command.
"""
