#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The probe suite as one command (/bin/harness-suite in the initramfs): the facts
# the oracle needs, the probes' KTAP and dmesg, each between "@@harness" markers
# on stdout, which the host parses (harness/judging/console.py).  The initramfs init runs
# it on the console and powers off; in a LAVA job the test definition
# (guest-images/lava/devmem-probes.yaml) runs it from LAVA's test shell.
# Options come from the kernel command line as harness.NAME=VALUE.
#
# Under TCG every fork+exec costs milliseconds, so this script reads files
# with the shell's own `read` and forks only for real programs.
read -r cmdline </proc/cmdline
probes="" spare="" stall="" crash="" marker=""
set --
for word in $cmdline; do
	case "$word" in
	harness.probes=*) probes="${word#*=}" ;;
	harness.spare=*) spare="${word#*=}" ;;
	harness.spare-name=*) set -- "$@" --spare-name "${word#*=}" ;;
	harness.spare-driver=*) set -- "$@" --spare-driver "${word#*=}" ;;
	harness.spare-bar=*) set -- "$@" --spare-bar "${word#*=}" ;;
	harness.spare-modules=*)
		mods="${word#*=}"
		IFS=,
		for m in $mods; do set -- "$@" --spare-module "/lib/modules/$m"; done
		unset IFS
		;;
	harness.stall=*) stall="${word#*=}" ;;
	harness.crash=*) crash="${word#*=}" ;;
	harness.marker=*) marker="${word#*=}" ;;
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

# The host's proof (harness/guests/host_memory.py): the SHA-256 of the command line's marker, computed
# here (so it exists only in guest memory, never in what the host loaded), written to tmpfs (guest RAM)
# and kept until poweroff; the harness pauses the VM and searches a dump of its memory for it.
if [ -n "$marker" ]; then
	d=$(echo -n "$marker" | sha256sum)
	d="${d%% *}"
	m="$d $d $d $d $d $d $d $d"
	echo "$m $m $m $m $m $m $m $m" >/tmp/harness-marker
	echo "@@harness marker-planted"
fi

# The probe marks each probe in the kernel log through /dev/kmsg: no rate limit on that.
echo on >/proc/sys/kernel/printk_devkmsg 2>/dev/null

set -- --spare-pci "$spare" "$@"
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
