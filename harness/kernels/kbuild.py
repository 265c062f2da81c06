# SPDX-License-Identifier: GPL-2.0-only
"""Building guest kernels from a source tree and kconfig fragments, cached.

A build is described by its source (a local tree, git or not, or Debian's
`linux-source-*` package unpacked into the cache), its patches, a base config
(`tinyconfig` plus the harness's kconfigs/base.config, or `defconfig`) or a
whole .config (a config bisection's candidate), and fragments merged with the
kernel's own scripts/kconfig/merge_config.sh.

Caching works at two levels:
  - the out-of-tree build directory (`O=`) is keyed by where the source is and
    by the config inputs, so an edited tree or a changed patch rebuilds only
    what changed (make and ccache do the rest);
  - the products (bzImage, .config, modules) are kept per *identity* (source
    commit + hash of uncommitted changes or a content/stat hash, patches,
    merged config, compiler), so a kernel built once is never built again.

A product is only as true as its label: a user's tree is asked for its identity again when the build
ends, and a tree that moved meanwhile (a checkout, an edit) gets nothing sealed (TreeMoved).  Products
of a user's tree carry the identity the build ended with (`source_at_end`); one without it, or with
another, is built again rather than booted.  A bisection holds its tree (hold_tree) for its whole length.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import compiler, paths
from ..cache import dir_problem, rejected, seal_dir
from ..errors import BadInput, BuildFailed, HarnessError, RequirementMissing, host_fault_in
from ..host_packages import install_hint
from ..progress import Progress
from . import debian
from .kconfig import config_version, parse_config, verify_config
from .kernel import Kernel
from .patching import already_applied, config_patches, kept_copy, patched
from .source_tree import IN_TREE_BUILD, Source, TreeMoved, digest, fetch_deb_source, tree_identity
from .spare import load_catalog

KCONFIGS = paths.KCONFIGS
PATCHES = KCONFIGS / "patches"
BASE_FRAGMENT = KCONFIGS / "base.config"
BASES = ("tinyconfig", "defconfig")
BUILD_TOOLS = ("make", "gcc", "bison", "flex", "bc", "perl")


@dataclass(frozen=True)
class BuildRequest:
    source: str
    fragments: tuple[Path, ...] = ()
    patches: tuple[Path, ...] = ()
    base: str = "tinyconfig"
    whole: Path | None = None  # a whole .config instead of base + base.config (config bisection's candidates)
    workspace: str = ""  # an O= directory of its own (one per config bisection) rather than the tree's


@dataclass
class BuildResult:
    kernel: Kernel
    build_dir: Path
    cached: bool
    seconds: float
    log: Path
    identity: str
    notes: list[str] = field(default_factory=list)


def _resolve_named(text: str, folder: Path, suffix: str, option: str, what: str) -> Path:
    """A path, or a bare name of a file the harness ships in `folder` (with or without `suffix`)."""
    path = Path(text)
    if path.is_file():
        return path.resolve()
    for guess in (folder / text, folder / f"{text}{suffix}"):
        if guess.is_file():
            return guess.resolve()
    names = ", ".join(sorted(p.stem for p in folder.glob(f"*{suffix}")))
    raise BadInput(f"{option} {text}: no such {what}", f"give a path or one of: {names}")


def resolve_fragment(text: str) -> Path:
    """`strict` -> kconfigs/strict.config."""
    return _resolve_named(text, KCONFIGS, ".config", "--kconfig", "fragment")


def resolve_patch(text: str) -> Path:
    """`cc-sim` -> kconfigs/patches/cc-sim.patch."""
    return _resolve_named(text, PATCHES, ".patch", "--patch", "file")


# ------------------------------------------------------------------ sources


BUILD_TOOLS_HINT = install_hint("kbuild")


def missing_build_tools() -> list[str]:
    return [t for t in BUILD_TOOLS if not shutil.which(t)]


def _check_tools() -> None:
    missing = missing_build_tools()
    if missing:
        raise RequirementMissing(f"kernel builds need {', '.join(missing)}", BUILD_TOOLS_HINT)


def resolve_source(spec: str) -> Source:
    _check_tools()
    if spec.startswith("deb:"):
        return fetch_deb_source(debian.DebSpec.parse(spec, "--source"))
    path = Path(spec).expanduser().resolve()
    if not (path / "Makefile").is_file() or not (path / "Kconfig").is_file():
        raise BadInput(f"--source {spec}: not a kernel source tree (no Makefile and Kconfig)")
    return Source(path, tree_identity(path), path.name, owned=False)


# ------------------------------------------------------------------ build


@contextmanager
def _holding(src: Source, patches: tuple[Path, ...], build_dir: Path):
    """One build at a time per O= directory.  Builds of one tree in different O= directories (a config
    bisection's own, a test's) run side by side: the tree is only read.  Patched builds of a
    harness-owned tree take turns at its kept copy (patching.py), never at the tree itself."""
    locks = paths.cache_dir() / "locks"
    with ExitStack() as held:
        files = []
        if src.owned and patches:
            files.append(held.enter_context(paths.cache_lock(locks / f"{digest(str(kept_copy(src)))[:16]}.lock")))
        files.append(held.enter_context(paths.cache_lock(locks / f"build-{digest(str(build_dir))[:16]}.lock")))
        token = _HELD_LOCKS.set(tuple(f.fileno() for f in files))
        try:
            yield
        finally:
            _HELD_LOCKS.reset(token)


# The lock files a build holds, handed down to its makes: a lock is held while anything of the build
# lives.  A harness killed outright (SIGKILL) leaves its makes running (each in a session of its own);
# the next build of that O= directory (or that kept copy) waits for them rather than running beside them.
_HELD_LOCKS: ContextVar[tuple[int, ...]] = ContextVar("held_locks", default=())


def _configure(
    tree: Path, build_dir: Path, req: BuildRequest, fragments: tuple[Path, ...], log_file, env: dict, logp: Path
) -> None:
    """<base> config (or the whole config asked for), then the fragments merged by the kernel's
    merge_config.sh, then olddefconfig."""
    build_dir.mkdir(parents=True, exist_ok=True)
    if req.whole is not None:
        shutil.copyfile(req.whole, build_dir / ".config")
    elif _make(tree, build_dir, [req.base], log_file, env) != 0:
        raise _failed("kernel config", logp, build_dir)
    merge = subprocess.run(
        [
            str(tree / "scripts/kconfig/merge_config.sh"),
            "-m",
            "-O",
            str(build_dir),
            str(build_dir / ".config"),
            *map(str, fragments),
        ],
        cwd=tree,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
    )
    if merge.returncode != 0 or _make(tree, build_dir, ["olddefconfig"], log_file, env) != 0:
        raise _failed("merging the config fragments", logp, build_dir)


def _compiler() -> str:
    return compiler.identity()


COMPILED = re.compile(rb"^\s+(?:CC|AS)(?: \[M\])?\s", re.M)  # kbuild's line for each file it compiles


def _make(tree: Path, build_dir: Path, args: list[str], log, env: dict, watch: Progress | None = None) -> int:
    """make in the tree; `watch` counts the files kbuild reports compiling in the log, once a second."""
    log.write(f"\n$ make O={build_dir} {' '.join(args)}\n".encode())
    log.flush()
    # make runs in a process group of its own, so that an interrupted build stops all of it, and through
    # make itself: make deletes the target it was writing, and a half-written object is never taken for built.
    proc = subprocess.Popen(
        ["make", "-C", str(tree), f"O={build_dir}", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        pass_fds=_HELD_LOCKS.get(),
    )
    offset, compiled = log.tell(), 0
    try:
        while True:
            try:
                return proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                if watch is not None:
                    more, offset = _count_compiled(Path(log.name), offset)
                    compiled += more
                    watch.update(compiled)
    except BaseException:
        _stop_make(proc)
        raise
    finally:
        if watch is not None:
            watch.close()


def _count_compiled(log: Path, offset: int) -> tuple[int, int]:
    """Files compiled in the complete lines written since `offset`, and the offset after them."""
    with open(log, "rb") as f:
        f.seek(offset)
        chunk = f.read()
    whole = chunk[: chunk.rfind(b"\n") + 1]
    return len(COMPILED.findall(whole)), offset + len(whole)


def _stop_make(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGINT, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _failed(what: str, logp: Path, build_dir: Path) -> HarnessError:
    """A failed step of the build: the host's fault when the log says the disk is full or read-only."""
    text = logp.read_text(errors="replace") if logp.exists() else ""
    return host_fault_in(text, what, build_dir) or BuildFailed(f"{what} failed: {_first_error(logp)}", f"log: {logp}")


_QUIET_COMMAND = re.compile(r"^\s+[A-Z][A-Z0-9_]*(\s\[M\])?\s{2,}\S")  # "  CC      .../error.o": a file's name


def _first_error(log_path: Path) -> str:
    lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if not _QUIET_COMMAND.match(ln)]
    for pattern in (r"\berror\b", r"Error \d+", r"\*\*\*"):
        for line in lines:
            if re.search(pattern, line, re.I if pattern == r"\berror\b" else 0):
                return line.strip()[:200]
    return (lines[-1] if lines else "no output").strip()[:200]


def _build_env() -> tuple[dict, list[str]]:
    env = dict(os.environ)
    env.setdefault("KBUILD_BUILD_TIMESTAMP", "2025-01-01")
    env.setdefault("KBUILD_BUILD_USER", "devmem-harness")
    env.setdefault("KBUILD_BUILD_HOST", "devmem-harness")
    args = [f"-j{os.cpu_count() or 1}"]
    if shutil.which("ccache"):
        env.setdefault("CCACHE_DIR", str(paths.cache_dir() / "ccache"))
        env.setdefault("CCACHE_MAXSIZE", "5G")
        env.setdefault("CCACHE_NOHASHDIR", "1")  # the O= directory's name differs between copies of a tree
    args.extend(_cc_argument(compiler.c_compiler(), bool(shutil.which("ccache")), "CC" in os.environ))
    return env, args


def _cc_argument(cc: list[str], with_ccache: bool, chosen: bool) -> list[str]:
    """make's CC= for $CC (the kernel's Makefile sets CC itself, so $CC from the environment is not read):
    the compiler the products are keyed on, through ccache when there is one."""
    if with_ccache and Path(cc[0]).name != "ccache":
        cc = ["ccache", *cc]
    return [f"CC={' '.join(cc)}"] if with_ccache or chosen else []


def _build_dir(src: Source, req: BuildRequest, compiler: str) -> Path:
    """The O= directory: one per tree (and base and compiler), whatever the fragments.

    Switching configs in one directory is incremental: kbuild rebuilds only what the changed
    symbols touch (strict -> nostrict recompiles a handful of files).  A tree the harness keeps
    in its cache (Debian's source, a test's git copy of it) gets the directory inside itself:
    kbuild then names every path relative to it (srctree = ..), the compiler sees the same
    command line in every copy of the tree, and ccache serves one copy's objects to the other.
    Patched, such a tree is built in its kept copy (patching.py), the directory inside that.
    A user's tree is never written: its directory lives in the cache.
    """
    key = digest(str(src.path), req.base, compiler, *([req.workspace] if req.workspace else []))[:16]
    if src.owned and req.patches:  # patched in its kept copy, whose O= directory is inside it
        return kept_copy(src) / f"{IN_TREE_BUILD}{key}"
    if paths.cache_dir().resolve() in src.path.resolve().parents and not req.patches:
        return src.path / f"{IN_TREE_BUILD}{key}"
    return paths.cache_dir() / "builds" / key


def build_kernel(req: BuildRequest, log=None, progress: bool = True) -> BuildResult:
    """Build (or find in the cache) the kernel `req` describes."""
    if req.base not in BASES:
        raise BadInput(f"--base {req.base}: unknown", f"choose {' or '.join(BASES)}")
    req = replace(req, patches=tuple(resolve_patch(str(p)) for p in req.patches))  # patch(1) runs in the tree
    started = time.monotonic()
    src = resolve_source(req.source)
    if not src.owned:  # a user's tree may carry a patch already (a profile's, committed in a bisection fixture)
        req = replace(req, patches=tuple(p for p in req.patches if not already_applied(src.path, p)))
    fragments = _fragments(req)
    compiler = _compiler()
    config_inputs = _config_inputs(req, fragments)
    build_dir = _build_dir(src, req, compiler)
    patch_hash = digest(*(p.read_bytes() for p in req.patches))[:12] if req.patches else "none"
    identity = digest(src.identity, patch_hash, config_inputs, compiler)[:16]
    products = build_dir / "products" / identity
    logp = build_dir / "build.log"
    # Products are renamed into place whole and sealed: a cache hit needs no lock (and does not wait
    # for another config's build of the same tree).
    if _sealed_products(products, src):
        return _result(products, build_dir, src, req, True, started, logp, identity)
    # One build at a time per O= directory (its configs share it); patched builds of a harness-owned
    # tree take turns at its kept copy.
    with _holding(src, req.patches, build_dir):
        if (products / "bzImage").is_file() and (products / "build.json").is_file():
            problem = dir_problem(products) or _label_problem(products, src)
            if problem is None:
                return _result(products, build_dir, src, req, True, started, logp, identity)
            rejected(problem, "built")
            shutil.rmtree(products)
        with patched(src, req.patches, build_dir) as tree:  # makes the kept copy before its O= is made
            build_dir.mkdir(parents=True, exist_ok=True)
            modules = _compile(tree, build_dir, req, fragments, config_inputs, logp, progress)
        at_end = src.identity if src.owned else tree_identity(src.path)
        if at_end != src.identity:
            raise TreeMoved(
                f"--source {src.path}: the tree changed while it was built ({src.identity} when the build"
                f" started, {at_end} when it ended): nothing was sealed",
                "build again once the tree holds still (the objects in the build directory are kept)",
            )
        meta = {
            "identity": identity,
            "source": src.identity,
            "source_at_end": at_end,
            "source_path": str(src.path),
            "patches": [str(p) for p in req.patches],
            "patch_hash": patch_hash,
            "base": "whole config" if req.whole else req.base,
            "fragments": [str(f) for f in fragments],
            "whole_config": str(req.whole) if req.whole else None,
            "config_sha256": digest((build_dir / ".config").read_bytes()),
            "compiler": compiler,
            "seconds": round(time.monotonic() - started, 1),
        }
        _store_products(products, build_dir, modules, meta, logp)
        return _result(products, build_dir, src, req, False, started, logp, identity)


def _fragments(req: BuildRequest) -> tuple[Path, ...]:
    """base.config joins a base config (tinyconfig knows nothing of the guest); a whole config has its own."""
    if req.whole is not None or BASE_FRAGMENT in req.fragments:
        return tuple(req.fragments)
    return (BASE_FRAGMENT, *req.fragments)


def _config_inputs(req: BuildRequest, fragments: tuple[Path, ...]) -> str:
    start = ("whole", req.whole.read_bytes()) if req.whole is not None else (req.base,)
    return digest(*start, *(f.read_bytes() for f in fragments))


def normalised_config(req: BuildRequest) -> str:
    """The .config Kconfig makes of `req` (its base and fragments, or its whole config, through
    olddefconfig) without building: a config bisection's endpoints and candidates."""
    src = resolve_source(req.source)
    req = replace(req, patches=tuple(resolve_patch(str(p)) for p in req.patches))
    if not src.owned:
        req = replace(req, patches=tuple(p for p in req.patches if not already_applied(src.path, p)))
    patches = config_patches(req.patches)
    scratch = _build_dir(src, replace(req, patches=patches), _compiler())
    scratch = scratch.with_name(scratch.name + "-kconfig")
    env, _ = _build_env()
    with _holding(src, patches, scratch):
        with patched(src, patches, scratch) as tree:
            logp = scratch / "kconfig.log"
            scratch.mkdir(parents=True, exist_ok=True)
            with open(logp, "wb") as log_file:
                _configure(tree, scratch, req, _fragments(req), log_file, env, logp)
            text = (scratch / ".config").read_text()
            if req.whole is None:  # a fragment's symbol Kconfig dropped is said, as for a build
                verify_config(_fragments(req), parse_config(text), tree)
            return text


def drop_workspace(req: BuildRequest) -> None:
    """Remove the O= directories of a workspace (a finished config bisection's): a distribution config's
    objects are gigabytes, and ccache keeps what a later build may want."""
    src = resolve_source(req.source)
    build_dir = _build_dir(src, req, _compiler())
    for path in (build_dir, build_dir.with_name(build_dir.name + "-kconfig")):
        with _holding(src, (), path):
            shutil.rmtree(path, ignore_errors=True)


def _sealed_products(products: Path, src: Source) -> bool:
    return (
        (products / "bzImage").is_file()
        and (products / "build.json").is_file()
        and not dir_problem(products)
        and not _label_problem(products, src)
    )


def _label_problem(products: Path, src: Source) -> str | None:
    """A user's tree's product must say it was built from what the tree holds now: sealed with the identity
    its build ended with.  Products made before that check (or planted) lack it and are built again."""
    if src.owned:
        return None  # Debian's source, unpacked by the harness: it never moves
    try:
        at_end = json.loads((products / "build.json").read_text()).get("source_at_end")
    except (OSError, ValueError):
        return f"{products}/build.json is unreadable"
    if at_end != src.identity:
        return f"{products} was not sealed with the identity its build ended with ({at_end}, not {src.identity})"
    return None


def _build_progress(build_dir: Path, show: bool) -> Progress:
    """Files compiled, against the count of the last build in this O= directory (an estimate: an
    incremental build compiles fewer)."""
    try:
        last = int((build_dir / ".harness-compiled").read_text()) or None
    except (OSError, ValueError):
        last = None
    return Progress(f"kernel build ({build_dir.name})", last, "files", quiet=not show)


def _compile(
    tree: Path, build_dir: Path, req: BuildRequest, fragments, config_inputs: str, logp: Path, show: bool = True
) -> list[str]:
    """Configure (unless the config inputs are unchanged), check the config, make bzImage and modules.

    The installed modules of the spare devices' drivers (and what they depend on), for the products.
    A whole config (a distribution's has thousands of modules) builds only those modules."""
    env, make_args = _build_env()
    with open(logp, "wb") as log_file:
        stamp = build_dir / ".harness-config-inputs"
        configured = stamp.is_file() and stamp.read_text() == config_inputs and (build_dir / ".config").is_file()
        if not configured:  # an unchanged config is not regenerated: kbuild syncs it if Kconfig moved
            _configure(tree, build_dir, req, fragments, log_file, env, logp)
            stamp.write_text(config_inputs)
        config = parse_config((build_dir / ".config").read_text())
        verify_config(fragments, config, tree)
        singles = module_targets(tree, config, whole=req.whole is not None)
        together = singles if req.whole is None else []  # `modules` goes with bzImage, .ko targets do not
        watch = _build_progress(build_dir, show)
        status = _make(tree, build_dir, [*make_args, "bzImage", *together], log_file, env, watch)
        (build_dir / ".harness-compiled").write_text(str(watch.done))
        if status == 0 and singles and not together:
            # kbuild builds single .ko targets mixed with others one by one, each modpost seeing only its
            # own module (nvme-core.ko then misses nvme-auth.ko's symbols): all of them in one make, and a
            # symbol from a module the suite does not load is a warning (that module is not loaded anyway).
            status = _make(tree, build_dir, [*make_args, "KBUILD_MODPOST_WARN=1", *singles], log_file, env)
        if status != 0:
            raise _failed("kernel build", logp, build_dir)
        if req.whole is not None:
            return [str(build_dir / t) for t in singles]
        if config.get("MODULES") != "y":
            return []
        wanted = set(load_catalog().module_files)
        inst = build_dir / "modinst"
        shutil.rmtree(inst, ignore_errors=True)
        if _make(tree, build_dir, ["INSTALL_MOD_PATH=" + str(inst), "modules_install"], log_file, env):
            raise _failed("modules_install", logp, build_dir)
        return sorted(str(p) for p in inst.rglob("*.ko") if p.name in wanted)


_OBJ_LINE = re.compile(r"^obj-\$\(CONFIG_([A-Z0-9_]+)\)\s*[+:]?=\s*(.*)$", re.M)


def module_targets(tree: Path, config: dict[str, str], whole: bool) -> list[str]:
    """What make builds beside bzImage: of a whole config's modules only those the suite loads, of a
    fragment config's all of them (`modules`)."""
    if whole:
        return _module_targets(tree, config, set(load_catalog().module_files))
    return ["modules"] if config.get("MODULES") == "y" else []


def _module_targets(tree: Path, config: dict[str, str], wanted: set[str]) -> list[str]:
    """`dir/name.ko` for each wanted module the config builds as a module (kbuild's single targets),
    found by its `obj-$(CONFIG_X) += name.o` line: no need to build a distribution's thousands."""
    objects = {Path(name).stem.replace("_", "-") for name in wanted}
    targets = []
    for makefile in (tree / "drivers").rglob("Makefile"):
        text = makefile.read_text(errors="replace")
        for symbol, rest in _OBJ_LINE.findall(text):
            if config.get(symbol) != "m":
                continue
            for obj in rest.split():
                if obj.endswith(".o") and obj.removesuffix(".o").replace("_", "-") in objects:
                    targets.append(str(makefile.parent.relative_to(tree) / f"{obj.removesuffix('.o')}.ko"))
    return sorted(set(targets))


def _store_products(products: Path, build_dir: Path, modules: list[str], meta: dict, logp: Path) -> None:
    """bzImage, config, the spare devices' modules, build.json and the log under the build's identity: written
    beside it, sealed, then renamed into place, so a half-written product is never taken for a build."""
    tmp = products.with_name(f".{products.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy2(build_dir / "arch/x86/boot/bzImage", tmp / "bzImage")
    shutil.copy2(build_dir / ".config", tmp / "config")
    for m in modules:
        shutil.copy2(m, tmp / Path(m).name)
    (tmp / "build.json").write_text(json.dumps(meta, indent=1))
    shutil.copy2(logp, tmp / "build.log")
    seal_dir(tmp)
    shutil.rmtree(products, ignore_errors=True)
    os.replace(tmp, products)


def _result(
    products: Path,
    build_dir: Path,
    src: Source,
    req: BuildRequest,
    cached: bool,
    started: float,
    logp: Path,
    identity: str,
) -> BuildResult:
    text = (products / "config").read_text()
    mods = tuple(sorted(products.glob("*.ko")))
    kernel = Kernel(
        image=products / "bzImage",
        config_path=products / "config",
        source=f"build:{src.identity}" + (f"+{len(req.patches)} patch(es)" if req.patches else ""),
        version=config_version(text),
        release=None,
        modules=mods,
        load=(),
        modules_from=f"the build's products in {products}",
    )
    return BuildResult(
        kernel, build_dir, cached, round(time.monotonic() - started, 1), products / "build.log", identity
    )
