/*
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "zonnx/libm.h"
#include "m.h"
#include "m_golden.h"
#include "runtime_checks.h"

#define CHECK(cond)                 \
	do {                        \
		if (!(cond)) {      \
			*what = #cond; \
			return __LINE__; \
		}                   \
	} while (0)

static float in0[M_INPUT0_SIZE];
static float out0[M_OUTPUT0_SIZE];

int zonnx_runtime_checks(const char **what)
{
	struct zonnx_buffer in = {in0, sizeof(in0)};
	struct zonnx_buffer out = {out0, sizeof(out0)};
	const void *got[1] = {out0};
	float err = -1.0f;
	uint32_t r;

	/* every golden record matches through the checked entry */
	for (r = 0; r < M_GOLDEN_COUNT; r++) {
		memcpy(in0, zonnx_golden_input(&m_golden, r, 0), sizeof(in0));
		CHECK(zonnx_model_run(&m_model, &in, 1, &out, 1) == ZONNX_OK);
		CHECK(zonnx_golden_check(&m_golden, r, got, &err) == 0);
		CHECK(err >= 0.0f && err < 1e-3f);
	}
	/* the typed entry gives the same bytes */
	{
		float typed[M_OUTPUT0_SIZE];

		CHECK(m_run(in0, typed) == ZONNX_OK);
		CHECK(memcmp(typed, out0, sizeof(typed)) == 0);
		CHECK(m_run(NULL, typed) == ZONNX_ERR_NULL);
		CHECK(m_run(in0, NULL) == ZONNX_ERR_NULL);
	}
	/* a wrong output must be caught by the golden check */
	out0[0] += 1.0f;
	CHECK(zonnx_golden_check(&m_golden, M_GOLDEN_COUNT - 1, got, &err) > 0);
	CHECK(err >= 1.0f - 1e-3f);
	CHECK(zonnx_golden_check(&m_golden, M_GOLDEN_COUNT, got, &err) == ZONNX_ERR_COUNT);

	/* wrong sizes, counts and pointers are refused, never run */
	{
		struct zonnx_buffer small = {in0, sizeof(in0) - 1};
		struct zonnx_buffer big_out = {out0, sizeof(out0) + 4};
		struct zonnx_buffer null_in = {NULL, sizeof(in0)};

		CHECK(zonnx_model_run(&m_model, &small, 1, &out, 1) == ZONNX_ERR_SIZE);
		CHECK(zonnx_model_run(&m_model, &in, 1, &big_out, 1) == ZONNX_ERR_SIZE);
		CHECK(zonnx_model_run(&m_model, &in, 2, &out, 1) == ZONNX_ERR_COUNT);
		CHECK(zonnx_model_run(&m_model, &in, 1, &out, 0) == ZONNX_ERR_COUNT);
		CHECK(zonnx_model_run(&m_model, &null_in, 1, &out, 1) == ZONNX_ERR_NULL);
		CHECK(zonnx_model_run(&m_model, NULL, 1, &out, 1) == ZONNX_ERR_NULL);
		CHECK(zonnx_model_run(NULL, &in, 1, &out, 1) == ZONNX_ERR_NULL);
	}
#ifdef ZONNX_INPUT_CHECKS
	in0[1] = NAN;
	CHECK(zonnx_model_run(&m_model, &in, 1, &out, 1) == ZONNX_ERR_INPUT);
	in0[1] = INFINITY;
	CHECK(zonnx_model_run(&m_model, &in, 1, &out, 1) == ZONNX_ERR_INPUT);
#endif
	/* descriptor helpers */
	CHECK(zonnx_dtype_size(ZONNX_INT64) == 8 && zonnx_dtype_size((enum zonnx_dtype)99) == 0);
	CHECK(strcmp(zonnx_dtype_name(ZONNX_FLOAT32), "float32") == 0);
	CHECK(strcmp(zonnx_status_str(ZONNX_ERR_SIZE), "buffer size does not match the tensor") == 0);
	CHECK(m_model.inputs[0].bytes == sizeof(in0) && m_model.arena_size == M_ARENA_SIZE);
	return 0;
}
