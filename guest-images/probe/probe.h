/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * devmem-probe: in-guest observer of user access to physical memory.
 *
 * Each probe performs one access through a door to physical memory or I/O ports
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
 * One file per door (devmem.c and devmem_boundaries.c, devport.c, pci_sysfs.c,
 * pci_procfs.c, ioport.c for ioperm()/iopl(), kcore.c for /proc/kcore and
 * /dev/kmem, secretmem.c for memfd_secret() pages seen through the others;
 * revoke.c for the experiment that spans /dev/mem, PCI sysfs and procfs), the shared
 * parts behind this header (runner.c: a child per probe, deadlines, kmsg
 * markers, KTAP; observe.c: an access and its observation; targets.c: what
 * /proc/iomem and sysfs offer), and one catalogue (catalogue.c).  Targets come
 * from the guest's own /proc/iomem and sysfs, never from hard-coded addresses.
 *
 * Usage: devmem-probe [--list] [--only NAME[,NAME...]] [--spare-pci VVVV:DDDD]
 */
#ifndef DEVMEM_PROBE_H
#define DEVMEM_PROBE_H

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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
#define LOW_1M 0x100000UL
#define PROBE_TIMEOUT_S 10
#define MAX_REGIONS 256
#define MAX_SPARE_MODULES 8
#define OBSERVE_MAX 1024
#define SKIP_MAX 600

#define DEVMEM "/dev/mem"
#define DEVPORT "/dev/port"

/* Probe flags. */
#define DANGEROUS 1 /* touches the BIOS area or low RAM: can take a confidential guest down */

/* ------------------------------------------------------------------ */
/* the catalogue (catalogue.c)                                         */

struct probe {
	const char *name;
	void (*fn)(void);
	unsigned flags;
	const char *what;
};

extern const struct probe probes[];
extern const size_t nprobes;

/* ------------------------------------------------------------------ */
/* an access and its observation (observe.c)                           */

extern char observe_buf[OBSERVE_MAX]; /* filled in the child, printed by the parent */
extern char skip_reason[SKIP_MAX];
extern sigjmp_buf fault_jmp;          /* the probe's recovery point: a fault during it is its outcome */

void observe(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void skip(const char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *errname(int e);
const char *signame(int sig);
void install_fault_handlers(void);
int touch(volatile uint32_t *p, uint32_t *value, int write);
int touch_read(volatile uint32_t *p, uint32_t *value);
int all_zero(const unsigned char *buf, size_t len);
int open_or_skip(const char *path, int flags);
void read_at(int fd, unsigned long addr, size_t len);
void map_and_touch(int fd, unsigned long offset, const char *what);
int drop_or_skip(int cap, const char *what);
void map_span(int fd, unsigned long offset, size_t len, int touch);
void open_node(const char *path, int without_rawio);

/* ------------------------------------------------------------------ */
/* targets (targets.c)                                                 */

struct region {
	unsigned long start, end;
	int depth;
	char name[96];
};

void load_iomem(void);
const struct region *find_region(const char *name, unsigned long min, unsigned long max);
const struct region *last_ram(void);
const struct region *find_region_prefix(const char *prefix);
int phys_bits(void);
unsigned long own_phys(const void *va);

static inline unsigned long page_up(unsigned long a)
{
	return (a + PAGE - 1) & ~(PAGE - 1);
}

/* A probe without its region records no-target and returns. */
#define NEED_REGION(r, what)                                          \
	do {                                                          \
		if (!(r)) {                                           \
			observe("outcome=no-target target=\"%s\"", what); \
			return;                                       \
		}                                                     \
	} while (0)

/* The spare PCI device (added by the harness: harness/data/spares.yaml) and its driver. */
struct spare {
	char dev[256];    /* e.g. 0000:00:02.0 */
	char driver[256]; /* bound driver or "" */
	int mem_bar, io_bar;
	unsigned long mem_start, mem_end, io_start, io_end;
};

extern unsigned int spare_vendor, spare_device;
extern const char *spare_name, *spare_driver;
extern int spare_bar;
extern const char *spare_modules[MAX_SPARE_MODULES];
extern int n_spare_modules, spare_modules_given;

int find_spare(struct spare *s);
int spare_bind(struct spare *s);
int spare_in_state(struct spare *s, int bound);

/* ------------------------------------------------------------------ */
/* the doors: the probes, and the shapes their files share             */

/* devmem.c */
void devmem_read(const struct region *r, const char *what, unsigned long addr, size_t len);
void devmem_map(const struct region *r, const char *what, unsigned long offset, size_t len, int touch);
void p_devmem_open(void); void p_devmem_open_no_rawio(void); void p_devmem_read_low_ram(void);
void p_devmem_read_bios_rom(void); void p_devmem_read_high_ram(void); void p_devmem_read_past_end(void);
void p_devmem_read_span(void); void p_devmem_write_low_ram(void); void p_devmem_mmap_low_ram(void);
void p_devmem_mmap_smbios(void); void p_devmem_mmap_private(void); void p_devmem_mmap_high_ram(void);
void p_devmem_mmap_overflow(void); void p_devmem_mmap_beyond_phys(void); void p_devmem_mmap_idle_bar(void);
void p_devmem_mmap_bound_bar(void); void p_devmem_mmap_busy_mmio(void);

/* devmem_boundaries.c */
void p_devmem_read_low_ram_edge(void); void p_devmem_read_unaligned_span(void);
void p_devmem_read_span_end_of_ram(void); void p_devmem_write_own_page(void);
void p_devmem_write_past_end(void); void p_devmem_mmap_span_rom_ram(void);
void p_devmem_mmap_span_ram_end(void); void p_devmem_mmap_page_before_busy(void);
void p_devmem_mmap_page_after_busy(void); void p_devmem_mmap_last_phys_page(void);
void p_devmem_mmap_span_phys_limit(void); void p_devmem_mremap_grow(void); void p_devmem_mprotect_write(void);
void p_devmem_madvise_dontneed(void);

/* revoke.c */
void p_devmem_revoke(void); void p_pcisysfs_revoke(void); void p_devmem_revoke_private(void);
void p_devmem_revoke_child(void);

/* devport.c */
void p_devport_open(void); void p_devport_open_no_rawio(void); void p_devport_read_0x80(void);
void p_devport_write_0x80(void); void p_devport_read_past_end(void); void p_devport_write_past_end(void);
void p_devport_read_straddle_end(void); void p_devport_read_position(void);

/* pci_sysfs.c */
void p_pcisysfs_read_config(void); void p_pcisysfs_write_config(void); void p_pcisysfs_mmap_idle_bar(void);
void p_pcisysfs_mmap_bound_bar(void); void p_pcisysfs_read_config_no_admin(void);
void p_pcisysfs_mmap_last_bar_page(void); void p_pcisysfs_mmap_past_bar_end(void);
void p_io_read_at_end(void); void p_io_read_straddle(void); void p_io_read_1(void); void p_io_read_2(void);
void p_io_read_4(void); void p_io_read_3(void); void p_io_write_1(void); void p_io_write_2(void);
void p_io_write_4(void); void p_io_write_3(void); void p_pcisysfs_read_rom(void);
void p_pcisysfs_mmap_wc_bar(void); void p_pcisysfs_mmap_wc_past_end(void);

/* pci_procfs.c */
void procfs_path(const struct spare *s, char *path, size_t size);
void p_pciprocfs_read_config(void); void p_pciprocfs_read_config_no_admin(void); void p_pciprocfs_write_config(void);
void p_pciprocfs_ioctl_mmap_is_mem(void); void p_pciprocfs_ioctl_write_combine(void);
void p_pciprocfs_mmap_idle_bar(void); void p_pciprocfs_mmap_bound_bar(void); void p_pciprocfs_mmap_no_rawio(void);
void p_pciprocfs_mmap_no_ioctl(void); void p_pciprocfs_mmap_last_bar_page(void);
void p_pciprocfs_mmap_past_bar_end(void); void p_pciprocfs_revoke(void); void p_pciprocfs_revoke_private(void);
void p_pciprocfs_revoke_child(void);

/* ioport.c */
void p_ioport_ioperm_0x80(void); void p_ioport_ioperm_no_rawio(void); void p_ioport_ioperm_neighbour(void);
void p_ioport_ioperm_past_65535(void); void p_ioport_in_without_grant(void); void p_ioport_iopl_3(void);
void p_ioport_iopl_no_rawio(void);

/* kcore.c */
ssize_t kcore_read_phys(unsigned long phys, unsigned char *buf, size_t len);
void p_kcore_open(void); void p_kcore_open_no_rawio(void); void p_kcore_read_own_page(void);
void p_devkmem_open(void);

/* secretmem.c */
void p_secretmem_devmem_read(void); void p_secretmem_devmem_mmap(void); void p_secretmem_kcore_read(void);

#endif
