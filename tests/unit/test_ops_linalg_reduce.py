"""Gemm, MatMul, Softmax family, Reduce* and ArgMax/ArgMin: cases the ONNX
backend suite does not cover (fused activations, runtime weights, old opsets,
integer wrap-around, NaN, ties, rejections)."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import onnx
import pytest
from onnx import helper

from zonnx.emit import EmitOptions, emit
from zonnx.errors import ZonnxError
from zonnx.load import load
from zonnx.lower import lower
from zonnx.memplan import plan_memory
from zonnx.oracle import compare, reference_outputs
from zonnx.pipeline import GenerateOptions, generate, write_outputs
from zonnx.target import host
from zonnx_testing import assert_matches_reference, make_model, run_zonnx

RNG = np.random.default_rng(1234)
F32 = np.float32


def randn(*shape, dtype=F32):
    return RNG.standard_normal(shape).astype(dtype)


def assert_rejected(model, tmp_path, match: str):
    path = os.path.join(str(tmp_path), "r.onnx")
    onnx.save(model, path)
    with pytest.raises(ZonnxError, match=match):
        generate(path, GenerateOptions(name="m"))


def generated_source(model, tmp_path) -> str:
    path = os.path.join(str(tmp_path), "s.onnx")
    onnx.save(model, path)
    return generate(path, GenerateOptions(name="m")).files["m.c"]


# -- fused activations ----------------------------------------------------------

def run_with_activation(model, act: dict, feeds: dict, tmp_path) -> dict:
    """Generate `model` with `_activation` set on its Gemm/MatMul node (as the
    fusion pass would), build on the host and run."""
    path = os.path.join(str(tmp_path), "fused.onnx")
    onnx.save(model, path)
    g = load(path)
    nodes = tuple(dataclasses.replace(n, attrs={**n.attrs, "_activation": act})
                  if n.op_type in ("Gemm", "MatMul") else n for n in g.nodes)
    prog = lower(g.replace(nodes=nodes))
    files = emit(prog, plan_memory(prog), EmitOptions("m"))
    report = json.loads(files["m.json"])
    write_outputs(files, str(tmp_path))
    exe = host.build(str(tmp_path), "m", report, str(tmp_path))
    res = host.execute(exe, report, [{t["name"]: feeds[t["name"]] for t in report["inputs"]}],
                       str(tmp_path))
    return res.outputs[0]


def unfused_reference(producer, act: dict, inputs, out, inits, feeds, tmp_path, opset=17):
    """onnx.reference result of `producer` followed by the activation as its own node."""
    attrs = act.get("attrs", {})
    node = helper.make_node(act["op"], ["z"], [out[0]], **attrs)
    m = make_model([producer, node], inputs, [out], inits, opset=opset)
    path = os.path.join(str(tmp_path), "unfused.onnx")
    onnx.save(m, path)
    return reference_outputs(path, feeds)[out[0]]


FUSED_CASES = [
    # (activation, transB, M, K, N)
    ({"op": "Relu", "attrs": {}}, 1, 3, 37, 5),      # dot form, unrolled with a tail
    ({"op": "Relu", "attrs": {}}, 0, 3, 6, 5),       # row-accumulating form
    ({"op": "LeakyRelu", "attrs": {"alpha": 0.2}}, 0, 1, 9, 4),
    ({"op": "Sigmoid", "attrs": {}}, 1, 2, 3, 1),
]


@pytest.mark.parametrize("act,trans_b,m,k,n", FUSED_CASES)
def test_gemm_fused_activation(act, trans_b, m, k, n, tmp_path):
    w = randn(*((n, k) if trans_b else (k, n)))
    c = randn(n)
    x = randn(m, k)
    inits = {"w": w, "c": c}
    gemm = dict(transB=trans_b, alpha=0.75, beta=1.5)
    model = make_model([helper.make_node("Gemm", ["x", "w", "c"], ["y"], **gemm)],
                       [("x", F32, [m, k])], [("y", F32, [m, n])], inits)
    got = run_with_activation(model, act, {"x": x}, tmp_path)["y"]
    want = unfused_reference(helper.make_node("Gemm", ["x", "w", "c"], ["z"], **gemm), act,
                             [("x", F32, [m, k])], ("y", F32, [m, n]), inits, {"x": x}, tmp_path)
    assert np.any(want == 0) or act["op"] != "Relu"   # the activation really matters
    c_ = compare(want, got)
    assert c_.ok, c_


@pytest.mark.parametrize("a_shape,b_shape,out_shape", [
    ([4, 6], [6, 3], [4, 3]),
    ([2, 3, 4], [2, 4, 5], [2, 3, 5]),       # batched
    ([5], [5, 1], [1]),                      # dot-product form
])
def test_matmul_fused_activation(a_shape, b_shape, out_shape, tmp_path):
    act = {"op": "Clip", "attrs": {"min": -0.5, "max": 0.5}}
    a, b = randn(*a_shape), randn(*b_shape)
    feeds = {"a": a, "b": b}
    inputs = [("a", F32, a_shape), ("b", F32, b_shape)]
    model = make_model([helper.make_node("MatMul", ["a", "b"], ["y"])], inputs,
                       [("y", F32, out_shape)])
    got = run_with_activation(model, act, feeds, tmp_path)["y"]
    # The Clip node of the reference model takes its bounds as inputs (opset 11+).
    clip = helper.make_node("Clip", ["z", "lo", "hi"], ["y"])
    m = make_model([helper.make_node("MatMul", ["a", "b"], ["z"]), clip], inputs,
                   [("y", F32, out_shape)], {"lo": np.array(-0.5, F32), "hi": np.array(0.5, F32)})
    path = os.path.join(str(tmp_path), "unfused.onnx")
    onnx.save(m, path)
    want = reference_outputs(path, feeds)["y"]
    c_ = compare(want, got)
    assert c_.ok, c_


# -- Gemm --------------------------------------------------------------------------

@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (0, 1), (1, 0), (1, 1)])
@pytest.mark.parametrize("c_shape", [None, [], [1], [5], [3, 1], [1, 5], [3, 5]])
def test_gemm_runtime_operands(trans_a, trans_b, c_shape, tmp_path):
    m, k, n = 3, 17, 5
    sa = [k, m] if trans_a else [m, k]
    sb = [n, k] if trans_b else [k, n]
    inputs = [("a", F32, sa), ("b", F32, sb)]
    feeds = {"a": randn(*sa), "b": randn(*sb)}
    names = ["a", "b"]
    if c_shape is not None:
        inputs.append(("c", F32, c_shape))
        feeds["c"] = randn(*c_shape)
        names.append("c")
    node = helper.make_node("Gemm", names, ["y"], transA=trans_a, transB=trans_b, alpha=-0.5,
                            beta=2.0)
    assert_matches_reference(make_model([node], inputs, [("y", F32, [m, n])]), feeds, tmp_path)


def test_gemm_beta_zero_ignores_c(tmp_path):
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], beta=0.0)
    model = make_model([node], [("a", F32, [2, 3]), ("b", F32, [3, 4]), ("c", F32, [2, 4])],
                       [("y", F32, [2, 4])])
    feeds = {"a": randn(2, 3), "b": randn(3, 4), "c": np.full((2, 4), np.inf, F32)}
    assert_matches_reference(model, feeds, tmp_path)


def test_gemm_opset6_broadcast(tmp_path):
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], broadcast=1, transB=1)
    model = make_model([node], [("a", F32, [2, 3])], [("y", F32, [2, 4])],
                       {"b": randn(4, 3), "c": randn(4)}, opset=6)
    assert_matches_reference(model, {"a": randn(2, 3)}, tmp_path)


def test_gemm_opset6_no_broadcast_rejects_vector_c(tmp_path):
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"])
    model = make_model([node], [("a", F32, [2, 3])], [("y", F32, [2, 4])],
                       {"b": randn(3, 4), "c": randn(4)}, opset=6)
    assert_rejected(model, tmp_path, "broadcast=0")


def test_gemm_weights_read_contiguously(tmp_path):
    """transB=0 walks B's rows (axpy form); transB=1 one dot product per output."""
    x = [("x", F32, [1, 8])]
    y = [("y", F32, [1, 4])]
    src = generated_source(make_model([helper.make_node("Gemm", ["x", "w"], ["y"])], x, y,
                                      {"w": randn(8, 4)}), tmp_path)
    assert "yr[n] += av * br[n];" in src
    src = generated_source(make_model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], x, y,
                                      {"w": randn(4, 8)}), tmp_path)
    assert "ar[k] * br[k]" in src


# -- MatMul ------------------------------------------------------------------------

@pytest.mark.parametrize("a_shape,b_shape,out_shape", [
    ([4], [4], []),
    ([4], [4, 3], [3]),
    ([3, 4], [4], [3]),
    ([2, 3, 4], [4], [2, 3]),
    ([4], [2, 4, 3], [2, 3]),
    ([2, 1, 3, 4], [5, 4, 2], [2, 5, 3, 2]),   # both sides broadcast
    ([3, 4], [2, 4, 6], [2, 3, 6]),            # A shared by every batch
    ([2, 3, 4], [1, 4, 6], [2, 3, 6]),         # B shared: folded into one product
    ([2, 3, 0], [2, 0, 4], [2, 3, 4]),         # K = 0: zeros
])
def test_matmul_shapes(a_shape, b_shape, out_shape, tmp_path):
    model = make_model([helper.make_node("MatMul", ["a", "b"], ["y"])],
                       [("a", F32, a_shape), ("b", F32, b_shape)], [("y", F32, out_shape)])
    assert_matches_reference(model, {"a": randn(*a_shape), "b": randn(*b_shape)}, tmp_path)


def test_matmul_reports_macs(tmp_path):
    model = make_model([helper.make_node("MatMul", ["a", "b"], ["y"])],
                       [("a", F32, [2, 3, 4])], [("y", F32, [2, 3, 5])], {"b": randn(4, 5)})
    _, report = assert_matches_reference(model, {"a": randn(2, 3, 4)}, tmp_path)
    assert report["macs"] == 2 * 3 * 4 * 5


# -- Softmax, LogSoftmax, Hardmax -----------------------------------------------------

def softmax_family_oracle(op: str, x: np.ndarray, axis: int) -> np.ndarray:
    """numpy Softmax/LogSoftmax/Hardmax along one axis, in float64."""
    x = x.astype(np.float64)
    z = x - x.max(axis=axis, keepdims=True)
    if op == "Softmax":
        y = np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)
    elif op == "LogSoftmax":
        y = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
    else:
        y = np.zeros_like(x)
        np.put_along_axis(y, np.expand_dims(np.argmax(x, axis=axis), axis), 1.0, axis=axis)
    return y.astype(F32)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(13, None), (13, 0), (13, 1), (11, -1), (11, 2)])
def test_softmax_family_single_axis(op, opset, axis, tmp_path):
    """From opset 13 along `axis`; before, the same whenever axis is the last one."""
    shape = [2, 3, 4]
    attrs = {} if axis is None else {"axis": axis}
    model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", F32, shape)],
                       [("y", F32, shape)], opset=opset)
    x = randn(*shape) * 4
    if op == "Hardmax":
        x = np.round(x / 4).astype(F32)   # plenty of ties: the first maximum wins
    assert_matches_reference(model, {"x": x}, tmp_path)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("opset,axis", [(11, None), (11, 0), (1, 1), (11, -2)])
def test_softmax_family_legacy_2d(op, opset, axis, tmp_path):
    """Before opset 13 the input is flattened to 2-D at `axis` (default 1). The
    onnx reference evaluator does not do that, so compare with numpy."""
    shape = [2, 3, 4]
    attrs = {} if axis is None else {"axis": axis}
    model = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", F32, shape)],
                       [("y", F32, shape)], opset=opset)
    x = np.round(randn(*shape) * 2).astype(F32)
    got, _ = run_zonnx(model, {"x": x}, tmp_path)
    a = (1 if axis is None else axis) % len(shape)
    flat = x.reshape(int(np.prod(shape[:a])), -1)
    want = softmax_family_oracle(op, flat, 1).reshape(shape)
    c_ = compare(want, got["y"])
    assert c_.ok, c_


def test_softmax_large_and_nan(tmp_path):
    model = make_model([helper.make_node("Softmax", ["x"], ["y"])], [("x", F32, [3, 4])],
                       [("y", F32, [3, 4])], opset=13)
    x = np.array([[1e30, 1e30, -1e30, 0], [88, 89, 90, 91], [0, np.nan, 1, 2]], F32)
    assert_matches_reference(model, {"x": x}, tmp_path)


def test_softmax_runs_in_place(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Softmax", ["r"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"])]
    model = make_model(nodes, [("x", F32, [4, 16])], [("y", F32, [4, 16])], opset=13)
    _, report = assert_matches_reference(model, {"x": randn(4, 16)}, tmp_path)
    assert any(n["op"] == "Softmax" and n["inplace"] for n in report["nodes"])


# -- Reduce* ---------------------------------------------------------------------------

REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
              "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]


def reduce_model(op, shape, out_shape, dtype=F32, opset=18, axes=None, **attrs):
    """axes go in an attribute or a constant input, as the opset wants."""
    as_input = opset >= (13 if op == "ReduceSum" else 18)
    inputs, inits = ["x"], {}
    if axes is not None and as_input:
        inputs.append("axes")
        inits["axes"] = np.array(axes, np.int64)
    elif axes is not None:
        attrs["axes"] = axes
    return make_model([helper.make_node(op, inputs, ["y"], **attrs)], [("x", dtype, shape)],
                      [("y", dtype, out_shape)], inits, opset=opset)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("opset", [11, 18])
def test_reduce_multi_axes(op, opset, tmp_path):
    # axes 0 and 2 are not neighbours: two kept and two reduced groups
    model = reduce_model(op, [2, 3, 4, 5], [3, 5], opset=opset, axes=[0, -2], keepdims=0)
    x = np.abs(randn(2, 3, 4, 5)) + 0.5 if op == "ReduceLogSum" else randn(2, 3, 4, 5)
    assert_matches_reference(model, {"x": x.astype(F32)}, tmp_path)


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceLogSumExp", "ReduceL2"])
def test_reduce_float64(op, tmp_path):
    model = reduce_model(op, [3, 4], [3, 1], dtype=np.float64, axes=[1])
    assert_matches_reference(model, {"x": randn(3, 4, dtype=np.float64)}, tmp_path)


def test_reduce_all_axes_to_scalar(tmp_path):
    model = reduce_model("ReduceSum", [2, 3], [], opset=13, keepdims=0)
    assert_matches_reference(model, {"x": randn(2, 3)}, tmp_path)


def test_reduce_sum_noop_without_axes(tmp_path):
    model = reduce_model("ReduceSum", [2, 3], [2, 3], opset=13, noop_with_empty_axes=1)
    assert_matches_reference(model, {"x": randn(2, 3)}, tmp_path)


def test_reduce_scalar_input(tmp_path):
    model = reduce_model("ReduceL1", [], [], opset=18)
    assert_matches_reference(model, {"x": np.array(-2.5, F32)}, tmp_path)


def test_reduce_max_propagates_nan(tmp_path):
    model = reduce_model("ReduceMax", [2, 3], [2, 1], axes=[1])
    x = np.array([[1, np.nan, 3], [4, 5, 6]], F32)
    got, _ = assert_matches_reference(model, {"x": x}, tmp_path)
    assert np.isnan(got["y"][0, 0])


def test_reduce_log_sum_exp_infinities(tmp_path):
    model = reduce_model("ReduceLogSumExp", [3, 3], [3, 1], axes=[1])
    x = np.array([[np.inf, 1, 2], [-np.inf, 1, 2], [1000, 1001, -np.inf]], F32)
    assert_matches_reference(model, {"x": x}, tmp_path)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceProd", "ReduceSumSquare", "ReduceMean",
                                "ReduceL1", "ReduceMax", "ReduceMin"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_reduce_integers_wrap(op, dtype, tmp_path):
    """Overflowing sums and products wrap like numpy, without signed-overflow UB;
    Mean truncates toward zero."""
    info = np.iinfo(dtype)
    x = np.array([[info.max, info.max, 3], [info.min, -7, 2], [-9, 4, 1]], dtype)
    if op == "ReduceMean" and dtype == np.int64:
        x //= 2 ** 12    # the reference divides in float64: exact only below 2**53
    model = reduce_model(op, [3, 3], [3], dtype=dtype, axes=[1], keepdims=0)
    assert_matches_reference(model, {"x": x}, tmp_path)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.bool_])
@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
def test_reduce_max_min_small_types(op, dtype, tmp_path):
    x = RNG.integers(0, 2, (4, 5)).astype(dtype) if dtype == np.bool_ else \
        RNG.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, (4, 5)).astype(dtype)
    model = reduce_model(op, [4, 5], [1, 5], dtype=dtype, opset=20, axes=[0])
    assert_matches_reference(model, {"x": x}, tmp_path)


def test_reduce_runtime_axes_rejected(tmp_path):
    model = make_model([helper.make_node("ReduceMean", ["x", "axes"], ["y"])],
                       [("x", F32, [2, 3]), ("axes", np.int64, [1])], [("y", F32, None)], opset=18)
    assert_rejected(model, tmp_path, "axes")


def test_reduce_l2_integer_rejected(tmp_path):
    model = reduce_model("ReduceL2", [2, 3], [2, 1], dtype=np.int32, axes=[1])
    assert_rejected(model, tmp_path, "int32")


# -- ArgMax, ArgMin ---------------------------------------------------------------------

@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("last", [0, 1])
@pytest.mark.parametrize("dtype", [F32, np.int32, np.uint8])
def test_arg_ties(op, last, dtype, tmp_path):
    x = RNG.integers(0, 3, (3, 5, 2)).astype(dtype)
    node = helper.make_node(op, ["x"], ["y"], axis=1, keepdims=0, select_last_index=last)
    model = make_model([node], [("x", dtype, [3, 5, 2])], [("y", np.int64, [3, 2])], opset=13)
    assert_matches_reference(model, {"x": x}, tmp_path)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("last", [0, 1])
def test_arg_nan(op, last, tmp_path):
    x = np.array([[1, np.nan, 5, np.nan], [3, 3, 0, 0], [np.nan, 2, 1, 0]], F32)
    node = helper.make_node(op, ["x"], ["y"], axis=-1, select_last_index=last)
    model = make_model([node], [("x", F32, [3, 4])], [("y", np.int64, [3, 1])], opset=13)
    assert_matches_reference(model, {"x": x}, tmp_path)


def test_argmax_opset1_default_axis(tmp_path):
    node = helper.make_node("ArgMax", ["x"], ["y"])
    model = make_model([node], [("x", F32, [4, 3])], [("y", np.int64, [1, 3])], opset=1)
    assert_matches_reference(model, {"x": randn(4, 3)}, tmp_path)
