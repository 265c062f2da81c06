// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/mem (drivers/char/mem.c): open with and without CAP_SYS_RAWIO; read(),
 * write() and mmap() of low RAM, the System ROM, RAM above 1 MiB and past its
 * end; MAP_PRIVATE; offsets no CPU decodes; the spare device's BAR idle and
 * bound; a busy MMIO window.  The edges of the same checks are in
 * devmem_boundaries.c, revocation in revoke.c.
 */
#include "probe.h"

void p_devmem_open(void)
{
	open_node(DEVMEM, 0);
}

void p_devmem_open_no_rawio(void)
{
	open_node(DEVMEM, 1);
}

void p_devmem_read_low_ram(void)
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

void p_devmem_read_bios_rom(void)
{
	const struct region *r = find_region("System ROM", 0, LOW_1M);

	devmem_read(r, "System ROM", r ? r->start : 0, PAGE);
}

void p_devmem_read_high_ram(void)
{
	const struct region *r = find_region("System RAM", LOW_1M, ~0UL);

	devmem_read(r, "System RAM above 1M", r ? page_up(r->start) : 0, PAGE);
}

/* read_mem() refuses offsets past high_memory with EFAULT before any policy check. */
void p_devmem_read_past_end(void)
{
	const struct region *r = last_ram();

	devmem_read(r, "System RAM", r ? page_up(r->end + 1) : 0, PAGE);
}

/* One read() over the last page below RAM (allowed) and the first RAM page above 1 MiB (denied). */
void p_devmem_read_span(void)
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
void p_devmem_write_low_ram(void)
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
void p_devmem_mmap_low_ram(void)
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
void p_devmem_mmap_smbios(void)
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
void p_devmem_mmap_private(void)
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

void p_devmem_mmap_high_ram(void)
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
void p_devmem_mmap_overflow(void)
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
void p_devmem_mmap_beyond_phys(void)
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

void p_devmem_mmap_idle_bar(void)
{
	devmem_map_spare(0);
}

void p_devmem_mmap_bound_bar(void)
{
	devmem_map_spare(1);
}

/* PCI ECAM is claimed busy by the kernel: IO_STRICT_DEVMEM refuses it. */
void p_devmem_mmap_busy_mmio(void)
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



/* The common shape of the read probes: a region, /dev/mem read-only, one read, close. */
void devmem_read(const struct region *r, const char *what, unsigned long addr, size_t len)
{
	int fd;

	NEED_REGION(r, what);
	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
		return;
	read_at(fd, addr, len);
	close(fd);
}

/* The common shape of the mapping probes: a region, /dev/mem read-only, one mapping (map_span), close. */
void devmem_map(const struct region *r, const char *what, unsigned long offset, size_t len, int touch)
{
	int fd;

	NEED_REGION(r, what);
	if ((fd = open_or_skip(DEVMEM, O_RDONLY | O_SYNC)) < 0)
		return;
	map_span(fd, offset, len, touch);
	close(fd);
}
