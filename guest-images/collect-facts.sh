#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Over SSH in a disk-image guest (harness/guests/transport.py): the same facts, in the same
# "@@harness" sections, that the initramfs init (init.sh) prints on the console.
section_file() {
	echo "@@harness begin $1"
	if [ -r "$2" ]; then cat "$2"; else echo "absent"; fi
	echo "@@harness end $1"
}
section_file uname /proc/sys/kernel/osrelease
echo "@@harness begin uname-a"
uname -a
echo "@@harness end uname-a"
section_file cmdline /proc/cmdline
section_file lockdown /sys/kernel/security/lockdown
section_file iomem /proc/iomem
echo "@@harness begin ccdevices"
for d in /dev/tdx_guest /dev/sev-guest /sys/firmware/acpi/tables/CCEL; do
	[ -e "$d" ] && echo "$d"
done
echo "@@harness end ccdevices"
# A user's image boots its own kernel: its config, for the oracle.
if [ "$1" = --kconfig ]; then
	echo "@@harness begin kconfig"
	if [ -r /proc/config.gz ]; then
		zcat /proc/config.gz
	elif [ -r "/boot/config-$(uname -r)" ]; then
		cat "/boot/config-$(uname -r)"
	else
		echo "absent"
	fi
	echo "@@harness end kconfig"
fi
# The probe marks each probe in the kernel log through /dev/kmsg: no rate limit on that.
echo on >/proc/sys/kernel/printk_devkmsg 2>/dev/null
exit 0
