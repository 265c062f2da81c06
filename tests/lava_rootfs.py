# SPDX-License-Identifier: GPL-2.0-only
"""A lab-style rootfs for the LAVA tests: not the harness's initramfs, but what labs boot.

KernelCI's and tuxrun's ramdisks are buildroot or Debian systems: an init that starts a getty on
the serial console, a `login:` prompt taking root without a password, and a root shell.  This one is
made of Debian's static busybox the same way (busybox init, getty, login), with nothing of the
harness in it: the suite reaches it only through the job's overlay.
"""

from __future__ import annotations

import gzip
import stat
from pathlib import Path

from harness.guests.initramfs import Member, find_busybox, newc_archive

INITTAB = """::sysinit:/bin/busybox sh /etc/rcS
ttyS0::respawn:/bin/busybox getty -L 115200 ttyS0 vt100
::shutdown:/bin/busybox umount -a -r
"""
RCS = """/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t securityfs securityfs /sys/kernel/security
echo 1 >/proc/sys/kernel/printk
hostname lab
"""


def write_lab_rootfs(path: Path) -> Path:
    d, x, f = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o755, stat.S_IFREG | 0o644
    members = [Member(n, d) for n in ("bin", "sbin", "etc", "dev", "proc", "sys", "tmp", "root", "lib")]
    members += [
        Member("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        Member("bin/busybox", x, find_busybox().read_bytes()),
        Member("bin/sh", stat.S_IFLNK | 0o777, b"busybox"),
        Member("init", stat.S_IFLNK | 0o777, b"bin/busybox"),  # busybox's init applet, by its name
        Member("etc/inittab", f, INITTAB.encode()),
        Member("etc/rcS", f, RCS.encode()),
        Member("etc/passwd", f, b"root::0:0:root:/:/bin/sh\n"),
        Member("etc/group", f, b"root:x:0:\n"),
    ]
    path.write_bytes(gzip.compress(newc_archive(members), 6))
    return path
