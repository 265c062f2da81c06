// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/mem at the edges of its checks: ranges that straddle a policy edge, or
 * start or end one byte or one page from it (low RAM's last page, 1 MiB, the
 * end of RAM, a busy window, the CPU's physical limit), and what mm lets a
 * /dev/mem mapping become (grown, made writable, dropped).
 */
#include "probe.h"

/*
 * The page where RAM below 640 KiB ends, which is only partly RAM (System RAM up to
 * 0x9fbff, then a reserved EBDA): devmem_is_allowed() counts any RAM in a page, so
 * read() shows it as zeros.  A cookie planted through a mapping (mmap allows that
 * page for real) tells zeros that hide data from zeros that are data; restored after.
 */
void p_devmem_read_low_ram_edge(void)
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
void p_devmem_read_unaligned_span(void)
{
	const struct region *r = find_region("System RAM", LOW_1M, ~0UL);

	devmem_read(r, "System RAM above 1M", r ? page_up(r->start) - 8 : 0, 16);
}

/* One read() over the last RAM page and the page after it: past high_memory, refused whole. */
void p_devmem_read_span_end_of_ram(void)
{
	const struct region *r = last_ram();

	devmem_read(r, "System RAM", r ? ((r->end + 1) & ~(PAGE - 1)) - PAGE : 0, 2 * PAGE);
}

/*
 * write() into a page of this very process through /dev/mem: RAM above 1 MiB whose
 * content the probe owns, so a write that gets through is seen and harms nothing.
 */
void p_devmem_write_own_page(void)
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
void p_devmem_write_past_end(void)
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
void p_devmem_mmap_span_rom_ram(void)
{
	const struct region *r = find_region("System RAM", LOW_1M, ~0UL);

	devmem_map(r, "System RAM above 1M", r ? page_up(r->start) - PAGE : 0, 2 * PAGE, 1);
}

/* One mapping of the last RAM page (denied) and the reserved page after it (allowed). */
void p_devmem_mmap_span_ram_end(void)
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
void p_devmem_mmap_page_before_busy(void)
{
	const struct region *r = ecam();

	devmem_map(r, "PCI ECAM/MMCONFIG region", r ? r->start - PAGE : 0, PAGE, 1);
}

/* The page just above the busy ECAM window: not busy itself, so mappable. */
void p_devmem_mmap_page_after_busy(void)
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

void p_devmem_mmap_last_phys_page(void)
{
	map_phys_limit(1);
}

void p_devmem_mmap_span_phys_limit(void)
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
void p_devmem_mremap_grow(void)
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
void p_devmem_mprotect_write(void)
{
	on_rom_page(make_writable, "mprotect prot=rw open=rdonly");
}

/* madvise(MADV_DONTNEED) on a /dev/mem mapping (VM_PFNMAP). */
void p_devmem_madvise_dontneed(void)
{
	on_rom_page(drop_pages, "madvise advice=MADV_DONTNEED");
}
