// SPDX-License-Identifier: GPL-2.0-only
/*
 * PCI procfs (drivers/pci/proc.c): /proc/bus/pci/BB/DD.F, the older door to the
 * same config space and BARs as PCI sysfs, guarded by its own copy of the checks.
 * Config read (64 bytes without CAP_SYS_ADMIN) and write (LOCKDOWN_PCI_ACCESS);
 * ioctl() PCIIOC_MMAP_IS_MEM / PCIIOC_WRITE_COMBINE (lockdown); mmap() of the
 * spare device's memory BAR at its bus address (CAP_SYS_RAWIO, lockdown, the
 * busy-BAR check of iomem_is_exclusive(), pci_mmap_fits()); the revocation view
 * lives in revoke.c.
 */
#include <linux/pci.h>
#include <sys/ioctl.h>

#include "probe.h"

/* /proc/bus/pci/BB/DD.F of a sysfs name DDDD:BB:DD.F (domain 0: the only one QEMU's q35 has). */
void procfs_path(const struct spare *s, char *path, size_t size)
{
	const char *bus = strchr(s->dev, ':');

	snprintf(path, size, "/proc/bus/pci/%.2s/%s", bus ? bus + 1 : "??", bus && strlen(bus) > 4 ? bus + 4 : "??");
}

/* The spare device's procfs file, opened; -1 with no-target or skip recorded. */
static int open_procfs(struct spare *s, int flags)
{
	char path[300];

	if (!find_spare(s)) {
		observe("outcome=no-target target=\"spare PCI device %04x:%04x\"", spare_vendor, spare_device);
		return -1;
	}
	procfs_path(s, path, sizeof(path));
	return open_or_skip(path, flags);
}

static void procfs_read_config(size_t len, int without_admin)
{
	unsigned char buf[256];
	struct spare s;
	ssize_t n;
	int fd;

	if (without_admin && drop_or_skip(CAP_SYS_ADMIN, "CAP_SYS_ADMIN") < 0)
		return;
	if ((fd = open_procfs(&s, O_RDONLY)) < 0)
		return;
	n = pread(fd, buf, len, 0);
	if (n < 0)
		observe("outcome=%s call=pread device=%s len=%zu ret=-1", errname(errno), s.dev, len);
	else
		observe("outcome=ok call=pread device=%s len=%zu ret=%zd vendor=0x%02x%02x", s.dev, len, n,
			n >= 2 ? buf[1] : 0, n >= 2 ? buf[0] : 0);
	close(fd);
}

void p_pciprocfs_read_config(void)
{
	procfs_read_config(64, 0);
}

/* Without CAP_SYS_ADMIN (checked at read time against the opener): the first 64 bytes only. */
void p_pciprocfs_read_config_no_admin(void)
{
	procfs_read_config(256, 1);
}

/* The Interrupt Line register (0x3c), flipped and restored, as pcisysfs.write.config does. */
void p_pciprocfs_write_config(void)
{
	unsigned char orig, mine, seen = 0;
	struct spare s;
	ssize_t n;
	int fd;

	if ((fd = open_procfs(&s, O_RDWR)) < 0)
		return;
	if (pread(fd, &orig, 1, 0x3c) != 1) {
		observe("outcome=%s call=pread device=%s offset=0x3c", errname(errno), s.dev);
		close(fd);
		return;
	}
	mine = (unsigned char)(orig ^ 0x01);
	n = pwrite(fd, &mine, 1, 0x3c);
	if (n < 0) {
		observe("outcome=%s call=pwrite device=%s offset=0x3c len=1 ret=-1", errname(errno), s.dev);
	} else {
		if (pread(fd, &seen, 1, 0x3c) != 1)
			seen = orig;
		observe("outcome=ok call=pwrite device=%s offset=0x3c len=1 ret=%zd data=%s", s.dev, n,
			seen == mine ? "persisted" : "dropped");
		if (pwrite(fd, &orig, 1, 0x3c) != 1)
			observe("restore=failed");
	}
	close(fd);
}

static void procfs_ioctl(unsigned long cmd, unsigned long arg, const char *name)
{
	struct spare s;
	int fd;

	if ((fd = open_procfs(&s, O_RDONLY)) < 0)
		return;
	if (ioctl(fd, cmd, arg) < 0)
		observe("outcome=%s call=ioctl cmd=%s device=%s", errname(errno), name, s.dev);
	else
		observe("outcome=ok call=ioctl cmd=%s device=%s", name, s.dev);
	close(fd);
}

void p_pciprocfs_ioctl_mmap_is_mem(void)
{
	procfs_ioctl(PCIIOC_MMAP_IS_MEM, 0, "PCIIOC_MMAP_IS_MEM");
}

void p_pciprocfs_ioctl_write_combine(void)
{
	procfs_ioctl(PCIIOC_WRITE_COMBINE, 1, "PCIIOC_WRITE_COMBINE");
}

/*
 * mmap() of `pages` pages of the spare device's memory BAR from page `first` (negative: from its
 * end) through procfs, whose offsets are bus addresses.  `mem`: ask PCIIOC_MMAP_IS_MEM first (a
 * refusal is noted, the mmap() still tried: it has its own checks); `bound`: the driver's state.
 */
static void procfs_map(int bound, long first, size_t pages, int mem, int without_rawio)
{
	char path[300];
	unsigned long len, offset;
	struct spare s;
	int fd;

	if (spare_in_state(&s, bound) < 0)
		return;
	if (without_rawio && drop_or_skip(CAP_SYS_RAWIO, "CAP_SYS_RAWIO") < 0)
		return;
	procfs_path(&s, path, sizeof(path));
	if ((fd = open_or_skip(path, O_RDWR)) < 0)
		return;
	len = page_up(s.mem_end + 1 - s.mem_start);
	offset = s.mem_start + (first < 0 ? len - (unsigned long)(-first) * PAGE : (unsigned long)first * PAGE);
	observe("device=%s spare=%s bar=%d driver=%s bar_len=0x%lx", s.dev, spare_name, s.mem_bar,
		s.driver[0] ? s.driver : "none", len);
	if (mem && ioctl(fd, PCIIOC_MMAP_IS_MEM) < 0)
		observe("ioctl=%s", errname(errno));
	map_span(fd, offset, pages ? pages * PAGE : len + PAGE, 1);
	close(fd);
}

void p_pciprocfs_mmap_idle_bar(void)
{
	procfs_map(0, 0, 1, 1, 0);
}

void p_pciprocfs_mmap_bound_bar(void)
{
	procfs_map(1, 0, 1, 1, 0);
}

void p_pciprocfs_mmap_no_rawio(void)
{
	procfs_map(0, 0, 1, 1, 1);
}

/* Without PCIIOC_MMAP_IS_MEM the file maps I/O space, which x86 cannot (arch_can_pci_mmap_io() is 0). */
void p_pciprocfs_mmap_no_ioctl(void)
{
	procfs_map(0, 0, 1, 0, 0);
}

void p_pciprocfs_mmap_last_bar_page(void)
{
	procfs_map(0, -1, 1, 1, 0);
}

/* The whole BAR and one page more: pci_mmap_fits() finds no BAR it fits in. */
void p_pciprocfs_mmap_past_bar_end(void)
{
	procfs_map(0, 0, 0, 1, 0);
}
