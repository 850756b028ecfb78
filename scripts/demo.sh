#!/usr/bin/env bash
# The README's main job: set-up, then the shipped digits CNN generated,
# cross-compiled for a Cortex-M3 (lm3s6965, 256 KB flash / 64 KB RAM) and run
# under QEMU over the digits test set, against onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec zonnx run models/digits_cnn.onnx --name digits --target "${ZONNX_TARGET:-cortex-m3}" \
    --dataset digits "$@"
