#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
# The initrd of the harness's disk image (harness/guests/image.py): Debian's kernel has
# virtio_blk and ext4 as modules, so load them, mount the image's root file
# system and hand over to its systemd.  Progress goes to the serial console.
/bin/busybox mkdir -p /bin /proc /sys /dev /newroot
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "@@harness initrd-started"
while read -r mod; do
	insmod "/lib/modules/$mod" || echo "@@harness insmod-failed $mod"
done </lib/modules/load-order
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
if ! mount -t ext4 -o rw /dev/vda /newroot; then
	echo "@@harness root-mount-failed /dev/vda"
	poweroff -f
fi
umount /proc /sys /dev 2>/dev/null
exec switch_root /newroot /sbin/init
