/*
 * The zonnx runtime on the device: the same checks the host test runs.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <zephyr/ztest.h>

#include "m.h"
#include "runtime_checks.h"

ZTEST(zonnx_runtime, test_runtime_checks)
{
	const char *what = "";
	int line = zonnx_runtime_checks(&what);

	zassert_equal(line, 0, "runtime_checks.c:%d: %s", line, what);
}

ZTEST(zonnx_runtime, test_descriptor)
{
	zassert_equal(m_model.n_inputs, 1);
	zassert_equal(m_model.inputs[0].rank, 2);
	zassert_equal(m_model.inputs[0].shape[1], 4);
	zassert_equal(m_model.outputs[0].elements, 3);
	zassert_true(m_model.weights_size > 0);
	zassert_equal(m_model.arena_size, M_ARENA_SIZE);
}

ZTEST_SUITE(zonnx_runtime, NULL, NULL, NULL, NULL, NULL);
