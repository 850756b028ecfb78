/*
 * The golden-record check the ztest suites share: every embedded record runs
 * and matches the oracle, and a data set's labels are met nine times in ten.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ZONNX_TESTS_ZTEST_GOLDEN_H_
#define ZONNX_TESTS_ZTEST_GOLDEN_H_

#include <stddef.h>
#include <stdint.h>

#include "zonnx/golden.h"

/** @p out: 16-byte aligned room for all of the model's outputs. */
void zonnx_test_check_golden(const struct zonnx_golden *g, uint8_t *out, size_t out_bytes);

#endif /* ZONNX_TESTS_ZTEST_GOLDEN_H_ */
