# SPDX-License-Identifier: GPL-2.0-only
"""devmem-harness: boots guests on real kernels and checks their /dev/mem, /dev/port and PCI sysfs policy.

The ground floor is the modules beside this file: the words of a run (vocabulary), one-line errors and
exit codes (errors), where files live (paths), the sealed cache (cache), progress lines (progress) and
YAML that names file and line (yamlfile); they import nothing above them.  Above them, the wings in
the order they may import each other: kernels/, judging/, records/, guests/, lava/; on top commands/,
which cli.py wires together.  tests/unit/test_layout.py holds the code to that order.
"""

__version__ = "0.1.0"
