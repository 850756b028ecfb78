/*
 * Two models in one firmware: separate symbols and arenas, interleaved runs
 * that do not disturb each other.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include <zephyr/ztest.h>

#include "digits.h"
#include "digits_golden.h"
#include "iris.h"
#include "iris_golden.h"

static float iris_out[IRIS_OUTPUT0_SIZE];
static float digits_out[DIGITS_OUTPUT0_SIZE];

static void check(const struct zonnx_golden *g, uint32_t r, float *out)
{
	const void *got[1] = {out};

	zassert_equal(zonnx_golden_check(g, r, got, NULL), 0, "%s record %u", g->model->name, r);
}

ZTEST(zonnx_multi_model, test_interleaved_runs)
{
	for (uint32_t r = 0; r < IRIS_GOLDEN_COUNT && r < DIGITS_GOLDEN_COUNT; r++) {
		zassert_equal(iris_run(zonnx_golden_input(&iris_golden, r, 0), iris_out), ZONNX_OK);
		zassert_equal(digits_run(zonnx_golden_input(&digits_golden, r, 0), digits_out),
			      ZONNX_OK);
		/* digits ran after iris: iris's result is still the one computed for r */
		check(&iris_golden, r, iris_out);
		check(&digits_golden, r, digits_out);
	}
}

ZTEST(zonnx_multi_model, test_runs_are_repeatable)
{
	float first[DIGITS_OUTPUT0_SIZE];

	zassert_equal(digits_run(zonnx_golden_input(&digits_golden, 0, 0), first), ZONNX_OK);
	zassert_equal(iris_run(zonnx_golden_input(&iris_golden, 1, 0), iris_out), ZONNX_OK);
	zassert_equal(digits_run(zonnx_golden_input(&digits_golden, 0, 0), digits_out), ZONNX_OK);
	zassert_mem_equal(first, digits_out, sizeof(first));
}

ZTEST(zonnx_multi_model, test_descriptors_are_distinct)
{
	zassert_true(strcmp(iris_model.name, digits_model.name) != 0);
	zassert_equal(iris_model.arena_size, IRIS_ARENA_SIZE);
	zassert_equal(digits_model.arena_size, DIGITS_ARENA_SIZE);
	zassert_true(digits_model.weights_size > iris_model.weights_size);
}

ZTEST_SUITE(zonnx_multi_model, NULL, NULL, NULL, NULL, NULL);
