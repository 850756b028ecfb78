/*
 * Host harness: `prog IN OUT` streams records (see io_loop.h) through the
 * model named by -DZONNX_MODEL_SYM, with -DZONNX_IO_BYTES of static I/O.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>

#include "io_loop.h"

extern const struct zonnx_model ZONNX_MODEL_SYM;

static uint8_t io_buf[ZONNX_IO_BYTES > 0 ? ZONNX_IO_BYTES : 1] ZONNX_ALIGNED(16);

static int file_read(void *ctx, void *buf, size_t n)
{
	return (n == 0 || fread(buf, 1, n, (FILE *)ctx) == n) ? 0 : -1;
}

static int file_write(void *ctx, const void *buf, size_t n)
{
	return (n == 0 || fwrite(buf, 1, n, (FILE *)ctx) == n) ? 0 : -1;
}

int main(int argc, char **argv)
{
	FILE *fi, *fo;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
		return 2;
	}
	fi = fopen(argv[1], "rb");
	fo = fopen(argv[2], "wb");
	if (fi == NULL || fo == NULL) {
		fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
		return ZONNX_HARNESS_IO_FAILED;
	}
	rc = zonnx_io_loop(&ZONNX_MODEL_SYM, io_buf, sizeof(io_buf), file_read, fi,
			   file_write, fo, NULL);
	if (rc != ZONNX_HARNESS_OK) {
		if (rc == ZONNX_HARNESS_RUN_FAILED) {
			fprintf(stderr, "zonnx harness: model run failed: %s (%d)\n",
				zonnx_status_str(zonnx_io_run_status), zonnx_io_run_status);
		} else {
			fprintf(stderr, "zonnx harness: I/O failed\n");
		}
	}
	fclose(fi);
	if (fclose(fo) != 0 && rc == ZONNX_HARNESS_OK) {
		rc = ZONNX_HARNESS_IO_FAILED;
	}
	return rc;
}
