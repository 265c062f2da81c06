# SPDX-License-Identifier: GPL-2.0-only
"""Disk-image guests over SSH: the harness's Debian bookworm image on Debian's 6.12 kernel, real boots.

The first test builds the image (debootstrap from Debian's registry, about a minute and a half;
cached afterwards). A systemd guest reaches sshd in about 35 s under TCG, so these are `slow`.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import REPO, harness, qemu_processes_for

pytestmark = [pytest.mark.guest, pytest.mark.slow]


def verdicts(run) -> dict[str, str]:
    return {p["name"]: p["verdict"] for p in run.results["probes"]}


# What a probe saw, minus where: addresses, PCI slots and values read differ between the two machines
# (the disk guest has more PCI devices), the outcome, errno, data class and return value must not.
MACHINE_KEYS = {"addr", "device", "value", "offset", "at", "len", "bar_len", "phys_bits", "new_len"}


def observations(run) -> dict[str, dict]:
    return {
        p["name"]: {k: v for k, v in (p.get("observation") or {}).items() if k not in MACHINE_KEYS}
        for p in run.results["probes"]
    }


def test_image_build_is_cached_and_records_its_keys():
    first = harness("image", "build", timeout=1800)
    assert first.returncode == 0, first.stderr[-2000:]
    again = harness("image", "build", timeout=120)
    assert again.returncode == 0 and "cache hit" in again.stdout
    disk = Path(next(line.split(": ", 1)[1] for line in again.stdout.splitlines() if line.startswith("image: ")))
    meta = json.loads((disk.parent / "image.json").read_text())
    assert meta["host_key"].startswith("ssh-ed25519 ") and meta["release"].startswith("6.12")
    key = disk.parent / "id_ed25519"
    assert key.stat().st_mode & 0o077 == 0, "the private key is readable by its owner only"


def test_serial_and_ssh_give_the_same_verdict_and_observation_for_every_probe(tmp_path):
    serial = harness("run", runs_dir=tmp_path / "serial", timeout=600)
    ssh = harness("run", "--transport", "ssh", runs_dir=tmp_path / "ssh", timeout=1800)
    assert serial.returncode == 0, serial.stderr[-2000:]
    assert ssh.returncode == 0, ssh.stderr[-2000:]
    assert "Traceback" not in ssh.stderr, ssh.stderr[-3000:]  # paramiko's retried connects stay quiet
    a, b = verdicts(serial), verdicts(ssh)
    assert a.keys() == b.keys() and len(a) >= 30
    assert {p: (a[p], b[p]) for p in a if a[p] != b[p]} == {}
    seen_serial, seen_ssh = observations(serial), observations(ssh)
    assert {p: (seen_serial[p], seen_ssh[p]) for p in a if seen_serial[p] != seen_ssh[p]} == {}
    assert all(o.get("outcome") for o in seen_ssh.values()), "every probe reported an outcome over SSH"
    assert "skip" not in a.values() and "skip" not in b.values(), "udev must not have bound the spare device"
    r = ssh.results
    assert r["transport"] == "ssh" and r["image"]["built_by_harness"]
    assert r["kernel"]["release"] == serial.results["kernel"]["release"]
    # The console was captured the whole time, and the SSH session's sections are kept beside it.
    console = (ssh.run_dir / "console.log").read_text(errors="replace")
    assert "@@harness initrd-started" in console and "devmem-guest" in console
    session = (ssh.run_dir / "ssh-session.log").read_text()
    assert "@@harness begin uname-a" in session and "Linux devmem-guest 6.12" in session
    assert "harness-probe: begin" in (ssh.run_dir / "dmesg.txt").read_text()
    assert r["exit"]["qemu"] == 0 and r["outcome"] == "completed"  # powered off over SSH
    assert not qemu_processes_for(ssh.run_dir)


def test_a_guest_whose_sshd_never_comes_up_ends_in_the_boot_timeout(tmp_path):
    run = harness(
        "run",
        "--transport",
        "ssh",
        "--append",
        "systemd.mask=ssh.service",
        "--boot-timeout",
        "60",
        runs_dir=tmp_path,
        timeout=600,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    r = run.results
    assert r["outcome"] == "hang" and r["stage"] == "boot"
    assert "SSH on 127.0.0.1:" in r["detail"] and "did not answer within the boot stage's 60 s" in r["detail"]
    console = (run.run_dir / "console.log").read_text(errors="replace")
    assert "devmem-guest login:" in console or "Reached target" in console, "the console shows the guest did boot"
    assert (run.run_dir / "dmesg.txt").is_file()
    assert {p["verdict"] for p in r["probes"]} == {"error"}
    assert not qemu_processes_for(run.run_dir)


def test_two_overlapping_ssh_guests_get_different_ports_and_both_pass(tmp_path):
    procs = []
    for name in ("a", "b"):
        cmd = [sys.executable, "-m", "harness", "run", "--runs-dir", str(tmp_path / name), "--transport", "ssh"]
        cmd += ["--probe", "devmem.open,devport.open,pcisysfs.read.config"]
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        procs.append((name, time.monotonic(), subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=log)))
        time.sleep(1)
    results = {}
    for name, started, proc in procs:
        assert proc.wait(timeout=1200) == 0, (tmp_path / f"{name}.log").read_text()[-2000:]
        r = json.loads(((tmp_path / name / "latest").resolve() / "results.json").read_text())
        results[name] = (started, r)
    (sa, ra), (sb, rb) = results["a"], results["b"]
    assert ra["ssh"]["main"]["port"] != rb["ssh"]["main"]["port"]
    # They overlapped: b started (1 s after a) long before a's guest had even reached SSH.
    assert sb - sa < ra["durations"]["boot"]
    assert ra["verdict"] == rb["verdict"] == "pass"


def test_an_unknown_host_key_is_trusted_on_first_use_and_recorded(tmp_path):
    """The user-image path's SSH policy, on a real guest: the harness image with its recorded key forgotten."""
    import dataclasses

    from harness.guests.disk_guest import run_disk_guest
    from harness.guests.guest_setup import vm_spec
    from harness.guests.image import build_image
    from harness.guests.profiles import load_profile
    from harness.guests.qemu_cmd import Timeouts, pick_accel
    from harness.guests.runner import RunOptions
    from harness.guests.transport import REMOTE_DIR
    from harness.kernels.kernel import resolve_kernel
    from harness.paths import GUEST_IMAGES

    kernel = resolve_kernel(None, None)
    image, _, _ = build_image(kernel)
    forgotten = dataclasses.replace(image, host_key=None, built=False)
    accel = pick_accel("auto")[0]
    spec = vm_spec(
        kernel, image.initrd, [], RunOptions(memory_mib=512), accel, load_profile("plain"), tmp_path / "qmp.sock"
    )
    warnings: list[str] = []
    files = {f"{REMOTE_DIR}/collect-facts.sh": GUEST_IMAGES / "collect-facts.sh"}
    timeouts = Timeouts.sized(512, 1, accel, ssh=True)
    vm, session, _ = run_disk_guest(
        spec, tmp_path, timeouts, forgotten, ["true"], files, ["--kconfig"], warnings.append
    )
    assert vm.outcome == "completed", vm.detail
    known = (tmp_path / "known_hosts").read_text()
    assert image.host_key.split()[1] in known and f"[127.0.0.1]:{session.port}" in known
    assert len(warnings) == 1 and "trusting the guest's host key on first use" in warnings[0]
    assert "@@harness begin kconfig" in session.text  # a user's image: the kernel config is asked for
