/*
 * `zonnx info` / `zonnx run` through the dummy shell backend, and the
 * per-node profile they fill.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include <zephyr/shell/shell.h>
#include <zephyr/shell/shell_dummy.h>
#include <zephyr/ztest.h>

#include "iris.h"
#include "zonnx/profile.h"

static const char *run_cmd(const char *cmd, int *rc)
{
	const struct shell *sh = shell_backend_dummy_get_ptr();
	size_t size;

	shell_backend_dummy_clear_output(sh);
	*rc = shell_execute_cmd(sh, cmd);
	return shell_backend_dummy_get_output(sh, &size);
}

ZTEST(zonnx_shell, test_info_lists_the_model)
{
	int rc;
	const char *out = run_cmd("zonnx info", &rc);

	zassert_equal(rc, 0);
	zassert_not_null(strstr(out, "iris: "), "%s", out);
	zassert_not_null(strstr(out, "input  features: float32 [1x4] 16 bytes"), "%s", out);
	zassert_not_null(strstr(out, "output logits: float32 [1x3] 12 bytes"), "%s", out);
}

ZTEST(zonnx_shell, test_run_checks_golden_and_profiles)
{
	int rc;
	const char *out = run_cmd("zonnx run iris", &rc);
	uint64_t cycles;
	uint32_t calls;

	zassert_equal(rc, 0, "%s", out);
	zassert_not_null(strstr(out, "iris: 5/5 records match the oracle"), "%s", out);
	zassert_not_null(strstr(out, "iris: accuracy 5/5"), "%s", out);
	for (uint16_t n = 0; n < iris_model.n_nodes; n++) {
		zassert_equal(zonnx_profile_get(&iris_model, n, &cycles, &calls), ZONNX_OK);
		zassert_equal(calls, 5, "node %u ran %u times", n, calls);
	}
	zassert_equal(zonnx_profile_get(&iris_model, iris_model.n_nodes, &cycles, &calls),
		      ZONNX_ERR_COUNT);
}

ZTEST(zonnx_shell, test_run_unknown_model_fails)
{
	int rc;

	run_cmd("zonnx run nosuchmodel", &rc);
	zassert_not_equal(rc, 0);
}

static void *setup(void)
{
	/* let the dummy backend finish initialising */
	k_msleep(10);
	return NULL;
}

ZTEST_SUITE(zonnx_shell, NULL, setup, NULL, NULL, NULL);
