/*
 * An int8 model on the device: every golden record matches onnx.reference
 * and the held-out digits stay as accurate as the float model.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <zephyr/ztest.h>

#include "q.h"
#include "q_golden.h"

static uint8_t out_buf[Q_OUTPUT0_BYTES] __aligned(16);

ZTEST(zonnx_int8, test_int8_digits_matches_the_oracle)
{
	struct zonnx_golden_result res;

	zassert_equal(zonnx_golden_run(&q_golden, out_buf, sizeof(out_buf), &res), ZONNX_OK);
	zassert_equal(res.matched, Q_GOLDEN_COUNT, "%u/%u records match, max error %d e-6",
		      res.matched, Q_GOLDEN_COUNT, (int)(res.max_err * 1e6f));
	zassert_true(res.correct * 10 >= res.records * 9, "accuracy %u/%u", res.correct,
		     res.records);
}

ZTEST(zonnx_int8, test_int8_weights_are_small)
{
	/* int8 weights: well under a third of the float model's 24360 bytes */
	zassert_true(q_model.weights_size * 3 < 24360, "weights %u bytes",
		     (unsigned int)q_model.weights_size);
}

ZTEST_SUITE(zonnx_int8, NULL, NULL, NULL, NULL, NULL);
