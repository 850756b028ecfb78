/*
 * Golden data: inputs and oracle outputs the generator embeds with a model
 * (`zonnx generate --golden N`), so firmware and tests can check kernels on
 * the device against onnx.reference.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ZONNX_GOLDEN_H_
#define ZONNX_GOLDEN_H_

#include <stddef.h>
#include <stdint.h>

#include "zonnx/zonnx.h"

#ifdef __cplusplus
extern "C" {
#endif

struct zonnx_golden {
	const struct zonnx_model *model;
	uint32_t count;                  /**< number of records */
	const void *const *inputs;       /**< per model input: count * bytes, record-major */
	const void *const *outputs;      /**< per model output: count * bytes, record-major */
	const int32_t *labels;           /**< data-set labels, or NULL */
	float rtol;
	float atol;
};

/** Pointer to input @p i of record @p r. */
const void *zonnx_golden_input(const struct zonnx_golden *g, uint32_t r, uint16_t i);

/**
 * Compare @p got (one buffer per model output) with record @p r.
 * @param max_err set to the largest absolute error (may be NULL)
 * @return number of elements outside rtol/atol (0: match), or a negative ZONNX_ERR_*
 */
long zonnx_golden_check(const struct zonnx_golden *g, uint32_t r, const void *const *got,
			float *max_err);

/** What zonnx_golden_run() found. */
struct zonnx_golden_result {
	uint32_t records;   /**< records run */
	uint32_t matched;   /**< records whose every output matched the oracle */
	uint32_t correct;   /**< records whose argmax equals the label (labels only) */
	float max_err;      /**< largest absolute error over all records */
};

/**
 * Run every golden record through zonnx_model_run(), outputs placed in
 * @p scratch (16-byte aligned, large enough for all outputs), and compare.
 * @return ZONNX_OK when all records ran (see @p res for matches),
 *         ZONNX_ERR_SIZE when @p scratch is too small, or the run's error
 */
int zonnx_golden_run(const struct zonnx_golden *g, uint8_t *scratch, size_t scratch_bytes,
		     struct zonnx_golden_result *res);

/** Index of the largest element of a float32 output (argmax for accuracy). */
int32_t zonnx_argmax_f32(const float *v, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* ZONNX_GOLDEN_H_ */
