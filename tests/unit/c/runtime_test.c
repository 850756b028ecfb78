/*
 * Host driver for tests/common/runtime_checks.c (built with ASan/UBSan by
 * tests/unit/test_runtime_c.py).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>

#include "runtime_checks.h"

int main(void)
{
	const char *what = "";
	int line = zonnx_runtime_checks(&what);

	if (line != 0) {
		fprintf(stderr, "runtime_checks.c:%d: check failed: %s\n", line, what);
		return 1;
	}
	puts("runtime_test: ok");
	return 0;
}
