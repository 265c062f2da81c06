// SPDX-License-Identifier: GPL-2.0-only
/*
 * One access and what it showed.  The observation a probe leaves for the runner
 * (observe, skip), errno and signal names, fault containment inside the child (a
 * fault during an access becomes its outcome), and the accesses every door shares:
 * a read, a mapping touched at its ends, an open with or without a capability.
 */
#include "probe.h"

/* ------------------------------------------------------------------ */
/* observation output (filled in the child, printed by the parent)     */

char observe_buf[OBSERVE_MAX];
char skip_reason[SKIP_MAX];

void observe(const char *fmt, ...)
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
void skip(const char *why, const char *fmt, ...)
{
	va_list ap;

	observe("skip=%s", why);
	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
	va_end(ap);
}

const char *errname(int e)
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

const char *signame(int sig)
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

sigjmp_buf fault_jmp;

static void on_fault(int sig)
{
	siglongjmp(fault_jmp, sig);
}

void install_fault_handlers(void)
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
int touch(volatile uint32_t *p, uint32_t *value, int write)
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

int touch_read(volatile uint32_t *p, uint32_t *value)
{
	return touch(p, value, 0);
}


/* ------------------------------------------------------------------ */
/* the accesses every door shares                                      */

int all_zero(const unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return 0;
	return 1;
}

/* Opens `path` or records why the probe is skipped. */
int open_or_skip(const char *path, int flags)
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
void read_at(int fd, unsigned long addr, size_t len)
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

/* mmap one page at `offset` of `fd` and read a word through it. */
void map_and_touch(int fd, unsigned long offset, const char *what)
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
int drop_or_skip(int cap, const char *what)
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
void map_span(int fd, unsigned long offset, size_t len, int touch)
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

/* open() a device node read-write, after dropping CAP_SYS_RAWIO if asked. */
void open_node(const char *path, int without_rawio)
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
