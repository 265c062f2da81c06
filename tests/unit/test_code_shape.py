# SPDX-License-Identifier: GPL-2.0-only
"""The shape the code keeps, measured rather than judged by eye: short functions, a thin runner,
imports at the top of modules (an import inside a function says why on its line)."""

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "harness"
MAX_FUNCTION_LINES = 60
MAX_RUNNER_LINES = 350


def functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def modules():
    for path in sorted(HARNESS.rglob("*.py")):
        yield path, path.read_text(), ast.parse(path.read_text())


def test_no_function_is_longer_than_60_lines():
    long = [
        f"{path.relative_to(HARNESS)}:{f.lineno} {f.name} ({f.end_lineno - f.lineno + 1} lines)"
        for path, _, tree in modules()
        for f in functions(tree)
        if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long


def test_the_runner_is_thin():
    lines = len((HARNESS / "guests" / "runner.py").read_text().splitlines())
    assert lines < MAX_RUNNER_LINES, lines


def says_why(source: list[str], lineno: int) -> bool:
    """A comment on the import's line, or on the line above its run of imports."""
    if "#" in source[lineno - 1]:
        return True
    i = lineno - 2
    while i >= 0 and source[i].strip().startswith(("from ", "import ")):
        i -= 1
    return i >= 0 and source[i].strip().startswith("#")


def test_imports_inside_functions_say_why():
    silent = []
    for path, text, tree in modules():
        source = text.splitlines()
        for f in functions(tree):
            for node in ast.walk(f):
                if isinstance(node, ast.Import | ast.ImportFrom) and not says_why(source, node.lineno):
                    silent.append(f"{path.relative_to(HARNESS)}:{node.lineno} in {f.name}")
    assert not silent, silent
