# SPDX-License-Identifier: GPL-2.0-only
"""Where a guest kernel comes from: Debian packages from any suite, through apt (`debian`) or, on a host
without it, python-debian and gpgv (`archive`); a bzImage or build tree the user names (`kernel`); a
source and its identity (`source_tree`) built with config fragments and patches (`kbuild`); what its
`.config` says (`kconfig`), and which spare PCI device it has a driver for (`spare`).

A new kernel source lands here.  Imports: the ground floor (harness/*.py) and this wing only.
"""
