/*
 * run_model: runs whatever model the build generated (CONFIG_ZONNX_MODEL) over
 * its golden records and reports how many match onnx.reference. Knows no
 * model: it walks the build's registry.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <zephyr/kernel.h>
#include <zephyr/sys/printk.h>

#include "zonnx/registry.h"
#ifdef CONFIG_ZONNX_PROFILE
#include "zonnx/profile.h"
#endif

/* Outputs of the largest model this app is built with (checked: ZONNX_ERR_SIZE otherwise). */
static uint8_t out_buf[4096] __aligned(16);

int main(void)
{
	for (size_t i = 0; zonnx_goldens[i] != NULL; i++) {
		const struct zonnx_golden *g = zonnx_goldens[i];
		struct zonnx_golden_result res;
		uint32_t t0 = k_cycle_get_32();
		int rc = zonnx_golden_run(g, out_buf, sizeof(out_buf), &res);

		t0 = k_cycle_get_32() - t0;
		if (rc != ZONNX_OK) {
			printk("run_model: %s: %s\n", g->model->name, zonnx_status_str(rc));
			continue;
		}
		printk("run_model: %s: %u/%u records match onnx.reference "
		       "(arena %u bytes, weights %u bytes, %u cycles/inference)\n",
		       g->model->name, res.matched, res.records, (unsigned int)g->model->arena_size,
		       (unsigned int)g->model->weights_size, t0 / (res.records ? res.records : 1));
#ifdef CONFIG_ZONNX_PROFILE
		zonnx_profile_print(g->model);
#endif
	}
	return 0;
}
