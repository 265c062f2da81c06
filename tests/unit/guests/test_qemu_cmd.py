# SPDX-License-Identifier: GPL-2.0-only
"""The QEMU command line: the options every outcome classification relies on."""

from pathlib import Path

from harness.guests.qemu_cmd import Timeouts, VMSpec


def spec(**kw):
    return VMSpec(kernel=Path("/k/bzImage"), initrd=Path("/i/initrd.cpio"), qmp_socket=Path("/r/qmp.sock"), **kw)


def option(argv, flag):
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_tcg_guest():
    argv = spec(append=("lockdown=integrity",)).argv()
    assert argv[0] == "qemu-system-x86_64"
    assert option(argv, "-machine") == ["q35"]
    assert option(argv, "-accel") == ["tcg"]
    assert option(argv, "-cpu") == ["max"]
    assert "-no-reboot" in argv
    assert option(argv, "-action") == ["panic=exit-failure"]
    assert "pvpanic" in option(argv, "-device")
    assert "e1000,netdev=spare0" in option(argv, "-device")
    assert option(argv, "-kernel") == ["/k/bzImage"]
    assert option(argv, "-initrd") == ["/i/initrd.cpio"]
    assert option(argv, "-qmp") == ["unix:/r/qmp.sock,server=on,wait=off"]
    cmdline = option(argv, "-append")[0]
    assert cmdline.split()[:2] == ["console=ttyS0,115200", "panic=-1"]
    assert cmdline.endswith("lockdown=integrity")


def test_kvm_guest_uses_host_cpu():
    argv = spec(accel="kvm", memory_mib=2048, vcpus=4).argv()
    assert option(argv, "-accel") == ["kvm"] and option(argv, "-cpu") == ["host"]
    assert option(argv, "-m") == ["2048"] and option(argv, "-smp") == ["4"]


def test_shell_form_round_trips():
    import shlex

    s = spec(append=("a=b c",))
    assert shlex.split(s.shell()) == s.argv()


def test_timeouts_grow_with_memory_vcpus_and_tcg():
    small = Timeouts.sized(512, 1, "tcg")
    big = Timeouts.sized(8192, 4, "tcg")
    kvm = Timeouts.sized(512, 1, "kvm")
    assert big.boot > small.boot and big.probes > small.probes
    assert kvm.boot < small.boot
    assert Timeouts.sized(512, 1, "tcg", scale=2).boot == 2 * small.boot
