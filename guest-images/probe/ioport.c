// SPDX-License-Identifier: GPL-2.0-only
/*
 * ioperm() and iopl() (arch/x86/kernel/ioport.c): the other way to port I/O
 * besides /dev/port, behind CAP_SYS_RAWIO and LOCKDOWN_IOPORT.  A granted port
 * is then read with IN from user space; a port not granted (the neighbour of a
 * granted one, any port before a grant) must raise #GP, which arrives as SIGSEGV.
 * iopl(3) is emulated through the same I/O bitmap since v5.5 (X86_IOPL_IOPERM).
 */
#include <sys/io.h>

#include "probe.h"

#define POST_PORT 0x80

/* IN from `port` in this process; 0 or the signal the CPU raised. */
static int inb_port(unsigned short port, unsigned char *value)
{
	sigjmp_buf outer;
	int sig;

	memcpy(outer, fault_jmp, sizeof(outer));
	sig = sigsetjmp(fault_jmp, 1);
	if (sig == 0)
		*value = inb(port);
	memcpy(fault_jmp, outer, sizeof(outer));
	return sig;
}

static void observe_in(const char *how, unsigned short port)
{
	unsigned char v = 0;
	int sig = inb_port(port, &v);

	if (sig)
		observe("outcome=%s call=inb %s port=0x%x", signame(sig), how, port);
	else
		observe("outcome=ok call=inb %s port=0x%x value=0x%02x", how, port, v);
}

/* ioperm(from, num, 1), then IN from `port` if it was granted. */
static void ioperm_then_in(unsigned long from, unsigned long num, unsigned short port, int without_rawio)
{
	char how[64];

	if (without_rawio && drop_or_skip(CAP_SYS_RAWIO, "CAP_SYS_RAWIO") < 0)
		return;
	if (ioperm(from, num, 1) < 0) {
		observe("outcome=%s call=ioperm from=0x%lx num=%lu", errname(errno), from, num);
		return;
	}
	snprintf(how, sizeof(how), "after=ioperm from=0x%lx num=%lu", from, num);
	observe_in(how, port);
}

void p_ioport_ioperm_0x80(void)
{
	ioperm_then_in(POST_PORT, 1, POST_PORT, 0);
}

void p_ioport_ioperm_no_rawio(void)
{
	ioperm_then_in(POST_PORT, 1, POST_PORT, 1);
}

/* Port 0x80 granted, 0x81 read: the bitmap must grant exactly what was asked. */
void p_ioport_ioperm_neighbour(void)
{
	ioperm_then_in(POST_PORT, 1, POST_PORT + 1, 0);
}

/* Two ports from 65535: past the bitmap's 65536 bits (-EINVAL). */
void p_ioport_ioperm_past_65535(void)
{
	ioperm_then_in(65535, 2, 0xffff, 0);
}

/* IN without any grant: the I/O bitmap (or its absence) refuses it with #GP. */
void p_ioport_in_without_grant(void)
{
	observe_in("after=nothing", POST_PORT);
}

void p_ioport_iopl_3(void)
{
	if (iopl(3) < 0) {
		observe("outcome=%s call=iopl level=3", errname(errno));
		return;
	}
	observe_in("after=iopl level=3", POST_PORT);
}

void p_ioport_iopl_no_rawio(void)
{
	if (drop_or_skip(CAP_SYS_RAWIO, "CAP_SYS_RAWIO") < 0)
		return;
	if (iopl(3) < 0)
		observe("outcome=%s call=iopl level=3", errname(errno));
	else
		observe_in("after=iopl level=3", POST_PORT);
}
