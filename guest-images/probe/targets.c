// SPDX-License-Identifier: GPL-2.0-only
/*
 * What the probes aim at, found in the guest itself and never hard-coded: the
 * regions of /proc/iomem, the spare PCI device in sysfs (found, bound to its
 * driver or unbound), the CPU's physical address bits and the physical address
 * of one of the probe's own pages.
 */
#include "probe.h"

/* ------------------------------------------------------------------ */
/* /proc/iomem                                                         */

static struct region regions[MAX_REGIONS];
static int nregions = -1;

void load_iomem(void)
{
	char line[256];
	FILE *f;

	if (nregions >= 0)
		return;
	nregions = 0;
	f = fopen("/proc/iomem", "r");
	if (!f)
		return;
	while (nregions < MAX_REGIONS && fgets(line, sizeof(line), f)) {
		struct region *r = &regions[nregions];
		int depth = 0;
		char *p = line;

		while (*p == ' ') {
			p++;
			depth++;
		}
		if (sscanf(p, "%lx-%lx : %95[^\n]", &r->start, &r->end, r->name) != 3)
			continue;
		r->depth = depth / 2;
		nregions++;
	}
	fclose(f);
}

/*
 * First region called `name` that starts at or above `min` and below `max`:
 * top-level only for System RAM (its children are kernel text and data),
 * any depth otherwise (the System ROM sits inside a Reserved range).
 */
const struct region *find_region(const char *name, unsigned long min, unsigned long max)
{
	int top_only = strcmp(name, "System RAM") == 0;

	load_iomem();
	for (int i = 0; i < nregions; i++) {
		const struct region *r = &regions[i];

		if ((!top_only || r->depth == 0) && strcmp(r->name, name) == 0 && r->start >= min && r->start < max)
			return r;
	}
	return NULL;
}

/* The last top-level System RAM range (where directly mapped memory ends). */
const struct region *last_ram(void)
{
	const struct region *last = NULL;

	load_iomem();
	for (int i = 0; i < nregions; i++)
		if (regions[i].depth == 0 && strcmp(regions[i].name, "System RAM") == 0)
			last = &regions[i];
	return last;
}

/* Any region (any depth) whose name starts with `prefix`. */
const struct region *find_region_prefix(const char *prefix)
{
	load_iomem();
	for (int i = 0; i < nregions; i++)
		if (strncmp(regions[i].name, prefix, strlen(prefix)) == 0)
			return &regions[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* the spare PCI device (added by the harness: harness/data/spares.yaml) */

/*
 * Which device, which driver claims it, which memory BAR that driver claims, and
 * the modules that bring the driver (dependencies first; none: built in).  The
 * defaults are e1000's; the harness passes its choice for the kernel under test.
 */
unsigned int spare_vendor = 0x8086, spare_device = 0x100e;
const char *spare_name = "e1000";
const char *spare_driver = "e1000";
int spare_bar = -1; /* -1: the first memory BAR */
const char *spare_modules[MAX_SPARE_MODULES] = { "/lib/modules/e1000.ko" };
int n_spare_modules = 1, spare_modules_given;

static unsigned int read_hex_file(const char *dev, const char *file)
{
	char path[600];
	unsigned int v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", dev, file);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%x", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static void read_driver(struct spare *s)
{
	char path[600], link[256];
	ssize_t n;

	s->driver[0] = 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", s->dev);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = 0;
		snprintf(s->driver, sizeof(s->driver), "%s", strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
	}
}

int find_spare(struct spare *s)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		unsigned long long st, en, fl;
		char path[600], line[256];
		int bar = 0;
		FILE *f;

		if (e->d_name[0] == '.' || read_hex_file(e->d_name, "vendor") != spare_vendor ||
		    read_hex_file(e->d_name, "device") != spare_device)
			continue;
		memset(s, 0, sizeof(*s));
		s->mem_bar = s->io_bar = -1;
		snprintf(s->dev, sizeof(s->dev), "%s", e->d_name);
		read_driver(s);
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (bar < 6 && fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%llx %llx %llx", &st, &en, &fl) == 3 && en > st) {
				if ((fl & 0x200) && s->mem_bar < 0 && (spare_bar < 0 || spare_bar == bar)) {
					s->mem_bar = bar;
					s->mem_start = st;
					s->mem_end = en;
				} else if ((fl & 0x100) && s->io_bar < 0) {
					s->io_bar = bar;
					s->io_start = st;
					s->io_end = en;
				}
			}
			bar++;
		}
		fclose(f);
		found = s->mem_bar >= 0;
	}
	closedir(d);
	return found;
}

static int write_sysfs(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* Detach the spare device from its driver, if it has one. */
static int spare_unbind(struct spare *s)
{
	char path[600];
	int err;

	if (!s->driver[0])
		return 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind", s->dev);
	err = write_sysfs(path, s->dev);
	read_driver(s);
	if (err || s->driver[0]) {
		char why[600];

		snprintf(why, sizeof(why), "unbind device=%s driver=%s errno=%s", s->dev, s->driver,
			 err ? errname(-err) : "none");
		skip(why, "cannot unbind %s from %s: %s", s->dev, s->driver, err ? errname(-err) : "still bound");
		return -1;
	}
	return 0;
}

/*
 * Bind the spare device to its driver: through sysfs if the driver is there (built in or
 * loaded), else by loading the modules the harness put in the initramfs, dependencies
 * first; the driver then claims the device as it registers.
 */
int spare_bind(struct spare *s)
{
	char path[600], why[700];
	int err = 0;

	if (s->driver[0])
		return 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s", spare_driver);
	if (access(path, F_OK) != 0) {
		if (n_spare_modules == 0) {
			snprintf(why, sizeof(why), "no-module driver=%s spare=%s", spare_driver, spare_name);
			skip(why, "no %s driver for the spare %s: not built in and no module given", spare_driver,
			     spare_name);
			return -1;
		}
		for (int i = 0; i < n_spare_modules; i++) {
			int fd = open(spare_modules[i], O_RDONLY | O_CLOEXEC);

			if (fd < 0) {
				snprintf(why, sizeof(why), "no-module driver=%s spare=%s module=%s", spare_driver,
					 spare_name, spare_modules[i]);
				skip(why, "no %s driver: %s missing and not built in", spare_driver, spare_modules[i]);
				return -1;
			}
			if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST) {
				err = errno;
				close(fd);
				snprintf(why, sizeof(why), "module-load driver=%s spare=%s module=%s errno=%s",
					 spare_driver, spare_name, spare_modules[i], errname(err));
				skip(why, "the kernel refused %s: %s", spare_modules[i], errname(err));
				return -1;
			}
			close(fd);
		}
		read_driver(s);
	}
	if (!s->driver[0]) {
		snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", spare_driver);
		err = write_sysfs(path, s->dev);
		read_driver(s);
	}
	if (!s->driver[0]) {
		snprintf(why, sizeof(why), "bind driver=%s device=%s errno=%s", spare_driver, s->dev,
			 err ? errname(-err) : "none");
		skip(why, "cannot bind %s to %s: %s", s->dev, spare_driver, err ? errname(-err) : "driver did not claim it");
		return -1;
	}
	return 0;
}

int spare_in_state(struct spare *s, int bound)
{
	if (!find_spare(s)) {
		observe("outcome=no-target target=\"spare PCI device %04x:%04x with a memory BAR\"", spare_vendor,
			spare_device);
		return -1;
	}
	return bound ? spare_bind(s) : spare_unbind(s);
}

/* ------------------------------------------------------------------ */
/* the CPU and the probe's own memory                                  */

/* The CPU's physical address bits as the kernel sees them (/proc/cpuinfo "address sizes"), or 0. */
int phys_bits(void)
{
	char line[256];
	int bits = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return 0;
	while (!bits && fgets(line, sizeof(line), f))
		if (!strncmp(line, "address sizes", 13) && sscanf(strchr(line, ':') ? strchr(line, ':') + 1 : "", "%d", &bits) != 1)
			bits = 0;
	fclose(f);
	return bits;
}

/* Physical address of this process's page at `va` (/proc/self/pagemap, needs CAP_SYS_ADMIN), or 0. */
unsigned long own_phys(const void *va)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &entry, sizeof(entry), (off_t)((uintptr_t)va / PAGE * sizeof(entry))) != sizeof(entry))
		entry = 0;
	close(fd);
	if (!(entry >> 63))
		return 0; /* not present */
	return (unsigned long)(entry & ((1ULL << 55) - 1)) * PAGE;
}
