#!/bin/busybox sh
# Guest init for the harness's busybox initramfs.
#
# Records the facts the oracle needs, runs the probe binary, dumps dmesg and
# powers off.  Everything goes to the serial console between "@@harness"
# markers, which the host parses (harness/console.py).  Options come from
# the kernel command line as harness.NAME=VALUE (the kernel ignores dotted
# parameters it does not know, and init reads them from /proc/cmdline).
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null

param() {
	for word in $(cat /proc/cmdline); do
		case "$word" in
		"harness.$1="*) echo "${word#harness.$1=}" ;;
		esac
	done
}

section() {
	name="$1"
	shift
	echo "@@harness begin $name"
	"$@" 2>&1
	echo "@@harness end $name"
}

echo "@@harness init-started"

if [ "$(param mode)" = floor ]; then
	# The benchmark's floor: same kernel, same initramfs, no work.
	echo "@@harness done"
	poweroff -f
fi

# Drivers the harness needs early (pvpanic turns a panic into a distinct QEMU exit).
if [ -f /lib/modules/load-order ]; then
	for mod in $(cat /lib/modules/load-order); do
		insmod "/lib/modules/$mod" 2>&1 | sed 's/^/insmod: /'
	done
fi

if [ "$(param mode)" = crash ]; then
	# Self-test of the harness's panic path: crash the kernel on purpose.
	echo 1 > /proc/sys/kernel/sysrq
	echo c > /proc/sysrq-trigger
fi

section uname uname -r
section cmdline cat /proc/cmdline
if [ -r /sys/kernel/security/lockdown ]; then
	section lockdown cat /sys/kernel/security/lockdown
else
	section lockdown echo "absent"
fi
section iomem cat /proc/iomem

# Keep kernel messages off the console while the probes print; dmesg has them all.
echo 1 > /proc/sys/kernel/printk

set -- --spare-pci "$(param spare)"
probes="$(param probes)"
[ -n "$probes" ] && set -- "$@" --only "$probes"
echo "@@harness begin ktap"
/bin/devmem-probe "$@"
rc=$?
echo "@@harness end ktap"
echo "@@harness probe-exit $rc"

section dmesg dmesg
echo "@@harness done"
poweroff -f
