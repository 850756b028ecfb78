/*
 * The CMSIS-NN backend on the device: the symmetric int8 digits CNN with its
 * convolutions and fully connected layer on arm_* kernels matches the oracle
 * (within one output step) and equals, bit for bit, the same model on zonnx's
 * kernels.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include <zephyr/ztest.h>

#include "ztest_golden.h"

#include "qc.h"
#include "qc_golden.h"
#include "qz.h"

BUILD_ASSERT(QC_OUTPUT0_BYTES == QZ_OUTPUT0_BYTES, "one model, two backends");

static uint8_t out_c[QC_OUTPUT0_BYTES] __aligned(16);
static uint8_t out_z[QZ_OUTPUT0_BYTES] __aligned(16);

ZTEST(zonnx_cmsis_nn, test_cmsis_nn_matches_the_oracle)
{
	zonnx_test_check_golden(&qc_golden, out_c, sizeof(out_c));
}

ZTEST(zonnx_cmsis_nn, test_cmsis_nn_equals_zonnx_kernels)
{
	for (uint32_t r = 0; r < QC_GOLDEN_COUNT; r++) {
		const struct zonnx_buffer in = {(void *)zonnx_golden_input(&qc_golden, r, 0),
						QC_INPUT0_BYTES};
		const struct zonnx_buffer oc = {out_c, sizeof(out_c)};
		const struct zonnx_buffer oz = {out_z, sizeof(out_z)};

		zassert_equal(zonnx_model_run(&qc_model, &in, 1, &oc, 1), ZONNX_OK);
		zassert_equal(zonnx_model_run(&qz_model, &in, 1, &oz, 1), ZONNX_OK);
		zassert_mem_equal(out_c, out_z, sizeof(out_c), "record %u differs", r);
	}
}

ZTEST_SUITE(zonnx_cmsis_nn, NULL, NULL, NULL, NULL, NULL);
