# SPDX-License-Identifier: GPL-2.0-only
"""Licence and provenance: LICENSE is GPL-2.0-only, every file says so (an SPDX line or REUSE.toml),
and the harness knows its own version and commit."""

import fnmatch
import subprocess
import sys
import tomllib

from harness import paths

ROOT = paths.REPO_ROOT
SPDX = "SPDX-License-Identifier: GPL-2.0-only"


def annotated() -> list[str]:
    data = tomllib.loads((ROOT / "REUSE.toml").read_text())
    return [g for a in data["annotations"] if a["SPDX-License-Identifier"] == "GPL-2.0-only" for g in a["path"]]


def test_the_licence_is_the_gpl_2():
    text = (ROOT / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 2, June 1991" in text


def test_every_file_under_the_source_folders_says_its_licence():
    globs = annotated()
    unlicensed = []
    for top in ("harness", "guest-images", "tests", "bench"):
        for path in (ROOT / top).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            rel = str(path.relative_to(ROOT))
            head = "\n".join(path.read_text(errors="replace").splitlines()[:3])
            if SPDX not in head and not any(fnmatch.fnmatch(rel, g) for g in globs):
                unlicensed.append(rel)
    assert not unlicensed, f"no SPDX line and not in REUSE.toml: {unlicensed[:10]}"


def test_the_checker_sees_a_file_without_a_line():
    assert not any(fnmatch.fnmatch("harness/cli.py", g) for g in annotated())
    assert SPDX not in "\n".join('"""A module."""\nimport os\n'.splitlines()[:3])


def test_version_is_printed_and_names_the_commit_in_a_checkout():
    out = subprocess.run([sys.executable, "-m", "harness", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    words = out.stdout.split()
    assert words[0] == "devmem-harness" and words[1][0].isdigit(), out.stdout
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    if head.returncode == 0:
        assert f"+g{head.stdout.strip()[:7]}" in out.stdout, out.stdout
