#!/bin/busybox sh
# Guest init for the harness's busybox initramfs.
#
# Records the facts the oracle needs, runs the probe binary, dumps dmesg and
# powers off.  Everything goes to the serial console between "@@harness"
# markers, which the host parses (harness/console.py).  Options come from
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
mode="" probes="" spare="" stall="" crash=""
for word in $cmdline; do
	case "$word" in
	harness.mode=*) mode="${word#*=}" ;;
	harness.probes=*) probes="${word#*=}" ;;
	harness.spare=*) spare="${word#*=}" ;;
	harness.stall=*) stall="${word#*=}" ;;
	harness.crash=*) crash="${word#*=}" ;;
	esac
done

# Print a file between markers without forking.
section_file() {
	echo "@@harness begin $1"
	if [ -r "$2" ]; then
		while IFS= read -r line; do echo "$line"; done <"$2"
	else
		echo "absent"
	fi
	echo "@@harness end $1"
}

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

section_file uname /proc/sys/kernel/osrelease
section_file cmdline /proc/cmdline
section_file lockdown /sys/kernel/security/lockdown
section_file iomem /proc/iomem
# Confidential-guest devices: part of the guest's proof that it really is one.
echo "@@harness begin ccdevices"
for d in /dev/tdx_guest /dev/sev-guest /sys/firmware/acpi/tables/CCEL; do
	[ -e "$d" ] && echo "$d"
done
echo "@@harness end ccdevices"

# The probe marks each probe in the kernel log through /dev/kmsg: no rate limit on that.
echo on >/proc/sys/kernel/printk_devkmsg 2>/dev/null

set -- --spare-pci "$spare"
[ -n "$probes" ] && set -- "$@" --only "$probes"
[ -n "$stall" ] && set -- "$@" --stall "$stall"
[ -n "$crash" ] && set -- "$@" --crash "$crash"
echo "@@harness begin ktap"
/bin/devmem-probe "$@"
rc=$?
echo "@@harness end ktap"
echo "@@harness probe-exit $rc"

echo "@@harness begin dmesg"
dmesg
echo "@@harness end dmesg"
echo "@@harness done"
if [ "$mode" = no-poweroff ]; then
	# Self-test of the shutdown deadline: a guest that never powers off after its probes.
	while :; do sleep 3600; done
fi
poweroff -f
