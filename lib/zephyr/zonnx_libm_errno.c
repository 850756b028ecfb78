/*
 * The toolchain's libm (CONFIG_ZONNX_TOOLCHAIN_LIBM) sets errno through
 * newlib's __errno(); with Zephyr's minimal libc that is Zephyr's errno.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>

int *__errno(void);

int *__errno(void)
{
	return &errno;
}
