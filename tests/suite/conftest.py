# SPDX-License-Identifier: GPL-2.0-only
"""The plain guest suite as pytest tests: one boot, one test per probe."""

import shlex

import pytest

from ..conftest import harness


def pytest_addoption(parser):
    parser.addoption("--harness-args", default="", help="extra `harness run` options for the suite's guest")


@pytest.fixture(scope="session")
def suite_run(request, tmp_path_factory):
    extra = shlex.split(request.config.getoption("--harness-args"))
    run = harness("run", *extra, runs_dir=tmp_path_factory.mktemp("suite-runs"))
    if run.run_dir is None:
        pytest.fail(f"the harness did not start a run: {run.stderr.strip()}")
    return run
