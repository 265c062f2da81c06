# SPDX-License-Identifier: GPL-2.0-only
"""The harness where confidential runners are: an installed wheel outside any checkout, a host without apt
(Fedora, CentOS), QEMU and firmware where RHEL-family hosts put them, and Debian's archive checked by its
signatures on every host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.kernels import archive, debian

from ..conftest import REPO, harness
from ..debian_mirror import TamperingMirror

pytestmark = pytest.mark.guest

HIDDEN_APT = ("apt-get", "apt-cache", "dpkg", "dpkg-deb", "dpkg-query")
FEDORA = 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=41\nPRETTY_NAME="Fedora Linux 41"\n'


def pairs(results: dict) -> dict:
    return {p["name"]: (p["verdict"], p.get("observation")) for p in results["probes"]}


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    """The wheel `python -m build` makes, installed into a new venv in a directory outside the checkout."""
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    (wheel,) = (work / "dist").glob("devmem_harness-*.whl")
    assert list((work / "dist").glob("devmem_harness-*.tar.gz")), "an sdist too"
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=300)
    pip = subprocess.run(
        [str(work / "venv/bin/pip"), "install", "-q", str(wheel)], capture_output=True, text=True, timeout=600
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    return work


def tool(installed: Path, *args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 900):
    """The installed `devmem-harness` console script, run from a directory that is no checkout."""
    return subprocess.run(
        [str(installed / "venv/bin/devmem-harness"), *args],
        cwd=cwd or installed,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "XDG_DATA_HOME": str(installed / "data"), **(env or {})},
    )


def test_the_installed_wheel_runs_the_suite_outside_the_checkout(installed, default_run):
    head = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=REPO, capture_output=True, text=True)
    version = tool(installed, "--version")
    assert version.returncode == 0 and version.stdout.startswith("devmem-harness "), version.stderr
    assert f"+g{head.stdout.strip()}" in version.stdout  # built from this commit, and says so
    probes = tool(installed, "probes")
    assert probes.returncode == 0, probes.stderr
    assert [ln.split()[0] for ln in probes.stdout.splitlines() if ln.strip()] == [
        p["name"] for p in default_run.results["probes"]
    ]
    doctor = tool(installed, "doctor")
    assert doctor.returncode == 0 and "qemu" in doctor.stdout, doctor.stderr
    run = tool(installed, "run")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    # No checkout: run directories go under $XDG_DATA_HOME/devmem-harness/runs (README, "Results").
    latest = installed / "data/devmem-harness/runs/latest"
    results = json.loads((latest / "results.json").read_text())
    assert results["harness"]["version"] == version.stdout.split()[1]
    assert results["harness"]["commit"].startswith(head.stdout.strip())
    assert pairs(results) == pairs(default_run.results)
    assert not (installed / "runs").exists()


def overlay_namespace(tmp: Path, hide: tuple[str, ...], add: dict[str, Path | bytes]) -> list[str]:
    """A command prefix: a private mount namespace whose /usr hides `hide` (whiteouts in an overlay) and
    holds `add`, and whose /etc/os-release says Fedora.  Skips where mounts are not allowed (a container)."""
    upper, work = tmp / "upper", tmp / "work"
    for rel in hide:
        (upper / rel).parent.mkdir(parents=True, exist_ok=True)
        os.mknod(upper / rel, 0o600 | 0o020000, os.makedev(0, 0))  # an overlayfs whiteout
    for rel, what in add.items():
        (upper / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(what, bytes):
            (upper / rel).write_bytes(what)
        else:
            shutil.copy2(what, upper / rel)
    work.mkdir()
    (tmp / "os-release").write_text(FEDORA)
    script = (
        f"mount -t overlay overlay -o lowerdir=/usr,upperdir={upper},workdir={work} /usr"
        f' && mount --bind {tmp / "os-release"} /etc/os-release && exec "$@"'
    )
    probe = subprocess.run(["unshare", "--mount", "--fork", "sh", "-c", script, "sh", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace with an overlay here: {probe.stderr.decode().strip()}")
    return ["unshare", "--mount", "--fork", "sh", "-c", script, "sh"]


@pytest.mark.slow
def test_a_host_without_apt_fetches_and_checks_debian_and_runs(installed, tmp_path, default_run):
    ns = overlay_namespace(tmp_path / "ns", tuple(f"bin/{t}" for t in HIDDEN_APT), {})
    cache = tmp_path / "cache"  # nothing fetched before: every package comes through the archive fetcher
    env = {**os.environ, "DEVMEM_HARNESS_CACHE": str(cache), "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop(debian.FETCH_ENV, None)

    def inside(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        cmd = [*ns, str(installed / "venv/bin/devmem-harness"), *args]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)

    check = subprocess.run([*ns, "sh", "-c", "command -v apt-get dpkg; . /etc/os-release; echo $ID"], **_text())
    assert check.stdout.strip() == "fedora", check.stdout  # no apt-get, no dpkg: only the os-release line
    assert "dnf install" in inside("setup", "--print").stdout
    fetched = inside("kernel", "fetch", "deb:bullseye/linux-image-amd64", "deb:linux-source-6.12")
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    assert "5.10.0-" in fetched.stdout and "linux-source-6.12" in fetched.stdout
    assert not (cache / "apt").exists(), "the archive fetcher, not apt"
    assert {p.name for p in (cache / "archive").iterdir()} >= {"bullseye", "bookworm", "bookworm-security"}
    run = inside("run")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads((tmp_path / "data/devmem-harness/runs/latest/results.json").read_text())
    assert pairs(results) == pairs(default_run.results)


@pytest.mark.parametrize("tamper", ["Packages.xz", ".deb", "InRelease"])
def test_a_tampered_mirror_is_refused_with_one_line_and_nothing_kept(tamper, tmp_path):
    spec = "deb:bookworm-security/linux-image-6.1.0-56-amd64-unsigned"
    with TamperingMirror(tamper=(tamper,)) as mirror:
        env = {"DEVMEM_HARNESS_CACHE": str(tmp_path), debian.FETCH_ENV: "archive", **mirror.env}
        out = harness("kernel", "fetch", spec, env=env)
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert out.returncode == 2 and len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    words = "has no good signature" if tamper == "InRelease" else "does not match the SHA-256"
    assert words in lines[0] and "nothing was kept" in lines[0], lines[0]
    assert any(p.endswith(tamper) for p in mirror.served)
    kernels = tmp_path / "kernels"
    assert not kernels.exists() or not [p for p in kernels.iterdir() if not p.name.startswith(".")]
    if tamper != ".deb":
        assert not (tmp_path / "archive/bookworm-security").exists()


def test_an_untampered_local_mirror_is_used(tmp_path):
    """The control for the test above: the same mirror, nothing changed, the package fetched."""
    with TamperingMirror() as mirror:
        env = {"DEVMEM_HARNESS_CACHE": str(tmp_path), debian.FETCH_ENV: "archive", **mirror.env}
        out = harness("kernel", "fetch", "deb:bookworm-security/linux-image-6.1.0-56-amd64-unsigned", env=env)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "archive/bookworm-security" / archive.INDEX).is_file()
    assert any(p.endswith(".deb") for p in mirror.served)


def test_qemu_and_firmware_where_centos_and_fedora_put_them(tmp_path):
    qemu = shutil.which("qemu-system-x86_64")
    firmware = b"stands for Fedora's edk2-ovmf image"
    ns = overlay_namespace(
        tmp_path / "ns",
        ("bin/qemu-system-x86_64", "share/qemu/firmware", "share/ovmf"),
        {
            "libexec/qemu-kvm": Path(qemu),
            "share/edk2/ovmf/OVMF.amdsev.fd": firmware,
            "share/edk2/ovmf/OVMF.inteltdx.secboot.fd": firmware,
        },
    )
    env = {k: v for k, v in os.environ.items() if k not in ("QEMU", "DEVMEM_HARNESS_HOST_ROOT")}
    base = [*ns, sys.executable, "-m", "harness"]
    doctor = subprocess.run([*base, "doctor"], cwd=REPO, env=env, **_text())
    assert doctor.returncode == 0, doctor.stderr
    assert "/usr/libexec/qemu-kvm" in doctor.stdout
    assert "/usr/share/edk2/ovmf/OVMF.amdsev.fd" in doctor.stdout
    assert "/usr/share/edk2/ovmf/OVMF.inteltdx.secboot.fd" in doctor.stdout
    for profile, image in (("sev-snp", "OVMF.amdsev.fd"), ("tdx", "OVMF.inteltdx.secboot.fd")):
        dry = subprocess.run([*base, "run", "--profile", profile, "--dry-run"], cwd=REPO, env=env, **_text())
        assert dry.returncode == 0, dry.stderr
        assert dry.stdout.lstrip().startswith("/usr/libexec/qemu-kvm "), dry.stdout[:300]
        assert f"-bios /usr/share/edk2/ovmf/{image}" in dry.stdout


def _text() -> dict:
    return {"capture_output": True, "text": True, "timeout": 300}
