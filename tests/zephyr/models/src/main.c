/*
 * Shipped models on the device: every golden record (inputs with
 * onnx.reference outputs computed when the firmware was built) must match.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <zephyr/ztest.h>

#include "cnn.h"
#include "cnn_golden.h"
#include "cnn_dynamo.h"
#include "cnn_dynamo_golden.h"
#include "dcgan.h"
#include "dcgan_golden.h"
#include "lstm.h"
#include "lstm_golden.h"

static uint8_t out_buf[1024] __aligned(16);

static void check_golden(const struct zonnx_golden *g)
{
	struct zonnx_golden_result res;

	zassert_equal(zonnx_golden_run(g, out_buf, sizeof(out_buf), &res), ZONNX_OK);
	zassert_equal(res.records, g->count);
	zassert_equal(res.matched, g->count, "%s: %u of %u records match, max error %d e-6",
		      g->model->name, res.matched, g->count, (int)(res.max_err * 1e6f));
	if (g->labels != NULL) {
		/* the shipped digits models are >= 95% accurate; allow one miss in ten */
		zassert_true(res.correct * 10 >= res.records * 9, "%s: accuracy %u/%u",
			     g->model->name, res.correct, res.records);
	}
}

ZTEST(zonnx_models, test_digits_cnn)
{
	check_golden(&cnn_golden);
}

ZTEST(zonnx_models, test_digits_cnn_dynamo_export)
{
	check_golden(&cnn_dynamo_golden);
}

ZTEST(zonnx_models, test_digits_lstm)
{
	check_golden(&lstm_golden);
}

ZTEST(zonnx_models, test_dcgan_generator)
{
	check_golden(&dcgan_golden);
}

ZTEST_SUITE(zonnx_models, NULL, NULL, NULL, NULL, NULL);
