// SPDX-License-Identifier: GPL-2.0-only
/*
 * PCI sysfs (drivers/pci/pci-sysfs.c): the spare device's config space read and
 * written with and without CAP_SYS_ADMIN, its memory BAR's resourceN mapped idle
 * and bound and page by page at its end, and its I/O BAR's resourceN read and
 * written in every access size and at its end.
 */
#include "probe.h"

/* The spare device's config file, opened (after dropping CAP_SYS_ADMIN if asked); -1: no-target or skip recorded. */
static int open_config(struct spare *s, int flags, int without_admin)
{
	char path[600];

	if (!find_spare(s)) {
		observe("outcome=no-target target=\"spare PCI device %04x:%04x\"", spare_vendor, spare_device);
		return -1;
	}
	if (without_admin && drop_or_skip(CAP_SYS_ADMIN, "CAP_SYS_ADMIN") < 0)
		return -1;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", s->dev);
	return open_or_skip(path, flags);
}

void p_pcisysfs_read_config(void)
{
	unsigned char buf[64];
	struct spare s;
	ssize_t n;
	int fd;

	if ((fd = open_config(&s, O_RDONLY, 0)) < 0)
		return;
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		observe("outcome=%s call=pread device=%s len=%zu ret=-1", errname(errno), s.dev, sizeof(buf));
	else
		observe("outcome=ok call=pread device=%s len=%zu ret=%zd vendor=0x%02x%02x data=%s", s.dev, sizeof(buf), n,
			n >= 2 ? buf[1] : 0, n >= 2 ? buf[0] : 0, all_zero(buf, (size_t)n) ? "zeros" : "nonzero");
	close(fd);
}

/* Write the Interrupt Line register (0x3c): software scratch space, restored afterwards. */
void p_pcisysfs_write_config(void)
{
	const off_t reg = 0x3c;
	unsigned char orig, mine, seen = 0;
	struct spare s;
	ssize_t n;
	int fd;

	if ((fd = open_config(&s, O_RDWR, 0)) < 0)
		return;
	if (pread(fd, &orig, 1, reg) != 1) {
		observe("outcome=%s call=pread device=%s offset=0x3c", errname(errno), s.dev);
		close(fd);
		return;
	}
	mine = (unsigned char)(orig ^ 0x01);
	n = pwrite(fd, &mine, 1, reg);
	if (n < 0) {
		observe("outcome=%s call=pwrite device=%s offset=0x3c len=1 ret=-1", errname(errno), s.dev);
	} else {
		if (pread(fd, &seen, 1, reg) != 1)
			seen = orig;
		observe("outcome=ok call=pwrite device=%s offset=0x3c len=1 ret=%zd data=%s", s.dev, n,
			seen == mine ? "persisted" : "dropped");
		if (pwrite(fd, &orig, 1, reg) != 1)
			observe("restore=failed");
	}
	close(fd);
}

static void p_pcisysfs_mmap_bar(int bound)
{
	char path[700];
	struct spare s;
	int fd;

	if (spare_in_state(&s, bound) < 0)
		return;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%d", s.dev, s.mem_bar);
	if ((fd = open_or_skip(path, O_RDWR | O_SYNC)) < 0)
		return;
	observe("device=%s spare=%s bar=%d driver=%s", s.dev, spare_name, s.mem_bar, s.driver[0] ? s.driver : "none");
	map_and_touch(fd, 0, "offset");
	close(fd);
}

void p_pcisysfs_mmap_idle_bar(void)
{
	p_pcisysfs_mmap_bar(0);
}

void p_pcisysfs_mmap_bound_bar(void)
{
	p_pcisysfs_mmap_bar(1);
}

/* The spare device's I/O BAR resourceN, opened; -1 when there is none (no-target) or open() refused (skip). */
static int open_io_bar(struct spare *s, int flags)
{
	char path[700];

	if (!find_spare(s) || s->io_bar < 0) {
		observe("outcome=no-target target=\"spare PCI device %04x:%04x with an I/O BAR\"", spare_vendor,
			spare_device);
		return -1;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%d", s->dev, s->io_bar);
	return open_or_skip(path, flags);
}

/* 1-, 2- or 4-byte access to the spare device's I/O BAR (IOADDR, offset 0); any other size is EINVAL. */
static void io_bar(int write, size_t size)
{
	unsigned char buf[4] = { 0 };
	struct spare s;
	ssize_t n;
	int fd;

	if ((fd = open_io_bar(&s, write ? O_RDWR : O_RDONLY)) < 0)
		return;
	if (write) {
		/* Write back what IOADDR holds: the device sees an access, not a change. */
		if (pread(fd, buf, 4, 0) != 4)
			memset(buf, 0, sizeof(buf));
		n = pwrite(fd, buf, size, 0);
	} else {
		n = pread(fd, buf, size, 0);
	}
	if (n < 0)
		observe("outcome=%s call=%s device=%s bar=%d len=%zu ret=-1", errname(errno), write ? "pwrite" : "pread",
			s.dev, s.io_bar, size);
	else
		observe("outcome=ok call=%s device=%s bar=%d len=%zu ret=%zd", write ? "pwrite" : "pread", s.dev, s.io_bar,
			size, n);
	close(fd);
}

/* read() of all 256 bytes of config space by an opener without CAP_SYS_ADMIN: the first 64 only. */
void p_pcisysfs_read_config_no_admin(void)
{
	unsigned char buf[256];
	struct spare s;
	ssize_t n;
	int fd;

	if ((fd = open_config(&s, O_RDONLY, 1)) < 0)
		return;
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		observe("outcome=%s call=pread device=%s len=%zu ret=-1", errname(errno), s.dev, sizeof(buf));
	else
		observe("outcome=ok call=pread device=%s len=%zu ret=%zd", s.dev, sizeof(buf), n);
	close(fd);
}

/* mmap() of resourceN: `pages` pages from page `first` of the idle BAR (negative: from its end). */
static void pcisysfs_map_window(long first, size_t pages)
{
	char path[700];
	unsigned long len, offset;
	struct spare s;
	int fd;

	if (spare_in_state(&s, 0) < 0)
		return;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%d", s.dev, s.mem_bar);
	if ((fd = open_or_skip(path, O_RDWR | O_SYNC)) < 0)
		return;
	len = page_up(s.mem_end + 1 - s.mem_start);
	offset = first < 0 ? len - (unsigned long)(-first) * PAGE : (unsigned long)first * PAGE;
	observe("device=%s spare=%s bar=%d bar_len=0x%lx", s.dev, spare_name, s.mem_bar, len);
	map_span(fd, offset, pages * PAGE, 1);
	close(fd);
}

/* The last page of the BAR: a mapping that ends exactly where the BAR ends. */
void p_pcisysfs_mmap_last_bar_page(void)
{
	pcisysfs_map_window(-1, 1);
}

/* The whole BAR and one page more: pci_mmap_fits() refuses what runs past its end. */
void p_pcisysfs_mmap_past_bar_end(void)
{
	struct spare s;

	if (!find_spare(&s)) {
		observe("outcome=no-target target=\"spare PCI device %04x:%04x with a memory BAR\"", spare_vendor,
			spare_device);
		return;
	}
	pcisysfs_map_window(0, page_up(s.mem_end + 1 - s.mem_start) / PAGE + 1);
}

/* pread() of the I/O BAR at `offset` bytes from its end (0: at the end). */
static void io_bar_from_end(unsigned long back, size_t size)
{
	unsigned char buf[4];
	unsigned long len, offset;
	struct spare s;
	ssize_t n;
	int fd;

	if ((fd = open_io_bar(&s, O_RDONLY)) < 0)
		return;
	len = s.io_end + 1 - s.io_start;
	offset = len - back;
	n = pread(fd, buf, size, (off_t)offset);
	if (n < 0)
		observe("outcome=%s call=pread device=%s bar=%d offset=0x%lx len=%zu ret=-1", errname(errno), s.dev,
			s.io_bar, offset, size);
	else
		observe("outcome=ok call=pread device=%s bar=%d offset=0x%lx len=%zu ret=%zd", s.dev, s.io_bar, offset,
			size, n);
	close(fd);
}

/* One byte at the I/O BAR's end: the sysfs file ends there, so read() returns 0. */
void p_io_read_at_end(void)
{
	io_bar_from_end(0, 1);
}

/* Four bytes from two before the end: sysfs cuts the count to the two that remain. */
void p_io_read_straddle(void)
{
	io_bar_from_end(2, 4);
}

void p_io_read_1(void) { io_bar(0, 1); }
void p_io_read_2(void) { io_bar(0, 2); }
void p_io_read_4(void) { io_bar(0, 4); }
void p_io_read_3(void) { io_bar(0, 3); }
void p_io_write_1(void) { io_bar(1, 1); }
void p_io_write_2(void) { io_bar(1, 2); }
void p_io_write_4(void) { io_bar(1, 4); }
void p_io_write_3(void) { io_bar(1, 3); }

/* ------------------------------------------------------------------ */
/* rom: the expansion ROM, read after writing "1" (pci_write_rom(); mode 0600, no lockdown check) */

static void rom_read(int enable)
{
	unsigned char buf[512];
	char path[600];
	struct spare s;
	ssize_t n;
	int fd;

	if (!find_spare(&s)) {
		observe("outcome=no-target target=\"spare PCI device %04x:%04x\"", spare_vendor, spare_device);
		return;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/rom", s.dev);
	if (access(path, F_OK) != 0) {
		observe("outcome=no-target want=rom target=\"an expansion ROM on %s\"", s.dev);
		return;
	}
	if ((fd = open_or_skip(path, O_RDWR)) < 0)
		return;
	if (pwrite(fd, enable ? "1" : "0", 1, 0) < 0) {
		observe("outcome=%s call=pwrite device=%s value=%d", errname(errno), s.dev, enable);
		close(fd);
		return;
	}
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		observe("outcome=%s call=pread device=%s enabled=%d len=%zu ret=-1", errname(errno), s.dev, enable,
			sizeof(buf));
	else
		observe("outcome=ok call=pread device=%s enabled=%d len=%zu ret=%zd data=%s", s.dev, enable, sizeof(buf),
			n, n >= 2 && buf[0] == 0x55 && buf[1] == 0xaa ? "rom-signature" : "other");
	if (enable && pwrite(fd, "0", 1, 0) < 0)
		observe("restore=failed");
	close(fd);
}

void p_pcisysfs_read_rom(void)
{
	rom_read(1);
}

/* ------------------------------------------------------------------ */
/* resourceN_wc: a write-combining mapping of a prefetchable BAR through pci_mmap_resource() */

/* The first resourceN_wc of a device no driver holds (QEMU's bochs-display: BAR0, the framebuffer). */
static int find_wc_bar(char *path, size_t size, unsigned long *len)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char drv[600];
		struct stat st;

		snprintf(drv, sizeof(drv), "/sys/bus/pci/devices/%s/driver", e->d_name);
		if (e->d_name[0] == '.' || access(drv, F_OK) == 0)
			continue;
		for (int bar = 0; bar < 6 && !found; bar++) {
			snprintf(path, size, "/sys/bus/pci/devices/%s/resource%d_wc", e->d_name, bar);
			if (stat(path, &st) == 0 && st.st_size > 0) {
				*len = (unsigned long)st.st_size;
				found = 1;
			}
		}
	}
	closedir(d);
	return found;
}

static void wc_map(long first, size_t pages)
{
	char path[700];
	unsigned long len, offset;
	int fd;

	if (!find_wc_bar(path, sizeof(path), &len)) {
		observe("outcome=no-target target=\"an idle PCI device with a prefetchable BAR (resourceN_wc)\"");
		return;
	}
	if ((fd = open_or_skip(path, O_RDWR | O_SYNC)) < 0)
		return;
	len = page_up(len);
	offset = first < 0 ? len - (unsigned long)(-first) * PAGE : (unsigned long)first * PAGE;
	observe("path=%s bar_len=0x%lx", path, len);
	map_span(fd, offset, pages ? pages * PAGE : len + PAGE, 1);
	close(fd);
}

void p_pcisysfs_mmap_wc_bar(void)
{
	wc_map(0, 1);
}

void p_pcisysfs_mmap_wc_past_end(void)
{
	wc_map(0, 0);
}
