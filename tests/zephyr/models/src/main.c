/*
 * Shipped models on the device: every golden record (inputs with
 * onnx.reference outputs computed when the firmware was built) must match.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <zephyr/ztest.h>

#include "ztest_golden.h"

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
	zonnx_test_check_golden(g, out_buf, sizeof(out_buf));
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
