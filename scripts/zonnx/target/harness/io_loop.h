/*
 * Record stream shared by every target harness: a little-endian uint32 record
 * count, then per record every input's bytes in model order. The harness
 * answers with every output's bytes per record. Ports supply the byte I/O.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ZONNX_IO_LOOP_H_
#define ZONNX_IO_LOOP_H_

#include <stddef.h>
#include <stdint.h>

#include "zonnx/zonnx.h"

/* Read exactly n bytes (0 on success); write n bytes (0 on success). */
typedef int (*zonnx_read_fn)(void *ctx, void *buf, size_t n);
typedef int (*zonnx_write_fn)(void *ctx, const void *buf, size_t n);

/* Exit codes of the harness programs. */
#define ZONNX_HARNESS_OK 0
#define ZONNX_HARNESS_RUN_FAILED 3
#define ZONNX_HARNESS_IO_FAILED 4

/* Called right before and right after every inference (may be NULL): the
 * instruction counters measure what runs between two calls. */
typedef void (*zonnx_mark_fn)(void);

/** The zonnx status of the run that made zonnx_io_loop() return ZONNX_HARNESS_RUN_FAILED. */
extern int zonnx_io_run_status;

/* Runs every record through @p model using @p io (io_bytes long, 16-aligned). */
int zonnx_io_loop(const struct zonnx_model *model, uint8_t *io, size_t io_bytes,
		  zonnx_read_fn rd, void *rctx, zonnx_write_fn wr, void *wctx,
		  zonnx_mark_fn mark);

#endif /* ZONNX_IO_LOOP_H_ */
