# SPDX-License-Identifier: GPL-2.0-only
"""`make test-plain`: every probe's verdict on the plain guest as its own pytest test.

Known issues are xfail with their link, expected skips keep their reason, a probe
that could not run (not-run) fails with the way out, and the JUnit file pytest
writes (--junitxml) is what CI dashboards read.
"""

import pytest

from harness.guests.probe_binary import list_probes

pytestmark = pytest.mark.guest

PROBES = [p.name for p in list_probes()]


@pytest.mark.parametrize("probe", PROBES)
def test_probe(suite_run, probe):
    entry = next((p for p in suite_run.results["probes"] if p["name"] == probe), None)
    if entry is None:
        pytest.skip("not selected in this run")
    verdict, reason = entry["verdict"], entry.get("reason", "")
    detail = f"expected {entry['expected']}, observed {entry['observed']} (rule {entry.get('rule')})"
    if verdict == "known-issue":
        pytest.xfail(f"known issue: {reason} {entry.get('link', '')}")
    if verdict == "skip":
        pytest.skip(reason)
    if verdict == "not-run":
        pytest.fail(f"not run: {reason}; run {suite_run.run_dir}")
    assert verdict == "pass", f"{verdict}: {reason}; {detail}; run {suite_run.run_dir}"


def test_guest_completed(suite_run):
    r = suite_run.results
    assert r["outcome"] == "completed", f"{r['outcome']} ({r.get('cause')}): {r.get('detail')}"
