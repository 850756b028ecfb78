/*
 * Zephyr logging for the zonnx runtime (CONFIG_ZONNX_LOG_LEVEL).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <zephyr/logging/log.h>

#include "zonnx/zonnx.h"

LOG_MODULE_REGISTER(zonnx, CONFIG_ZONNX_LOG_LEVEL);

void zonnx_log_error(const struct zonnx_model *model, int status, const char *what, size_t index)
{
	LOG_ERR("%s: %s %u: %s", model->name, what, (unsigned int)index, zonnx_status_str(status));
}
