/*
 * SPDX-License-Identifier: Apache-2.0
 */
#include "semihost.h"

#include <string.h>

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static int semihost(int op, void *arg)
{
	register int r0 __asm__("r0") = op;
	register void *r1 __asm__("r1") = arg;

	__asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
	return r0;
}

int sh_open(const char *path, int mode)
{
	unsigned long args[3];

	args[0] = (unsigned long)path;
	args[1] = (unsigned long)mode;
	args[2] = (unsigned long)strlen(path);
	return semihost(SYS_OPEN, args);
}

int sh_read(int fd, void *buf, size_t n)
{
	unsigned long args[3];

	args[0] = (unsigned long)fd;
	args[1] = (unsigned long)buf;
	args[2] = (unsigned long)n;
	return n == 0 ? 0 : semihost(SYS_READ, args);
}

int sh_write(int fd, const void *buf, size_t n)
{
	unsigned long args[3];

	args[0] = (unsigned long)fd;
	args[1] = (unsigned long)buf;
	args[2] = (unsigned long)n;
	return n == 0 ? 0 : semihost(SYS_WRITE, args);
}

void sh_close(int fd)
{
	unsigned long arg = (unsigned long)fd;

	(void)semihost(SYS_CLOSE, &arg);
}

void sh_puts(const char *s)
{
	(void)semihost(SYS_WRITE0, (void *)s);
}

void sh_put_hex(const char *label, unsigned long v)
{
	char buf[12];
	int i;

	sh_puts(label);
	buf[0] = '0';
	buf[1] = 'x';
	for (i = 0; i < 8; i++) {
		unsigned d = (unsigned)(v >> (28 - 4 * i)) & 0xfu;

		buf[2 + i] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
	}
	buf[10] = '\n';
	buf[11] = '\0';
	sh_puts(buf);
}

void sh_exit(int code)
{
	unsigned long args[2];

	args[0] = ADP_STOPPED_APPLICATION_EXIT;
	args[1] = (unsigned long)code;
	(void)semihost(SYS_EXIT_EXTENDED, args);
	for (;;) {
	}
}
