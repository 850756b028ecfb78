"""MatMulInteger with a run-time a_zero_point, as quantize_dynamic writes it
(DynamicQuantizeLinear -> MatMulInteger): int32 results equal onnxruntime's
exactly, and a run-time zero point with a run-time B is rejected."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from zonnx.errors import ZonnxError
from zonnx.pipeline import GenerateOptions, generate
from zonnx_testing import make_model, run_zonnx

ort = pytest.importorskip("onnxruntime")
RNG = np.random.default_rng(5)


def _model(b_dtype, zb, b_const=True):
    b = RNG.integers(-128 if b_dtype == np.int8 else 0, 128 if b_dtype == np.int8 else 256,
                     size=(20, 7)).astype(b_dtype)
    inits = {"zb": np.asarray(zb, dtype=b_dtype)}
    inputs = [("x", np.float32, [5, 20])]
    if b_const:
        inits["b"] = b
    else:
        inputs.append(("b", b_dtype, [20, 7]))
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "b", "xz", "zb"], ["y"])]
    return make_model(nodes, inputs, [("y", TensorProto.INT32, [5, 7])], inits, opset=17), b


@pytest.mark.parametrize("b_dtype,zb", [(np.int8, 0), (np.uint8, 128),
                                        (np.int8, RNG.integers(-5, 5, 7))],
                         ids=["int8", "uint8", "per_column"])
def test_run_time_a_zero_point(tmp_path, b_dtype, zb):
    model, _ = _model(b_dtype, zb)
    x = RNG.uniform(-0.3, 2.0, size=(5, 20)).astype(np.float32)   # zero point well inside (0, 255)
    got, _ = run_zonnx(model, {"x": x}, tmp_path)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": x})[0]
    assert got["y"].dtype == np.int32
    np.testing.assert_array_equal(got["y"], want)


def test_run_time_a_zero_point_needs_constant_b(tmp_path):
    model, _ = _model(np.uint8, 128, b_const=False)
    path = os.path.join(str(tmp_path), "m.onnx")
    onnx.save(model, path)
    with pytest.raises(ZonnxError, match="constant 2-D B"):
        generate(path, GenerateOptions(name="m"))
