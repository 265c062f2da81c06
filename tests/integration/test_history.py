# SPDX-License-Identifier: GPL-2.0-only
"""Right verdicts on the kernels people run: 5.10 LTS to sid's current mainline, kernels by path, honest not-runs.

Real Debian kernels from bullseye, bookworm, trixie and sid (downloaded once into the
cache through the harness's private apt state), booted under QEMU.
"""

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.guests.probe_binary import list_probes
from harness.kernels.spare import load_catalog

from ..conftest import harness

pytestmark = pytest.mark.guest

E1000_PROBES = (
    "devmem.revoke.bar-on-bind",
    "pcisysfs.revoke.bar-on-bind",
    "devmem.revoke.private-cow",
    "devmem.revoke.forked-child",
    "devmem.mmap.bound-bar",
    "pcisysfs.mmap.bound-bar",
    "pciprocfs.revoke.bar-on-bind",
    "pciprocfs.mmap.bound-bar",
    "pciprocfs.revoke.private-cow",
    "pciprocfs.revoke.forked-child",
)
SYSFS_REVOKE = "636b21b50152"


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2])


# ------------------------------------------------------------------ the history matrix


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """`make matrix-history`: seven kernels (two cloud flavours) x {default, lockdown=integrity, iomem=relaxed}."""
    runs = tmp_path_factory.mktemp("history")
    run = harness("matrix", "harness/data/matrix-history.yaml", "-j", "2", "--runs-dir", str(runs), timeout=3600)
    (matrix_dir,) = runs.glob("matrix-*")
    summary = json.loads((matrix_dir / "summary.json").read_text())
    cells = {}
    for g in summary["guests"]:
        results = json.loads((Path(g["run_dir"]) / "results.json").read_text()) if g["run_dir"] else {}
        cells[g["name"]] = {"guest": g, "results": results, "probes": {p["name"]: p for p in results.get("probes", [])}}
    return run, summary, cells


@pytest.mark.slow
def test_no_fail_and_no_not_run_in_any_cell(history):
    run, summary, cells = history
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert len(cells) == 21
    for name, cell in cells.items():
        verdicts = {p: e["verdict"] for p, e in cell["probes"].items()}
        bad = {p: v for p, v in verdicts.items() if v in ("fail", "not-run", "error")}
        assert not bad, f"{name}: {bad}"
        assert cell["guest"]["exit_code"] == 0 and cell["results"]["outcome"] == "completed", name
        catalogue = {p.name for p in list_probes()}
        # Every probe, plus the run's own verdict on the lockdown a lockdown cell asked for.
        asked = {"run.asked.lockdown"} if "lockdown=" in name else set()
        assert set(verdicts) == catalogue | asked, name


@pytest.mark.slow
def test_generic_kernels_keep_e1000_and_cloud_kernels_bind_the_built_in_virtio(history):
    _, _, cells = history
    for name, cell in cells.items():
        spare = cell["results"]["spare"]
        want = ("virtio-rng-pci", "virtio-pci") if " cloud " in f"{name} " else ("e1000", "e1000")
        assert (spare["device"], spare["driver"]) == want, (name, spare)
        obs = cell["probes"]["devmem.revoke.bar-on-bind"]["observation"]
        if not name.endswith("lockdown=integrity"):  # locked down, /dev/mem does not open: nothing is bound
            assert (obs["spare"], obs["driver"]) == want, (name, obs)
        if " cloud " in f"{name} ":
            skipped = [p for p, e in cell["probes"].items() if e["verdict"] == "skip"]
            # No /dev/port on cloud kernels, and QEMU gives virtio-rng-pci no option ROM.
            expected = all(p.startswith("devport.") or p == "pcisysfs.read.rom" for p in skipped)
            assert expected or name.endswith("lockdown=integrity"), name


@pytest.mark.slow
def test_each_kernel_is_judged_by_its_own_version(history):
    _, _, cells = history
    seen = {name: c["results"]["facts"]["version"] for name, c in cells.items()}
    assert seen["bullseye 5.10 default"].startswith("5.10.")
    assert seen["bookworm 6.1 default"].startswith("6.1.")
    assert seen["trixie 6.12 default"].startswith("6.12.")
    assert version_tuple(seen["sid default"]) >= (7, 0), seen["sid default"]  # sid follows mainline
    assert all(c["results"]["facts"]["version_from"] == "kernel" for c in cells.values())


@pytest.mark.slow
def test_5_10_predates_pci_sysfs_revocation_and_revokes_dev_mem(history):
    _, _, cells = history
    p = cells["bullseye 5.10 default"]["probes"]
    sysfs = p["pcisysfs.revoke.bar-on-bind"]
    assert sysfs["verdict"] == "known-issue", sysfs
    assert SYSFS_REVOKE in sysfs["link"] and f"predates {SYSFS_REVOKE}" in sysfs["reason"]
    assert sysfs["observation"]["outcome"] == "ok" and sysfs["observation"]["revoked"] == "no"
    devmem = p["devmem.revoke.bar-on-bind"]
    assert devmem["verdict"] == "pass" and devmem["observation"]["outcome"] == "SIGBUS"  # 3234ac664a87, v5.8


@pytest.mark.slow
def test_sid_revokes_both_mappings(history):
    """The same as `make run ARGS="--kernel deb:sid/linux-image-amd64"` (the matrix runs each cell as a `run`)."""
    _, _, cells = history
    cell = cells["sid default"]
    assert cell["results"]["verdict"] == "pass"
    assert cell["results"]["kernel"]["source"] == "deb:sid/linux-image-amd64"
    assert any(p.startswith("linux-modules-") for p in cell["results"]["kernel"]["packages"])  # the split layout
    for probe in ("devmem.revoke.bar-on-bind", "pcisysfs.revoke.bar-on-bind"):
        obs = cell["probes"][probe]["observation"]
        assert (obs["outcome"], obs["revoked"], obs["driver"]) == ("SIGBUS", "yes", "e1000"), probe


@pytest.mark.slow
def test_relaxed_and_locked_down_cells_on_every_kernel(history):
    _, _, cells = history
    for name, cell in cells.items():
        if name.endswith("iomem=relaxed"):
            for probe in ("devmem.revoke.bar-on-bind", "pcisysfs.revoke.bar-on-bind"):
                assert cell["probes"][probe]["observation"]["revoked"] == "no", (name, probe)
        if name.endswith("lockdown=integrity"):
            assert cell["probes"]["devmem.open"]["observation"]["outcome"] == "EPERM", name
            assert cell["results"]["counts"]["skip"] >= 15, name


# ------------------------------------------------------------------ kernels by path


@pytest.fixture(scope="module")
def unpacked_bullseye(tmp_path_factory):
    """Debian bullseye's kernel package unpacked as a user would (dpkg-deb -x), not installed."""
    from harness.kernels import debian

    work = tmp_path_factory.mktemp("bullseye")
    resolved = debian.resolve(debian.DebSpec("bullseye", "linux-image-amd64"), "--kernel")
    (work / "debs").mkdir()
    (deb,) = debian.download(resolved, work / "debs", "--kernel")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "root")], check=True)
    (image,) = (work / "root" / "boot").glob("vmlinuz-*")
    return image


def test_kernel_path_to_an_unpacked_package_runs_the_e1000_probes(unpacked_bullseye, tmp_path):
    run = harness("run", "--kernel", str(unpacked_bullseye), runs_dir=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    r = run.results
    release = unpacked_bullseye.name.removeprefix("vmlinuz-")
    assert r["kernel"]["modules_from"].endswith(f"lib/modules/{release}")
    assert "e1000.ko" in r["kernel"]["modules"]
    for probe in E1000_PROBES:
        assert run.probe(probe)["observation"].get("driver") == "e1000", run.probe(probe)
    assert run.probe("devmem.revoke.bar-on-bind")["observation"]["outcome"] == "SIGBUS"


def test_empty_modules_dir_is_not_run_naming_every_spare_device_tried(unpacked_bullseye, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    run = harness("run", "--kernel", str(unpacked_bullseye), "--modules", str(empty), runs_dir=tmp_path / "runs")
    assert run.returncode == 3, run.stdout[-2000:] + run.stderr[-2000:]
    r = run.results
    assert r["verdict"] == "not-run" and r["counts"]["not-run"] == len(E1000_PROBES) and r["counts"]["fail"] == 0
    for probe in E1000_PROBES:
        entry = run.probe(probe)
        assert entry["verdict"] == "not-run" and entry["observation"]["skip"] == "no-module", entry
        assert "--modules DIR" in entry["reason"] and "e1000: CONFIG_E1000=m but no e1000.ko" in entry["reason"], entry
        assert all(f"{name}: CONFIG_" in entry["reason"] for name in load_catalog().names), entry["reason"]
    spare = r["spare"]  # 5.10 builds every catalogued driver as a module, virtio_pci too: none is in the guest
    assert spare["available"] is False and [t["device"] for t in spare["tried"]] == load_catalog().names
    assert f"not-run {len(E1000_PROBES)}" in run.stdout
    junit = ET.parse(run.run_dir / "junit.xml").getroot()
    errors = {tc.get("name"): tc.find("error") for tc in junit.iter("testcase") if tc.find("error") is not None}
    assert all(e.get("type") == "not-run" for e in errors.values())
    not_run = list(errors)
    assert sorted(not_run) == sorted(E1000_PROBES)


def test_a_module_the_kernel_refuses_is_reported_in_the_kernels_words(unpacked_bullseye, tmp_path):
    """5.10's e1000.ko offered to Debian's 6.12 kernel: the guest's kernel says why it refuses it."""
    from harness.kernels.kernel import KernelCatalog, resolve_kernel

    wrong = tmp_path / "wrong-modules"
    wrong.mkdir()
    (ko,) = (unpacked_bullseye.parent.parent / "lib" / "modules").rglob("e1000.ko*")
    shutil.copy(ko, wrong / ko.name)
    debian_612 = resolve_kernel(None, None, KernelCatalog.load())  # the pinned default, unpacked in the cache
    run = harness(
        "run",
        "--kernel",
        str(debian_612.image),
        "--modules",
        str(wrong),
        "--probe",
        "devmem.revoke.bar-on-bind",
        runs_dir=tmp_path / "runs",
    )
    assert run.returncode == 3, run.stdout[-2000:] + run.stderr[-2000:]
    entry = run.probe("devmem.revoke.bar-on-bind")
    assert entry["verdict"] == "not-run" and entry["observation"]["skip"] == "module-load", entry
    assert "the kernel said: module e1000" in entry["reason"] or "the kernel said: e1000" in entry["reason"], entry


@pytest.mark.kbuild
def test_kernel_path_to_a_build_tree_finds_its_modules(tmp_path):
    from harness.kernels.kbuild import BuildRequest, build_kernel, resolve_fragment

    built = build_kernel(BuildRequest("deb:linux-source-6.12", (resolve_fragment("strict"),)))
    tree = built.build_dir
    run = harness("run", "--kernel", str(tree / "arch/x86/boot/bzImage"), runs_dir=tmp_path)
    assert run.returncode in (0, 3), run.stdout[-2000:] + run.stderr[-2000:]
    assert "modules.order" in run.results["kernel"]["modules_from"]
    assert run.results["counts"]["not-run"] == 0, [p for p in run.results["probes"] if p["verdict"] == "not-run"]
    assert run.returncode == 0
    obs = run.probe("pcisysfs.revoke.bar-on-bind")["observation"]
    assert (obs["outcome"], obs["driver"]) == ("SIGBUS", "e1000")


@pytest.mark.kbuild
def test_a_kernel_that_closes_the_mmap_hole_is_a_pass_not_a_regression(tmp_path):
    """kconfigs/patches/devmem-close-low-ram-mmap.patch: mmap() of low RAM refused like its read() is zeroed."""
    probes = "devmem.mmap.ram-below-1m,devmem.write.ram-below-1m,devmem.read.ram-below-1m,devmem.mmap.smbios-anchor"
    run = harness(
        "run",
        "--source",
        "deb:linux-source-6.12",
        "--kconfig",
        "strict",
        "--patch",
        "devmem-close-low-ram-mmap",
        "--probe",
        probes,
        runs_dir=tmp_path,
        timeout=3600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    hole = run.probe("devmem.mmap.ram-below-1m")
    assert hole["observation"]["outcome"] == "EPERM" and hole["verdict"] == "pass"
    write = run.probe("devmem.write.ram-below-1m")
    assert write["verdict"] == "pass", write
    assert (write["observation"]["check"], write["observation"]["data"], write["observation"]["map"]) == (
        "read",
        "hidden",
        "EPERM",
    )
    # What real users of /dev/mem need (the firmware tables) still works.
    assert run.probe("devmem.mmap.smbios-anchor")["observation"]["data"] == "anchor-found"
