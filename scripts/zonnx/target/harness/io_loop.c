/*
 * SPDX-License-Identifier: Apache-2.0
 */
#include "io_loop.h"

int zonnx_io_run_status = ZONNX_OK;

#define IO_MAX 16
#define IO_ALIGN(n) (((n) + 15u) & ~(size_t)15u)

int zonnx_io_loop(const struct zonnx_model *model, uint8_t *io, size_t io_bytes,
		  zonnx_read_fn rd, void *rctx, zonnx_write_fn wr, void *wctx,
		  zonnx_mark_fn mark)
{
	struct zonnx_buffer in[IO_MAX];
	struct zonnx_buffer out[IO_MAX];
	size_t used = 0;
	uint8_t hdr[4];
	uint32_t records, r;
	uint16_t i;

	if (model->n_inputs > IO_MAX || model->n_outputs > IO_MAX) {
		return ZONNX_HARNESS_IO_FAILED;
	}
	for (i = 0; i < model->n_inputs; i++) {
		in[i].data = io + used;
		in[i].bytes = model->inputs[i].bytes;
		used += IO_ALIGN(in[i].bytes);
	}
	for (i = 0; i < model->n_outputs; i++) {
		out[i].data = io + used;
		out[i].bytes = model->outputs[i].bytes;
		used += IO_ALIGN(out[i].bytes);
	}
	if (used > io_bytes || rd(rctx, hdr, 4) != 0) {
		return ZONNX_HARNESS_IO_FAILED;
	}
	records = (uint32_t)hdr[0] | ((uint32_t)hdr[1] << 8) |
		  ((uint32_t)hdr[2] << 16) | ((uint32_t)hdr[3] << 24);
	for (r = 0; r < records; r++) {
		int rc;

		for (i = 0; i < model->n_inputs; i++) {
			if (rd(rctx, in[i].data, in[i].bytes) != 0) {
				return ZONNX_HARNESS_IO_FAILED;
			}
		}
		if (mark != NULL) {
			mark();
		}
		rc = zonnx_model_run(model, in, model->n_inputs, out, model->n_outputs);
		if (mark != NULL) {
			mark();
		}
		if (rc != ZONNX_OK) {
			zonnx_io_run_status = rc;
			return ZONNX_HARNESS_RUN_FAILED;
		}
		for (i = 0; i < model->n_outputs; i++) {
			if (wr(wctx, out[i].data, out[i].bytes) != 0) {
				return ZONNX_HARNESS_IO_FAILED;
			}
		}
	}
	return ZONNX_HARNESS_OK;
}
