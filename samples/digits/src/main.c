/*
 * digits: the digits CNN over embedded test images; prints accuracy and how
 * many outputs match onnx.reference.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <zephyr/kernel.h>
#include <zephyr/sys/printk.h>

#include "digits.h"
#include "digits_golden.h"

static uint8_t out_buf[DIGITS_OUTPUT0_BYTES] __aligned(16);

int main(void)
{
	struct zonnx_golden_result res;
	uint32_t start = k_cycle_get_32();
	int rc = zonnx_golden_run(&digits_golden, out_buf, sizeof(out_buf), &res);
	uint32_t cycles = k_cycle_get_32() - start;

	if (rc != ZONNX_OK) {
		printk("digits: run failed: %s\n", zonnx_status_str(rc));
		return 0;
	}
	printk("digits: %u/%u outputs match onnx.reference\n", res.matched, res.records);
	printk("digits: accuracy %u/%u\n", res.correct, res.records);
	printk("digits: %u cycles per image, arena %u bytes, weights %u bytes\n",
	       cycles / res.records, DIGITS_ARENA_SIZE, DIGITS_WEIGHTS_SIZE);
	return 0;
}
