# SPDX-License-Identifier: GPL-2.0-only
"""Progress lines: tqdm's updating line on a terminal, a plain line per interval in a log, none when
quiet; and the count of files kbuild reports compiling, read from a build log as it grows."""

import io

from harness.kernels.kbuild import _count_compiled
from harness.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_gets_a_plain_line_per_interval(monkeypatch):
    monkeypatch.setenv("DEVMEM_HARNESS_PROGRESS_INTERVAL", "30")
    now = [0.0]
    out = io.StringIO()
    p = Progress("kernel build (x)", 1000, "files", stream=out, clock=lambda: now[0])
    for t, done in ((10, 100), (31, 310), (45, 450), (62, 620)):
        now[0] = t
        p.update(done)
    lines = out.getvalue().splitlines()
    assert lines == [
        "kernel build (x): 310/about 1000 files (31%), 0m31s, 10.0 files/s",
        "kernel build (x): 620/about 1000 files (62%), 1m02s, 10.0 files/s",
    ]
    assert "\r" not in out.getvalue()


def test_a_terminal_gets_one_updating_line_and_quiet_gets_nothing():
    tty = Terminal()
    p = Progress("kernel build (x)", 10, "files", stream=tty)
    for done in range(1, 11):
        p.update(done)
    p.close()
    assert "\r" in tty.getvalue() and "kernel build (x)" in tty.getvalue()
    silent = Terminal()
    q = Progress("kernel build (x)", 10, "files", stream=silent, quiet=True)
    q.update(5)
    q.close()
    assert silent.getvalue() == ""


def test_compiled_files_are_counted_in_whole_lines_only(tmp_path):
    log = tmp_path / "build.log"
    log.write_bytes(
        b"$ make\n  CC      kernel/fork.o\n  AS      arch/x86/entry/entry_64.o\n"
        b"  LD      vmlinux.o\n  CC [M]  drivers/net/e"
    )
    n, offset = _count_compiled(log, 0)
    assert n == 2  # the CC [M] line is not complete yet
    with open(log, "ab") as f:
        f.write(b"thernet/intel/e1000/e1000_main.o\n")
    more, _ = _count_compiled(log, offset)
    assert more == 1


def test_follow_shows_a_growing_measure_of_a_real_process_and_returns_its_status(tmp_path, monkeypatch):
    """The download and image-build path: a process that writes, measured once a second until it exits."""
    import subprocess

    from harness.progress import follow

    monkeypatch.setenv("DEVMEM_HARNESS_PROGRESS_INTERVAL", "0")
    grown = tmp_path / "grows"
    script = f"for i in 1 2 3; do head -c 1048576 /dev/zero >> {grown}; sleep 0.7; done; exit 3"
    out = io.StringIO()
    p = Progress("download x", 3, "MiB", stream=out)
    status = follow(subprocess.Popen(["sh", "-c", script]), p, lambda: grown.stat().st_size >> 20)
    assert status == 3
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2 and all(ln.startswith("download x: ") for ln in lines), lines
    assert "/about 3 MiB" in lines[-1] and p.done >= 2


def test_a_quiet_command_silences_progress_everywhere(monkeypatch):
    from harness import progress

    monkeypatch.setattr(progress, "_silenced", False)
    progress.silence()
    tty = Terminal()
    p = Progress("download x", 3, "MiB", stream=tty)
    p.update(2)
    p.close()
    assert tty.getvalue() == "" and p.quiet
