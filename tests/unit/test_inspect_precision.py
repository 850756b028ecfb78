"""`zonnx inspect`: each node's precision says what its kernel does, "integer",
"float" or "boundary" (quantize / dequantize), on the shipped models."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
from onnx import helper

from zonnx.cli import main
from zonnx_testing import make_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(REPO, "models")


def _inspect(capsys, *args) -> dict:
    assert main(["inspect", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _precisions(rep) -> list[tuple[str, str]]:
    return [(n["op"], n["precision"]) for n in rep["nodes"]]


def test_qdq_cnn_runs_integer_between_its_boundaries(capsys):
    rep = _inspect(capsys, os.path.join(MODELS, "digits_cnn_int8_qdq.onnx"))
    assert _precisions(rep) == [
        ("QuantizeLinear", "boundary"), ("QLinearConv", "integer"), ("MaxPool", "integer"),
        ("QLinearConv", "integer"), ("MaxPool", "integer"), ("Flatten", "integer"),
        ("QGemm", "integer"), ("DequantizeLinear", "boundary")]


def test_without_fusion_the_islands_are_float(capsys):
    rep = _inspect(capsys, os.path.join(MODELS, "digits_cnn_int8_qdq.onnx"), "--disable-pass", "fuse-qdq")
    prec = dict()
    for op, p in _precisions(rep):
        prec.setdefault(op, set()).add(p)
    assert prec["Conv"] == {"float"} and prec["Gemm"] == {"float"}
    assert prec["QuantizeLinear"] == prec["DequantizeLinear"] == {"boundary"}


def test_float_model_is_float(capsys):
    rep = _inspect(capsys, os.path.join(MODELS, "digits_cnn.onnx"))
    assert {p for _, p in _precisions(rep)} == {"float"}


def test_integer_data_and_casts(tmp_path, capsys):
    """From the kernels, not the op type: an int32 Add is integer, a Cast from
    int32 to float a boundary, a float Relu after it float."""
    m = make_model([helper.make_node("Add", ["a", "a"], ["s"]),
                    helper.make_node("Cast", ["s"], ["f"], to=onnx.TensorProto.FLOAT),
                    helper.make_node("Relu", ["f"], ["y"])],
                   [("a", np.int32, [4])], [("y", np.float32, [4])])
    p = tmp_path / "m.onnx"
    onnx.save(m, p)
    assert _precisions(_inspect(capsys, str(p))) == [("Add", "integer"), ("Cast", "boundary"),
                                                     ("Relu", "float")]
    assert main(["inspect", str(p)]) == 0
    assert "boundary" in capsys.readouterr().out
