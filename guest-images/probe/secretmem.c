// SPDX-License-Identifier: GPL-2.0-only
/*
 * Secret memory (mm/secretmem.c, memfd_secret(), v5.14): its pages are removed
 * from the kernel's direct map, so no kernel path should reach them.  /dev/mem
 * read() goes through the direct map with copy_from_kernel_nofault() (a fault,
 * EFAULT); mmap_mem() maps the page frame itself and would show the secret, which
 * only STRICT_DEVMEM (all RAM above 1 MiB refused) stops; /proc/kcore reads zeros through the direct map.
 */
#include "probe.h"

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

static const char secret[] = "devmem-probe secretmem cookie";

/* A page of secret memory holding the cookie, and its physical address; NULL with the observation recorded. */
static unsigned char *secret_page(unsigned long *phys)
{
	unsigned char *p;
	int fd = (int)syscall(SYS_memfd_secret, 0);

	if (fd < 0) {
		observe("outcome=no-target call=memfd_secret errno=%s target=\"secret memory\"", errname(errno));
		return NULL;
	}
	if (ftruncate(fd, PAGE) < 0 ||
	    (p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		observe("outcome=no-target call=mmap-secret errno=%s target=\"secret memory\"", errname(errno));
		close(fd);
		return NULL;
	}
	close(fd);
	memcpy(p, secret, sizeof(secret));
	if (!(*phys = own_phys(p))) {
		observe("outcome=no-target target=\"the secret page in /proc/self/pagemap\"");
		munmap(p, PAGE);
		return NULL;
	}
	return p;
}

static const char *classify(const unsigned char *got, size_t n)
{
	if (n == sizeof(secret) && !memcmp(got, secret, sizeof(secret)))
		return "secret";
	return all_zero(got, n) ? "zeros" : "other";
}

void p_secretmem_devmem_read(void)
{
	unsigned char got[sizeof(secret)], *p;
	unsigned long phys;
	ssize_t n;
	int fd;

	if (!(p = secret_page(&phys)))
		return;
	if ((fd = open_or_skip(DEVMEM, O_RDONLY)) >= 0) {
		n = pread(fd, got, sizeof(got), (off_t)phys);
		if (n < 0)
			observe("outcome=%s call=pread len=%zu ret=-1", errname(errno), sizeof(got));
		else
			observe("outcome=ok call=pread len=%zu ret=%zd data=%s", sizeof(got), n,
				classify(got, (size_t)n));
		close(fd);
	}
	munmap(p, PAGE);
}

void p_secretmem_devmem_mmap(void)
{
	volatile unsigned char *m;
	unsigned char got[(sizeof(secret) + 3) & ~3UL], *p; /* read word by word */
	unsigned long phys;
	int fd, sig = 0;

	if (!(p = secret_page(&phys)))
		return;
	if ((fd = open_or_skip(DEVMEM, O_RDONLY)) >= 0) {
		m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, (off_t)phys);
		if (m == MAP_FAILED) {
			observe("outcome=%s call=mmap", errname(errno));
		} else {
			for (size_t i = 0; i < sizeof(got) && !sig; i += 4)
				sig = touch_read((volatile uint32_t *)(m + i), (uint32_t *)(got + i));
			if (sig)
				observe("outcome=%s call=mmap touch=read", signame(sig));
			else
				observe("outcome=ok call=mmap touch=read data=%s", classify(got, sizeof(secret)));
			munmap((void *)m, PAGE);
		}
		close(fd);
	}
	munmap(p, PAGE);
}

/*
 * Through /proc/kcore's direct-map segment: zeros, the page has left the direct map.  (Its alias in the
 * kernel image's own mapping, when the page reuses freed init memory, is not probed here: whether the
 * page lands there changes from boot to boot, and a verdict must not.)
 */
void p_secretmem_kcore_read(void)
{
	unsigned char got[sizeof(secret)], *p;
	unsigned long phys;
	ssize_t n;

	if (!(p = secret_page(&phys)))
		return;
	if ((n = kcore_read_phys(phys, got, sizeof(got))) >= 0)
		observe("outcome=ok call=pread path=/proc/kcore len=%zu ret=%zd data=%s", sizeof(got), n,
			classify(got, (size_t)n));
	munmap(p, PAGE);
}
