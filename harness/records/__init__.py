# SPDX-License-Identifier: GPL-2.0-only
"""What runs leave behind and how it is read again: run directories (`rundir`), results.json
(`record`), JUnit, KTAP and the summary table (`results`), a matrix's summary and merged shards
(`matrix_summary`), report.html (`report`), KCIDB (`kcidb`) and what changed between two runs
(`compare`).

A new output format lands here.  Imports: the ground floor, kernels, judging and this wing; never
guests, so records are written and read the same way for a local run, a matrix and a LAVA job.
"""
