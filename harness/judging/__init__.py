# SPDX-License-Identifier: GPL-2.0-only
"""From observations to verdicts: what the guest printed (`console`, `ktap`), what a run observed
(`observed`), the facts of the kernel and the guest (`guest_facts`), the expectation rules and the
verdict of each probe (`oracle`, with harness/data/expectations.yaml), what the run asked for and
the guest honoured (`asked`), how verdicts add up (`verdicts`), and a whole run judged as a pure
function (`conclusion`).

A new verdict rule lands in harness/data/expectations.yaml and, if it needs a new fact, here.
Imports: the ground floor, kernels and this wing; never guests, so a verdict can be computed again
from a recorded transcript without QEMU.
"""
