# SPDX-License-Identifier: GPL-2.0-only
"""The README stays true: every probe is documented, every documented probe exists."""

import re

from harness import paths
from harness.guests.probe_binary import list_probes


def test_every_probe_is_in_the_readme_table():
    readme = (paths.REPO_ROOT / "README.md").read_text()
    table = readme.split("## The probes", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for first, more in re.findall(r"^\| `([a-z]+\.[a-z0-9.-]+)`((?:, `-\w+`)*) \|", table, re.M):
        documented.add(first)
        stem = first.rsplit("-", 1)[0]
        documented.update(f"{stem}{suffix}" for suffix in re.findall(r"`(-\w+)`", more))
    actual = {p.name for p in list_probes()}
    assert documented == actual


def test_every_probe_has_rules():
    from harness.judging.oracle import Oracle

    assert set(Oracle.load().rules) == {p.name for p in list_probes()}


def test_the_fault_table_is_the_fault_suites_own():
    """README's "Host faults" table: every fault the suite provokes, and only those, each with a test that exists."""
    import importlib

    from tests.faults.faults import FAULTS

    readme = (paths.REPO_ROOT / "README.md").read_text()
    table = readme.split("## Host faults", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (.+?) \| (.+?) \| `tests/faults/(.+?)` \|$", table, re.M)
    assert rows == [tuple(f) for f in FAULTS]
    for _, _, test in FAULTS:
        module, name = test.split("::")
        mod = importlib.import_module(f"tests.faults.{module.removesuffix('.py')}")
        assert callable(getattr(mod, name.split("[")[0], None)), test
