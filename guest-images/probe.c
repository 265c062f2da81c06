/*
 * devmem-probe: in-guest observer of user access to physical memory.
 *
 * Each probe performs one access through /dev/mem, /dev/port or PCI sysfs
 * and reports what happened as one KTAP result.  The probe observes; it does
 * not judge: "ok" means the access went through, "not ok" means it was refused
 * or faulted, "# SKIP" means it could not be attempted.  The raw observation is
 * a diagnostic line before the result:
 *
 *   # observe: outcome=ok call=pread addr=0x1000 len=4096 ret=4096 data=zeros
 *
 * outcome is "ok", an errno name (EPERM), a signal name (SIGBUS), "timeout",
 * or "no-target" when the guest has nothing to aim at.  The harness's oracle
 * turns observations into verdicts.
 *
 * Targets come from the guest's own /proc/iomem and sysfs, never from
 * hard-coded addresses.  SIGBUS/SIGSEGV/SIGALRM are caught so that one probe's
 * fault does not stop the next.
 *
 * Usage: devmem-probe [--list] [--only NAME[,NAME...]] [--spare-pci VVVV:DDDD]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL
#define LOW_1M 0x100000UL
#define PROBE_TIMEOUT_S 10
#define MAX_REGIONS 256

/* ------------------------------------------------------------------ */
/* observation output                                                  */

static int test_no;
static char observe_buf[1024];
static char skip_reason[600];

static void observe(const char *fmt, ...)
{
	size_t used = strlen(observe_buf);
	va_list ap;

	if (used && used < sizeof(observe_buf) - 1)
		observe_buf[used++] = ' ';
	va_start(ap, fmt);
	vsnprintf(observe_buf + used, sizeof(observe_buf) - used, fmt, ap);
	va_end(ap);
}

static const char *errname(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case ESPIPE: return "ESPIPE";
	case EROFS: return "EROFS";
	case ERANGE: return "ERANGE";
	case ENOSYS: return "ENOSYS";
	case EOVERFLOW: return "EOVERFLOW";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EINTR: return "EINTR";
	default: return "EUNKNOWN";
	}
}

/* ------------------------------------------------------------------ */
/* fault containment                                                   */

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_armed;

static void on_fault(int sig)
{
	if (fault_armed)
		siglongjmp(fault_jmp, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static const char *signame(int sig)
{
	switch (sig) {
	case SIGBUS: return "SIGBUS";
	case SIGSEGV: return "SIGSEGV";
	case SIGALRM: return "timeout";
	default: return "SIGNAL";
	}
}

static void install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
}

/* ------------------------------------------------------------------ */
/* targets from /proc/iomem and sysfs                                  */

struct region {
	unsigned long start, end;
	int depth;
	char name[96];
};

static struct region regions[MAX_REGIONS];
static int nregions = -1;

static void load_iomem(void)
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
static const struct region *find_region(const char *name, unsigned long min, unsigned long max)
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

/* Any region (any depth) whose name starts with `prefix`. */
static const struct region *find_region_prefix(const char *prefix)
{
	load_iomem();
	for (int i = 0; i < nregions; i++)
		if (strncmp(regions[i].name, prefix, strlen(prefix)) == 0)
			return &regions[i];
	return NULL;
}

static unsigned long page_up(unsigned long a)
{
	return (a + PAGE - 1) & ~(PAGE - 1);
}

struct pci_bar {
	char dev[256];       /* e.g. 0000:00:02.0 */
	char driver[256];    /* bound driver or "" */
	int bar;
	unsigned long start, end;
	unsigned int vendor, device;
};

static unsigned int read_hex_file(const char *dir, const char *file)
{
	char path[512];
	unsigned int v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%x", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static unsigned int spare_vendor = 0x8086, spare_device = 0x100e; /* e1000 */

/* The spare device: the harness adds it to the VM and nothing binds a driver to it. */
static int find_spare_bar(struct pci_bar *out)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[600], link[256], line[256];
		unsigned long long s, en, fl;
		ssize_t n;
		FILE *f;
		int bar = 0;

		if (e->d_name[0] == '.')
			continue;
		if (read_hex_file(e->d_name, "vendor") != spare_vendor ||
		    read_hex_file(e->d_name, "device") != spare_device)
			continue;
		memset(out, 0, sizeof(*out));
		snprintf(out->dev, sizeof(out->dev), "%s", e->d_name);
		out->vendor = spare_vendor;
		out->device = spare_device;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = 0;
			snprintf(out->driver, sizeof(out->driver), "%s",
				 strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
		}
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (bar < 6 && fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%llx %llx %llx", &s, &en, &fl) == 3 && (fl & 0x200) && en > s) {
				out->bar = bar;
				out->start = s;
				out->end = en;
				found = 1;
				break;
			}
			bar++;
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

/* ------------------------------------------------------------------ */
/* helpers shared by probes                                            */

static int all_zero(const unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return 0;
	return 1;
}

/* Opens `path` or records why the probe is skipped. */
static int open_or_skip(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0)
		snprintf(skip_reason, sizeof(skip_reason), "open(%s) refused: %s", path, errname(errno));
	return fd;
}

/* pread of `len` bytes at `addr`; records the outcome and the data class. */
static void read_at(int fd, unsigned long addr, size_t len)
{
	unsigned char *buf = calloc(1, len);
	ssize_t n = pread(fd, buf, len, (off_t)addr);

	if (n < 0) {
		observe("outcome=%s call=pread addr=0x%lx len=%zu ret=-1", errname(errno), addr, len);
	} else {
		observe("outcome=ok call=pread addr=0x%lx len=%zu ret=%zd data=%s", addr, len, n,
			all_zero(buf, (size_t)n) ? "zeros" : "nonzero");
	}
	free(buf);
}

/* mmap one page at `offset` of `fd` and read a word through it. */
static void map_and_touch(int fd, unsigned long offset, const char *what)
{
	volatile uint32_t *p;
	sigjmp_buf outer;
	uint32_t v;
	int sig;

	p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, (off_t)offset);
	if (p == MAP_FAILED) {
		observe("outcome=%s call=mmap %s=0x%lx", errname(errno), what, offset);
		return;
	}
	memcpy(outer, fault_jmp, sizeof(outer));
	sig = sigsetjmp(fault_jmp, 1);
	if (sig == 0) {
		v = p[0];
		observe("outcome=ok call=mmap %s=0x%lx touch=read value=0x%08x", what, offset, v);
	} else {
		observe("outcome=%s call=mmap %s=0x%lx touch=read", signame(sig), what, offset);
	}
	memcpy(fault_jmp, outer, sizeof(outer));
	munmap((void *)p, PAGE);
}

/* ------------------------------------------------------------------ */
/* the probes                                                          */

#define DEVMEM "/dev/mem"
#define DEVPORT "/dev/port"

static void p_devmem_open(void)
{
	int fd = open(DEVMEM, O_RDWR | O_SYNC);

	if (fd < 0) {
		observe("outcome=%s call=open path=" DEVMEM, errname(errno));
		return;
	}
	observe("outcome=ok call=open path=" DEVMEM);
	close(fd);
}

static void p_devmem_read_low_ram(void)
{
	const struct region *r = find_region("System RAM", 0, LOW_1M);
	unsigned long start, end;
	unsigned char buf[PAGE];
	int fd, nonzero = 0;
	size_t total = 0;

	if (!r) {
		observe("outcome=no-target target=\"System RAM below 1M\"");
		return;
	}
	fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC);
	if (fd < 0)
		return;
	/* Read the whole range: under STRICT_DEVMEM every page reads as zeros. */
	start = page_up(r->start);
	end = (r->end + 1) & ~(PAGE - 1);
	for (unsigned long a = start; a < end; a += PAGE) {
		ssize_t n = pread(fd, buf, PAGE, (off_t)a);

		if (n < 0) {
			observe("outcome=%s call=pread addr=0x%lx len=%lu ret=-1", errname(errno), a, PAGE);
			close(fd);
			return;
		}
		total += (size_t)n;
		if (!all_zero(buf, (size_t)n))
			nonzero = 1;
	}
	observe("outcome=ok call=pread addr=0x%lx len=%zu ret=%zu data=%s", start, end - start, total,
		nonzero ? "nonzero" : "zeros");
	close(fd);
}

static void p_devmem_read_bios_rom(void)
{
	const struct region *r = find_region("System ROM", 0, LOW_1M);
	int fd;

	if (!r) {
		observe("outcome=no-target target=\"System ROM\"");
		return;
	}
	fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC);
	if (fd < 0)
		return;
	read_at(fd, r->start, PAGE);
	close(fd);
}

static void p_devmem_read_high_ram(void)
{
	const struct region *r = find_region("System RAM", LOW_1M, ~0UL);
	int fd;

	if (!r) {
		observe("outcome=no-target target=\"System RAM above 1M\"");
		return;
	}
	fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC);
	if (fd < 0)
		return;
	read_at(fd, page_up(r->start), PAGE);
	close(fd);
}

/*
 * The hole: STRICT_DEVMEM zeroes reads of low RAM but lets mmap() map it.
 * Write a cookie through one mapping, unmap, map again and look for it;
 * the original bytes are put back before returning.
 */
static void p_devmem_mmap_low_ram(void)
{
	const struct region *r = find_region("System RAM", 0, LOW_1M);
	const uint64_t cookie = 0x6465766d656d2121ULL; /* "devmem!!" */
	const unsigned long slot = PAGE - sizeof(uint64_t);
	volatile uint64_t *p;
	sigjmp_buf outer;
	unsigned long addr;
	uint64_t orig, seen;
	int fd, sig;

	if (!r) {
		observe("outcome=no-target target=\"System RAM below 1M\"");
		return;
	}
	fd = open_or_skip(DEVMEM, O_RDWR | O_SYNC);
	if (fd < 0)
		return;
	addr = page_up(r->start);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)addr);
	if (p == MAP_FAILED) {
		observe("outcome=%s call=mmap addr=0x%lx", errname(errno), addr);
		close(fd);
		return;
	}
	memcpy(outer, fault_jmp, sizeof(outer));
	sig = sigsetjmp(fault_jmp, 1);
	if (sig) {
		memcpy(fault_jmp, outer, sizeof(outer));
		observe("outcome=%s call=mmap addr=0x%lx touch=write", signame(sig), addr);
		close(fd);
		return;
	}
	orig = p[slot / 8];
	p[slot / 8] = orig ^ cookie;
	munmap((void *)p, PAGE);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)addr);
	if (p == MAP_FAILED) {
		memcpy(fault_jmp, outer, sizeof(outer));
		observe("outcome=%s call=mmap addr=0x%lx step=remap", errname(errno), addr);
		close(fd);
		return;
	}
	seen = p[slot / 8];
	p[slot / 8] = orig; /* restore */
	memcpy(fault_jmp, outer, sizeof(outer));
	munmap((void *)p, PAGE);
	observe("outcome=ok call=mmap addr=0x%lx touch=write data=%s", addr + slot,
		seen == (orig ^ cookie) ? "persisted" : "dropped");
	close(fd);
}

static void p_devmem_mmap_high_ram(void)
{
	const struct region *r = find_region("System RAM", LOW_1M, ~0UL);
	int fd;

	if (!r) {
		observe("outcome=no-target target=\"System RAM above 1M\"");
		return;
	}
	fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC);
	if (fd < 0)
		return;
	map_and_touch(fd, page_up(r->start), "addr");
	close(fd);
}

static void p_devmem_mmap_idle_bar(void)
{
	struct pci_bar b;
	int fd;

	if (!find_spare_bar(&b)) {
		observe("outcome=no-target target=\"spare PCI device %04x:%04x\"", spare_vendor, spare_device);
		return;
	}
	if (b.driver[0]) {
		snprintf(skip_reason, sizeof(skip_reason), "spare device %s is bound to %s", b.dev, b.driver);
		return;
	}
	fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC);
	if (fd < 0)
		return;
	observe("device=%s bar=%d", b.dev, b.bar);
	map_and_touch(fd, b.start, "addr");
	close(fd);
}

/* PCI ECAM is claimed busy by the kernel: IO_STRICT_DEVMEM refuses it. */
static void p_devmem_mmap_busy_mmio(void)
{
	const struct region *r = find_region_prefix("PCI ECAM");
	int fd;

	if (!r)
		r = find_region_prefix("PCI MMCONFIG");
	if (!r) {
		observe("outcome=no-target target=\"PCI ECAM/MMCONFIG region\"");
		return;
	}
	fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC);
	if (fd < 0)
		return;
	map_and_touch(fd, r->start, "addr");
	close(fd);
}

static void p_devport_open(void)
{
	int fd = open(DEVPORT, O_RDWR);

	if (fd < 0) {
		observe("outcome=%s call=open path=" DEVPORT, errname(errno));
		return;
	}
	observe("outcome=ok call=open path=" DEVPORT);
	close(fd);
}

static void p_devport_read_0x80(void)
{
	unsigned char v;
	ssize_t n;
	int fd = open_or_skip(DEVPORT, O_RDONLY);

	if (fd < 0)
		return;
	n = pread(fd, &v, 1, 0x80);
	if (n < 0)
		observe("outcome=%s call=pread port=0x80 len=1 ret=-1", errname(errno));
	else
		observe("outcome=ok call=pread port=0x80 len=1 ret=%zd", n);
	close(fd);
}

static void p_pcisysfs_mmap_idle_bar(void)
{
	char path[400];
	struct pci_bar b;
	int fd;

	if (!find_spare_bar(&b)) {
		observe("outcome=no-target target=\"spare PCI device %04x:%04x\"", spare_vendor, spare_device);
		return;
	}
	if (b.driver[0]) {
		snprintf(skip_reason, sizeof(skip_reason), "spare device %s is bound to %s", b.dev, b.driver);
		return;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%d", b.dev, b.bar);
	fd = open_or_skip(path, O_RDWR | O_SYNC);
	if (fd < 0)
		return;
	observe("device=%s bar=%d", b.dev, b.bar);
	map_and_touch(fd, 0, "offset");
	close(fd);
}

static void p_pcisysfs_read_config(void)
{
	unsigned char buf[64];
	char path[400];
	struct pci_bar b;
	ssize_t n;
	int fd;

	if (!find_spare_bar(&b)) {
		observe("outcome=no-target target=\"spare PCI device %04x:%04x\"", spare_vendor, spare_device);
		return;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", b.dev);
	fd = open_or_skip(path, O_RDONLY);
	if (fd < 0)
		return;
	n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		observe("outcome=%s call=pread device=%s len=%zu ret=-1", errname(errno), b.dev, sizeof(buf));
	else
		observe("outcome=ok call=pread device=%s len=%zu ret=%zd vendor=0x%02x%02x data=%s", b.dev,
			sizeof(buf), n, n >= 2 ? buf[1] : 0, n >= 2 ? buf[0] : 0,
			all_zero(buf, (size_t)n) ? "zeros" : "nonzero");
	close(fd);
}

struct probe {
	const char *name;
	void (*fn)(void);
	const char *what;
};

static const struct probe probes[] = {
	{ "devmem.open", p_devmem_open, "open /dev/mem read-write" },
	{ "devmem.read.ram-below-1m", p_devmem_read_low_ram, "read() all of System RAM below 1 MiB" },
	{ "devmem.read.bios-rom", p_devmem_read_bios_rom, "read() a page of the System ROM (0xF0000 on PC firmware)" },
	{ "devmem.read.ram-above-1m", p_devmem_read_high_ram, "read() the first page of System RAM above 1 MiB" },
	{ "devmem.mmap.ram-below-1m", p_devmem_mmap_low_ram, "mmap() low RAM, write, unmap, remap: did the write persist?" },
	{ "devmem.mmap.ram-above-1m", p_devmem_mmap_high_ram, "mmap() the first page of System RAM above 1 MiB" },
	{ "devmem.mmap.idle-bar", p_devmem_mmap_idle_bar, "mmap() the spare device's memory BAR (no driver bound)" },
	{ "devmem.mmap.busy-mmio", p_devmem_mmap_busy_mmio, "mmap() the PCI ECAM window, which the kernel holds busy" },
	{ "devport.open", p_devport_open, "open /dev/port read-write" },
	{ "devport.read.port-0x80", p_devport_read_0x80, "read() one byte of I/O port 0x80" },
	{ "pcisysfs.mmap.idle-bar", p_pcisysfs_mmap_idle_bar, "mmap() resourceN of the spare device (no driver bound)" },
	{ "pcisysfs.read.config", p_pcisysfs_read_config, "read() 64 bytes of the spare device's config space" },
};

#define NPROBES (sizeof(probes) / sizeof(probes[0]))

static int selected(const char *only, const char *name)
{
	size_t len = strlen(name);
	const char *p = only;

	if (!only)
		return 1;
	while ((p = strstr(p, name))) {
		if ((p == only || p[-1] == ',') && (p[len] == ',' || p[len] == 0))
			return 1;
		p += len;
	}
	return 0;
}

static void run_one(const struct probe *pr)
{
	int sig;

	observe_buf[0] = 0;
	skip_reason[0] = 0;
	test_no++;
	fault_armed = 1;
	sig = sigsetjmp(fault_jmp, 1);
	if (sig == 0) {
		alarm(PROBE_TIMEOUT_S);
		pr->fn();
	} else {
		observe("outcome=%s", signame(sig));
	}
	alarm(0);
	fault_armed = 0;
	if (skip_reason[0]) {
		if (observe_buf[0])
			printf("# observe: %s\n", observe_buf);
		printf("ok %d %s # SKIP %s\n", test_no, pr->name, skip_reason);
	} else {
		printf("# observe: %s\n", observe_buf);
		printf("%s %d %s\n", strstr(observe_buf, "outcome=ok") ? "ok" : "not ok", test_no, pr->name);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	int count = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list")) {
			for (size_t j = 0; j < NPROBES; j++)
				printf("%s\t%s\n", probes[j].name, probes[j].what);
			return 0;
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			only = argv[++i];
		} else if (!strcmp(argv[i], "--spare-pci") && i + 1 < argc) {
			if (sscanf(argv[++i], "%x:%x", &spare_vendor, &spare_device) != 2) {
				fprintf(stderr, "devmem-probe: --spare-pci wants VVVV:DDDD, got %s\n", argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "usage: %s [--list] [--only NAME,...] [--spare-pci VVVV:DDDD]\n", argv[0]);
			return 2;
		}
	}
	for (size_t j = 0; j < NPROBES; j++)
		count += selected(only, probes[j].name);
	if (only && count == 0) {
		fprintf(stderr, "devmem-probe: no probe matches --only %s\n", only);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	install_handlers();
	printf("KTAP version 1\n1..%d\n", count);
	for (size_t j = 0; j < NPROBES; j++)
		if (selected(only, probes[j].name))
			run_one(&probes[j]);
	return 0;
}
