/*
 * Per-node profiling (Zephyr: CONFIG_ZONNX_PROFILE). Generated code calls
 * zonnx_profile_begin()/end() around every node; these read the tables.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ZONNX_PROFILE_H_
#define ZONNX_PROFILE_H_

#include <stdint.h>

#include "zonnx/zonnx.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Cycles and calls accumulated for @p node of @p model. */
int zonnx_profile_get(const struct zonnx_model *model, uint16_t node, uint64_t *cycles,
		      uint32_t *calls);

/** Clear @p model's table. */
void zonnx_profile_reset(const struct zonnx_model *model);

/** Print @p model's table (node, op, name, calls, cycles, ns per call). */
void zonnx_profile_print(const struct zonnx_model *model);

#ifdef __cplusplus
}
#endif

#endif /* ZONNX_PROFILE_H_ */
