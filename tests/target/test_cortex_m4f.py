"""The cortex-m4f target (mps2-an386 under QEMU: FPU, DSP extension)."""

import json
import os

from zonnx.cli import main

MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "models")


def test_digits_cnn_on_cortex_m4f(tmp_path):
    rep = tmp_path / "r.json"
    assert main(["run", os.path.join(MODELS, "digits_cnn.onnx"), "--target", "cortex-m4f",
                 "--dataset", "digits", "--report", str(rep)]) == 0
    r = json.loads(rep.read_text())
    assert r["match"] and r["top1_agreement"] == 1.0 and r["accuracy"] >= 0.95
    assert r["footprint"]["board"] == "mps2-an386"
    # hardware float: far fewer instructions per MAC than the soft-float M3
    assert r["macs"] < min(r["instructions"]) < 40 * r["macs"]
