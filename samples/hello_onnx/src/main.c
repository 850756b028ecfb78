/*
 * hello_onnx: one iris flower through a model generated at build time, plus
 * the model's golden records checked against onnx.reference.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <zephyr/kernel.h>
#include <zephyr/sys/printk.h>

#include "iris.h"
#include "iris_golden.h"

static const char *const species[] = {"setosa", "versicolor", "virginica"};

/* A held-out setosa, standardised like the training data (models/build_models.py). */
static const float flower[IRIS_INPUT0_SIZE] = {-0.890998542f, 0.790705204f, -1.25563586f,
					       -1.31356132f};

int main(void)
{
	float logits[IRIS_OUTPUT0_SIZE];
	uint32_t matched = 0;

	for (uint32_t r = 0; r < IRIS_GOLDEN_COUNT; r++) {
		const void *got[1] = {logits};

		if (iris_run(zonnx_golden_input(&iris_golden, r, 0), logits) == ZONNX_OK &&
		    zonnx_golden_check(&iris_golden, r, got, NULL) == 0) {
			matched++;
		}
	}
	printk("hello_onnx: golden %u/%u match\n", matched, IRIS_GOLDEN_COUNT);

	int rc = iris_run(flower, logits);

	if (rc != ZONNX_OK) {
		printk("hello_onnx: run failed: %s\n", zonnx_status_str(rc));
		return 0;
	}
	printk("hello_onnx: logits %.3f %.3f %.3f\n", (double)logits[0], (double)logits[1],
	       (double)logits[2]);
	int32_t c = zonnx_argmax_f32(logits, IRIS_OUTPUT0_SIZE);

	printk("hello_onnx: predicted class %d (%s)\n", c, species[c]);
	return 0;
}
