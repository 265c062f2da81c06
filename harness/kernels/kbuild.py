# SPDX-License-Identifier: GPL-2.0-only
"""Building guest kernels from a source tree and kconfig fragments, cached.

A build is described by its source (a local tree, git or not, or Debian's
`linux-source-*` package unpacked into the cache), its patches, a base config
(`tinyconfig` plus the harness's kconfigs/base.config, or `defconfig`) and
fragments merged with the kernel's own scripts/kconfig/merge_config.sh.

Caching works at two levels:
  - the out-of-tree build directory (`O=`) is keyed by where the source is and
    by the config inputs, so an edited tree or a changed patch rebuilds only
    what changed (make and ccache do the rest);
  - the products (bzImage, .config, modules) are kept per *identity* (source
    commit + hash of uncommitted changes or a content/stat hash, patches,
    merged config, compiler), so a kernel built once is never built again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import paths
from ..cache import dir_problem, rejected, seal_dir
from ..errors import BadInput, HarnessError, RequirementMissing, host_fault_in
from ..host_packages import install_hint
from ..progress import Progress
from . import debian
from .kconfig import config_version, parse_config
from .kernel import Kernel
from .spare import load_catalog

KCONFIGS = paths.KCONFIGS
PATCHES = KCONFIGS / "patches"
BASE_FRAGMENT = KCONFIGS / "base.config"
BASES = ("tinyconfig", "defconfig")
BUILD_TOOLS = ("make", "gcc", "bison", "flex", "bc", "perl")
IN_TREE_BUILD = ".harness-build-"  # a dot directory: the kernel's .gitignore ignores it


class BuildFailed(HarnessError):
    """The kernel did not build: one line with the first error and where the log is."""


@dataclass(frozen=True)
class Source:
    path: Path
    identity: str  # what the tree holds: "deb:pkg=ver", "git:<sha>+<diff hash>", "tree:<stat hash>"
    label: str
    owned: bool  # harness-owned (unpacked into the cache): patches may be applied in place


@dataclass(frozen=True)
class BuildRequest:
    source: str
    fragments: tuple[Path, ...] = ()
    patches: tuple[Path, ...] = ()
    base: str = "tinyconfig"


@dataclass
class BuildResult:
    kernel: Kernel
    build_dir: Path
    cached: bool
    seconds: float
    log: Path
    identity: str
    notes: list[str] = field(default_factory=list)


def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


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


def fetch_deb_source(spec: debian.DebSpec) -> Source:
    """Debian's linux-source-X.Y from any suite, unpacked into the cache once per package version."""
    resolved = debian.resolve(spec, "--source")
    package, version = resolved.packages[0]
    root = paths.cache_dir() / "sources"
    dest = root / resolved.key
    with paths.cache_lock(root / f".{resolved.key}.lock"):
        meta = dest / "source.json"
        if meta.is_file():
            data = json.loads(meta.read_text())
            return Source(Path(data["path"]), data["identity"], data["label"], owned=True)
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root, prefix=f".{package}.") as tmp:
            tmpdir = Path(tmp)
            (tmpdir / "debs").mkdir()
            (deb,) = debian.download(resolved, tmpdir / "debs", "--source")
            unpack = tmpdir / "tree"
            unpack.mkdir()
            with debian.data_tar(deb, "--source") as outer:
                for member in outer:
                    if member.name.endswith(".tar.xz") and "/usr/src/" in member.name:
                        with tarfile.open(fileobj=outer.extractfile(member), mode="r|xz") as inner:
                            inner.extractall(unpack, filter="tar")
                        break
            trees = [p for p in unpack.iterdir() if (p / "Makefile").is_file()]
            if not trees:
                raise BadInput(f"--source {spec}: no kernel source tarball in {package}", "name a linux-source-X.Y")
            dest.mkdir()
            trees[0].rename(dest / trees[0].name)
            path = dest / trees[0].name
            data = {"path": str(path), "identity": f"deb:{package}={version}", "label": f"{package}-{version}"}
            meta.write_text(json.dumps(data, indent=1))
            return Source(path, data["identity"], data["label"], owned=True)


_NOT_BUILDS = f":(exclude){IN_TREE_BUILD}*"  # the harness's own O= directories are not part of the source


def _tree_identity(path: Path) -> str:
    """git: HEAD plus a hash of uncommitted changes; otherwise a hash of every file's path, size and mtime."""
    if (path / ".git").exists():
        head = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True)
        if head.returncode == 0:
            diff = subprocess.run(["git", "-C", str(path), "diff", "HEAD", "--binary"], capture_output=True)
            untracked = subprocess.run(
                ["git", "-C", str(path), "ls-files", "--others", "--exclude-standard", "-z", "--", ".", _NOT_BUILDS],
                capture_output=True,
            )
            extra = b"".join(
                (path / n).read_bytes() for n in untracked.stdout.decode().split("\0") if n and (path / n).is_file()
            )
            return f"git:{head.stdout.strip()}+{_sha(diff.stdout, untracked.stdout, extra)[:12]}"
    h = hashlib.sha256()
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d != ".git" and not d.startswith(IN_TREE_BUILD))
        for name in sorted(files):
            st = os.lstat(os.path.join(root, name))
            h.update(f"{os.path.relpath(os.path.join(root, name), path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return f"tree:{h.hexdigest()[:16]}"


def resolve_source(spec: str) -> Source:
    _check_tools()
    if spec.startswith("deb:"):
        return fetch_deb_source(debian.DebSpec.parse(spec, "--source"))
    path = Path(spec).expanduser().resolve()
    if not (path / "Makefile").is_file() or not (path / "Kconfig").is_file():
        raise BadInput(f"--source {spec}: not a kernel source tree (no Makefile and Kconfig)")
    return Source(path, _tree_identity(path), path.name, owned=False)


def _already_applied(tree: Path, patch: Path) -> bool:
    """True when `tree` already carries `patch` (it reverses cleanly and does not apply forward)."""

    def dry(*flags: str) -> bool:
        cmd = ["patch", "-p1", "--dry-run", "--batch", "--silent", *flags, "-i", str(patch)]
        return subprocess.run(cmd, cwd=tree, capture_output=True).returncode == 0

    return dry("--reverse") and not dry("--forward")


def _patch_files(patch: Path) -> list[str]:
    return sorted({m.group(1) for m in re.finditer(r"^\+\+\+ b/(\S+)", patch.read_text(errors="replace"), re.M)})


@contextmanager
def _patched(src: Source, patches: tuple[Path, ...], workdir: Path):
    """The tree to build: the source itself, with patches applied for the duration of the build.

    A harness-owned tree is patched in place and restored afterwards (the build
    directory stays incremental). A user's tree is never written: patches go to
    a hard-linked copy in the cache, whose patched files are new files.
    """
    if not patches:
        yield src.path
        return
    if src.owned:
        tree = src.path
    else:
        tree = workdir / "patched-tree"
        if tree.exists():
            shutil.rmtree(tree)
        subprocess.run(["cp", "-al", str(src.path), str(tree)], check=True)
    touched = sorted({f for p in patches for f in _patch_files(p)})
    saved = {f: (tree / f).read_bytes() if (tree / f).is_file() else None for f in touched}
    try:
        for p in patches:
            for f in _patch_files(p):  # break hard links so the pristine copy is never written
                target = tree / f
                if target.is_file():
                    data = target.read_bytes()
                    target.unlink()
                    target.write_bytes(data)
            proc = subprocess.run(
                ["patch", "-p1", "--forward", "--batch", "-i", str(p)], cwd=tree, capture_output=True, text=True
            )
            if proc.returncode != 0:
                first = next((ln for ln in proc.stdout.splitlines() if "FAILED" in ln or "rej" in ln), proc.stdout)
                raise BuildFailed(f"--patch {p}: does not apply: {first.strip()[:160]}")
        yield tree
    finally:
        if src.owned:
            for f, data in saved.items():
                target = tree / f
                if data is None:
                    target.unlink(missing_ok=True)
                else:
                    target.write_bytes(data)


# ------------------------------------------------------------------ config


def _fragment_wants(fragment: Path) -> dict[str, str]:
    return parse_config(fragment.read_text())


def _kconfig_depends(tree: Path, symbol: str) -> tuple[bool, str | None]:
    """(defined, the `depends on` expressions of `config SYMBOL`) from the tree's Kconfig files."""
    defined = False
    found: list[str] = []
    pattern = re.compile(rf"^\s*(?:menu)?config\s+{re.escape(symbol)}\s*$")
    for root, dirs, files in os.walk(tree):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not name.startswith("Kconfig"):
                continue
            lines = Path(root, name).read_text(errors="replace").splitlines()
            for i, line in enumerate(lines):
                if pattern.match(line):
                    defined = True
                    for follow in lines[i + 1 :]:
                        s = follow.strip()
                        if re.match(r"^(config|menuconfig|endmenu|endif|menu|choice|source)\b", s):
                            break
                        if s.startswith("depends on"):
                            found.append(s[len("depends on") :].strip())
    return defined, " && ".join(f"({d})" if "||" in d else d for d in found) or None


def verify_config(fragments: tuple[Path, ...], config: dict[str, str], tree: Path) -> None:
    """Every symbol a fragment asked for must survive olddefconfig, else say what it depends on.

    A later fragment overrides an earlier one, as in merge_config.sh (nodevmem turns off base's DEVMEM).
    """
    final: dict[str, tuple[Path, str]] = {}
    for fragment in fragments:
        for symbol, want in _fragment_wants(fragment).items():
            final[symbol] = (fragment, want)
    for symbol, (fragment, want) in final.items():
        have = config.get(symbol, "n")
        if have == want:
            continue
        defined, deps = _kconfig_depends(tree, symbol)
        if deps:
            off = [d for d in dict.fromkeys(re.findall(r"\b([A-Z][A-Z0-9_]+)\b", deps)) if config.get(d, "n") == "n"]
            why = f"it depends on {deps}" + (f"; off here: {', '.join('CONFIG_' + d for d in off)}" if off else "")
        else:
            why = "Kconfig chose otherwise (a select or a choice)" if defined else "no such symbol in this tree"
        raise BadInput(
            f"{fragment}: CONFIG_{symbol}={want} was dropped by Kconfig (the config has {have}): {why}",
            "add the dependency to a fragment or drop the symbol",
        )


# ------------------------------------------------------------------ build


def _configure(
    tree: Path, build_dir: Path, base: str, fragments: tuple[Path, ...], log_file, env: dict, logp: Path
) -> None:
    """<base> config, then the fragments merged by the kernel's merge_config.sh, then olddefconfig."""
    if _make(tree, build_dir, [base], log_file, env) != 0:
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
    cc = os.environ.get("CC", "gcc")
    out = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else cc


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


def _first_error(log_path: Path) -> str:
    lines = log_path.read_text(errors="replace").splitlines()
    for pattern in (r"\berror\b", r"Error \d+", r"\*\*\*"):
        for line in lines:
            if re.search(pattern, line):
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
        args.append("CC=ccache gcc")
    return env, args


def _build_dir(src: Source, req: BuildRequest, compiler: str) -> Path:
    """The O= directory: one per tree (and base and compiler), whatever the fragments.

    Switching configs in one directory is incremental: kbuild rebuilds only what the changed
    symbols touch (strict -> nostrict recompiles a handful of files).  A tree the harness keeps
    in its cache (Debian's source, a test's git copy of it) gets the directory inside itself:
    kbuild then names every path relative to it (srctree = ..), the compiler sees the same
    command line in every copy of the tree, and ccache serves one copy's objects to the other.
    A user's tree is never written: its directory lives in the cache.
    """
    key = _sha(str(src.path), req.base, compiler)[:16]
    in_cache = paths.cache_dir().resolve() in src.path.resolve().parents
    if in_cache and (src.owned or not req.patches):  # a patched copy of a tree cannot live inside it
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
        req = replace(req, patches=tuple(p for p in req.patches if not _already_applied(src.path, p)))
    fragments = ((BASE_FRAGMENT,) if BASE_FRAGMENT not in req.fragments else ()) + tuple(req.fragments)
    compiler = _compiler()
    config_inputs = _sha(req.base, *(f.read_bytes() for f in fragments))
    build_dir = _build_dir(src, req, compiler)
    patch_hash = _sha(*(p.read_bytes() for p in req.patches))[:12] if req.patches else "none"
    identity = _sha(src.identity, patch_hash, config_inputs, compiler)[:16]
    products = build_dir / "products" / identity
    logp = build_dir / "build.log"
    # Products are renamed into place whole and sealed: a cache hit needs no lock (and does not wait
    # for another config's build of the same tree).
    if _sealed_products(products):
        return _result(products, build_dir, src, req, True, started, logp, identity)
    # One build at a time per tree: its configs share one O= directory, and a harness-owned tree is
    # patched in place for the duration of a build.
    with paths.cache_lock(paths.cache_dir() / "locks" / f"{_sha(str(src.path))[:16]}.lock"):
        if (products / "bzImage").is_file() and (products / "build.json").is_file():
            problem = dir_problem(products)
            if problem is None:
                return _result(products, build_dir, src, req, True, started, logp, identity)
            rejected(problem, "built")
            shutil.rmtree(products)
        build_dir.mkdir(parents=True, exist_ok=True)
        with _patched(src, req.patches, build_dir) as tree:
            modules = _compile(tree, build_dir, req.base, fragments, config_inputs, logp, progress)
        meta = {
            "identity": identity,
            "source": src.identity,
            "source_path": str(src.path),
            "patches": [str(p) for p in req.patches],
            "patch_hash": patch_hash,
            "base": req.base,
            "fragments": [str(f) for f in fragments],
            "config_sha256": _sha((build_dir / ".config").read_bytes()),
            "compiler": compiler,
            "seconds": round(time.monotonic() - started, 1),
        }
        _store_products(products, build_dir, modules, meta, logp)
        return _result(products, build_dir, src, req, False, started, logp, identity)


def _sealed_products(products: Path) -> bool:
    return (products / "bzImage").is_file() and (products / "build.json").is_file() and not dir_problem(products)


def _build_progress(build_dir: Path, show: bool) -> Progress:
    """Files compiled, against the count of the last build in this O= directory (an estimate: an
    incremental build compiles fewer)."""
    try:
        last = int((build_dir / ".harness-compiled").read_text()) or None
    except (OSError, ValueError):
        last = None
    return Progress(f"kernel build ({build_dir.name})", last, "files", quiet=not show)


def _compile(
    tree: Path, build_dir: Path, base: str, fragments, config_inputs: str, logp: Path, show: bool = True
) -> list[str]:
    """Configure (unless the config inputs are unchanged), check the config, make bzImage and modules.

    The installed modules of the spare devices' drivers (and what they depend on), for the products."""
    env, make_args = _build_env()
    with open(logp, "wb") as log_file:
        stamp = build_dir / ".harness-config-inputs"
        configured = stamp.is_file() and stamp.read_text() == config_inputs and (build_dir / ".config").is_file()
        if not configured:  # an unchanged config is not regenerated: kbuild syncs it if Kconfig moved
            _configure(tree, build_dir, base, fragments, log_file, env, logp)
            stamp.write_text(config_inputs)
        config = parse_config((build_dir / ".config").read_text())
        verify_config(fragments, config, tree)
        targets = ["bzImage"] + (["modules"] if config.get("MODULES") == "y" else [])
        watch = _build_progress(build_dir, show)
        status = _make(tree, build_dir, [*make_args, *targets], log_file, env, watch)
        (build_dir / ".harness-compiled").write_text(str(watch.done))
        if status != 0:
            raise _failed("kernel build", logp, build_dir)
        if config.get("MODULES") != "y":
            return []
        inst = build_dir / "modinst"
        shutil.rmtree(inst, ignore_errors=True)
        if _make(tree, build_dir, ["INSTALL_MOD_PATH=" + str(inst), "modules_install"], log_file, env):
            raise _failed("modules_install", logp, build_dir)
        wanted = set(load_catalog().module_files)
        return sorted(str(p) for p in inst.rglob("*.ko") if p.name in wanted)


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
