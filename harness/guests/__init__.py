# SPDX-License-Identifier: GPL-2.0-only
"""QEMU and the guests it runs: the command line from a frozen spec (`qemu_cmd`), one QEMU process's
life (`guest`), the serial-console and SSH guests (`serial_guest`, `disk_guest`, `transport`), guest
kinds (`profiles`), confidential firmware (`firmware`), newer QEMUs (`qemu_next`), the initramfs, disk
image and probe binary a guest boots with, what this host can run (`host_checks`), the host's look at
guest memory (`host_memory`), and a whole run: its boots (`boots`) and the plan → boot → conclude →
record pipeline (`runner`).

A new QEMU option or guest kind lands here.  Imports: the ground floor, kernels, judging and records.
"""
