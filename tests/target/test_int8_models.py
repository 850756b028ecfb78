"""The int8 models of models/quantize_models.py (onnxruntime.quantization:
quantize_static QDQ and QOperator, quantize_dynamic) on host and cortex-m3,
over their whole held-out test set (the DCGAN generator: 64 seeded latent
vectors).

zonnx's integer kernels and onnxruntime's round the same int32 accumulators,
but may requantize differently by one step, so dequantized float outputs are
compared in units of the output quantization scale: >= 99 % of elements
equal and none more than 1 LSB apart. The dynamic models' outputs are float
(int32 products scaled in float): they must agree within float rounding.
Top-1 agreement with onnxruntime must be >= 99 %, the digits CNN must stay
>= 95 % accurate, and the int8 weights in flash must be about a quarter of
the float ones where all weights are quantized.
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
        ("digits_cnn_dynamo_int8_qdq.onnx", "digits", "digits_cnn_dynamo.onnx"),
        ("digits_cnn_int8_s8_qop.onnx", "digits", "digits_cnn.onnx"),
        ("digits_cnn_int8_s8_qdq.onnx", "digits", "digits_cnn.onnx"),
        ("iris_mlp_int8_qop.onnx", "iris", "iris_mlp.onnx"),
        ("iris_mlp_int8_dyn.onnx", "iris", "iris_mlp.onnx"),
        ("digits_lstm_int8_dyn.onnx", "digits", "digits_lstm.onnx"),
        ("digits_dcgan_int8_qdq.onnx", None, "digits_dcgan.onnx")]
TARGETS = ["host", "cortex-m3"]
NAME = "net"


def _report(model: str) -> tuple[dict, object]:
    gen = generate(os.path.join(MODELS, model), GenerateOptions(name=NAME))
    return json.loads(gen.files[f"{NAME}.json"]), gen


def _out_scale(model: str, out: str) -> float | None:
    """The output's quantization scale; None for a float output (dynamic models)."""
    m = onnx.load(os.path.join(MODELS, model))
    (p,) = [n for n in m.graph.node if out in n.output]
    if p.op_type != "DequantizeLinear":
        assert "dyn" in model, f"{model}: output made by {p.op_type}"
        return None
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    return float(inits[p.input[1]].reshape(-1)[0])


def _records(dataset: str | None, t: dict) -> tuple[list[dict], np.ndarray | None]:
    if dataset is None:     # the generator's input: latent vectors, seeded
        z = np.random.default_rng(2).standard_normal((64, *t["shape"])).astype(np.float32)
        return [{t["name"]: v} for v in z], None
    return datasets.test_records(dataset, t["name"], t["shape"])


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
        records, labels = _records(dataset, t)
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
    diff = np.abs(r["got"].astype(np.float64) - r["want"].astype(np.float64))
    if scale is None:
        np.testing.assert_allclose(r["got"], r["want"], rtol=1e-4, atol=1e-5)
        lsb = np.zeros_like(diff)
    else:
        lsb = np.rint(diff / scale)
        assert lsb.max() <= 1, f"max {lsb.max()} LSB from onnxruntime"
        assert np.mean(lsb == 0) >= 0.99, f"only {np.mean(lsb == 0):.3%} equal to onnxruntime"
    if r["labels"] is None:
        print(f"{model} on {target}: {np.mean(lsb == 0):.4%} elements equal, max {int(lsb.max())} LSB")
        return

    ours, theirs = r["got"].argmax(1), r["want"].argmax(1)
    agreement = float(np.mean(ours == theirs))
    accuracy = float(np.mean(ours == r["labels"]))
    oracle_accuracy = float(np.mean(theirs == r["labels"]))
    print(f"{model} on {target}: accuracy zonnx {accuracy:.4f}, onnxruntime {oracle_accuracy:.4f}, "
          f"top-1 agreement {agreement:.4f}, {np.mean(lsb == 0):.4%} elements equal, "
          f"max {int(lsb.max())} LSB, max |difference| {diff.max():.3g}")
    assert agreement >= 0.99
    if model.startswith("digits_cnn"):
        assert accuracy >= 0.95


# op types whose kernels compute in float; the models may keep only these
_FLOAT_ALLOWED = {
    # DynamicQuantizeLSTM: integer products, float gates and activations
    "digits_lstm_int8_dyn.onnx": {"Transpose", "DynamicQuantizeLSTM", "Gather", "Mul", "Add"},
    "digits_dcgan_int8_qdq.onnx": {"ConvTranspose"},     # no integer ConvTranspose kernel
    "iris_mlp_int8_dyn.onnx": {"Mul", "Add", "Relu"},    # dynamic: scales applied in float
}


@pytest.mark.parametrize("model,dataset,float_model", INT8)
def test_int8_models_run_integer(capsys, model, dataset, float_model):
    """Every Conv/MatMul/Gemm/LSTM lowers to integer products (the QDQ models'
    islands are fused by fuse-qdq; the DCGAN's Tanh becomes a lookup table),
    and float kernels remain only where the table above says why."""
    from zonnx.cli import main
    assert main(["inspect", os.path.join(MODELS, model), "--json"]) == 0
    nodes = json.loads(capsys.readouterr().out)["nodes"]
    ops = [n["op"] for n in nodes]
    assert not {"Conv", "MatMul", "Gemm", "LSTM"} & set(ops), ops
    heavy = [op for op in ops if op in ("QLinearConv", "QLinearMatMul", "QGemm", "MatMulInteger",
                                        "DynamicQuantizeLSTM")]
    assert heavy or model.startswith("digits_dcgan")      # the generator has only ConvTranspose
    floats = {n["op"] for n in nodes if n["precision"] == "float"}
    assert floats <= _FLOAT_ALLOWED.get(model, set()), floats
    if model == "digits_dcgan_int8_qdq.onnx":
        assert {"QLinearLeakyRelu", "QLookup"} <= set(ops)


@pytest.mark.parametrize("model,dataset,float_model", INT8)
def test_int8_weights_are_a_quarter_of_float(model, dataset, float_model):
    q = _report(model)[0]["weights_bytes"]
    f = _report(float_model)[0]["weights_bytes"]
    print(f"{model}: weights {q} bytes vs {f} bytes float ({q / f:.3f}x)")
    if model.startswith(("digits_cnn", "digits_dcgan", "digits_lstm")):
        assert q <= 0.35 * f
    elif model.endswith("_dyn.onnx"):       # float biases; int32 column sums for the run-time zero point
        assert q <= 0.6 * f
    else:   # iris: 83 parameters; int32 biases and per-tensor scales/zero points dominate
        assert q <= 0.5 * f


@pytest.mark.parametrize("model,float_model", [("digits_cnn_int8_qdq.onnx", "digits_cnn.onnx"),
                                               ("digits_cnn_int8_s8_qop.onnx", "digits_cnn.onnx")])
def test_footprint_line_states_the_saving_against_float(model, float_model):
    """The footprint report's 8-bit line widens the int8 weights back to float32:
    that estimate is within 10 % of the float model's real weights."""
    from zonnx.footprint import quantized_saving
    rep, f = _report(model)[0], _report(float_model)[0]
    line = quantized_saving(rep)
    widened = float(line.split(" KB as float32")[0].rsplit(" ", 1)[1]) * 1024
    print(line, f"(float model: {f['weights_bytes'] / 1024:.1f} KB)")
    assert f"{rep['weights_bytes'] / 1024:.1f} KB in flash" in line
    assert abs(widened - f["weights_bytes"]) <= 0.1 * f["weights_bytes"]
    assert quantized_saving(f) == ""
