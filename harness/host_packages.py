# SPDX-License-Identifier: GPL-2.0-only
"""`setup`: the host packages the harness needs, by the names each family of hosts gives them.

Confidential hosts are Ubuntu (Intel's canonical/tdx stack), CentOS Stream, RHEL or Fedora (SEV-SNP), as
often as Debian.  One table says what each need is called under apt (Debian, Ubuntu) and under dnf (Fedora,
CentOS, RHEL and their rebuilds); `setup` installs what is missing, or prints the command with --print.
It runs before the harness's own Python dependencies exist (`make setup` calls it with the host's python3),
so this module uses the standard library only; `install_hint` gives the rest of the harness the same names.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from .paths import host_root

# need -> (Debian/Ubuntu packages, Fedora/CentOS/RHEL packages); None: not packaged for that family.
PACKAGES: dict[str, tuple[str | None, str | None]] = {
    "qemu": ("qemu-system-x86", "qemu-kvm"),
    "busybox": ("busybox-static", "busybox"),
    "cc": ("gcc libc6-dev", "gcc glibc-static"),
    "xz": ("xz-utils", "xz"),
    "zstd": ("zstd", "zstd"),
    "gpgv": ("gpgv", "gnupg2"),
    "debian-keyring": ("debian-archive-keyring", "distribution-gpg-keys"),
    "python-venv": ("python3-venv", "python3"),
    "make": ("make", "make"),
    "kbuild": (
        "make gcc bc bison flex libelf-dev libssl-dev ccache patch perl cpio",
        "make gcc bc bison flex elfutils-libelf-devel openssl-devel ccache patch perl cpio",
    ),
    "ssh-image": ("debootstrap qemu-utils e2fsprogs", "debootstrap qemu-img e2fsprogs"),
    "lava": ("lava-dispatcher", None),
    "chromium": ("chromium", "chromium"),
    # Confidential guests' firmware (doctor names it; `setup` does not install it: only sid has Debian's).
    "ovmf-amdsev": ("ovmf-amdsev", "edk2-ovmf"),
    "ovmf-inteltdx": ("ovmf-inteltdx", "edk2-ovmf"),
}
# What each option of `setup` adds; `run` is always there.
GROUPS = {
    "run": ("qemu", "busybox", "cc", "xz", "zstd", "gpgv", "debian-keyring", "python-venv", "make"),
    "kbuild": ("kbuild",),
    "ssh": ("ssh-image",),
    "lava": ("lava",),
    "dev": ("chromium",),
}
FAMILIES = {
    "debian": ("apt", ("debian", "ubuntu")),
    "fedora": ("dnf", ("fedora", "rhel", "centos", "rocky", "almalinux")),
}
_NOTES = {
    ("fedora", "debian-keyring"): "CentOS and RHEL: from EPEL",
    ("fedora", "lava"): "not packaged: run `make lava` in a Debian container",
}


def os_release() -> dict[str, str]:
    fields = {}
    for name in ("etc/os-release", "usr/lib/os-release"):
        path = host_root() / name
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    fields[key.strip()] = value.strip().strip('"')
            break
    return fields


def family(release: dict[str, str] | None = None) -> str | None:
    """debian or fedora (from ID, then ID_LIKE), or None for a host neither table covers."""
    release = os_release() if release is None else release
    ids = [release.get("ID", ""), *release.get("ID_LIKE", "").split()]
    for ident in ids:
        for name, (_, members) in FAMILIES.items():
            if ident in members:
                return name
    return None


def packages(needs: tuple[str, ...], fam: str) -> tuple[list[str], list[str]]:
    """(package names, notes on needs this family does not package)."""
    col = 0 if fam == "debian" else 1
    names: list[str] = []
    notes: list[str] = []
    for need in needs:
        found = PACKAGES[need][col]
        if found is None:
            notes.append(f"{need}: {_NOTES.get((fam, need), 'not packaged for this family')}")
            continue
        names += [p for p in found.split() if p not in names]
        if note := _NOTES.get((fam, need)):
            notes.append(f"{' '.join(found.split())}: {note}")
    return names, notes


def install_command(names: list[str], fam: str | None) -> str:
    if fam == "fedora":
        return f"dnf install {' '.join(names)}"
    return f"apt-get install {' '.join(names)}"


def install_hint(need: str) -> str:
    """'apt-get install zstd' or 'dnf install zstd', as this host names it (Debian's names elsewhere)."""
    fam = family() or "debian"
    names, notes = packages((need,), fam)
    return install_command(names, fam) if names else notes[0]


def missing(names: list[str], fam: str) -> list[str]:
    """The packages not installed, asked of dpkg or rpm."""
    if fam == "debian":
        query = ["dpkg-query", "-W", "-f=${Status}"]
        installed = lambda out: "install ok installed" in out  # noqa: E731
    else:
        query = ["rpm", "-q", "--whatprovides"]
        installed = lambda out: "no package provides" not in out  # noqa: E731
    if not shutil.which(query[0]):
        return list(names)
    lacking = []
    for name in names:
        proc = subprocess.run([*query, name], capture_output=True, text=True)
        if proc.returncode != 0 or not installed(proc.stdout):
            lacking.append(name)
    return lacking


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kbuild", action="store_true", help="kernel builds (make kernel, bisect, cc-sim)")
    parser.add_argument("--ssh", action="store_true", help="disk images for --transport ssh (debootstrap)")
    parser.add_argument("--lava", action="store_true", help="lava-run (Debian's lava-dispatcher)")
    parser.add_argument("--dev", action="store_true", help="what `make test` also uses (chromium for report.html)")
    parser.add_argument("--all", action="store_true", help="all of the above")
    parser.add_argument("--print", action="store_true", help="print the install command instead of running it")


def setup(args: argparse.Namespace) -> int:
    """Install what is missing; 0 when everything is there, 4 (one line) when it cannot be installed."""
    groups = ["run"] + [g for g in ("kbuild", "ssh", "lava", "dev") if args.all or getattr(args, g)]
    needs = tuple(n for g in groups for n in GROUPS[g])
    fam = family()
    if fam is None:
        release = os_release().get("PRETTY_NAME", "this host")
        for name in FAMILIES:
            names, _ = packages(needs, name)
            print(f"{name}: {install_command(names, name)}")
        print(
            f"devmem-harness: error: {release}: no package table for this family (install the above by hand)",
            file=sys.stderr,
        )
        return 4
    names, notes = packages(needs, fam)
    for note in notes:
        print(f"devmem-harness: note: {note}", file=sys.stderr)
    lacking = missing(names, fam)
    if not lacking:
        print(f"setup: {fam} family, all {len(names)} packages present")
        return 0
    command = install_command(lacking, fam)
    if args.print:
        print(command)
        return 0
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and not shutil.which("sudo"):
        print(f"devmem-harness: error: not root and no sudo: run `{command}` as root", file=sys.stderr)
        return 4
    print(f"setup: {command}", file=sys.stderr)
    if fam == "debian":
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        steps = [
            [*sudo, "apt-get", "update", "-qq"],
            [
                *sudo,
                "env",
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                *lacking,
            ],
        ]
    else:
        env = dict(os.environ)
        steps = [[*sudo, "dnf", "install", "-y", "-q", *lacking]]
    for step in steps:
        proc = subprocess.run(step, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            print(f"devmem-harness: error: {' '.join(step[len(sudo) :])} failed: {last}", file=sys.stderr)
            return 4
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python3 -m harness setup ...` before the venv exists (see harness/__main__.py)."""
    parser = argparse.ArgumentParser(prog="devmem-harness setup", description=__doc__.split("\n", 1)[0])
    add_arguments(parser)
    return setup(parser.parse_args(argv))
