/*
 * SPDX-License-Identifier: Apache-2.0
 */
#include "zonnx/golden.h"
#include "zonnx/libm.h"

#include <string.h>

const void *zonnx_golden_input(const struct zonnx_golden *g, uint32_t r, uint16_t i)
{
	if (g == NULL || r >= g->count || i >= g->model->n_inputs) {
		return NULL;
	}
	return (const uint8_t *)g->inputs[i] + (size_t)r * g->model->inputs[i].bytes;
}

static double element(const void *base, enum zonnx_dtype dt, size_t k)
{
	switch (dt) {
	case ZONNX_FLOAT32: return ((const float *)base)[k];
	case ZONNX_FLOAT64: return ((const double *)base)[k];
	case ZONNX_UINT8:
	case ZONNX_BOOL: return ((const uint8_t *)base)[k];
	case ZONNX_INT8: return ((const int8_t *)base)[k];
	case ZONNX_UINT16: return ((const uint16_t *)base)[k];
	case ZONNX_INT16: return ((const int16_t *)base)[k];
	case ZONNX_INT32: return ((const int32_t *)base)[k];
	case ZONNX_UINT32: return ((const uint32_t *)base)[k];
	case ZONNX_INT64: return (double)((const int64_t *)base)[k];
	case ZONNX_UINT64: return (double)((const uint64_t *)base)[k];
	default: return 0.0;
	}
}

long zonnx_golden_check(const struct zonnx_golden *g, uint32_t r, const void *const *got,
			float *max_err)
{
	long bad = 0;
	double worst = 0.0;
	uint16_t o;

	if (g == NULL || got == NULL) {
		return ZONNX_ERR_NULL;
	}
	if (r >= g->count) {
		return ZONNX_ERR_COUNT;
	}
	for (o = 0; o < g->model->n_outputs; o++) {
		const struct zonnx_tensor_info *t = &g->model->outputs[o];
		const uint8_t *want = (const uint8_t *)g->outputs[o] + (size_t)r * t->bytes;
		int exact = !(t->dtype == ZONNX_FLOAT32 || t->dtype == ZONNX_FLOAT64);
		size_t k;

		if (got[o] == NULL) {
			return ZONNX_ERR_NULL;
		}
		for (k = 0; k < t->elements; k++) {
			double e = element(want, t->dtype, k);
			double a = element(got[o], t->dtype, k);
			double d = fabs(e - a);

			if (e != e || a != a) {   /* NaN must meet NaN */
				d = (e != e && a != a) ? 0.0 : (double)INFINITY;
			} else if (e == a) {      /* equal infinities */
				d = 0.0;
			}
			if (d > worst) {
				worst = d;
			}
			/* integers: within atol (below 1 unless the model allows a step) */
			if (exact ? d > (double)g->atol : d > (double)g->atol + (double)g->rtol * fabs(e)) {
				bad++;
			}
		}
	}
	if (max_err != NULL) {
		*max_err = (float)worst;
	}
	return bad;
}

int32_t zonnx_argmax_f32(const float *v, size_t n)
{
	int32_t best = 0;
	size_t k;

	for (k = 1; k < n; k++) {
		if (v[k] > v[best]) {
			best = (int32_t)k;
		}
	}
	return best;
}

#define GOLDEN_MAX_IO 16

int zonnx_golden_run(const struct zonnx_golden *g, uint8_t *scratch, size_t scratch_bytes,
		     struct zonnx_golden_result *res)
{
	struct zonnx_buffer in[GOLDEN_MAX_IO], out[GOLDEN_MAX_IO];
	const void *got[GOLDEN_MAX_IO];
	const struct zonnx_model *m;
	size_t used = 0;
	uint32_t r;
	uint16_t i;

	if (g == NULL || res == NULL || scratch == NULL) {
		return ZONNX_ERR_NULL;
	}
	m = g->model;
	if (m->n_inputs > GOLDEN_MAX_IO || m->n_outputs > GOLDEN_MAX_IO) {
		return ZONNX_ERR_COUNT;
	}
	for (i = 0; i < m->n_outputs; i++) {
		if (used + m->outputs[i].bytes > scratch_bytes) {
			return ZONNX_ERR_SIZE;
		}
		out[i].data = scratch + used;
		out[i].bytes = m->outputs[i].bytes;
		got[i] = out[i].data;
		used += (m->outputs[i].bytes + 15u) & ~(size_t)15u;
	}
	memset(res, 0, sizeof(*res));
	for (r = 0; r < g->count; r++) {
		float err = 0.0f;
		int rc;

		for (i = 0; i < m->n_inputs; i++) {
			in[i].data = (void *)zonnx_golden_input(g, r, i);
			in[i].bytes = m->inputs[i].bytes;
		}
		rc = zonnx_model_run(m, in, m->n_inputs, out, m->n_outputs);
		if (rc != ZONNX_OK) {
			return rc;
		}
		res->records++;
		if (zonnx_golden_check(g, r, got, &err) == 0) {
			res->matched++;
		}
		if (err > res->max_err) {
			res->max_err = err;
		}
		if (g->labels != NULL && m->n_outputs > 0 && m->outputs[0].dtype == ZONNX_FLOAT32 &&
		    zonnx_argmax_f32(got[0], m->outputs[0].elements) == g->labels[r]) {
			res->correct++;
		}
	}
	return ZONNX_OK;
}
