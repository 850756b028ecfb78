/*
 * Checked entry point for generated models and descriptor helpers.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "zonnx/zonnx.h"

/* Upper bound on model I/O count: keeps the pointer tables on the stack bounded. */
#define ZONNX_MAX_IO 16

#ifdef ZONNX_LOG
#define REJECT(status, what, index) \
	do { zonnx_log_error(model, (status), (what), (index)); return (status); } while (0)
#else
#define REJECT(status, what, index) return (status)
#endif

#ifdef ZONNX_INPUT_CHECKS
/* NaN and infinity fail (x - x) == 0. */
static int finite_f32(const void *data, size_t n)
{
	const float *v = (const float *)data;
	size_t k;

	for (k = 0; k < n; k++) {
		if (!(v[k] - v[k] == 0.0f)) {
			return 0;
		}
	}
	return 1;
}
#endif

int zonnx_model_run(const struct zonnx_model *model,
		    const struct zonnx_buffer *inputs, size_t n_inputs,
		    const struct zonnx_buffer *outputs, size_t n_outputs)
{
	const void *in[ZONNX_MAX_IO];
	void *out[ZONNX_MAX_IO];
	size_t i;

	if (model == NULL || model->run == NULL) {
		return ZONNX_ERR_NULL;
	}
	if ((n_inputs > 0 && inputs == NULL) || (n_outputs > 0 && outputs == NULL)) {
		REJECT(ZONNX_ERR_NULL, "buffer array", 0);
	}
	if (n_inputs != model->n_inputs || n_outputs != model->n_outputs ||
	    n_inputs > ZONNX_MAX_IO || n_outputs > ZONNX_MAX_IO) {
		REJECT(ZONNX_ERR_COUNT, "buffer count", n_inputs);
	}
	for (i = 0; i < n_inputs; i++) {
		if (inputs[i].data == NULL) {
			REJECT(ZONNX_ERR_NULL, "input", i);
		}
		if (inputs[i].bytes != model->inputs[i].bytes) {
			REJECT(ZONNX_ERR_SIZE, "input", i);
		}
#ifdef ZONNX_INPUT_CHECKS
		if (model->inputs[i].dtype == ZONNX_FLOAT32 &&
		    !finite_f32(inputs[i].data, model->inputs[i].elements)) {
			REJECT(ZONNX_ERR_INPUT, "input", i);
		}
#endif
		in[i] = inputs[i].data;
	}
	for (i = 0; i < n_outputs; i++) {
		if (outputs[i].data == NULL) {
			REJECT(ZONNX_ERR_NULL, "output", i);
		}
		if (outputs[i].bytes != model->outputs[i].bytes) {
			REJECT(ZONNX_ERR_SIZE, "output", i);
		}
		out[i] = outputs[i].data;
	}
	return model->run(in, out);
}

size_t zonnx_dtype_size(enum zonnx_dtype dtype)
{
	switch (dtype) {
	case ZONNX_UINT8:
	case ZONNX_INT8:
	case ZONNX_BOOL:
		return 1;
	case ZONNX_UINT16:
	case ZONNX_INT16:
		return 2;
	case ZONNX_FLOAT32:
	case ZONNX_INT32:
	case ZONNX_UINT32:
		return 4;
	case ZONNX_INT64:
	case ZONNX_UINT64:
	case ZONNX_FLOAT64:
		return 8;
	default:
		return 0;
	}
}

const char *zonnx_dtype_name(enum zonnx_dtype dtype)
{
	switch (dtype) {
	case ZONNX_FLOAT32: return "float32";
	case ZONNX_UINT8: return "uint8";
	case ZONNX_INT8: return "int8";
	case ZONNX_UINT16: return "uint16";
	case ZONNX_INT16: return "int16";
	case ZONNX_INT32: return "int32";
	case ZONNX_INT64: return "int64";
	case ZONNX_BOOL: return "bool";
	case ZONNX_FLOAT64: return "float64";
	case ZONNX_UINT32: return "uint32";
	case ZONNX_UINT64: return "uint64";
	default: return "unknown";
	}
}

const char *zonnx_status_str(int status)
{
	switch (status) {
	case ZONNX_OK: return "ok";
	case ZONNX_ERR_NULL: return "NULL pointer";
	case ZONNX_ERR_COUNT: return "wrong number of buffers";
	case ZONNX_ERR_SIZE: return "buffer size does not match the tensor";
	case ZONNX_ERR_INPUT: return "input rejected";
	case ZONNX_ERR_INTERNAL: return "internal error";
	case ZONNX_ERR_BACKEND: return "CMSIS-NN kernel refused the call";
	default: return "unknown status";
	}
}
