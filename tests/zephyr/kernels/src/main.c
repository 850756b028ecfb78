/*
 * Kernels on the device: every single-operator model of the build runs over
 * its golden records, which must match onnx.reference.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <zephyr/ztest.h>

#include "zonnx/registry.h"

static uint8_t out_buf[8192] __aligned(16);

ZTEST(zonnx_kernels, test_every_kernel_matches_the_oracle)
{
	size_t n = 0;

	for (size_t i = 0; zonnx_goldens[i] != NULL; i++, n++) {
		const struct zonnx_golden *g = zonnx_goldens[i];
		struct zonnx_golden_result res;

		int rc = zonnx_golden_run(g, out_buf, sizeof(out_buf), &res);

		zassert_equal(rc, ZONNX_OK, "%s: %s", g->model->name, zonnx_status_str(rc));
		zassert_equal(res.matched, g->count, "%s: %u/%u records match, max error %d e-6",
			      g->model->name, res.matched, g->count, (int)(res.max_err * 1e6f));
		TC_PRINT("%s: %u/%u match\n", g->model->name, res.matched, g->count);
	}
	zassert_equal(n, 21, "expected 21 kernel models, found %u", (unsigned int)n);
}

ZTEST_SUITE(zonnx_kernels, NULL, NULL, NULL, NULL, NULL);
