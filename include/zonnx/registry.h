/*
 * The models of a Zephyr build (CONFIG_ZONNX_REGISTRY): NULL-terminated
 * tables written by cmake/zonnx.cmake for every zonnx_add_model() call.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ZONNX_REGISTRY_H_
#define ZONNX_REGISTRY_H_

#include "zonnx/golden.h"

extern const struct zonnx_model *const zonnx_models[];
extern const struct zonnx_golden *const zonnx_goldens[];

#endif /* ZONNX_REGISTRY_H_ */
