// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/port (drivers/char/mem.c): open with and without CAP_SYS_RAWIO, one-byte
 * reads and writes of port 0x80, and the file's end at port 65535.
 */
#include "probe.h"

void p_devport_open(void)
{
	open_node(DEVPORT, 0);
}

void p_devport_open_no_rawio(void)
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

void p_devport_read_0x80(void)
{
	devport_io(0, 0x80);
}

void p_devport_write_0x80(void)
{
	devport_io(1, 0x80); /* the POST code port: writing it is what BIOSes do */
}

void p_devport_read_past_end(void)
{
	devport_io(0, 65536);
}

/* One write() at offset 65536: write_port() stops at the last port and writes nothing. */
void p_devport_write_past_end(void)
{
	devport_io(1, 65536);
}

/* One pread() of two bytes at port 65535: the last port is read, the call stops there. */
void p_devport_read_straddle_end(void)
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
void p_devport_read_position(void)
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
