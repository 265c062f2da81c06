# SPDX-License-Identifier: GPL-2.0-only
"""The wheel's file list (pyproject.toml) against the tree: a new subpackage or a new kind of guest file
must not be left out of what an installed harness carries."""

import fnmatch
import subprocess
import tomllib

from harness import paths

ROOT = paths.REPO_ROOT
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_harness_package_is_in_the_wheel():
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "harness").rglob("__init__.py")}
    mapped = set(SETUPTOOLS["package-dir"])
    assert set(SETUPTOOLS["packages"]) == found | mapped


def test_every_guest_image_and_kconfig_file_is_package_data():
    data = SETUPTOOLS["package-data"]
    left_out = []
    for package, folder in SETUPTOOLS["package-dir"].items():
        tracked = subprocess.run(["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True).stdout.split()
        for path in tracked:
            rel = path.removeprefix(folder + "/")
            if not any(fnmatch.fnmatch(rel, g) and ("/" in g) == ("/" in rel) for g in data[package]):
                left_out.append(path)
    profiles = [p.relative_to(ROOT / "harness").as_posix() for p in (ROOT / "harness/data").rglob("*.yaml")]
    left_out += [p for p in profiles if not any(fnmatch.fnmatch(p, g) for g in data["harness"])]
    assert not left_out, left_out


def test_the_checker_sees_a_file_left_out():
    assert not any(fnmatch.fnmatch("probe/new.S", g) for g in SETUPTOOLS["package-data"]["harness.guest_images"])
