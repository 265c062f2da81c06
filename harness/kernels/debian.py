# SPDX-License-Identifier: GPL-2.0-only
"""Debian's archive: packages from the host's apt sources or from any suite, through a private apt state.

`deb:PACKAGE` asks the host's apt, as `apt-get download` would. `deb:SUITE/PACKAGE`
(`deb:bullseye/linux-image-amd64`, `deb:sid/linux-source-7.2`) asks a suite the host
does not list: the harness keeps an apt state of its own per suite in its cache (a
sources list made from the host's Debian mirror, its own lists, status and archives,
reached through APT_CONFIG), so the host's apt configuration is never touched.

Metapackages resolve to what they point at today (`linux-image-amd64` ->
`linux-image-<abi>`), and sid's split kernel (`linux-image-<abi>` -> `linux-binary-`,
`linux-modules-`, `linux-base-<abi>`) to its three packages.  A resolution is cached:
for a concrete package for good, for a metapackage for a day, since on a rolling suite
what it points at changes every few weeks.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import BadInput, RequirementMissing, host_fault_in
from ..progress import Progress, follow

SPEC = re.compile(r"^(?:(?P<suite>[a-z][a-z0-9.-]*)/)?(?P<package>[a-z0-9][a-z0-9+.-]+)$")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
LISTS_MAX_AGE = 24 * 3600  # a private suite's lists are refreshed after a day
MIRROR_ENV = "DEVMEM_HARNESS_DEBIAN_MIRROR"
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


# ------------------------------------------------------------------ apt states


@dataclass(frozen=True)
class AptState:
    """The host's apt (suite None) or a private state for one suite under the cache."""

    suite: str | None
    root: Path | None = None

    @classmethod
    def for_suite(cls, suite: str | None) -> AptState:
        if suite is None:
            return cls(None)
        return cls(suite, paths.cache_dir() / "apt" / suite)

    def env(self) -> dict[str, str]:
        env = {**os.environ, "LC_ALL": "C"}
        if self.root is not None:
            env["APT_CONFIG"] = str(self.root / "apt.conf")
        return env

    def describe(self) -> str:
        return "the host's apt sources" if self.suite is None else f"Debian {self.suite} ({host_mirror()})"

    def _write_config(self) -> None:
        r = self.root
        for d in ("lists/partial", "archives/partial", "sources.list.d", "preferences.d"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "status").touch()
        signed = f"[signed-by={KEYRING}] " if KEYRING.is_file() else ""
        (r / "sources.list").write_text(f"deb {signed}{host_mirror()} {self.suite} main\n")
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
        found = sorted((self.root / "lists").glob(f"*_dists_{self.suite}_InRelease"))
        return found[0] if found else None

    def ensure_lists(self, warn) -> None:
        """A private suite's lists: fetched once, refreshed after a day (kept, with a warning, if that fails)."""
        if self.root is None:
            return
        with paths.cache_lock(self.root.parent / f".{self.suite}.lock"):
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
                        raise BadInput(
                            f"deb:{self.suite}/...: cannot read suite {self.suite!r} from {host_mirror()}: {last}",
                            f"check the suite name and the network (or set {MIRROR_ENV})",
                        )
                    warn(f"apt-get update for {self.suite} failed ({last}); using the lists from {_age(release)}")
                release = self._release_file()
        expired = release_expired(release.read_text(errors="replace")) if release else None
        if expired:
            warn(f"Debian {self.suite}'s Release file expired on {expired} (a lagging mirror?); used anyway")


def _age(path: Path) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))


def release_expired(text: str, now: float | None = None) -> str | None:
    """The Valid-Until date of a Release file when it is in the past, else None."""
    m = re.search(r"^Valid-Until:\s*(.+)$", text, re.M)
    if not m:
        return None
    try:
        until = email.utils.parsedate_to_datetime(m.group(1).strip()).timestamp()
    except (TypeError, ValueError):
        return None
    return m.group(1).strip() if until < (now or time.time()) else None


# ------------------------------------------------------------------ resolving and downloading


def _need_apt() -> None:
    if not shutil.which("apt-get"):
        raise RequirementMissing("apt-get not found: deb: kernels and sources need a Debian host", "use a path instead")


def _show(apt: AptState, package: str, option: str, spec: DebSpec) -> dict[str, str]:
    proc = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", package], env=apt.env(), capture_output=True, text=True
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        search = "linux-source" if option == "--source" else "linux-image"
        hint = (
            f"list them with `apt-cache search {search}`; run `apt-get update` if the lists are old"
            if apt.suite is None
            else f"list them with `APT_CONFIG={apt.root}/apt.conf apt-cache search {search}`"
        )
        raise BadInput(f"{option} {spec}: no such package {package} in {apt.describe()}", hint)
    fields: dict[str, str] = {}
    key = None
    for line in proc.stdout.splitlines():
        if line[:1].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _depends(fields: dict[str, str]) -> list[str]:
    text = ", ".join(filter(None, (fields.get("Pre-Depends"), fields.get("Depends"))))
    return [m.group(1) for alt in text.split(",") if (m := _DEP.match(alt.split("|")[0]))]


def resolve(spec: DebSpec, option: str, warn=lambda msg: None) -> Resolved:
    """What `spec` stands for today: follow metapackages to the concrete package(s) that hold the files."""
    _need_apt()
    apt = AptState.for_suite(spec.suite)
    index = paths.cache_dir() / "debian" / (spec.suite or "host") / f"{spec.package}.json"
    if index.is_file():
        data = json.loads(index.read_text())
        concrete = data.get("concrete") or time.time() - data.get("at", 0) < LISTS_MAX_AGE
        if concrete:
            return Resolved(spec, tuple(tuple(p) for p in data["packages"]))
    apt.ensure_lists(warn)
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
    index.parent.mkdir(parents=True, exist_ok=True)
    concrete = len(packages) == 1 and packages[0][0] == spec.package
    index.write_text(json.dumps({"packages": packages, "at": time.time(), "concrete": concrete}))
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


def download(resolved: Resolved, workdir: Path, option: str) -> list[Path]:
    """The resolved packages' .deb files, downloaded into `workdir` (which must be empty)."""
    apt = AptState.for_suite(resolved.spec.suite)
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
