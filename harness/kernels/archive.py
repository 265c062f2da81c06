# SPDX-License-Identifier: GPL-2.0-only
"""Debian's archive without apt, for hosts that have none (Fedora, CentOS, RHEL).

The chain of trust is apt's: a suite's InRelease is checked with `gpgv` against the Debian archive
keyring; its Packages index must have the SHA-256 that InRelease gives; each .deb must have the SHA-256
that Packages gives.  Anything that breaks the chain is refused with one line and nothing of it is kept.
python-debian parses Release and Packages; the index of one suite is kept in the cache as a sealed JSON
file of the fields the harness reads, refreshed after a day like the private apt lists.
"""

from __future__ import annotations

import email.utils
import json
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from debian import deb822
from debian.debian_support import Version

from .. import cache, paths
from ..errors import BadInput, HostFault, RequirementMissing
from ..progress import Progress

ARCH = "amd64"
COMPONENT = "main"
FIELDS = ("Package", "Version", "Filename", "SHA256", "Size", "Depends", "Pre-Depends")
KEYRING_ENV = "DEVMEM_HARNESS_DEBIAN_KEYRING"
# Where hosts keep Debian's archive keys: Debian and Ubuntu (debian-archive-keyring), Fedora and EPEL
# (distribution-gpg-keys).
KEYRING_PLACES = (
    Path("/usr/share/keyrings/debian-archive-keyring.gpg"),
    Path("/usr/share/distribution-gpg-keys/debian"),
)
INDEX = "packages.json"
LISTS_MAX_AGE = 24 * 3600  # a suite's lists (apt's or this module's index) are refreshed after a day


class Tampered(HostFault):
    """A file from the mirror that breaks the signed chain: never used, never cached."""


def keyrings() -> list[Path]:
    """The Debian archive keyring(s) gpgv checks InRelease against."""
    if os.environ.get(KEYRING_ENV):
        found = [Path(p) for p in os.environ[KEYRING_ENV].split(":") if Path(p).is_file()]
        if not found:
            raise RequirementMissing(f"{KEYRING_ENV}={os.environ[KEYRING_ENV]}: no such keyring file")
        return found
    for place in KEYRING_PLACES:
        if place.is_file():
            return [place]
        if place.is_dir():
            found = sorted(p for p in place.glob("debian-archive-*.gpg") if "removed" not in p.name)
            if found:
                return found
    raise RequirementMissing(
        "no Debian archive keyring to check Debian's InRelease files with",
        "install debian-archive-keyring (Debian, Ubuntu) or distribution-gpg-keys (Fedora, EPEL), "
        f"or set {KEYRING_ENV}",
    )


def _get(url: str, dest: Path, progress: Progress | None = None) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            done = 0
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                done += len(block)
                if progress:
                    progress.update(done >> 20)
    except urllib.error.HTTPError as exc:
        raise FileNotFoundError(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError) as exc:
        raise RequirementMissing(f"cannot reach {url}: {getattr(exc, 'reason', exc)}", "check the network") from None


class SuiteIndex:
    """One suite's binary packages (main, amd64), as the signed archive lists them."""

    def __init__(self, suite: str, mirror: str):
        self.suite = suite
        self.mirror = mirror.rstrip("/")
        self.dir = paths.cache_dir() / "archive" / suite
        self._packages: dict[str, dict[str, str]] | None = None

    def ensure(self, warn) -> None:
        """Fetched once, refreshed after a day (the old index kept, with a warning, when that fails)."""
        with paths.cache_lock(self.dir.parent / f".{self.suite}.lock"):
            index = self.dir / INDEX
            usable = index.is_file() and cache.dir_problem(self.dir) is None
            if index.is_file() and not usable:
                cache.rejected(cache.dir_problem(self.dir), f"Debian {self.suite}'s index fetched")
            if not usable or time.time() - index.stat().st_mtime > LISTS_MAX_AGE:
                try:
                    self._fetch()
                except BadInput:  # no such suite: nothing of it was ever read, nothing is left behind
                    (self.dir.parent / f".{self.suite}.lock").unlink(missing_ok=True)
                    raise
                except (RequirementMissing, OSError) as exc:
                    if not usable or isinstance(exc, Tampered):
                        raise
                    warn(f"refreshing Debian {self.suite} failed ({exc}); using the index from {_age(index)}")
        expired = release_expired((self.dir / "InRelease").read_text(errors="replace"))
        if expired:
            warn(f"Debian {self.suite}'s Release file expired on {expired} (a lagging mirror?); used anyway")

    def _fetch(self) -> None:
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.dir.parent, prefix=f".{self.suite}.") as tmp:
            work = Path(tmp) / "index"
            work.mkdir()
            inrelease = work / "InRelease"
            try:
                _get(f"{self.mirror}/dists/{self.suite}/InRelease", inrelease)
            except FileNotFoundError as exc:
                raise BadInput(
                    f"deb:{self.suite}/...: cannot read suite {self.suite!r} from {self.mirror}: {exc}",
                    "check the suite name and the network (or set DEVMEM_HARNESS_DEBIAN_MIRROR)",
                ) from None
            self._verify_signature(inrelease)
            release = deb822.Release(inrelease.read_text(errors="replace"))
            wanted = f"{COMPONENT}/binary-{ARCH}/Packages.xz"
            entry = next((e for e in release.get("SHA256", []) if e["name"] == wanted), None)
            if entry is None:
                raise Tampered(
                    f"Debian {self.suite}: its InRelease lists no {wanted}", "is the mirror a Debian archive?"
                )
            packages_xz = work / "Packages.xz"
            _get(f"{self.mirror}/dists/{self.suite}/{wanted}", packages_xz)
            if cache.sha256_file(packages_xz) != entry["sha256"]:
                raise Tampered(
                    f"Debian {self.suite}: {wanted} from {self.mirror} does not match the SHA-256 its signed"
                    " InRelease gives (tampered or cut short); nothing was kept",
                    "try again, or another mirror: DEVMEM_HARNESS_DEBIAN_MIRROR",
                )
            table: dict[str, dict[str, str]] = {}
            with lzma.open(packages_xz, "rt", encoding="utf-8", errors="replace") as f:
                for para in deb822.Packages.iter_paragraphs(f, use_apt_pkg=False, fields=list(FIELDS)):
                    name = para.get("Package")
                    if name and (name not in table or _newer(para["Version"], table[name]["Version"])):
                        table[name] = {k: para[k] for k in FIELDS if k in para}
            packages_xz.unlink()
            (work / INDEX).write_text(json.dumps(table))
            cache.seal_dir(work)
            if self.dir.exists():
                shutil.rmtree(self.dir)
            work.rename(self.dir)
        self._packages = None

    def _verify_signature(self, inrelease: Path) -> None:
        gpgv = shutil.which("gpgv")
        if not gpgv:
            raise RequirementMissing(
                "gpgv not found: Debian's InRelease files cannot be checked", "install gnupg2 (gpgv)"
            )
        cmd = [gpgv, "--quiet"]
        for ring in keyrings():
            cmd += ["--keyring", str(ring)]
        proc = subprocess.run([*cmd, str(inrelease)], capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise Tampered(
                f"Debian {self.suite}: InRelease from {self.mirror} has no good signature by the Debian archive"
                f" keyring ({last}); nothing was kept",
                f"try again, or check the mirror and the keyring: {KEYRING_ENV}",
            )

    def packages(self) -> dict[str, dict[str, str]]:
        if self._packages is None:
            self._packages = json.loads((self.dir / INDEX).read_text())
        return self._packages

    def show(self, package: str) -> dict[str, str] | None:
        return self.packages().get(package)


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


def _newer(a: str, b: str) -> bool:
    return Version(a) > Version(b)


def _age(path: Path) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))


def newest(indexes: list[SuiteIndex], package: str, version: str | None = None) -> tuple[SuiteIndex, dict] | None:
    """The suite and stanza of `package` (at `version`, else the newest any of the suites has)."""
    best = None
    for idx in indexes:
        fields = idx.show(package)
        if fields is None or (version and fields["Version"] != version):
            continue
        if best is None or _newer(fields["Version"], best[1]["Version"]):
            best = (idx, fields)
    return best


def download(indexes: list[SuiteIndex], wanted: list[tuple[str, str]], workdir: Path) -> list[Path]:
    """Each (package, version) as a .deb in `workdir`, with the SHA-256 its suite's Packages gives."""
    found = []
    for package, version in wanted:
        hit = newest(indexes, package, version)
        if hit is None:
            return found  # the caller says which is missing
        idx, fields = hit
        dest = workdir / Path(fields["Filename"]).name
        size = int(fields.get("Size", 0))
        progress = Progress(f"download {package}", max(1, size >> 20), "MiB")
        try:
            _get(f"{idx.mirror}/{fields['Filename']}", dest, progress)
        finally:
            progress.close()
        if cache.sha256_file(dest) != fields["SHA256"]:
            dest.unlink()
            raise Tampered(
                f"{package}={version}: {dest.name} from {idx.mirror} does not match the SHA-256 Debian"
                f" {idx.suite}'s signed index gives (tampered or cut short); nothing was kept",
                "try again, or another mirror: DEVMEM_HARNESS_DEBIAN_MIRROR",
            )
        found.append(dest)
    return found
