/*
 * Runtime checks shared by the host test (tests/unit/test_runtime_c.py) and
 * the Zephyr ztest suite (tests/zephyr/runtime): both run them against a
 * model generated as `m` with golden records.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef ZONNX_TESTS_RUNTIME_CHECKS_H_
#define ZONNX_TESTS_RUNTIME_CHECKS_H_

/* 0 when every check passes, else the failing line; `what` names it. */
int zonnx_runtime_checks(const char **what);

#endif
