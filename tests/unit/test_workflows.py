# SPDX-License-Identifier: GPL-2.0-only
"""The CI workflows: every command they run is a make target that exists, on the runners it needs."""

import re

import yaml

from harness import paths

WORKFLOWS = sorted((paths.REPO_ROOT / ".github" / "workflows").glob("*.yml"))


def make_targets() -> set[str]:
    text = (paths.REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_-]+):", text, re.M))


def make_calls(job: dict) -> list[str]:
    """`make TARGET` in every run step, with ${{ matrix.X }} expanded over the job's matrix."""
    include = (job.get("strategy") or {}).get("matrix", {}).get("include") or [{}]
    calls = []
    for step in job.get("steps", []):
        for line in str(step.get("run", "")).splitlines():
            for variant in include:
                expanded = re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", lambda m, v=variant: str(v[m.group(1)]), line)
                calls += re.findall(r"(?:^|&&|;)\s*make\s+(?:-\S+\s+)*([A-Za-z0-9_-]+)", expanded)
    return calls


def test_workflows_parse_and_call_existing_make_targets():
    assert {w.name for w in WORKFLOWS} == {"pr.yml", "nightly.yml"}
    targets = make_targets()
    for wf in WORKFLOWS:
        data = yaml.safe_load(wf.read_text())
        assert data.get("jobs"), wf.name
        for name, job in data["jobs"].items():
            assert job.get("runs-on"), f"{wf.name}:{name} has no runner"
            for target in make_calls(job):
                assert target in targets, f"{wf.name}:{name} calls `make {target}`, which the Makefile lacks"


def test_nightly_runs_confidential_suites_on_their_runners():
    nightly = yaml.safe_load((paths.REPO_ROOT / ".github/workflows/nightly.yml").read_text())
    jobs = nightly["jobs"]
    include = jobs["confidential"]["strategy"]["matrix"]["include"]
    assert {(tuple(i["runner"]), i["target"]) for i in include} == {
        (("self-hosted", "tdx"), "test-tdx"),
        (("self-hosted", "sev-snp"), "test-snp"),
    }
    steps = str(jobs["confidential"]["steps"])
    # doctor picks the QEMU (the host's, or make qemu-next's) and its JSON goes with the runs.
    assert "doctor --pick-qemu ${{ matrix.profile }}" in steps and "make qemu-next" in steps
    assert "doctor --json > runs/doctor.json" in steps
    assert {i["profile"] for i in include} == {"tdx", "sev-snp"}
    assert "make matrix" in str(jobs["plain-matrix"]["steps"])
    # The big matrices in shards, merged, and compared with the previous nightly in the job summary.
    shards = {(i["target"], i["shard"]) for i in jobs["matrix-shard"]["strategy"]["matrix"]["include"]}
    assert shards == {(t, n) for t in ("matrix-history", "matrix-full") for n in (1, 2)}
    assert "--shard ${{ matrix.shard }}/2" in str(jobs["matrix-shard"]["steps"])
    merge = str(jobs["merge"]["steps"])
    assert "harness merge" in merge and "harness compare" in merge and "GITHUB_STEP_SUMMARY" in merge
    assert jobs["plain-matrix"]["container"]["image"] == "debian:bookworm"
    for job in jobs.values():
        assert any("upload-artifact" in str(s.get("uses", "")) for s in job["steps"])


def test_pr_workflow_lints_tests_and_runs_the_plain_suite():
    pr = yaml.safe_load((paths.REPO_ROOT / ".github/workflows/pr.yml").read_text())
    calls = make_calls(pr["jobs"]["plain"])
    assert {"lint", "test-quick", "test-plain"} <= set(calls)
