/*
 * Shell commands: `zonnx info` lists the build's models, `zonnx run [NAME]`
 * runs them over their golden records (CONFIG_ZONNX_SHELL).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <string.h>

#include <zephyr/kernel.h>
#include <zephyr/shell/shell.h>

#include "zonnx/golden.h"
#ifdef CONFIG_ZONNX_PROFILE
#include "zonnx/profile.h"
#endif

#include "zonnx/registry.h"

static uint8_t out_buf[CONFIG_ZONNX_SHELL_BUFFER_SIZE] __aligned(16);

static void print_tensor(const struct shell *sh, const char *kind,
			 const struct zonnx_tensor_info *t)
{
	char dims[64];
	size_t pos = 0;

	dims[0] = '\0';
	for (uint8_t d = 0; d < t->rank && pos < sizeof(dims) - 12; d++) {
		pos += snprintf(dims + pos, sizeof(dims) - pos, d ? "x%d" : "%d", (int)t->shape[d]);
	}
	shell_print(sh, "  %s %s: %s [%s] %u bytes", kind, t->name, zonnx_dtype_name(t->dtype),
		    t->rank ? dims : "scalar", (unsigned int)t->bytes);
}

static int cmd_info(const struct shell *sh, size_t argc, char **argv)
{
	ARG_UNUSED(argc);
	ARG_UNUSED(argv);
	for (size_t m = 0; zonnx_models[m] != NULL; m++) {
		const struct zonnx_model *model = zonnx_models[m];

		shell_print(sh, "%s: %u nodes, arena %u bytes, weights %u bytes", model->name,
			    model->n_nodes, (unsigned int)model->arena_size,
			    (unsigned int)model->weights_size);
		for (uint16_t i = 0; i < model->n_inputs; i++) {
			print_tensor(sh, "input ", &model->inputs[i]);
		}
		for (uint16_t i = 0; i < model->n_outputs; i++) {
			print_tensor(sh, "output", &model->outputs[i]);
		}
	}
	return 0;
}

static int run_golden(const struct shell *sh, const struct zonnx_golden *g)
{
	struct zonnx_golden_result res;
	uint32_t t0;
	int rc;

#ifdef CONFIG_ZONNX_PROFILE
	zonnx_profile_reset(g->model);
#endif
	t0 = k_cycle_get_32();
	rc = zonnx_golden_run(g, out_buf, sizeof(out_buf), &res);
	t0 = k_cycle_get_32() - t0;
	if (rc != ZONNX_OK) {
		shell_error(sh, "%s: %s%s", g->model->name, zonnx_status_str(rc),
			    rc == ZONNX_ERR_SIZE ? " (raise CONFIG_ZONNX_SHELL_BUFFER_SIZE)" : "");
		return -EIO;
	}
	shell_print(sh, "%s: %u/%u records match the oracle, max error %u e-9, %u cycles/inference",
		    g->model->name, res.matched, res.records, (unsigned int)(res.max_err * 1e9f),
		    t0 / (res.records ? res.records : 1));
	if (g->labels != NULL) {
		shell_print(sh, "%s: accuracy %u/%u", g->model->name, res.correct, res.records);
	}
#ifdef CONFIG_ZONNX_PROFILE
	zonnx_profile_print(g->model);
#endif
	return res.matched == res.records ? 0 : -EIO;
}

static int cmd_run(const struct shell *sh, size_t argc, char **argv)
{
	int found = 0, rc = 0;

	for (size_t i = 0; zonnx_goldens[i] != NULL; i++) {
		if (argc > 1 && strcmp(argv[1], zonnx_goldens[i]->model->name) != 0) {
			continue;
		}
		int r = run_golden(sh, zonnx_goldens[i]);

		found++;
		if (r != 0) {
			rc = r;
		}
	}
	if (!found) {
		shell_error(sh, "no model with golden records%s%s", argc > 1 ? " named " : "",
			    argc > 1 ? argv[1] : "");
		return -ENOENT;
	}
	return rc;
}

SHELL_STATIC_SUBCMD_SET_CREATE(sub_zonnx,
	SHELL_CMD(info, NULL, "List the models of this build", cmd_info),
	SHELL_CMD_ARG(run, NULL, "Run models over their golden records: run [NAME]", cmd_run, 1, 1),
	SHELL_SUBCMD_SET_END);

SHELL_CMD_REGISTER(zonnx, &sub_zonnx, "zonnx models", NULL);
