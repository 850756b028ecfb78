/*
 * Helpers shared by generated kernels. Header-only and static inline so a
 * model pays only for what its kernels use.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ZONNX_KERNEL_UTIL_H_
#define ZONNX_KERNEL_UTIL_H_

#include <stdint.h>

#include "zonnx/libm.h"

#define ZONNX_INF ((float)INFINITY)
#define ZONNX_NAN ((float)NAN)

static inline float zonnx_maxf(float a, float b)
{
	/* NaN propagates, like ONNX Max/Relu reference behaviour. */
	return (a != a) ? a : ((a > b) ? a : b);
}

static inline float zonnx_minf(float a, float b)
{
	return (a != a) ? a : ((a < b) ? a : b);
}

static inline float zonnx_sigmoidf(float x)
{
	/* Split by sign so expf never overflows. */
	if (x >= 0.0f) {
		return 1.0f / (1.0f + expf(-x));
	}
	float e = expf(x);
	return e / (1.0f + e);
}

static inline int32_t zonnx_clamp_i32(int64_t v, int32_t lo, int32_t hi)
{
	return (v < lo) ? lo : ((v > hi) ? hi : (int32_t)v);
}

#endif /* ZONNX_KERNEL_UTIL_H_ */
