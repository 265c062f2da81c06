// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel's own views of memory: /proc/kcore (fs/proc/kcore.c), an ELF core
 * of the direct map and so of all RAM, behind CAP_SYS_RAWIO and LOCKDOWN_KCORE
 * (confidentiality lockdown only); and /dev/kmem (drivers/char/mem.c, removed in
 * v5.13, never built by Debian), which must not exist or must refuse as /dev/mem.
 */
#include <elf.h>

#include "probe.h"

#define KCORE "/proc/kcore"
#define DEVKMEM "/dev/kmem"

void p_kcore_open(void)
{
	int fd = open(KCORE, O_RDONLY);

	if (fd < 0) {
		observe("outcome=%s call=open path=" KCORE, errname(errno));
		return;
	}
	observe("outcome=ok call=open path=" KCORE);
	close(fd);
}

void p_kcore_open_no_rawio(void)
{
	if (drop_or_skip(CAP_SYS_RAWIO, "CAP_SYS_RAWIO") < 0)
		return;
	p_kcore_open();
}

/* Kernel-image addresses (__START_KERNEL_map and up): KCORE_TEXT, whose freed init pages alias RAM. */
#define KERNEL_IMAGE_VA 0xffffffff80000000UL

/*
 * Read `len` bytes of physical memory `phys` through /proc/kcore's direct map: the KCORE_RAM PT_LOAD
 * segment (p_paddr = __pa() of its start) that covers it.  Never the KCORE_TEXT segment, which also
 * covers freed init memory the page allocator reuses, through the kernel image's own mapping.
 * Returns the bytes read, or -1 with the observation recorded.
 */
ssize_t kcore_read_phys(unsigned long phys, unsigned char *buf, size_t len)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	ssize_t n;
	int fd = open_or_skip(KCORE, O_RDONLY);

	if (fd < 0)
		return -1;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG)) {
		observe("outcome=%s call=pread step=elf-header", errno ? errname(errno) : "EBADMSG");
		close(fd);
		return -1;
	}
	for (int i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (unsigned long)i * eh.e_phentsize)) != sizeof(ph))
			break;
		if (ph.p_type != PT_LOAD || ph.p_paddr == (Elf64_Addr)-1 || phys < ph.p_paddr ||
		    phys + len > ph.p_paddr + ph.p_memsz || ph.p_vaddr >= KERNEL_IMAGE_VA)
			continue;
		n = pread(fd, buf, len, (off_t)(ph.p_offset + (phys - ph.p_paddr)));
		if (n < 0)
			observe("outcome=%s call=pread path=" KCORE " len=%zu", errname(errno), len);
		close(fd);
		return n;
	}
	close(fd);
	observe("outcome=no-target target=\"a RAM segment of " KCORE " covering 0x%lx\"", phys);
	return -1;
}

/* The probe's own page, holding a cookie, read back through /proc/kcore: the kernel's view of all RAM. */
void p_kcore_read_own_page(void)
{
	static const char cookie[] = "devmem-probe kcore cookie";
	unsigned char *page = aligned_alloc(PAGE, PAGE), got[sizeof(cookie)];
	unsigned long phys;
	ssize_t n;

	memset(page, 0, PAGE);
	memcpy(page, cookie, sizeof(cookie));
	phys = own_phys(page);
	if (!phys) {
		observe("outcome=no-target target=\"the probe's own page in /proc/self/pagemap\"");
		return;
	}
	n = kcore_read_phys(phys, got, sizeof(got));
	if (n >= 0)
		observe("outcome=ok call=pread path=" KCORE " len=%zu ret=%zd data=%s", sizeof(got), n,
			n == (ssize_t)sizeof(got) && !memcmp(got, cookie, sizeof(cookie)) ? "match"
			: all_zero(got, (size_t)(n > 0 ? n : 0))                          ? "zeros"
											  : "other");
	free(page);
}

void p_devkmem_open(void)
{
	open_node(DEVKMEM, 0);
}
