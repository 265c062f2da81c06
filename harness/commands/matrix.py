# SPDX-License-Identifier: GPL-2.0-only
"""`matrix`: many guests (kernels x boot options x profiles) in parallel, one summary.

Each cell is an ordinary `run` in a subprocess of its own (its own run
directory, signal handling and exit code), so a cell that hangs or panics
cannot disturb the others.  The summary is a table with a row per probe and
a column per guest, and summary.json with every cell's verdicts.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import paths
from ..errors import EXIT_INTERRUPTED, BadInput
from ..guests.image import build_image
from ..guests.probe_binary import build_probe, list_probes, select_probes
from ..kernels.kbuild import BuildRequest, build_kernel, resolve_fragment, resolve_patch
from ..kernels.kernel import resolve_kernel
from ..records.matrix_summary import summarize, write_summary
from ..vocabulary import Verdict
from ..yamlfile import load_yaml, require_mapping
from .options import names, positive_int, require_file

DEFAULT_MATRIX = paths.DATA_DIR / "matrix.yaml"


@dataclass
class Cell:
    name: str
    kernel: str
    append: str = ""
    profile: str = "plain"
    choice: KernelChoice = field(default_factory=lambda: KernelChoice())
    transport: str = "serial"  # or ssh: the harness's disk image, reached over SSH
    index: int = 0  # its place in the whole matrix: shards merge back in this order
    # filled in when it has run
    exit_code: int | None = None
    results: dict | None = None
    run_dir: Path | None = None
    seconds: float = 0.0
    error: str = ""


def _kernel_short(spec: str) -> str:
    m = re.search(r"linux-image-(\d+\.\d+)", spec)
    if m:
        return m.group(1)
    suite = re.match(r"deb:([^/]+)/", spec)
    return suite.group(1) if suite else Path(spec).name


@dataclass(frozen=True)
class KernelChoice:
    """A cell's kernel: a packaged or prebuilt one (`kernel`), or one built from `source` and fragments."""

    kernel: str | None = None  # deb:[SUITE/]PACKAGE or a bzImage path
    kernel_config: str | None = None  # the .config of a bzImage path
    source: str | None = None  # a kernel tree or deb:linux-source-X.Y
    configs: tuple[str, ...] = ()
    patches: tuple[str, ...] = ()
    base: str | None = None

    def run_args(self) -> list[str]:
        """The `run` options that boot this kernel."""
        if self.source is None:
            return ["--kernel", self.kernel] + (["--kernel-config", self.kernel_config] if self.kernel_config else [])
        args = ["--source", self.source]
        args += [a for c in self.configs for a in ("--kconfig", c)]
        args += [a for p in self.patches for a in ("--patch", p)]
        return args + (["--base", self.base] if self.base else [])

    def build_request(self) -> BuildRequest:
        fragments = tuple(resolve_fragment(c) for c in self.configs)
        return BuildRequest(
            self.source, fragments, tuple(resolve_patch(p) for p in self.patches), self.base or "tinyconfig"
        )


def _kernel_choice(entry, where: str) -> tuple[str, KernelChoice]:
    """A matrix kernel entry -> (label, choice): a string (deb:[SUITE/]PACKAGE or a bzImage path),
    {name, kernel: <that string>}, or {build: {source: ..., config: [...], patches: [...], base: ...}}."""
    if isinstance(entry, str):
        return _kernel_short(entry), KernelChoice(kernel=entry)
    if isinstance(entry, dict) and isinstance(entry.get("kernel"), str) and set(entry) <= {"name", "kernel"}:
        return str(entry.get("name") or _kernel_short(entry["kernel"])), KernelChoice(kernel=entry["kernel"])
    if isinstance(entry, dict) and isinstance(entry.get("build"), dict):
        b = entry["build"]
        if not b.get("source"):
            raise BadInput(f"{where}: build needs a source (a kernel tree or deb:linux-source-6.12)")
        configs = b.get("config") or []
        configs = [configs] if isinstance(configs, str) else configs
        choice = KernelChoice(
            source=str(b["source"]),
            configs=tuple(str(c) for c in configs),
            patches=tuple(str(p) for p in b.get("patches") or []),
            base=str(b["base"]) if b.get("base") else None,
        )
        label = entry.get("name") or "build:" + "+".join(Path(str(c)).stem for c in configs or ["base"])
        return str(label), choice
    raise BadInput(
        f"{where}: a kernel is deb:[SUITE/]PACKAGE, a bzImage path, {{name, kernel}} or {{build: {{source, config}}}}"
    )


def load_matrix(path: Path) -> list[Cell]:
    data = require_mapping(load_yaml(path), path, "the matrix file")
    unknown = set(data) - {"kernels", "options", "profiles", "guests"}
    if unknown:
        raise BadInput(f"{path}: unknown key(s) {', '.join(sorted(unknown))}", "use kernels, options, profiles, guests")
    cells: list[Cell] = []
    kernels = data.get("kernels") or []
    options = data.get("options") or [""]
    profiles = data.get("profiles") or ["plain"]
    for key, value in (("kernels", kernels), ("options", options), ("profiles", profiles)):
        if not isinstance(value, list):
            raise BadInput(f"{path}: '{key}' must be a list")
    for i, kernel in enumerate(kernels):
        short, choice = _kernel_choice(kernel, f"{path}: kernels[{i}]")
        for option in options:
            for profile in profiles:
                label = f"{short} {option or 'default'}"
                if len(profiles) > 1:
                    label += f" {profile}"
                cells.append(
                    Cell(name=label, kernel=short, append=str(option or ""), profile=str(profile), choice=choice)
                )
    for i, guest in enumerate(data.get("guests") or []):
        if not isinstance(guest, dict) or "kernel" not in guest:
            raise BadInput(f"{path}: guests[{i}] needs at least 'kernel'")
        append = guest.get("append", "")
        transport = str(guest.get("transport", "serial"))
        if transport not in ("serial", "ssh"):
            raise BadInput(f"{path}: guests[{i}].transport: {transport!r}", "use serial or ssh")
        short, choice = _kernel_choice(guest["kernel"], f"{path}: guests[{i}].kernel")
        if guest.get("kernel_config"):
            choice = replace(choice, kernel_config=str(guest["kernel_config"]))
        cells.append(
            Cell(
                name=str(guest.get("name") or f"{short} {append or 'default'}"),
                kernel=short,
                append=str(append),
                profile=str(guest.get("profile", "plain")),
                choice=choice,
                transport=transport,
            )
        )
    if not cells:
        raise BadInput(f"{path}: the matrix has no guests", "list kernels (and options) or guests")
    names = [c.name for c in cells]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadInput(f"{path}: guests named twice: {', '.join(dupes)}", "give them distinct names")
    return [replace(c, index=i) for i, c in enumerate(cells)]


def parse_shard(text: str) -> tuple[int, int]:
    """`--shard I/N` -> (I, N), 1 <= I <= N."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        i = n = 0
    if not 1 <= i <= n:
        raise BadInput(f"--shard {text}: not I/N with 1 <= I <= N", "e.g. --shard 1/2 and --shard 2/2")
    return i, n


def shard(cells: list[Cell], i: int, n: int) -> list[Cell]:
    """Shard I of N: every Nth cell from the Ith, by place in the file; the same on every runner."""
    return [c for c in cells if c.index % n == i - 1]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+_-]+", "_", text).strip("_")


class Progress:
    """One live line on a terminal; one line per finished cell otherwise."""

    def __init__(self, cells: list[Cell], quiet: bool):
        self.cells = cells
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.started = time.monotonic()
        self.running: set[str] = set()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def line(self) -> str:
        done = [c for c in self.cells if c.exit_code is not None]
        verdicts = [(c.results or {}).get("verdict") for c in done]
        n = {k: verdicts.count(k) for k in (Verdict.PASS, Verdict.FAIL, Verdict.NOT_RUN)}
        return (
            f"matrix: {len(done)}/{len(self.cells)} done, {len(self.running)} running; "
            f"pass {n['pass']}, fail {n['fail']}, not-run {n['not-run']}, error {len(done) - sum(n.values())}; "
            f"{time.monotonic() - self.started:.0f} s"
        )

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self.lock:
                print("\r" + self.line() + "\033[K", end="", file=sys.stderr, flush=True)

    def start(self) -> None:
        if self.tty and not self.quiet:
            self._thread.start()

    def cell_started(self, cell: Cell) -> None:
        with self.lock:
            self.running.add(cell.name)

    def cell_done(self, cell: Cell) -> None:
        with self.lock:
            self.running.discard(cell.name)
            if not self.quiet:
                verdict = (cell.results or {}).get("verdict", Verdict.ERROR)
                prefix = "\r\033[K" if self.tty else ""
                print(
                    f"{prefix}matrix: {cell.name}: {verdict} (exit {cell.exit_code}, {cell.seconds:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.tty and not self.quiet:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def _run_cell(cell: Cell, matrix_dir: Path, common: list[str], progress: Progress) -> None:
    cell_dir = matrix_dir / _slug(cell.name)
    cmd = [sys.executable, "-m", "harness", "run", "--quiet", "--runs-dir", str(cell_dir), *cell.choice.run_args()]
    cmd += ["--profile", cell.profile, "--transport", cell.transport, *common]
    if cell.append:
        cmd += ["--append", cell.append]
    progress.cell_started(cell)
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=paths.REPO_ROOT, capture_output=True, text=True)
    cell.seconds = time.monotonic() - start
    cell.exit_code = proc.returncode
    latest = cell_dir / "latest"
    if latest.exists():
        cell.run_dir = latest.resolve()
        try:
            cell.results = json.loads((cell.run_dir / "results.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            cell.error = f"unreadable results.json: {exc}"
    if proc.stderr.strip():
        cell.error = cell.error or proc.stderr.strip().splitlines()[-1]
    progress.cell_done(cell)


def _prepare_kernels(cells: list[Cell], quiet: bool) -> None:
    """Fetch or build each kernel once, here, rather than in parallel cells; likewise each SSH cell's image."""
    for choice in dict.fromkeys(c.choice for c in cells):
        if choice.source is not None:
            req = choice.build_request()
            if not quiet:
                print(
                    f"matrix: building {req.source} + {', '.join(f.name for f in req.fragments) or 'base'}",
                    file=sys.stderr,
                )
            build_kernel(req, progress=not quiet)
        elif choice.kernel.startswith("deb:"):
            resolve_kernel(choice.kernel, None)
    packaged = {c.choice.kernel for c in cells if c.transport == "ssh" and c.choice.source is None}
    for spec in sorted(k for k in packaged if k.startswith("deb:")):
        build_image(resolve_kernel(spec, None))


def only_guests(cells: list[Cell], patterns: list[str], path: Path) -> list[Cell]:
    """The cells whose guest name matches one of `patterns` (shell globs: `--guest "7.2*"`); all when none."""
    if not patterns:
        return cells
    chosen = [c for c in cells if any(fnmatch.fnmatch(c.name, p) for p in patterns)]
    if not chosen:
        names = ", ".join(c.name for c in cells)
        raise BadInput(f"--guest {' '.join(patterns)}: no guest of {path} matches", f"its guests: {names}")
    return chosen


def run_matrix(
    path: Path,
    jobs: int,
    runs_dir: Path | None,
    common: list[str],
    quiet: bool = False,
    guests: list[str] = (),
    part: tuple[int, int] = (1, 1),
) -> int:
    cells = shard(only_guests(load_matrix(path), list(guests), path), *part)
    if not cells:
        raise BadInput(f"--shard {part[0]}/{part[1]}: no guest of {path} falls in it", "use fewer shards")
    _prepare_kernels(cells, quiet)
    probes = [p.name for p in list_probes(build_probe())]
    root = (runs_dir or paths.default_runs_dir()).resolve()
    matrix_dir = root / f"matrix-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    matrix_dir.mkdir(parents=True)
    progress = Progress(cells, quiet)
    progress.start()
    interrupted = False
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_run_cell, c, matrix_dir, common, progress) for c in cells]
            for f in futures:
                f.result()
    except KeyboardInterrupt:
        interrupted = True  # the cells got the same SIGINT and write their own results
    finally:
        progress.stop()
    summary = summarize(cells, probes)
    summary.update(
        matrix=str(path), jobs=jobs, interrupted=interrupted, shard=f"{part[0]}/{part[1]}", directory=str(matrix_dir)
    )
    table = write_summary(matrix_dir, summary)
    if not quiet:
        print(table)
        print(f"matrix: {matrix_dir}")
    return EXIT_INTERRUPTED if interrupted else summary["exit_code"]


def add_parsers(sub) -> None:
    matrix = sub.add_parser("matrix", help="run many guests in parallel and summarize them")
    matrix.add_argument("file", nargs="?", type=Path, help="matrix YAML (default: harness/data/matrix.yaml)")
    matrix.add_argument(
        "-j", "--jobs", type=positive_int, default=os.cpu_count() or 1, help="guests at once (default: cores)"
    )
    matrix.add_argument("--runs-dir", type=Path, help="where the matrix directory goes (default: <checkout>/runs)")
    matrix.add_argument("--expectations", type=Path, metavar="YAML", help="extra expectation rules for every guest")
    matrix.add_argument("--probe", action="append", default=[], metavar="PATTERN", help="run only these probes")
    matrix.add_argument(
        "--guest", action="append", default=[], metavar="PATTERN", help="run only the guests whose name matches"
    )
    matrix.add_argument("--shard", metavar="I/N", help="run only shard I of N (every Nth guest; join with merge)")
    matrix.add_argument("--accel", default="auto", choices=("auto", "kvm", "tcg"))
    matrix.add_argument("--quiet", action="store_true", help="print nothing but errors")
    matrix.set_defaults(handler=_cmd_matrix)


def _cmd_matrix(args) -> int:
    path = args.file or DEFAULT_MATRIX
    if not path.is_file():
        raise BadInput(f"matrix file {path}: no such file")
    common = ["--accel", args.accel]
    if args.expectations is not None:
        require_file("--expectations", args.expectations)
        common += ["--expectations", str(args.expectations.resolve())]
    if args.probe:
        select_probes(names(args.probe), [p.name for p in list_probes()])
        common += [f"--probe={p}" for p in args.probe]
    part = parse_shard(args.shard) if args.shard else (1, 1)
    return run_matrix(path.resolve(), args.jobs, args.runs_dir, common, args.quiet, args.guest, part)
