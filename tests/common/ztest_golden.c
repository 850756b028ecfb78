/*
 * SPDX-License-Identifier: Apache-2.0
 */
#include <zephyr/ztest.h>

#include "ztest_golden.h"

void zonnx_test_check_golden(const struct zonnx_golden *g, uint8_t *out, size_t out_bytes)
{
	struct zonnx_golden_result res;

	zassert_equal(zonnx_golden_run(g, out, out_bytes, &res), ZONNX_OK);
	zassert_equal(res.records, g->count);
	zassert_equal(res.matched, g->count, "%s: %u of %u records match, max error %d e-6",
		      g->model->name, res.matched, g->count, (int)(res.max_err * 1e6f));
	if (g->labels != NULL) {
		/* the shipped digits models are >= 95% accurate; allow one miss in ten */
		zassert_true(res.correct * 10 >= res.records * 9, "%s: accuracy %u/%u",
			     g->model->name, res.correct, res.records);
	}
}
