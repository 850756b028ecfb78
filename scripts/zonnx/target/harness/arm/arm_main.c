/*
 * Bare-metal harness: streams records from in.bin to out.bin over
 * semihosting (see io_loop.h) through -DZONNX_MODEL_SYM.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../io_loop.h"
#include "semihost.h"

extern const struct zonnx_model ZONNX_MODEL_SYM;

static uint8_t io_buf[ZONNX_IO_BYTES > 0 ? ZONNX_IO_BYTES : 1] ZONNX_ALIGNED(16);

/* The instruction-count plugin records its counter whenever this runs. */
__attribute__((noinline, used)) void zonnx_mark(void)
{
	__asm__ volatile("" ::: "memory");
}

static int rd(void *ctx, void *buf, size_t n)
{
	return sh_read(*(int *)ctx, buf, n) == 0 ? 0 : -1;
}

static int wr(void *ctx, const void *buf, size_t n)
{
	return sh_write(*(int *)ctx, buf, n) == 0 ? 0 : -1;
}

int main(void)
{
	int fi = sh_open("in.bin", 1);
	int fo = sh_open("out.bin", 5);
	int rc;

	if (fi < 0 || fo < 0) {
		sh_puts("zonnx: cannot open in.bin/out.bin over semihosting\n");
		return ZONNX_HARNESS_IO_FAILED;
	}
	rc = zonnx_io_loop(&ZONNX_MODEL_SYM, io_buf, sizeof(io_buf), rd, &fi, wr, &fo,
			   zonnx_mark);
	sh_close(fi);
	sh_close(fo);
	if (rc != ZONNX_HARNESS_OK) {
		if (rc == ZONNX_HARNESS_RUN_FAILED) {
			sh_puts("zonnx: model run failed: ");
			sh_puts(zonnx_status_str(zonnx_io_run_status));
			sh_puts("\n");
		} else {
			sh_puts("zonnx: I/O failed\n");
		}
	}
	return rc;
}
