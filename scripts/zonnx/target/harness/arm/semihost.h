/*
 * ARM semihosting (bkpt 0xAB on M-profile): the host debugger or QEMU does
 * the I/O. Only what the harness needs.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ZONNX_SEMIHOST_H_
#define ZONNX_SEMIHOST_H_

#include <stddef.h>

int sh_open(const char *path, int mode);        /* mode: 1 = "rb", 5 = "wb" */
int sh_read(int fd, void *buf, size_t n);        /* 0 when all n bytes were read */
int sh_write(int fd, const void *buf, size_t n); /* 0 when all n bytes were written */
void sh_close(int fd);
void sh_puts(const char *s);
void sh_put_hex(const char *label, unsigned long v);
void sh_exit(int code) __attribute__((noreturn));

#endif /* ZONNX_SEMIHOST_H_ */
