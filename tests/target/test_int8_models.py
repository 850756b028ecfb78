"""The int8 models of models/quantize_models.py (onnxruntime.quantization,
QDQ and QOperator) on host and cortex-m3, over their whole held-out test set.

zonnx's integer kernels and onnxruntime's round the same int32 accumulators,
but may requantize differently by one step, so the dequantized float outputs
are compared in units of the output quantization scale: >= 99 % of elements
equal and none more than 1 LSB apart. Top-1 agreement with onnxruntime must be
>= 99 %, the digits CNN must stay >= 95 % accurate, and the int8 weights in
flash must be about a quarter of the float ones.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from zonnx import datasets
from zonnx.pipeline import GenerateOptions, generate, write_outputs

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "conformance"))
import run as conformance  # noqa: E402

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("sklearn")

MODELS = os.path.join(REPO, "models")
INT8 = [("digits_cnn_int8_qdq.onnx", "digits", "digits_cnn.onnx"),
        ("digits_cnn_int8_qop.onnx", "digits", "digits_cnn.onnx"),
        ("iris_mlp_int8_qop.onnx", "iris", "iris_mlp.onnx")]
TARGETS = ["host", "cortex-m3"]
NAME = "net"


def _report(model: str) -> tuple[dict, object]:
    gen = generate(os.path.join(MODELS, model), GenerateOptions(name=NAME))
    return json.loads(gen.files[f"{NAME}.json"]), gen


def _out_scale(model: str, out: str) -> float:
    m = onnx.load(os.path.join(MODELS, model))
    (dq,) = [n for n in m.graph.node if out in n.output]
    assert dq.op_type == "DequantizeLinear"
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    return float(inits[dq.input[1]].reshape(-1)[0])


def _ort(model: str, records: list[dict]) -> list[dict]:
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(MODELS, model), so,
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return [dict(zip(names, sess.run(None, r))) for r in records]


_CACHE: dict = {}


def _results(model: str, dataset: str, target: str, tmp_factory) -> dict:
    """Runs the whole test set once per (model, target); the tests share it."""
    key = (model, target)
    if key not in _CACHE:
        report, gen = _report(model)
        t = report["inputs"][0]
        records, labels = datasets.test_records(dataset, t["name"], t["shape"])
        work = str(tmp_factory.mktemp(f"{model[:-5]}-{target}"))
        write_outputs(gen.files, work)
        got = conformance._execute(target, work, NAME, report, records)
        out = report["outputs"][0]["name"]
        _CACHE[key] = dict(out=out, labels=labels, report=report,
                           got=np.stack([np.asarray(g[out]).reshape(-1) for g in got]),
                           want=np.stack([np.asarray(e[out]).reshape(-1)
                                          for e in _ort(model, records)]))
    return _CACHE[key]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("model,dataset,float_model", INT8)
def test_int8_model_matches_onnxruntime(tmp_path_factory, model, dataset, float_model, target):
    r = _results(model, dataset, target, tmp_path_factory)
    scale = _out_scale(model, r["out"])
    lsb = np.rint(np.abs(r["got"].astype(np.float64) - r["want"].astype(np.float64)) / scale)
    assert lsb.max() <= 1, f"max {lsb.max()} LSB from onnxruntime"
    assert np.mean(lsb == 0) >= 0.99, f"only {np.mean(lsb == 0):.3%} equal to onnxruntime"

    ours, theirs = r["got"].argmax(1), r["want"].argmax(1)
    agreement = float(np.mean(ours == theirs))
    accuracy = float(np.mean(ours == r["labels"]))
    oracle_accuracy = float(np.mean(theirs == r["labels"]))
    print(f"{model} on {target}: accuracy zonnx {accuracy:.4f}, onnxruntime {oracle_accuracy:.4f}, "
          f"top-1 agreement {agreement:.4f}, {np.mean(lsb == 0):.4%} elements equal, "
          f"max {int(lsb.max())} LSB")
    assert agreement >= 0.99
    if model.startswith("digits_cnn"):
        assert accuracy >= 0.95


@pytest.mark.parametrize("model,dataset,float_model", INT8)
def test_int8_conv_matmul_gemm_run_integer(model, dataset, float_model):
    """The QOperator models lower every Conv/Gemm to an integer kernel; the QDQ
    model's Conv islands are fused (fuse-qdq), its Gemm stays a float island."""
    report, gen = _report(model)
    heavy = [n for n in gen.graph.nodes if n.op_type in
             ("Conv", "QLinearConv", "MatMul", "QLinearMatMul", "Gemm", "QGemm")]
    assert heavy
    ops = [n.op_type for n in heavy]
    if "qdq" in model:
        assert ops.count("QLinearConv") == 2 and "Conv" not in ops
    else:
        assert all(op.startswith("Q") for op in ops), ops


@pytest.mark.parametrize("model,dataset,float_model", INT8)
def test_int8_weights_are_a_quarter_of_float(model, dataset, float_model):
    q = _report(model)[0]["weights_bytes"]
    f = _report(float_model)[0]["weights_bytes"]
    print(f"{model}: weights {q} bytes vs {f} bytes float ({q / f:.3f}x)")
    if model.startswith("digits_cnn"):
        assert q <= 0.35 * f
    else:   # iris: 83 parameters; int32 biases and per-tensor scales/zero points dominate
        assert q <= 0.5 * f
