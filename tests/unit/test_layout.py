# SPDX-License-Identifier: GPL-2.0-only
"""The layout holds: imports run one way (commands → wings → ground), no module grows past a size a
reader can hold, and the probe keeps one file per door.  Read from the source with ast, not by eye."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "harness"
PROBE = ROOT / "guest-images" / "probe"

# Each layer may import itself and the layers before it, never one after it.
ORDER = ("ground", "kernels", "judging", "records", "guests", "lava", "commands")
TOP = {"cli", "__main__"}  # modules beside the ground floor that belong on top: they wire the commands
MAX_MODULE_LINES = 600
MAX_CLI_LINES = 150
MAX_PROBE_FILE_LINES = 700


def layer_of(parts: tuple[str, ...]) -> str:
    """The layer of a module or package, named by its path inside harness/ (("guests", "guest"))."""
    if len(parts) > 1 and parts[0] in ORDER:
        return parts[0]
    if parts and parts[0] in ORDER:  # the package itself (`from .. import judging`)
        return parts[0]
    return "commands" if parts and parts[0] in TOP else "ground"


def imported(tree: ast.AST, package: tuple[str, ...]) -> list[tuple[int, tuple[str, ...]]]:
    """(line, path inside harness/) of every harness module a module's source imports, wherever it does."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = base + tuple(node.module.split(".")) if node.module else base
            elif node.module and node.module.split(".")[0] == "harness":
                target = tuple(node.module.split(".")[1:])
            else:
                continue
            if node.module:
                out.append((node.lineno, target))
            else:  # from .. import paths, judging: each name is a module or package
                out += [(node.lineno, target + (a.name,)) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, tuple(a.name.split(".")[1:])) for a in node.names if a.name.startswith("harness.")]
    return out


def arrows_against_the_order(source: str, module: tuple[str, ...]) -> list[str]:
    """Every import of `source` (the module at `module` inside harness/) that points up the layers."""
    me = layer_of(module)
    bad = []
    for line, target in imported(ast.parse(source), module[:-1]):
        them = layer_of(target)
        if ORDER.index(them) > ORDER.index(me):
            bad.append(f"{'/'.join(module)}.py:{line} ({me}) imports {'.'.join(target) or 'harness'} ({them})")
    return bad


def harness_modules():
    for path in sorted(HARNESS.rglob("*.py")):
        yield path, path.relative_to(HARNESS).with_suffix("").parts


def test_imports_run_one_way():
    bad = [a for path, parts in harness_modules() for a in arrows_against_the_order(path.read_text(), parts)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "module, source",
    [
        (("judging", "conclusion"), "from ..guests.guest import Guest\n"),
        (("records", "results"), "from ..guests import runner\n"),
        (("kernels", "kernel"), "def f():\n    from ..judging.oracle import Oracle  # lazily\n"),
        (("guests", "runner"), "from ..commands.doctor import add_parsers\n"),
        (("paths",), "from .kernels.debian import fetch\n"),
        (("lava", "job"), "import harness.commands.run\n"),
        (("records", "report"), "from harness.lava import judge\n"),
    ],
)
def test_a_planted_arrow_against_the_order_is_caught(module, source):
    assert arrows_against_the_order(source, module)


@pytest.mark.parametrize(
    "module, source",
    [
        (("guests", "runner"), "from ..judging.conclusion import conclude\nfrom . import firmware\n"),
        (("commands", "run"), "from ..guests.runner import run\nfrom .options import names\n"),
        (("records", "record"), "from .. import __version__\nfrom ..judging.verdicts import counts\n"),
        (("cli",), "from .commands import run\n"),
    ],
)
def test_imports_down_the_order_pass(module, source):
    assert not arrows_against_the_order(source, module)


def test_every_wing_says_what_lives_there():
    for wing in ORDER[1:]:
        init = HARNESS / wing / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "Imports" in doc, f"{init}: the docstring says what lives there and what it may import"


def test_no_module_is_too_long_to_read():
    long = {
        str(path.relative_to(ROOT)): n
        for path, _ in harness_modules()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long
    assert len((HARNESS / "cli.py").read_text().splitlines()) < MAX_CLI_LINES


def test_the_probe_keeps_one_file_per_door():
    files = sorted(p.name for p in PROBE.iterdir())
    assert {"probe.h", "devmem.c", "devport.c", "pci_sysfs.c", "runner.c", "observe.c", "targets.c"} <= set(files)
    assert not list(ROOT.glob("guest-images/*.c")), "the probe's sources live in guest-images/probe/"
    long = {f: n for f in files if (n := len((PROBE / f).read_text().splitlines())) > MAX_PROBE_FILE_LINES}
    assert not long, long
