/*
 * Per-node cycle counts with Zephyr's timing API (CONFIG_ZONNX_PROFILE).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <zephyr/kernel.h>
#include <zephyr/sys/printk.h>
#include <zephyr/timing/timing.h>

#include "zonnx/profile.h"

struct node_stats {
	uint64_t cycles;
	uint32_t calls;
};

struct model_stats {
	const struct zonnx_model *model;
	struct node_stats nodes[CONFIG_ZONNX_PROFILE_MAX_NODES];
};

static struct model_stats stats[CONFIG_ZONNX_PROFILE_MAX_MODELS];
static bool started;

static struct model_stats *stats_for(const struct zonnx_model *model)
{
	for (size_t i = 0; i < ARRAY_SIZE(stats); i++) {
		if (stats[i].model == model) {
			return &stats[i];
		}
		if (stats[i].model == NULL) {
			stats[i].model = model;
			return &stats[i];
		}
	}
	return NULL;
}

uint64_t zonnx_profile_begin(void)
{
	if (!started) {
		timing_init();
		timing_start();
		started = true;
	}
	return timing_counter_get();
}

void zonnx_profile_end(const struct zonnx_model *model, uint16_t node, uint64_t start)
{
	timing_t begin = (timing_t)start;
	timing_t end = timing_counter_get();
	struct model_stats *s = stats_for(model);

	if (s != NULL && node < CONFIG_ZONNX_PROFILE_MAX_NODES) {
		s->nodes[node].cycles += timing_cycles_get(&begin, &end);
		s->nodes[node].calls++;
	}
}

void zonnx_profile_reset(const struct zonnx_model *model)
{
	struct model_stats *s = stats_for(model);

	if (s != NULL) {
		memset(s->nodes, 0, sizeof(s->nodes));
	}
}

int zonnx_profile_get(const struct zonnx_model *model, uint16_t node, uint64_t *cycles,
		      uint32_t *calls)
{
	struct model_stats *s = stats_for(model);

	if (s == NULL || node >= model->n_nodes || node >= CONFIG_ZONNX_PROFILE_MAX_NODES ||
	    cycles == NULL || calls == NULL) {
		return ZONNX_ERR_COUNT;
	}
	*cycles = s->nodes[node].cycles;
	*calls = s->nodes[node].calls;
	return ZONNX_OK;
}

void zonnx_profile_print(const struct zonnx_model *model)
{
	struct model_stats *s = stats_for(model);
	uint64_t total = 0;

	if (s == NULL) {
		return;
	}
	printk("zonnx profile: %s\n", model->name);
	printk("  %-4s %-20s %-28s %8s %12s %10s\n", "node", "op", "name", "calls", "cycles",
	       "ns/call");
	for (uint16_t i = 0; i < model->n_nodes && i < CONFIG_ZONNX_PROFILE_MAX_NODES; i++) {
		const struct node_stats *n = &s->nodes[i];
		uint64_t per = n->calls ? n->cycles / n->calls : 0;

		total += n->cycles;
		printk("  %-4u %-20s %-28.28s %8u %12llu %10llu\n", i, model->node_ops[i],
		       model->node_names[i], n->calls, (unsigned long long)n->cycles,
		       (unsigned long long)timing_cycles_to_ns(per));
	}
	printk("  total cycles %llu\n", (unsigned long long)total);
}
