#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
# Guest init for the harness's busybox initramfs.
#
# Mounts what the probes need, loads the modules, runs the suite
# (/bin/harness-suite, guest-images/suite.sh: facts, probes, dmesg between
# "@@harness" markers on the serial console) and powers off.  Options come from
# the kernel command line as harness.NAME=VALUE (the kernel ignores dotted
# parameters it does not know, and init reads them from /proc/cmdline).
#
# Under TCG every fork+exec costs milliseconds, so this script reads files
# with the shell's own `read` and forks only for real programs.
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
# From here on kernel messages stay off the console (dmesg has them all): a late boot message
# printed in the middle of a section's line corrupted it (seen: "iomem=relaxed[    2.33] tsc: ...").
# Panics are KERN_EMERG and still reach the console.
echo 1 >/proc/sys/kernel/printk
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null

read -r cmdline </proc/cmdline
mode=""
for word in $cmdline; do
	case "$word" in
	harness.mode=*) mode="${word#*=}" ;;
	esac
done

echo "@@harness init-started"

if [ "$mode" = floor ]; then
	# The benchmark's floor: same kernel, same initramfs, no work.
	echo "@@harness done"
	poweroff -f
fi

# Drivers the harness needs early (pvpanic turns a panic into a distinct QEMU exit).
if [ -f /lib/modules/load-order ]; then
	while read -r mod; do
		insmod "/lib/modules/$mod" || echo "insmod: $mod failed"
	done </lib/modules/load-order
fi

if [ "$mode" = crash ]; then
	# Self-test of the harness's panic path: crash the kernel on purpose.
	echo 1 >/proc/sys/kernel/sysrq
	echo c >/proc/sysrq-trigger
fi

if [ "$mode" = flood ]; then
	# Self-test of the console capture: a flood of bytes that are not UTF-8, before the facts and probes.
	head -c 262144 /dev/urandom
	printf '\n\377\376 not UTF-8 \300\257\n'
fi

if [ "$mode" = lava ]; then
	# A LAVA job: LAVA's test shell runs the suite (guest-images/lava/devmem-probes.yaml) at this
	# prompt, which the job's boot action waits for.  A shell that exits gets a new one: init must live.
	export PS1='devmem-harness# '
	while :; do setsid cttyhack sh -i; done
fi

/bin/harness-suite
if [ "$mode" = no-poweroff ]; then
	# Self-test of the shutdown deadline: a guest that never powers off after its probes.
	while :; do sleep 3600; done
fi
poweroff -f
