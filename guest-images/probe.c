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
 * "killed" (the probe process died, e.g. in a kernel oops) or "no-target"
 * when the guest has nothing to aim at.  The harness's oracle turns
 * observations into verdicts.
 *
 * Every probe runs in its own child process, so a fault, a dropped
 * capability or a kernel oops stays with that probe.  Before and after each
 * probe a line goes to /dev/kmsg ("harness-probe: begin N NAME") so the host
 * can attribute kernel warnings to the probe that caused them.
 *
 * Targets come from the guest's own /proc/iomem and sysfs, never from
 * hard-coded addresses.
 *
 * Usage: devmem-probe [--list] [--only NAME[,NAME...]] [--spare-pci VVVV:DDDD]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
#define LOW_1M 0x100000UL
#define PROBE_TIMEOUT_S 10
#define MAX_REGIONS 256

/* Probe flags. */
#define DANGEROUS 1 /* touches the BIOS area or low RAM: can take a confidential guest down */

/* ------------------------------------------------------------------ */
/* observation output (filled in the child, printed by the parent)     */

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

/*
 * The probe could not attempt its access.  `why` is machine-readable and goes into the
 * observation as skip=<why> ("open path=/dev/mem errno=EPERM"): the harness's oracle
 * decides whether that was expected (lockdown refused the node) or means the probe did
 * not run (no driver).  The rest is the human reason on the KTAP SKIP line.
 */
static void skip(const char *why, const char *fmt, ...)
{
	va_list ap;

	observe("skip=%s", why);
	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
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
	case EEXIST: return "EEXIST";
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
	case EKEYREJECTED: return "EKEYREJECTED";
	case ENOEXEC: return "ENOEXEC";
	case ENOKEY: return "ENOKEY";
	case EBADMSG: return "EBADMSG";
	case ETXTBSY: return "ETXTBSY";
	default: return "EUNKNOWN";
	}
}

static const char *signame(int sig)
{
	switch (sig) {
	case SIGBUS: return "SIGBUS";
	case SIGSEGV: return "SIGSEGV";
	case SIGALRM: return "timeout";
	case SIGKILL: return "SIGKILL";
	case SIGILL: return "SIGILL";
	case SIGABRT: return "SIGABRT";
	default: return "SIGNAL";
	}
}

/* ------------------------------------------------------------------ */
/* fault containment inside the child                                  */

static sigjmp_buf fault_jmp;

static void on_fault(int sig)
{
	siglongjmp(fault_jmp, sig);
}

static void install_fault_handlers(void)
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

/*
 * Read (or write) one 32-bit word through a mapping; returns 0 or the signal it
 * raised.  The caller's recovery point (the probe's) is saved and put back.
 */
static int touch(volatile uint32_t *p, uint32_t *value, int write)
{
	sigjmp_buf outer;
	int sig;

	memcpy(outer, fault_jmp, sizeof(outer));
	sig = sigsetjmp(fault_jmp, 1);
	if (sig == 0) {
		if (write)
			*p = *value;
		else
			*value = *p;
	}
	memcpy(fault_jmp, outer, sizeof(outer));
	return sig;
}

static int touch_read(volatile uint32_t *p, uint32_t *value)
{
	return touch(p, value, 0);
}

/* ------------------------------------------------------------------ */
/* targets from /proc/iomem                                            */

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

/* The last top-level System RAM range (where directly mapped memory ends). */
static const struct region *last_ram(void)
{
	const struct region *last = NULL;

	load_iomem();
	for (int i = 0; i < nregions; i++)
		if (regions[i].depth == 0 && strcmp(regions[i].name, "System RAM") == 0)
			last = &regions[i];
	return last;
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

#define NEED_REGION(r, what)                                  \
	do {                                                  \
		if (!(r)) {                                   \
			observe("outcome=no-target target=\"%s\"", what); \
			return;                               \
		}                                             \
	} while (0)

/* ------------------------------------------------------------------ */
/* the spare PCI device (added by the harness: harness/data/spares.yaml) */

/*
 * Which device, which driver claims it, which memory BAR that driver claims, and
 * the modules that bring the driver (dependencies first; none: built in).  The
 * defaults are e1000's; the harness passes its choice for the kernel under test.
 */
static unsigned int spare_vendor = 0x8086, spare_device = 0x100e;
static const char *spare_name = "e1000";
static const char *spare_driver = "e1000";
static int spare_bar = -1; /* -1: the first memory BAR */
#define MAX_SPARE_MODULES 8
static const char *spare_modules[MAX_SPARE_MODULES] = { "/lib/modules/e1000.ko" };
static int n_spare_modules = 1, spare_modules_given;

struct spare {
	char dev[256];    /* e.g. 0000:00:02.0 */
	char driver[256]; /* bound driver or "" */
	int mem_bar, io_bar;
	unsigned long mem_start, mem_end, io_start, io_end;
};

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

static int find_spare(struct spare *s)
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
static int spare_bind(struct spare *s)
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

static int spare_in_state(struct spare *s, int bound)
{
	if (!find_spare(s)) {
		observe("outcome=no-target target=\"spare PCI device %04x:%04x with a memory BAR\"", spare_vendor,
			spare_device);
		return -1;
	}
	return bound ? spare_bind(s) : spare_unbind(s);
}

/* ------------------------------------------------------------------ */
/* helpers shared by probes                                            */

#define DEVMEM "/dev/mem"
#define DEVPORT "/dev/port"

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

	if (fd < 0) {
		const char *e = errname(errno);
		char why[700];

		snprintf(why, sizeof(why), "open path=%s errno=%s", path, e);
		skip(why, "open(%s) refused: %s", path, e);
	}
	return fd;
}

/* pread of `len` bytes at `addr`; records the outcome and the data class. */
static void read_at(int fd, unsigned long addr, size_t len)
{
	unsigned char *buf = calloc(1, len);
	ssize_t n = pread(fd, buf, len, (off_t)addr);

	if (n < 0)
		observe("outcome=%s call=pread addr=0x%lx len=%zu ret=-1", errname(errno), addr, len);
	else
		observe("outcome=ok call=pread addr=0x%lx len=%zu ret=%zd data=%s", addr, len, n,
			all_zero(buf, (size_t)n) ? "zeros" : "nonzero");
	free(buf);
}

/* The common shape of the read probes: a region, /dev/mem read-only, one read, close. */
static void devmem_read(const struct region *r, const char *what, unsigned long addr, size_t len)
{
	int fd;

	NEED_REGION(r, what);
	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
		return;
	read_at(fd, addr, len);
	close(fd);
}

/* mmap one page at `offset` of `fd` and read a word through it. */
static void map_and_touch(int fd, unsigned long offset, const char *what)
{
	volatile uint32_t *p;
	uint32_t v = 0;
	int sig;

	p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, (off_t)offset);
	if (p == MAP_FAILED) {
		observe("outcome=%s call=mmap %s=0x%lx", errname(errno), what, offset);
		return;
	}
	sig = touch_read(p, &v);
	if (sig)
		observe("outcome=%s call=mmap %s=0x%lx touch=read", signame(sig), what, offset);
	else
		observe("outcome=ok call=mmap %s=0x%lx touch=read value=0x%08x", what, offset, v);
	munmap((void *)p, PAGE);
}

/* Drop capability `cap` from this (child) process: effective, permitted and inheritable. */
static int drop_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	uint32_t bit = 1u << (cap % 32);

	if (syscall(SYS_capget, &h, d) != 0)
		return -errno;
	d[cap / 32].effective &= ~bit;
	d[cap / 32].permitted &= ~bit;
	d[cap / 32].inheritable &= ~bit;
	if (syscall(SYS_capset, &h, d) != 0)
		return -errno;
	return 0;
}

/* Records why a probe that needed to drop `what` is skipped; returns -1 then. */
static int drop_or_skip(int cap, const char *what)
{
	int err = drop_cap(cap);
	char why[64];

	if (!err)
		return 0;
	snprintf(why, sizeof(why), "capset errno=%s", errname(-err));
	skip(why, "cannot drop %s: %s", what, errname(-err));
	return -1;
}

/*
 * mmap() `len` bytes at `offset` and, with `touch`, read a word in the first and
 * in the last page: a check that looked only at one end shows as a fault at the other.
 */
static void map_span(int fd, unsigned long offset, size_t len, int touch)
{
	volatile unsigned char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)offset);
	uint32_t v;
	int sig = 0;

	if (p == MAP_FAILED) {
		observe("outcome=%s call=mmap addr=0x%lx len=%zu", errname(errno), offset, len);
		return;
	}
	if (touch && !(sig = touch_read((volatile uint32_t *)p, &v)))
		sig = touch_read((volatile uint32_t *)(p + len - PAGE), &v);
	if (sig)
		observe("outcome=%s call=mmap addr=0x%lx len=%zu touch=read", signame(sig), offset, len);
	else
		observe("outcome=ok call=mmap addr=0x%lx len=%zu touch=%s", offset, len, touch ? "read" : "none");
	munmap((void *)p, len);
}

/* The common shape of the mapping probes: a region, /dev/mem read-only, one mapping (map_span), close. */
static void devmem_map(const struct region *r, const char *what, unsigned long offset, size_t len, int touch)
{
	int fd;

	NEED_REGION(r, what);
	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
		return;
	map_span(fd, offset, len, touch);
	close(fd);
}

/* The CPU's physical address bits as the kernel sees them (/proc/cpuinfo "address sizes"), or 0. */
static int phys_bits(void)
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
static unsigned long own_phys(const void *va)
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

/* ------------------------------------------------------------------ */
/* /dev/mem                                                            */

static void open_node(const char *path, int without_rawio)
{
	int fd;

	if (without_rawio && drop_or_skip(CAP_SYS_RAWIO, "CAP_SYS_RAWIO") < 0)
		return;
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0) {
		observe("outcome=%s call=open path=%s", errname(errno), path);
		return;
	}
	observe("outcome=ok call=open path=%s", path);
	close(fd);
}

static void p_devmem_open(void)
{
	open_node(DEVMEM, 0);
}

static void p_devmem_open_no_rawio(void)
{
	open_node(DEVMEM, 1);
}

static void p_devmem_read_low_ram(void)
{
	const struct region *r = find_region("System RAM", 0, LOW_1M);
	unsigned long start, end;
	unsigned char buf[PAGE];
	int fd, nonzero = 0;
	size_t total = 0;

	NEED_REGION(r, "System RAM below 1M");
	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
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

	devmem_read(r, "System ROM", r ? r->start : 0, PAGE);
}

static void p_devmem_read_high_ram(void)
{
	const struct region *r = find_region("System RAM", LOW_1M, ~0UL);

	devmem_read(r, "System RAM above 1M", r ? page_up(r->start) : 0, PAGE);
}

/* read_mem() refuses offsets past high_memory with EFAULT before any policy check. */
static void p_devmem_read_past_end(void)
{
	const struct region *r = last_ram();

	devmem_read(r, "System RAM", r ? page_up(r->end + 1) : 0, PAGE);
}

/* One read() over the last page below RAM (allowed) and the first RAM page above 1 MiB (denied). */
static void p_devmem_read_span(void)
{
	const struct region *r = find_region("System RAM", LOW_1M, ~0UL);

	devmem_read(r, "System RAM above 1M", r ? page_up(r->start) - PAGE : 0, 2 * PAGE);
}

/*
 * write() to low RAM when the kernel refuses to map it (a kernel that closed the mmap hole):
 * the effect is judged by read().  data=persisted (read shows the write), dropped (read
 * shows the old bytes) or hidden (read shows zeros, as STRICT_DEVMEM's read() does there:
 * the write cannot be seen, which is what the policy promises).
 */
static void write_checked_by_read(int fd, unsigned long addr, int map_err)
{
	const uint64_t cookie = 0x6465766d656d2121ULL; /* "devmem!!" */
	uint64_t orig = 0, mine, seen = 0;
	ssize_t n;

	if (pread(fd, &orig, sizeof(orig), (off_t)addr) != sizeof(orig))
		orig = 0;
	mine = orig ^ cookie;
	n = pwrite(fd, &mine, sizeof(mine), (off_t)addr);
	if (n < 0) {
		observe("outcome=%s call=pwrite addr=0x%lx len=8 ret=-1 map=%s", errname(errno), addr, errname(map_err));
		return;
	}
	if (pread(fd, &seen, sizeof(seen), (off_t)addr) != sizeof(seen))
		seen = orig;
	if (seen == mine && pwrite(fd, &orig, sizeof(orig), (off_t)addr) != sizeof(orig))
		observe("restore=failed");
	observe("outcome=ok call=pwrite addr=0x%lx len=8 ret=%zd data=%s check=read map=%s", addr, n,
		seen == mine ? "persisted" : (seen == 0 ? "hidden" : "dropped"), errname(map_err));
}

/*
 * write() to low RAM: STRICT_DEVMEM drops it and still returns the full count.
 * Whether it persisted is checked (and the bytes restored) through a mapping,
 * or by read() when the kernel refuses the mapping.
 */
static void p_devmem_write_low_ram(void)
{
	const struct region *r = find_region("System RAM", 0, LOW_1M);
	const uint64_t cookie = 0x6465766d656d2121ULL; /* "devmem!!" */
	volatile uint64_t *p;
	unsigned long addr;
	uint64_t orig, mine, seen;
	ssize_t n;
	int fd, sig;

	NEED_REGION(r, "System RAM below 1M");
	if ((fd = open_or_skip(DEVMEM, O_RDWR | O_SYNC)) < 0)
		return;
	addr = page_up(r->start) + PAGE - 2 * sizeof(uint64_t);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)(addr & ~(PAGE - 1)));
	if (p == MAP_FAILED) {
		write_checked_by_read(fd, addr, errno);
		close(fd);
		return;
	}
	p += (addr & (PAGE - 1)) / sizeof(uint64_t);
	if ((sig = sigsetjmp(fault_jmp, 1)) != 0) {
		observe("outcome=%s call=mmap addr=0x%lx step=verify", signame(sig), addr);
		close(fd);
		return;
	}
	orig = *p;
	mine = orig ^ cookie;
	n = pwrite(fd, &mine, sizeof(mine), (off_t)addr);
	seen = *p;
	*p = orig; /* restore */
	if (n < 0)
		observe("outcome=%s call=pwrite addr=0x%lx len=8 ret=-1", errname(errno), addr);
	else
		observe("outcome=ok call=pwrite addr=0x%lx len=8 ret=%zd data=%s check=mmap", addr, n,
			seen == mine ? "persisted" : "dropped");
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
	const uint64_t cookie = 0x6465766d656d2121ULL;
	const unsigned long slot = PAGE - sizeof(uint64_t);
	volatile uint64_t *p;
	unsigned long addr;
	uint64_t orig, seen;
	int fd, sig;

	NEED_REGION(r, "System RAM below 1M");
	if ((fd = open_or_skip(DEVMEM, O_RDWR | O_SYNC)) < 0)
		return;
	addr = page_up(r->start);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)addr);
	if (p == MAP_FAILED) {
		observe("outcome=%s call=mmap addr=0x%lx", errname(errno), addr);
		close(fd);
		return;
	}
	if ((sig = sigsetjmp(fault_jmp, 1)) != 0) {
		observe("outcome=%s call=mmap addr=0x%lx touch=write", signame(sig), addr);
		close(fd);
		return;
	}
	orig = p[slot / 8];
	p[slot / 8] = orig ^ cookie;
	munmap((void *)p, PAGE);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)addr);
	if (p == MAP_FAILED) {
		observe("outcome=%s call=mmap addr=0x%lx step=remap", errname(errno), addr);
		close(fd);
		return;
	}
	seen = p[slot / 8];
	p[slot / 8] = orig; /* restore */
	munmap((void *)p, PAGE);
	observe("outcome=ok call=mmap addr=0x%lx touch=write data=%s", addr + slot,
		seen == (orig ^ cookie) ? "persisted" : "dropped");
	close(fd);
}

/* What libdebian-installer does: map 64 KiB at the System ROM and look for the SMBIOS anchor. */
static void p_devmem_mmap_smbios(void)
{
	const struct region *r = find_region("System ROM", 0, LOW_1M);
	const size_t len = 0x10000;
	volatile unsigned char *p;
	unsigned long found = 0;
	const char *kind = "";
	int fd, sig;

	NEED_REGION(r, "System ROM");
	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
		return;
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)r->start);
	if (p == MAP_FAILED) {
		observe("outcome=%s call=mmap addr=0x%lx len=%zu", errname(errno), r->start, len);
		close(fd);
		return;
	}
	if ((sig = sigsetjmp(fault_jmp, 1)) != 0) {
		observe("outcome=%s call=mmap addr=0x%lx touch=read", signame(sig), r->start);
		close(fd);
		return;
	}
	for (size_t off = 0; off + 5 <= len && !found; off += 16) {
		if (p[off] == '_' && p[off + 1] == 'S' && p[off + 2] == 'M' && p[off + 3] == '3' && p[off + 4] == '_') {
			found = r->start + off;
			kind = "_SM3_";
		} else if (p[off] == '_' && p[off + 1] == 'S' && p[off + 2] == 'M' && p[off + 3] == '_') {
			found = r->start + off;
			kind = "_SM_";
		}
	}
	munmap((void *)p, len);
	if (found)
		observe("outcome=ok call=mmap addr=0x%lx len=%zu data=anchor-found anchor=%s at=0x%lx", r->start, len,
			kind, found);
	else
		observe("outcome=ok call=mmap addr=0x%lx len=%zu data=no-anchor", r->start, len);
	close(fd);
}

/* MAP_PRIVATE of the ROM, written through: the write must land in a private copy. */
static void p_devmem_mmap_private(void)
{
	const struct region *r = find_region("System ROM", 0, LOW_1M);
	volatile unsigned char *priv, *shared;
	unsigned char before, after;
	int fd, sig;

	NEED_REGION(r, "System ROM");
	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
		return;
	priv = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, (off_t)r->start);
	if (priv == MAP_FAILED) {
		observe("outcome=%s call=mmap flags=MAP_PRIVATE addr=0x%lx", errname(errno), r->start);
		close(fd);
		return;
	}
	if ((sig = sigsetjmp(fault_jmp, 1)) != 0) {
		observe("outcome=%s call=mmap flags=MAP_PRIVATE addr=0x%lx touch=write", signame(sig), r->start);
		close(fd);
		return;
	}
	before = priv[0];
	priv[0] = (unsigned char)(before ^ 0xff);
	shared = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, (off_t)r->start);
	after = shared == MAP_FAILED ? before : shared[0];
	observe("outcome=ok call=mmap flags=MAP_PRIVATE addr=0x%lx touch=write data=%s", r->start,
		shared == MAP_FAILED ? "unchecked" : (after == before ? "private" : "leaked"));
	if (shared != MAP_FAILED)
		munmap((void *)shared, PAGE);
	munmap((void *)priv, PAGE);
	close(fd);
}

static void p_devmem_mmap_high_ram(void)
{
	const struct region *r = find_region("System RAM", LOW_1M, ~0UL);
	int fd;

	NEED_REGION(r, "System RAM above 1M");
	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
		return;
	map_and_touch(fd, page_up(r->start), "addr");
	close(fd);
}

/* An offset whose end wraps the 64-bit offset space: mm/mmap.c's file_mmap_ok() sees it first. */
static void p_devmem_mmap_overflow(void)
{
	const off_t off = -(off_t)PAGE; /* 0xfffffffffffff000 as an unsigned offset */
	void *p;
	int fd;

	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
		return;
	p = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd, off);
	if (p == MAP_FAILED) {
		observe("outcome=%s call=mmap offset=0x%llx len=%lu", errname(errno), (unsigned long long)off, 2 * PAGE);
	} else {
		observe("outcome=ok call=mmap offset=0x%llx len=%lu", (unsigned long long)off, 2 * PAGE);
		munmap(p, 2 * PAGE);
	}
	close(fd);
}

/* A physical address no x86 CPU has (bit 52): mmap_mem() asks valid_mmap_phys_addr_range(). */
static void p_devmem_mmap_beyond_phys(void)
{
	const off_t off = (off_t)1 << 52;
	void *p;
	int fd;

	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
		return;
	p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, off);
	if (p == MAP_FAILED) {
		observe("outcome=%s call=mmap addr=0x%llx", errname(errno), (unsigned long long)off);
	} else {
		observe("outcome=ok call=mmap addr=0x%llx", (unsigned long long)off);
		munmap(p, PAGE);
	}
	close(fd);
}

static void devmem_map_spare(int bound)
{
	struct spare s;
	int fd;

	if (spare_in_state(&s, bound) < 0)
		return;
	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
		return;
	observe("device=%s spare=%s bar=%d driver=%s", s.dev, spare_name, s.mem_bar, s.driver[0] ? s.driver : "none");
	map_and_touch(fd, s.mem_start, "addr");
	close(fd);
}

static void p_devmem_mmap_idle_bar(void)
{
	devmem_map_spare(0);
}

static void p_devmem_mmap_bound_bar(void)
{
	devmem_map_spare(1);
}

/* PCI ECAM is claimed busy by the kernel: IO_STRICT_DEVMEM refuses it. */
static void p_devmem_mmap_busy_mmio(void)
{
	const struct region *r = find_region_prefix("PCI ECAM");
	int fd;

	if (!r)
		r = find_region_prefix("PCI MMCONFIG");
	NEED_REGION(r, "PCI ECAM/MMCONFIG region");
	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
		return;
	map_and_touch(fd, r->start, "addr");
	close(fd);
}

/* ---- boundaries: ranges that straddle a policy edge, start or end one byte or one page from it ---- */

/*
 * The page where RAM below 640 KiB ends, which is only partly RAM (System RAM up to
 * 0x9fbff, then a reserved EBDA): devmem_is_allowed() counts any RAM in a page, so
 * read() shows it as zeros.  A cookie planted through a mapping (mmap allows that
 * page for real) tells zeros that hide data from zeros that are data; restored after.
 */
static void p_devmem_read_low_ram_edge(void)
{
	const struct region *r = find_region("System RAM", 0, LOW_1M);
	const uint64_t cookie = 0x6465766d656d2121ULL;
	volatile uint64_t *p;
	unsigned long page;
	uint64_t orig = 0, seen[PAGE / 8];
	int fd, sig, planted = 0;
	ssize_t n;

	NEED_REGION(r, "System RAM below 1M");
	if ((fd = open_or_skip(DEVMEM, O_RDWR | O_SYNC)) < 0)
		return;
	page = r->end & ~(PAGE - 1); /* the page holding RAM's last byte */
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)page);
	if (p != MAP_FAILED) {
		if ((sig = sigsetjmp(fault_jmp, 1)) != 0) {
			observe("outcome=%s call=mmap addr=0x%lx touch=write", signame(sig), page);
			close(fd);
			return;
		}
		orig = p[0];
		p[0] = orig ^ cookie;
		planted = 1;
	}
	n = pread(fd, seen, PAGE, (off_t)page);
	if (planted)
		p[0] = orig; /* restore */
	if (n < 0)
		observe("outcome=%s call=pread addr=0x%lx len=%lu ret=-1", errname(errno), page, PAGE);
	else
		observe("outcome=ok call=pread addr=0x%lx len=%lu ret=%zd data=%s check=%s", page, PAGE, n,
			all_zero((unsigned char *)seen, (size_t)n) ? "zeros" : (planted && seen[0] == (orig ^ cookie) ? "visible" : "nonzero"),
			planted ? "cookie" : "read-only");
	if (p != MAP_FAILED)
		munmap((void *)p, PAGE);
	close(fd);
}

/* One pread() of 16 bytes whose first 8 lie below 1 MiB (allowed) and last 8 in RAM above it (denied). */
static void p_devmem_read_unaligned_span(void)
{
	const struct region *r = find_region("System RAM", LOW_1M, ~0UL);

	devmem_read(r, "System RAM above 1M", r ? page_up(r->start) - 8 : 0, 16);
}

/* One read() over the last RAM page and the page after it: past high_memory, refused whole. */
static void p_devmem_read_span_end_of_ram(void)
{
	const struct region *r = last_ram();

	devmem_read(r, "System RAM", r ? ((r->end + 1) & ~(PAGE - 1)) - PAGE : 0, 2 * PAGE);
}

/*
 * write() into a page of this very process through /dev/mem: RAM above 1 MiB whose
 * content the probe owns, so a write that gets through is seen and harms nothing.
 */
static void p_devmem_write_own_page(void)
{
	const uint64_t cookie = 0x6465766d656d2121ULL;
	volatile uint64_t *page = MAP_FAILED;
	unsigned long phys = 0;
	uint64_t mine;
	ssize_t n;
	int fd;

	/* Low RAM below 1 MiB has its own rule (zeros): take a page above it. */
	for (int tries = 0; tries < 8 && phys < LOW_1M; tries++) {
		page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (page == MAP_FAILED)
			break;
		page[0] = 0x1111111111111111ULL;
		mlock((void *)page, PAGE);
		phys = own_phys((const void *)page);
	}
	if (page == MAP_FAILED || phys < LOW_1M) {
		observe("outcome=no-target target=\"a page of this process above 1 MiB in /proc/self/pagemap\"");
		return;
	}
	if ((fd = open_or_skip(DEVMEM, O_RDWR | O_SYNC)) < 0)
		return;
	mine = page[0] ^ cookie;
	n = pwrite(fd, &mine, sizeof(mine), (off_t)phys);
	if (n < 0)
		observe("outcome=%s call=pwrite target=own-page len=8 ret=-1 data=%s", errname(errno),
			page[0] == mine ? "persisted" : "unchanged");
	else
		observe("outcome=ok call=pwrite target=own-page len=8 ret=%zd data=%s", n,
			page[0] == mine ? "persisted" : "dropped");
	close(fd);
}

/* write() at the page after the last RAM: refused (EFAULT) before any policy check, like read(). */
static void p_devmem_write_past_end(void)
{
	const struct region *r = last_ram();
	uint64_t zero = 0;
	unsigned long addr;
	ssize_t n;
	int fd;

	NEED_REGION(r, "System RAM");
	if ((fd = open_or_skip(DEVMEM, O_RDWR | O_SYNC)) < 0)
		return;
	addr = page_up(r->end + 1);
	n = pwrite(fd, &zero, sizeof(zero), (off_t)addr);
	if (n < 0)
		observe("outcome=%s call=pwrite addr=0x%lx len=8 ret=-1", errname(errno), addr);
	else
		observe("outcome=ok call=pwrite addr=0x%lx len=8 ret=%zd", addr, n);
	close(fd);
}

/* One mapping of the last page below 1 MiB (allowed) and the first RAM page above it (denied). */
static void p_devmem_mmap_span_rom_ram(void)
{
	const struct region *r = find_region("System RAM", LOW_1M, ~0UL);

	devmem_map(r, "System RAM above 1M", r ? page_up(r->start) - PAGE : 0, 2 * PAGE, 1);
}

/* One mapping of the last RAM page (denied) and the reserved page after it (allowed). */
static void p_devmem_mmap_span_ram_end(void)
{
	const struct region *r = last_ram();

	devmem_map(r, "System RAM", r ? ((r->end + 1) & ~(PAGE - 1)) - PAGE : 0, 2 * PAGE, 1);
}

static const struct region *ecam(void)
{
	const struct region *r = find_region_prefix("PCI ECAM");

	return r ? r : find_region_prefix("PCI MMCONFIG");
}

/* The page just below the busy ECAM window: not busy itself, so mappable. */
static void p_devmem_mmap_page_before_busy(void)
{
	const struct region *r = ecam();

	devmem_map(r, "PCI ECAM/MMCONFIG region", r ? r->start - PAGE : 0, PAGE, 1);
}

/* The page just above the busy ECAM window: not busy itself, so mappable. */
static void p_devmem_mmap_page_after_busy(void)
{
	const struct region *r = ecam();

	devmem_map(r, "PCI ECAM/MMCONFIG region", r ? r->end + 1 : 0, PAGE, 1);
}

/* Map (never touch) `pages` pages from the CPU's last decodable page. */
static void map_phys_limit(size_t pages)
{
	int bits = phys_bits(), fd;

	if (bits < 32 || bits > 52) {
		observe("outcome=no-target target=\"the CPU's physical address bits in /proc/cpuinfo\"");
		return;
	}
	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
		return;
	observe("phys_bits=%d", bits);
	map_span(fd, (1UL << bits) - PAGE, pages * PAGE, 0);
	close(fd);
}

static void p_devmem_mmap_last_phys_page(void)
{
	map_phys_limit(1);
}

static void p_devmem_mmap_span_phys_limit(void)
{
	map_phys_limit(2);
}

/* A /dev/mem mapping of one page of the System ROM, never touched: what mm does with it. */
static volatile void *map_rom_page(int *fdp, int flags)
{
	const struct region *r = find_region("System ROM", 0, LOW_1M);
	void *p;

	if (!r) {
		observe("outcome=no-target target=\"System ROM\"");
		return NULL;
	}
	if ((*fdp = open_or_skip(DEVMEM, flags)) < 0)
		return NULL;
	p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, *fdp, (off_t)r->start);
	if (p == MAP_FAILED) {
		observe("outcome=%s call=mmap addr=0x%lx step=map", errname(errno), r->start);
		close(*fdp);
		return NULL;
	}
	return p;
}

/* mremap() growing the mapping by a page: remap_pfn_range() made it VM_PFNMAP | VM_DONTEXPAND. */
static void p_devmem_mremap_grow(void)
{
	volatile void *p;
	void *q;
	int fd;

	if (!(p = map_rom_page(&fd, O_RDONLY | O_SYNC)))
		return;
	q = mremap((void *)p, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
	if (q == MAP_FAILED) {
		observe("outcome=%s call=mremap len=%lu new_len=%lu", errname(errno), PAGE, 2 * PAGE);
		munmap((void *)p, PAGE);
	} else {
		observe("outcome=ok call=mremap len=%lu new_len=%lu", PAGE, 2 * PAGE);
		munmap(q, 2 * PAGE);
	}
	close(fd);
}

/* Map one page of the System ROM read-only, apply `op` to the mapping, record what it returned. */
static void on_rom_page(int (*op)(void *), const char *call)
{
	volatile void *p;
	int fd;

	if (!(p = map_rom_page(&fd, O_RDONLY | O_SYNC)))
		return;
	if (op((void *)p) != 0)
		observe("outcome=%s call=%s", errname(errno), call);
	else
		observe("outcome=ok call=%s", call);
	munmap((void *)p, PAGE);
	close(fd);
}

static int make_writable(void *p)
{
	return mprotect(p, PAGE, PROT_READ | PROT_WRITE);
}

static int drop_pages(void *p)
{
	return madvise(p, PAGE, MADV_DONTNEED);
}

/* mprotect(PROT_WRITE) on a shared mapping of /dev/mem opened read-only. */
static void p_devmem_mprotect_write(void)
{
	on_rom_page(make_writable, "mprotect prot=rw open=rdonly");
}

/* madvise(MADV_DONTNEED) on a /dev/mem mapping (VM_PFNMAP). */
static void p_devmem_madvise_dontneed(void)
{
	on_rom_page(drop_pages, "madvise advice=MADV_DONTNEED");
}

/*
 * Revocation, as one experiment seen through four mappings of the spare device's
 * idle memory BAR, each covering the whole BAR: /dev/mem and resourceN (shared),
 * a MAP_PRIVATE /dev/mem mapping written first (its pages are now private copies),
 * and a forked child's inherited copy of a /dev/mem mapping (the parent unmaps
 * its own).  Then bind the driver (one driver probe: under TCG a third of a second)
 * and touch each mapping in its first and its last page.  devmem.revoke.bar-on-bind
 * reports the first view and leaves the others in stash files for the probes named
 * after them; each of those runs the experiment alone when nothing was stashed.
 */
enum { V_DEVMEM, V_SYSFS, V_PRIVATE, V_CHILD, NVIEWS };
static const char *const view_probe[NVIEWS] = {
	"devmem.revoke.bar-on-bind", "pcisysfs.revoke.bar-on-bind", "devmem.revoke.private-cow",
	"devmem.revoke.forked-child",
};

struct view {
	char path[700];
	unsigned long offset;
	size_t len;
	volatile unsigned char *map;
	pid_t child;
	int go, result; /* the child's pipes: told to touch, reports what it saw */
	char skip[600];
	char obs[1200];
};

static int touch_write(volatile uint32_t *p, uint32_t value)
{
	return touch(p, &value, 1);
}

/* Touch the first and the last page; "outcome=... revoked=yes|partly|no first=... last=...". */
static void touch_ends(volatile unsigned char *map, size_t len, char *out, size_t size)
{
	uint32_t v;
	int first = touch_read((volatile uint32_t *)map, &v);
	int last = touch_read((volatile uint32_t *)(map + len - PAGE), &v);
	const char *revoked = first == SIGBUS && last == SIGBUS ? "yes" : (first == SIGBUS || last == SIGBUS ? "partly" : "no");

	snprintf(out, size, "outcome=%s revoked=%s first=%s last=%s", first == last ? (first ? signame(first) : "ok") : "ok",
		 revoked, first ? signame(first) : "ok", last ? signame(last) : "ok");
}

/* The forked child: waits for the bind, touches its inherited mapping, reports, exits. */
static void child_holder(struct view *v, int go, int result)
{
	char c, out[200];

	if (read(go, &c, 1) == 1)
		touch_ends(v->map, v->len, out, sizeof(out));
	else
		snprintf(out, sizeof(out), "outcome=harness-error step=child-wait");
	if (write(result, out, strlen(out)) < 0)
		_exit(3);
	_exit(0);
}

static void view_map(struct view *v, int which, const struct spare *s)
{
	int fd, sig, go[2], result[2];
	int private = which == V_PRIVATE;
	volatile uint32_t *first, *last;
	uint32_t scratch;

	fd = open(v->path, O_RDWR | O_SYNC);
	if (fd < 0) {
		const char *e = errname(errno);

		char path[sizeof(v->path)];

		memcpy(path, v->path, sizeof(path)); /* not an argument that overlaps the struct written */
		snprintf(v->skip, sizeof(v->skip), "open(%.500s) refused: %s", path, e);
		snprintf(v->obs, sizeof(v->obs), "skip=open path=%s errno=%s", path, e);
		return;
	}
	v->map = mmap(NULL, v->len, PROT_READ | (private ? PROT_WRITE : 0), private ? MAP_PRIVATE : MAP_SHARED, fd,
		      (off_t)v->offset);
	close(fd);
	if (v->map == MAP_FAILED) {
		v->map = NULL;
		snprintf(v->obs, sizeof(v->obs), "outcome=%s call=mmap step=map device=%s", errname(errno), s->dev);
		return;
	}
	/* Private: write both ends, so both are copies the device never sees; shared: read them. */
	first = (volatile uint32_t *)v->map;
	last = (volatile uint32_t *)(v->map + v->len - PAGE);
	sig = private ? touch_write(first, 0) : touch_read(first, &scratch);
	if (!sig)
		sig = private ? touch_write(last, 0) : touch_read(last, &scratch);
	if (!sig && which == V_CHILD) {
		if (pipe(go) != 0 || pipe(result) != 0) {
			snprintf(v->obs, sizeof(v->obs), "outcome=harness-error call=pipe");
		} else if ((v->child = fork()) < 0) {
			snprintf(v->obs, sizeof(v->obs), "outcome=harness-error call=fork errno=%s", errname(errno));
		} else if (v->child == 0) {
			close(go[1]);
			close(result[0]);
			child_holder(v, go[0], result[1]);
		} else {
			close(go[0]);
			close(result[1]);
			v->go = go[1];
			v->result = result[0];
			munmap((void *)v->map, v->len); /* only the child holds the mapping now */
			v->map = NULL;
			return;
		}
	}
	if (sig)
		snprintf(v->obs, sizeof(v->obs), "outcome=%s call=mmap step=touch-idle device=%s", signame(sig), s->dev);
	if (sig || v->obs[0]) {
		munmap((void *)v->map, v->len);
		v->map = NULL;
	}
}

static void view_touch_after_bind(struct view *v, const struct spare *s)
{
	char seen[200] = "";

	if (v->child > 0) {
		ssize_t n;

		if (write(v->go, "g", 1) == 1 && (n = read(v->result, seen, sizeof(seen) - 1)) > 0)
			seen[n] = 0;
		close(v->go);
		close(v->result);
		waitpid(v->child, NULL, 0);
		v->child = 0;
		if (!seen[0])
			snprintf(seen, sizeof(seen), "outcome=killed step=child");
	} else if (v->map) {
		touch_ends(v->map, v->len, seen, sizeof(seen));
		munmap((void *)v->map, v->len);
		v->map = NULL;
	} else {
		return;
	}
	snprintf(v->obs, sizeof(v->obs), "%s call=mmap step=touch-after-bind device=%s spare=%s driver=%s len=%zu", seen,
		 s->dev, spare_name, s->driver, v->len);
}

static void report_view(const struct view *v)
{
	if (v->obs[0])
		observe("%s", v->obs);
	if (v->skip[0])
		snprintf(skip_reason, sizeof(skip_reason), "%s", v->skip);
}

/* All views (`only` < 0, stashing all but the first) or just view `only`, reported by its probe. */
static void revoke_experiment(int only)
{
	struct view views[NVIEWS];
	struct spare s;
	int any = 0;

	memset(views, 0, sizeof(views));
	if (spare_in_state(&s, 0) < 0)
		return;
	/*
	 * The child is forked before the private view is written: fork() of a process holding a
	 * written MAP_PRIVATE /dev/mem mapping fails (ENOMEM) under PAT, which cannot tell the
	 * copied pages' cache mode (arch/x86/mm/pat/memtype.c: get_pat_info(), track_pfn_copy()).
	 */
	static const int order[NVIEWS] = { V_DEVMEM, V_SYSFS, V_CHILD, V_PRIVATE };

	for (int k = 0; k < NVIEWS; k++) {
		int i = order[k];

		if (i == V_SYSFS)
			snprintf(views[i].path, sizeof(views[i].path), "/sys/bus/pci/devices/%s/resource%d", s.dev, s.mem_bar);
		else
			snprintf(views[i].path, sizeof(views[i].path), DEVMEM);
		views[i].offset = i == V_SYSFS ? 0 : s.mem_start;
		views[i].len = page_up(s.mem_end + 1 - s.mem_start);
		if (only < 0 || only == i) {
			view_map(&views[i], i, &s);
			any |= views[i].map != NULL || views[i].child > 0;
		}
	}
	if (any && spare_bind(&s) < 0) {
		/* spare_bind() recorded why for this probe; the stashed views get it too, and nothing is touched. */
		for (int i = 0; i < NVIEWS; i++) {
			snprintf(views[i].skip, sizeof(views[i].skip), "%s", skip_reason);
			snprintf(views[i].obs, sizeof(views[i].obs), "%s", observe_buf);
			if (views[i].map)
				munmap((void *)views[i].map, views[i].len);
			views[i].map = NULL;
			if (views[i].child > 0) {
				kill(views[i].child, SIGKILL);
				waitpid(views[i].child, NULL, 0);
				views[i].child = 0;
			}
		}
	}
	for (int i = 0; i < NVIEWS; i++)
		view_touch_after_bind(&views[i], &s);
	if (only >= 0) {
		report_view(&views[only]);
		return;
	}
	for (int i = 1; i < NVIEWS; i++) {
		char path[128];
		FILE *f;

		snprintf(path, sizeof(path), "/tmp/revoke-%s.observation", view_probe[i]);
		if ((f = fopen(path, "w"))) {
			fprintf(f, "%s\n%s\n", views[i].skip, views[i].obs);
			fclose(f);
		}
	}
	if (!skip_reason[0])
		report_view(&views[V_DEVMEM]);
}

static void p_devmem_revoke(void)
{
	revoke_experiment(-1);
}

/* A view's probe: what the experiment stashed for it, or the experiment with this view alone. */
static void revoke_view(int which)
{
	char path[128], skip_line[600] = "", obs_line[1200] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/revoke-%s.observation", view_probe[which]);
	if (!(f = fopen(path, "r"))) {
		revoke_experiment(which);
		return;
	}
	if (fgets(skip_line, sizeof(skip_line), f) && fgets(obs_line, sizeof(obs_line), f)) {
		skip_line[strcspn(skip_line, "\n")] = 0;
		obs_line[strcspn(obs_line, "\n")] = 0;
	}
	fclose(f);
	unlink(path);
	if (obs_line[0])
		observe("%s", obs_line);
	if (skip_line[0])
		snprintf(skip_reason, sizeof(skip_reason), "%s", skip_line);
}

static void p_pcisysfs_revoke(void)
{
	revoke_view(V_SYSFS);
}

static void p_devmem_revoke_private(void)
{
	revoke_view(V_PRIVATE);
}

static void p_devmem_revoke_child(void)
{
	revoke_view(V_CHILD);
}

/* ------------------------------------------------------------------ */
/* /dev/port                                                           */

static void p_devport_open(void)
{
	open_node(DEVPORT, 0);
}

static void p_devport_open_no_rawio(void)
{
	open_node(DEVPORT, 1);
}

static void devport_io(int write, off_t port)
{
	unsigned char v = 0;
	ssize_t n;
	int fd = open_or_skip(DEVPORT, write ? O_RDWR : O_RDONLY);

	if (fd < 0)
		return;
	n = write ? pwrite(fd, &v, 1, port) : pread(fd, &v, 1, port);
	if (n < 0)
		observe("outcome=%s call=%s port=0x%lx len=1 ret=-1", errname(errno), write ? "pwrite" : "pread",
			(long)port);
	else
		observe("outcome=ok call=%s port=0x%lx len=1 ret=%zd", write ? "pwrite" : "pread", (long)port, n);
	close(fd);
}

static void p_devport_read_0x80(void)
{
	devport_io(0, 0x80);
}

static void p_devport_write_0x80(void)
{
	devport_io(1, 0x80); /* the POST code port: writing it is what BIOSes do */
}

static void p_devport_read_past_end(void)
{
	devport_io(0, 65536);
}

/* One write() at offset 65536: write_port() stops at the last port and writes nothing. */
static void p_devport_write_past_end(void)
{
	devport_io(1, 65536);
}

/* One pread() of two bytes at port 65535: the last port is read, the call stops there. */
static void p_devport_read_straddle_end(void)
{
	unsigned char v[2];
	ssize_t n;
	int fd = open_or_skip(DEVPORT, O_RDONLY);

	if (fd < 0)
		return;
	n = pread(fd, v, 2, 65535);
	if (n < 0)
		observe("outcome=%s call=pread port=0xffff len=2 ret=-1", errname(errno));
	else
		observe("outcome=ok call=pread port=0xffff len=2 ret=%zd", n);
	close(fd);
}

/* read() of two bytes from port 0x80 advances the file position past both ports. */
static void p_devport_read_position(void)
{
	unsigned char v[2];
	ssize_t n;
	off_t pos;
	int fd = open_or_skip(DEVPORT, O_RDONLY);

	if (fd < 0)
		return;
	if (lseek(fd, 0x80, SEEK_SET) != 0x80) {
		observe("outcome=%s call=lseek port=0x80", errname(errno));
		close(fd);
		return;
	}
	n = read(fd, v, 2);
	pos = lseek(fd, 0, SEEK_CUR);
	if (n < 0)
		observe("outcome=%s call=read port=0x80 len=2 ret=-1", errname(errno));
	else
		observe("outcome=ok call=read port=0x80 len=2 ret=%zd pos=0x%llx", n, (unsigned long long)pos);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* PCI sysfs                                                           */

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

static void p_pcisysfs_read_config(void)
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
static void p_pcisysfs_write_config(void)
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

static void p_pcisysfs_mmap_idle_bar(void)
{
	p_pcisysfs_mmap_bar(0);
}

static void p_pcisysfs_mmap_bound_bar(void)
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
static void p_pcisysfs_read_config_no_admin(void)
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
static void p_pcisysfs_mmap_last_bar_page(void)
{
	pcisysfs_map_window(-1, 1);
}

/* The whole BAR and one page more: pci_mmap_fits() refuses what runs past its end. */
static void p_pcisysfs_mmap_past_bar_end(void)
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
static void p_io_read_at_end(void)
{
	io_bar_from_end(0, 1);
}

/* Four bytes from two before the end: sysfs cuts the count to the two that remain. */
static void p_io_read_straddle(void)
{
	io_bar_from_end(2, 4);
}

static void p_io_read_1(void) { io_bar(0, 1); }
static void p_io_read_2(void) { io_bar(0, 2); }
static void p_io_read_4(void) { io_bar(0, 4); }
static void p_io_read_3(void) { io_bar(0, 3); }
static void p_io_write_1(void) { io_bar(1, 1); }
static void p_io_write_2(void) { io_bar(1, 2); }
static void p_io_write_4(void) { io_bar(1, 4); }
static void p_io_write_3(void) { io_bar(1, 3); }

/* ------------------------------------------------------------------ */
/* the catalogue, in run order: idle-device probes before the ones that bind its driver */

struct probe {
	const char *name;
	void (*fn)(void);
	unsigned flags;
	const char *what;
};

static const struct probe probes[] = {
	{ "devmem.open", p_devmem_open, 0, "open /dev/mem read-write" },
	{ "devmem.open.no-rawio", p_devmem_open_no_rawio, 0, "open /dev/mem after dropping CAP_SYS_RAWIO" },
	{ "devmem.read.ram-below-1m", p_devmem_read_low_ram, DANGEROUS, "read() all of System RAM below 1 MiB" },
	{ "devmem.read.bios-rom", p_devmem_read_bios_rom, DANGEROUS, "read() a page of the System ROM (0xF0000 on PC firmware)" },
	{ "devmem.read.ram-above-1m", p_devmem_read_high_ram, 0, "read() the first page of System RAM above 1 MiB" },
	{ "devmem.read.past-end-of-ram", p_devmem_read_past_end, 0, "read() the page after the last System RAM" },
	{ "devmem.read.span-rom-ram", p_devmem_read_span, DANGEROUS, "one read() over the page below 1 MiB and the first RAM page above it" },
	{ "devmem.write.ram-below-1m", p_devmem_write_low_ram, DANGEROUS, "write() 8 bytes of low RAM: dropped or persisted? (restored)" },
	{ "devmem.mmap.ram-below-1m", p_devmem_mmap_low_ram, DANGEROUS, "mmap() low RAM, write, unmap, remap: did the write persist?" },
	{ "devmem.mmap.smbios-anchor", p_devmem_mmap_smbios, DANGEROUS, "map 64 KiB at the System ROM and find the SMBIOS anchor (the installer's access)" },
	{ "devmem.mmap.private-rom", p_devmem_mmap_private, DANGEROUS, "MAP_PRIVATE the System ROM and write: private copy?" },
	{ "devmem.mmap.ram-above-1m", p_devmem_mmap_high_ram, 0, "mmap() the first page of System RAM above 1 MiB" },
	{ "devmem.mmap.offset-overflow", p_devmem_mmap_overflow, 0, "mmap() at an offset whose end wraps the address space" },
	{ "devmem.mmap.beyond-phys-bits", p_devmem_mmap_beyond_phys, 0, "mmap() a physical address above bit 52, which no CPU decodes" },
	{ "devmem.mmap.idle-bar", p_devmem_mmap_idle_bar, 0, "mmap() the spare device's memory BAR (no driver bound)" },
	{ "devmem.mmap.busy-mmio", p_devmem_mmap_busy_mmio, 0, "mmap() the PCI ECAM window, which the kernel holds busy" },
	{ "devmem.read.low-ram-edge", p_devmem_read_low_ram_edge, DANGEROUS, "read() the page where low RAM ends (part RAM, part reserved) after planting a cookie in it" },
	{ "devmem.read.unaligned-span", p_devmem_read_unaligned_span, DANGEROUS, "one read() of 16 bytes: 8 below 1 MiB, 8 in the RAM above it" },
	{ "devmem.read.span-end-of-ram", p_devmem_read_span_end_of_ram, 0, "one read() over the last RAM page and the page after it" },
	{ "devmem.write.own-page", p_devmem_write_own_page, 0, "write() 8 bytes into a page of the probe's own memory (RAM above 1 MiB)" },
	{ "devmem.write.past-end-of-ram", p_devmem_write_past_end, 0, "write() 8 bytes at the page after the last System RAM" },
	{ "devmem.mmap.span-rom-ram", p_devmem_mmap_span_rom_ram, DANGEROUS, "mmap() the last page below 1 MiB and the first RAM page above it" },
	{ "devmem.mmap.span-ram-end", p_devmem_mmap_span_ram_end, 0, "mmap() the last RAM page and the reserved page after it" },
	{ "devmem.mmap.page-before-busy", p_devmem_mmap_page_before_busy, 0, "mmap() the page just below the busy PCI ECAM window" },
	{ "devmem.mmap.page-after-busy", p_devmem_mmap_page_after_busy, 0, "mmap() the page just above the busy PCI ECAM window" },
	{ "devmem.mmap.last-phys-page", p_devmem_mmap_last_phys_page, 0, "mmap() (no touch) the last page the CPU's physical address bits reach" },
	{ "devmem.mmap.span-phys-limit", p_devmem_mmap_span_phys_limit, 0, "mmap() the last decodable page and the first one past it" },
	{ "devmem.mremap.grow", p_devmem_mremap_grow, 0, "mremap() a one-page /dev/mem mapping to two pages" },
	{ "devmem.mprotect.write", p_devmem_mprotect_write, 0, "mprotect(PROT_WRITE) a mapping of /dev/mem opened read-only" },
	{ "devmem.madvise.dontneed", p_devmem_madvise_dontneed, 0, "madvise(MADV_DONTNEED) a /dev/mem mapping" },
	{ "devport.open", p_devport_open, 0, "open /dev/port read-write" },
	{ "devport.open.no-rawio", p_devport_open_no_rawio, 0, "open /dev/port after dropping CAP_SYS_RAWIO" },
	{ "devport.read.port-0x80", p_devport_read_0x80, 0, "read() one byte of I/O port 0x80" },
	{ "devport.write.port-0x80", p_devport_write_0x80, 0, "write() one byte to I/O port 0x80 (POST codes)" },
	{ "devport.read.past-65535", p_devport_read_past_end, 0, "read() at offset 65536, past the last port" },
	{ "devport.write.past-65535", p_devport_write_past_end, 0, "write() one byte at offset 65536, past the last port" },
	{ "devport.read.straddle-65535", p_devport_read_straddle_end, 0, "read() two bytes from port 65535, the last port" },
	{ "devport.read.position", p_devport_read_position, 0, "read() two bytes from port 0x80: the position moves past both" },
	{ "pcisysfs.read.config", p_pcisysfs_read_config, 0, "read() 64 bytes of the spare device's config space" },
	{ "pcisysfs.write.config", p_pcisysfs_write_config, 0, "write() the spare device's Interrupt Line register (restored)" },
	{ "pcisysfs.mmap.idle-bar", p_pcisysfs_mmap_idle_bar, 0, "mmap() resourceN of the spare device (no driver bound)" },
	{ "pcisysfs.read.config-no-admin", p_pcisysfs_read_config_no_admin, 0, "read() 256 bytes of config space without CAP_SYS_ADMIN" },
	{ "pcisysfs.mmap.last-bar-page", p_pcisysfs_mmap_last_bar_page, 0, "mmap() the last page of resourceN (idle device)" },
	{ "pcisysfs.mmap.past-bar-end", p_pcisysfs_mmap_past_bar_end, 0, "mmap() resourceN for the whole BAR and one page more" },
	{ "pcisysfs.read.io-bar-1", p_io_read_1, 0, "read() 1 byte of the spare device's I/O BAR" },
	{ "pcisysfs.read.io-bar-2", p_io_read_2, 0, "read() 2 bytes of the spare device's I/O BAR" },
	{ "pcisysfs.read.io-bar-4", p_io_read_4, 0, "read() 4 bytes of the spare device's I/O BAR" },
	{ "pcisysfs.read.io-bar-3", p_io_read_3, 0, "read() 3 bytes of the I/O BAR (not a port access size)" },
	{ "pcisysfs.write.io-bar-1", p_io_write_1, 0, "write() 1 byte to the I/O BAR (its current value)" },
	{ "pcisysfs.write.io-bar-2", p_io_write_2, 0, "write() 2 bytes to the I/O BAR (its current value)" },
	{ "pcisysfs.write.io-bar-4", p_io_write_4, 0, "write() 4 bytes to the I/O BAR (its current value)" },
	{ "pcisysfs.write.io-bar-3", p_io_write_3, 0, "write() 3 bytes to the I/O BAR (not a port access size)" },
	{ "pcisysfs.read.io-bar-at-end", p_io_read_at_end, 0, "read() one byte at the end of the I/O BAR" },
	{ "pcisysfs.read.io-bar-straddle", p_io_read_straddle, 0, "read() four bytes from two before the end of the I/O BAR" },
	{ "devmem.revoke.bar-on-bind", p_devmem_revoke, 0, "map the idle BAR through /dev/mem, bind its driver, touch the mapping" },
	{ "pcisysfs.revoke.bar-on-bind", p_pcisysfs_revoke, 0, "map resourceN of the idle device, bind its driver, touch the mapping" },
	{ "devmem.revoke.private-cow", p_devmem_revoke_private, 0, "MAP_PRIVATE the idle BAR, write it, bind its driver, touch the private copy" },
	{ "devmem.revoke.forked-child", p_devmem_revoke_child, 0, "a forked child holds the /dev/mem mapping of the idle BAR; bind its driver; the child touches it" },
	{ "devmem.mmap.bound-bar", p_devmem_mmap_bound_bar, 0, "mmap() the spare device's BAR through /dev/mem with its driver bound" },
	{ "pcisysfs.mmap.bound-bar", p_pcisysfs_mmap_bound_bar, 0, "mmap() resourceN of the spare device with its driver bound" },
};

#define NPROBES (sizeof(probes) / sizeof(probes[0]))

/* ------------------------------------------------------------------ */
/* running: one child per probe                                        */

static int kmsg_fd = -1;
static const char *stall_at; /* --stall NAME */
static const char *crash_at; /* --crash NAME */

static void kmsg(const char *fmt, ...)
{
	char line[300];
	va_list ap;

	if (kmsg_fd < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (write(kmsg_fd, line, strlen(line)) < 0) {
		/* nothing to do: the markers are a courtesy to the host */
	}
}

static void child_main(const struct probe *pr, int out)
{
	char msg[sizeof(skip_reason) + sizeof(observe_buf) + 4];
	int sig, len;

	observe_buf[0] = 0;
	skip_reason[0] = 0;
	install_fault_handlers();
	sig = sigsetjmp(fault_jmp, 1);
	if (sig == 0) {
		alarm(PROBE_TIMEOUT_S);
		pr->fn();
	} else {
		observe("outcome=%s", signame(sig));
	}
	alarm(0);
	len = snprintf(msg, sizeof(msg), "%s\n%s", skip_reason, observe_buf);
	if (write(out, msg, (size_t)len) < 0)
		_exit(3);
	_exit(0);
}

/* sysrq-c: the kernel panics ("sysrq triggered crash"), as it would under a fatal probe. */
static void crash_kernel(void)
{
	int fd = open("/proc/sys/kernel/sysrq", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "1", 1) < 0) {
			/* the trigger below says whether it worked */
		}
		close(fd);
	}
	fd = open("/proc/sysrq-trigger", O_WRONLY);
	if (fd < 0 || write(fd, "c", 1) < 0)
		printf("# crash: cannot write /proc/sysrq-trigger (errno %d)\n", errno);
	fflush(stdout);
}

static void on_parent_alarm(int sig)
{
	(void)sig; /* interrupts read() in the parent */
}

static void run_one(const struct probe *pr, int number)
{
	char msg[2048], *nl;
	const char *skip_text, *obs;
	size_t got = 0;
	int fds[2], status = 0, timed_out = 0;
	pid_t pid;

	kmsg("harness-probe: begin %d %s\n", number, pr->name);
	/* On the console too: if the guest dies now, the host knows which probe was running. */
	printf("# running: %d %s\n", number, pr->name);
	fflush(stdout);
	if (stall_at && !strcmp(stall_at, pr->name))
		sleep(600); /* self-test hook: hold this probe so a test can kill the guest under it */
	if (crash_at && !strcmp(crash_at, pr->name))
		crash_kernel(); /* self-test hook: a real kernel panic while this probe runs */
	if (pipe(fds) != 0) {
		printf("# observe: outcome=harness-error call=pipe\nnot ok %d %s\n", number, pr->name);
		return;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child_main(pr, fds[1]);
	}
	close(fds[1]);
	alarm(PROBE_TIMEOUT_S + 5);
	while (pid > 0 && got < sizeof(msg) - 1) {
		ssize_t n = read(fds[0], msg + got, sizeof(msg) - 1 - got);

		if (n > 0) {
			got += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		} else {
			break;
		}
	}
	alarm(0);
	msg[got] = 0;
	close(fds[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	kmsg("harness-probe: end %d %s\n", number, pr->name);

	nl = strchr(msg, '\n');
	if (pid < 0 || !nl) {
		/* The child died before reporting: a kernel oops kills it, so does a hang past the deadline. */
		if (timed_out)
			printf("# observe: outcome=timeout\n");
		else if (pid > 0 && WIFSIGNALED(status))
			printf("# observe: outcome=killed signal=%s\n", signame(WTERMSIG(status)));
		else
			printf("# observe: outcome=killed status=%d\n", pid < 0 ? -1 : WEXITSTATUS(status));
		printf("not ok %d %s\n", number, pr->name);
		return;
	}
	*nl = 0;
	skip_text = msg;
	obs = nl + 1;
	if (*obs)
		printf("# observe: %s\n", obs);
	if (*skip_text)
		printf("ok %d %s # SKIP %s\n", number, pr->name, skip_text);
	else
		printf("%s %d %s\n", strstr(obs, "outcome=ok") ? "ok" : "not ok", number, pr->name);
}

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

int main(int argc, char **argv)
{
	const char *only = NULL;
	struct sigaction sa;
	int count = 0, number = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--list")) {
			for (size_t j = 0; j < NPROBES; j++)
				printf("%s\t%s\t%s\n", probes[j].name, probes[j].flags & DANGEROUS ? "dangerous" : "-",
				       probes[j].what);
			return 0;
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			only = argv[++i];
		} else if (!strcmp(argv[i], "--stall") && i + 1 < argc) {
			stall_at = argv[++i];
		} else if (!strcmp(argv[i], "--crash") && i + 1 < argc) {
			crash_at = argv[++i];
		} else if (!strcmp(argv[i], "--spare-pci") && i + 1 < argc) {
			if (sscanf(argv[++i], "%x:%x", &spare_vendor, &spare_device) != 2) {
				fprintf(stderr, "devmem-probe: --spare-pci wants VVVV:DDDD, got %s\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--spare-name") && i + 1 < argc) {
			spare_name = argv[++i];
		} else if (!strcmp(argv[i], "--spare-driver") && i + 1 < argc) {
			spare_driver = argv[++i];
			if (!spare_modules_given)
				n_spare_modules = 0; /* another driver: built in unless modules are given */
		} else if (!strcmp(argv[i], "--spare-bar") && i + 1 < argc) {
			spare_bar = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--spare-module") && i + 1 < argc) {
			if (!spare_modules_given++)
				n_spare_modules = 0;
			if (n_spare_modules == MAX_SPARE_MODULES) {
				fprintf(stderr, "devmem-probe: more than %d --spare-module\n", MAX_SPARE_MODULES);
				return 2;
			}
			spare_modules[n_spare_modules++] = argv[++i];
		} else {
			fprintf(stderr,
				"usage: %s [--list] [--only NAME,...] [--spare-pci VVVV:DDDD] [--spare-name NAME]\n"
				"  [--spare-driver DRIVER] [--spare-bar N] [--spare-module PATH]...\n",
				argv[0]);
			return 2;
		}
	}
	for (size_t j = 0; j < NPROBES; j++)
		count += selected(only, probes[j].name);
	if (only && count == 0) {
		fprintf(stderr, "devmem-probe: no probe matches --only %s\n", only);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_parent_alarm;
	sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART: a timeout interrupts read() */
	setvbuf(stdout, NULL, _IOLBF, 0);
	kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	load_iomem(); /* once, before the children fork: they inherit the parsed map */
	printf("KTAP version 1\n1..%d\n", count);
	for (size_t j = 0; j < NPROBES; j++)
		if (selected(only, probes[j].name))
			run_one(&probes[j], ++number);
	return 0;
}
