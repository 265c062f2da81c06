# SPDX-License-Identifier: GPL-2.0-only
"""Debian's archive, by suite, on any host: packages are never looked up in the host's own sources.

`deb:SUITE/PACKAGE` (`deb:bullseye/linux-image-amd64`, `deb:sid/linux-source-7.2`) asks one suite;
`deb:PACKAGE` asks the default release, bookworm with its updates and security suites (DEFAULT_SUITES),
newest version first, so `deb:linux-source-6.12` means the same package on a Debian, an Ubuntu and a
Fedora host.  Where apt exists, a private apt state per suite in the cache does the work (a sources
list made from the Debian mirror, its own lists, status and archives, reached through APT_CONFIG), so
the host's apt configuration is never touched.  Where it does not (Fedora, CentOS, RHEL), archive.py
does the same with python-debian and gpgv.  DEVMEM_HARNESS_DEBIAN_FETCH=apt|archive chooses.

Metapackages resolve to what they point at today (`linux-image-amd64` ->
`linux-image-<abi>`), and sid's split kernel (`linux-image-<abi>` -> `linux-binary-`,
`linux-modules-`, `linux-base-<abi>`) to its three packages.  A resolution is cached:
for a concrete package for good, for a metapackage for a day, since on a rolling suite
what it points at changes every few weeks.
"""

from __future__ import annotations

import json
import lzma
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from debian.debfile import DebError, DebFile

from .. import paths
from ..errors import BadInput, RequirementMissing, host_fault_in
from ..progress import Progress, follow
from . import archive
from .archive import LISTS_MAX_AGE, release_expired

SPEC = re.compile(r"^(?:(?P<suite>[a-z][a-z0-9.-]*)/)?(?P<package>[a-z0-9][a-z0-9+.-]+)$")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
MIRROR_ENV = "DEVMEM_HARNESS_DEBIAN_MIRROR"
SECURITY_MIRROR_ENV = "DEVMEM_HARNESS_DEBIAN_SECURITY_MIRROR"
FETCH_ENV = "DEVMEM_HARNESS_DEBIAN_FETCH"
DEFAULT_RELEASE = "bookworm"
DEFAULT_SUITES = (DEFAULT_RELEASE, f"{DEFAULT_RELEASE}-updates", f"{DEFAULT_RELEASE}-security")
_DEP = re.compile(r"^\s*([a-z0-9][a-z0-9+.-]+)")


@dataclass(frozen=True)
class DebSpec:
    """`deb:[SUITE/]PACKAGE` as the user wrote it."""

    suite: str | None
    package: str

    @classmethod
    def parse(cls, text: str, option: str) -> DebSpec:
        m = SPEC.match(text.removeprefix("deb:"))
        if not m:
            raise BadInput(
                f"{option} {text}: not a Debian package spec",
                "write deb:PACKAGE or deb:SUITE/PACKAGE, e.g. deb:bullseye/linux-image-amd64",
            )
        return cls(m.group("suite"), m.group("package"))

    def __str__(self) -> str:
        return f"deb:{self.suite + '/' if self.suite else ''}{self.package}"


@dataclass(frozen=True)
class Resolved:
    """The concrete packages (name, version) that a spec stands for today."""

    spec: DebSpec
    packages: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        """A cache directory name: the first concrete package and its version."""
        name, version = self.packages[0]
        return f"{name}_{version}"


# ------------------------------------------------------------------ the host's mirror


def _source_entries(root: Path) -> list[tuple[str, list[str]]]:
    """(URI, suites) of every `deb` entry in the host's one-line and deb822 source files."""
    etc = root / "etc/apt"
    entries: list[tuple[str, list[str]]] = []
    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for f in files:
        for line in f.read_text(errors="replace").splitlines() if f.is_file() else []:
            words = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb":
                entries.append((words[1], [words[2]]))
    for f in sorted((etc / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text(errors="replace")):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[0].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and fields.get("enabled", ["yes"]) != ["no"]:
                entries += [(uri, fields.get("suites", [])) for uri in fields.get("uris", [])]
    return entries


def host_mirror(root: Path = Path("/")) -> str:
    """The Debian archive URI the host's apt uses (not the security archive), else deb.debian.org."""
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV].rstrip("/")
    for uri, suites in _source_entries(root):
        if uri.rstrip("/").endswith("/debian") and not any(s.endswith("-security") for s in suites):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def mirror_for(suite: str, root: Path = Path("/")) -> str:
    """Where a suite lives: the security suites in the security archive (beside the mirror, as on
    deb.debian.org, or as the host's apt or DEVMEM_HARNESS_DEBIAN_SECURITY_MIRROR says), the rest in the mirror."""
    if not suite.endswith("-security"):
        return host_mirror(root)
    if os.environ.get(SECURITY_MIRROR_ENV):
        return os.environ[SECURITY_MIRROR_ENV].rstrip("/")
    for uri, suites in _source_entries(root):
        if uri.rstrip("/").endswith("/debian-security") and any(s.endswith("-security") for s in suites):
            return uri.rstrip("/")
    return host_mirror(root) + "-security"


def suites_of(suite: str | None) -> tuple[str, ...]:
    """The suites a spec asks: its own, or the default release's."""
    return (suite,) if suite else DEFAULT_SUITES


def use_apt() -> bool:
    """apt where the host has it, else the harness's own fetcher (FETCH_ENV chooses either)."""
    chosen = os.environ.get(FETCH_ENV, "")
    if chosen not in ("", "apt", "archive"):
        raise BadInput(f"{FETCH_ENV}={chosen}: choose apt or archive")
    if chosen:
        if chosen == "apt" and not (shutil.which("apt-get") and shutil.which("apt-cache")):
            raise RequirementMissing(f"{FETCH_ENV}=apt but apt-get is not on PATH", f"unset {FETCH_ENV}")
        return chosen == "apt"
    return bool(shutil.which("apt-get") and shutil.which("apt-cache"))


# ------------------------------------------------------------------ apt states


def describe(suite: str | None) -> str:
    """ "Debian bullseye (http://...)" or the default release with its suites."""
    if suite:
        return f"Debian {suite} ({mirror_for(suite)})"
    return f"Debian {' + '.join(DEFAULT_SUITES)} ({host_mirror()})"


@dataclass(frozen=True)
class AptState:
    """A private apt state under the cache: one suite's (`deb:SUITE/...`), or the default release's
    (`default`: DEFAULT_SUITES, for `deb:PACKAGE`)."""

    suite: str | None
    root: Path

    @classmethod
    def for_suite(cls, suite: str | None) -> AptState:
        return cls(suite, paths.cache_dir() / "apt" / (suite or "default"))

    def env(self) -> dict[str, str]:
        return {**os.environ, "LC_ALL": "C", "APT_CONFIG": str(self.root / "apt.conf")}

    def describe(self) -> str:
        return describe(self.suite)

    def _write_config(self) -> None:
        r = self.root
        for d in ("lists/partial", "archives/partial", "sources.list.d", "preferences.d"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "status").touch()
        signed = f"[signed-by={KEYRING}] " if KEYRING.is_file() else ""
        lines = [f"deb {signed}{mirror_for(s)} {s} main\n" for s in suites_of(self.suite)]
        (r / "sources.list").write_text("".join(lines))
        # Valid-Until is checked by the harness (a warning), not by apt: sid's Release file
        # expires within a week and mirrors can lag behind it.
        (r / "apt.conf").write_text(
            "\n".join(
                [
                    f'Dir::State "{r}";',
                    f'Dir::State::Lists "{r}/lists";',
                    f'Dir::State::status "{r}/status";',
                    f'Dir::Cache "{r}";',
                    f'Dir::Cache::Archives "{r}/archives";',
                    'Dir::Cache::pkgcache "";',
                    'Dir::Cache::srcpkgcache "";',
                    f'Dir::Etc::SourceList "{r}/sources.list";',
                    f'Dir::Etc::SourceParts "{r}/sources.list.d";',
                    f'Dir::Etc::Preferences "{r}/preferences";',
                    f'Dir::Etc::PreferencesParts "{r}/preferences.d";',
                    'Acquire::Check-Valid-Until "false";',
                    'Acquire::Languages "none";',
                    'APT::Architecture "amd64";',
                    'APT::Architectures { "amd64"; };',
                    "",
                ]
            )
        )

    def _release_file(self) -> Path | None:
        found = sorted((self.root / "lists").glob(f"*_dists_{suites_of(self.suite)[0]}_InRelease"))
        return found[0] if found else None

    def ensure_lists(self, warn) -> None:
        """A private suite's lists: fetched once, refreshed after a day (kept, with a warning, if that fails)."""
        with paths.cache_lock(self.root.parent / f".{self.root.name}.lock"):
            self._write_config()
            release = self._release_file()
            fresh = release is not None and time.time() - release.stat().st_mtime < LISTS_MAX_AGE
            if not fresh:
                proc = subprocess.run(["apt-get", "update"], env=self.env(), capture_output=True, text=True)
                errors = [ln for ln in proc.stderr.splitlines() if ln.startswith(("E:", "Err:"))]
                if proc.returncode != 0 or errors or self._release_file() is None:
                    last = (errors or proc.stderr.strip().splitlines() or ["no output"])[-1]
                    if release is None:  # nothing of this suite was ever read: leave nothing behind either
                        shutil.rmtree(self.root, ignore_errors=True)
                        (self.root.parent / f".{self.root.name}.lock").unlink(missing_ok=True)  # nothing to guard
                        raise unreadable(self.suite, last)
                    warn(f"apt-get update for {self.root.name} failed ({last}); using the lists from {_age(release)}")
                release = self._release_file()
        expired = release_expired(release.read_text(errors="replace")) if release else None
        if expired:
            warn(f"Debian {self.suite}'s Release file expired on {expired} (a lagging mirror?); used anyway")


def unreadable(suite: str | None, why: str) -> BadInput:
    where = (
        f"deb:{suite}/...: cannot read suite {suite!r} from {mirror_for(suite)}"
        if suite
        else f"cannot read {describe(None)}"
    )
    return BadInput(f"{where}: {why}", f"check the suite name and the network (or set {MIRROR_ENV})")


def _age(path: Path) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))


# ------------------------------------------------------------------ resolving and downloading


class _Index:
    """What a spec's suites list, through apt or through archive.py: one interface for resolve and download."""

    def __init__(self, suite: str | None, warn):
        self.suite = suite
        self.apt = AptState.for_suite(suite) if use_apt() else None
        self.archive = None if self.apt else [archive.SuiteIndex(s, mirror_for(s)) for s in suites_of(suite)]
        self.warn = warn

    def ensure(self) -> None:
        if self.apt:
            self.apt.ensure_lists(self.warn)
            return
        for n, idx in enumerate(self.archive):
            try:
                idx.ensure(self.warn)
            except BadInput:
                if n == 0:  # the suite itself; the default release's -updates may be gone (an archived release)
                    raise
                self.warn(f"Debian {idx.suite} cannot be read from {idx.mirror}; resolved without it")
                self.archive[n] = None
        self.archive = [idx for idx in self.archive if idx is not None]

    def show(self, package: str) -> dict[str, str] | None:
        if self.archive is not None:
            hit = archive.newest(self.archive, package)
            return hit[1] if hit else None
        proc = subprocess.run(
            ["apt-cache", "show", "--no-all-versions", package], env=self.apt.env(), capture_output=True, text=True
        )
        if proc.returncode != 0 or not proc.stdout.strip():
            return None
        fields: dict[str, str] = {}
        key = None
        for line in proc.stdout.splitlines():
            if line[:1].isspace() and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        return fields

    def search_hint(self, option: str) -> str:
        search = "linux-source" if option == "--source" else "linux-image"
        if self.apt:
            return f"list them with `APT_CONFIG={self.apt.root}/apt.conf apt-cache search {search}`"
        return f"see {self.archive[0].mirror}/pool/main/l/ for the {search} packages {describe(self.suite)} has"


def _show(index: _Index, package: str, option: str, spec: DebSpec) -> dict[str, str]:
    fields = index.show(package)
    if not fields:
        raise BadInput(
            f"{option} {spec}: no such package {package} in {describe(spec.suite)}", index.search_hint(option)
        )
    return fields


@contextmanager
def data_tar(deb: Path, option: str):
    """A .deb's file system as a TarFile read in order (python-debian: no dpkg-deb on a Fedora host)."""
    try:
        with DebFile(str(deb)) as package:
            yield package.data.tgz()
    except (DebError, tarfile.TarError, EOFError, lzma.LZMAError) as exc:
        raise BadInput(
            f"{option}: {deb.name} is not a readable Debian package ({exc})", "is the download whole?"
        ) from None


def _depends(fields: dict[str, str]) -> list[str]:
    text = ", ".join(filter(None, (fields.get("Pre-Depends"), fields.get("Depends"))))
    return [m.group(1) for alt in text.split(",") if (m := _DEP.match(alt.split("|")[0]))]


def resolve(spec: DebSpec, option: str, warn=lambda msg: None) -> Resolved:
    """What `spec` stands for today: follow metapackages to the concrete package(s) that hold the files."""
    known = paths.cache_dir() / "debian" / (spec.suite or "default") / f"{spec.package}.json"
    if known.is_file():
        data = json.loads(known.read_text())
        concrete = data.get("concrete") or time.time() - data.get("at", 0) < LISTS_MAX_AGE
        if concrete:
            return Resolved(spec, tuple(tuple(p) for p in data["packages"]))
    apt = _Index(spec.suite, warn)
    apt.ensure()
    name = spec.package
    for _ in range(4):
        fields = _show(apt, name, option, spec)
        deps = _depends(fields)
        binary = next((d for d in deps if d.startswith("linux-binary-")), None)
        if binary:  # sid's split kernel: vmlinuz, modules and config in three packages
            abi = binary.removeprefix("linux-binary-")
            names = [f"linux-binary-{abi}", f"linux-modules-{abi}", f"linux-base-{abi}"]
            packages = tuple((n, _show(apt, n, option, spec)["Version"]) for n in names)
            break
        family = "linux-source-" if name.startswith("linux-source") else "linux-image-"
        nxt = next((d for d in deps if d.startswith(family) and d != name), None)
        if nxt is None or not name.startswith(family.rstrip("-")):
            packages = ((name, fields["Version"]),)
            break
        name = nxt  # a metapackage: follow it
    else:
        raise BadInput(f"{option} {spec}: metapackages nest too deep", "name the concrete package")
    resolved = Resolved(spec, packages)
    known.parent.mkdir(parents=True, exist_ok=True)
    concrete = len(packages) == 1 and packages[0][0] == spec.package
    known.write_text(json.dumps({"packages": packages, "at": time.time(), "concrete": concrete}))
    return resolved


def _download_showing_progress(wanted: list[str], workdir: Path, apt: AptState) -> tuple[int, str]:
    """`apt-get download`, with the MiB on disk against the packages' sizes in the index (a kernel
    source package is 150 MiB: minutes on a slow mirror).  Its exit status and stderr."""
    total = _sizes(wanted, apt)
    progress = Progress(f"download {wanted[0].split('=')[0]}", total and max(1, total >> 20), "MiB")

    def on_disk() -> int:
        return sum(f.stat().st_size for f in workdir.rglob("*") if f.is_file()) >> 20

    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(["apt-get", "download", *wanted], cwd=workdir, env=apt.env(), stdout=err, stderr=err)
        status = follow(proc, progress, on_disk)
        err.seek(0)
        return status, err.read()


def _sizes(wanted: list[str], apt: AptState) -> int | None:
    """The packages' total size from the index (apt-cache show), or None when it does not say."""
    proc = subprocess.run(["apt-cache", "show", *wanted], env=apt.env(), capture_output=True, text=True)
    sizes = [int(m) for m in re.findall(r"^Size: (\d+)$", proc.stdout, re.M)]
    return sum(sizes[: len(wanted)]) if proc.returncode == 0 and sizes else None


def download(resolved: Resolved, workdir: Path, option: str, warn=lambda msg: None) -> list[Path]:
    """The resolved packages' .deb files, downloaded into `workdir` (which must be empty)."""
    index = _Index(resolved.spec.suite, warn)
    if index.archive is not None:
        index.ensure()
        debs = archive.download(index.archive, list(resolved.packages), workdir)
        if len(debs) != len(resolved.packages):
            name, version = resolved.packages[len(debs)]
            raise BadInput(
                f"{option} {resolved.spec}: {name}={version} is no longer in {describe(resolved.spec.suite)}",
                "name another version, or clear the cached resolution under the cache's debian/ folder",
            )
        return debs
    apt = index.apt
    apt.ensure_lists(warn)
    wanted = [f"{n}={v}" for n, v in resolved.packages]
    status, stderr = _download_showing_progress(wanted, workdir, apt)
    debs = sorted(workdir.glob("*.deb"))
    if status != 0 or len(debs) != len(wanted):
        err = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("W:")]
        last = (err or ["no output"])[-1]
        if fault := host_fault_in(stderr, f"downloading {' '.join(wanted)}", workdir):
            raise fault
        if "Unable to locate" in last or "Can't find a source" in last or "Version" in last:
            raise BadInput(f"{option} {resolved.spec}: {last}", f"refresh {apt.describe()} or name another package")
        raise RequirementMissing(
            f"apt-get download {' '.join(wanted)} failed: {last}", "check the network and the Debian mirror"
        )
    return debs
