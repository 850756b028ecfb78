"""Graph passes: each fires exactly where it preserves semantics, and nowhere else.

Structure is checked on the IR; values by running onnx.reference on the original
model and on the transformed graph (zonnx.onnx_io.to_onnx). Fused activations
are not ONNX, so those graphs are expanded back into producer + activation first.
"""

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from zonnx import ops
from zonnx.errors import ZonnxError
from zonnx.ir import Graph
from zonnx.load import load
from zonnx.onnx_io import to_onnx
from zonnx.passes import PASS_NAMES, run_passes
from zonnx.passes.constant_fold import fold_constants
from zonnx.passes.dead_code import eliminate_dead_code
from zonnx.passes.fold_batchnorm import fold_batchnorm
from zonnx.passes.fuse_activation import fuse_activations
from zonnx.passes.remove_identity import remove_identity
from zonnx_testing import assert_matches_reference, make_model

F32 = np.float32
RNG = np.random.default_rng(0)


def _rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape).astype(F32)


def _load(model, tmp_path, name="m") -> Graph:
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return load(str(path))


def _apply(fn, g: Graph) -> Graph:
    """Run a pass and check it left its input graph untouched."""
    nodes, tensors = g.nodes, dict(g.tensors)
    out = fn(g)
    assert g.nodes == nodes and g.tensors.keys() == tensors.keys()
    assert all(g.tensors[k] is t for k, t in tensors.items())
    return out


def _ops(g: Graph) -> list[str]:
    return [n.op_type for n in g.nodes]


def _node(g: Graph, op_type: str):
    (n,) = [n for n in g.nodes if n.op_type == op_type]
    return n


def _unfuse(g: Graph) -> onnx.ModelProto:
    """ONNX equivalent of g: each `_activation` becomes a node after its producer."""
    model = to_onnx(g, with_value_info=False)
    nodes = []
    for ir_node, node in zip(g.nodes, model.graph.node):
        spec = ir_node.attr("_activation")
        if spec is None:
            nodes.append(node)
            continue
        tmp = f"{node.output[0]}__pre"
        act_out = node.output[0]
        node.output[0] = tmp
        nodes.append(node)
        if spec["op"] == "Clip":
            lo, hi = (f"{tmp}__{k}" for k in ("min", "max"))
            model.graph.initializer.extend([
                numpy_helper.from_array(np.array(spec["attrs"]["min"], F32), lo),
                numpy_helper.from_array(np.array(spec["attrs"]["max"], F32), hi)])
            nodes.append(helper.make_node("Clip", [tmp, lo, hi], [act_out]))
        else:
            nodes.append(helper.make_node(spec["op"], [tmp], [act_out], **spec["attrs"]))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    if g.opset("") < 11:   # Clip bounds as inputs need opset 11
        del model.opset_import[:]
        model.opset_import.append(helper.make_opsetid("", 11))
    return model


def _assert_same(model, g: Graph, feeds, tol=1e-5):
    want = ReferenceEvaluator(model).run(None, feeds)
    fused = any("_activation" in n.attrs for n in g.nodes)
    got = ReferenceEvaluator(_unfuse(g) if fused else to_onnx(g)).run(None, feeds)
    assert len(got) == len(want)
    for w, r in zip(want, got):
        np.testing.assert_allclose(r, w, rtol=tol, atol=tol)


# -- fold-constants -------------------------------------------------------------

def test_fold_shape_gather_concat_reshape(tmp_path):
    m = make_model([helper.make_node("Shape", ["x"], ["s"]),
                    helper.make_node("Gather", ["s", "i0"], ["d0"], axis=0),
                    helper.make_node("Concat", ["d0", "minus1"], ["shp"], axis=0),
                    helper.make_node("Reshape", ["x", "shp"], ["y"])],
                   [("x", F32, [2, 3, 4])], [("y", F32, [2, 12])],
                   {"i0": np.array([0], np.int64), "minus1": np.array([-1], np.int64)})
    g = _apply(fold_constants, _load(m, tmp_path))
    assert _ops(g) == ["Reshape"]
    np.testing.assert_array_equal(g.const(g.nodes[0].inputs[1]), [2, -1])
    assert g.tensors["y"].shape == (2, 12)
    _assert_same(m, g, {"x": _rand(2, 3, 4)})


def test_fold_constant_of_shape_and_range(tmp_path):
    value = numpy_helper.from_array(np.array([1.5], F32))
    m = make_model([helper.make_node("Shape", ["x"], ["s"]),
                    helper.make_node("ConstantOfShape", ["s"], ["c"], value=value),
                    helper.make_node("Add", ["x", "c"], ["a"]),
                    helper.make_node("Range", ["start", "limit", "delta"], ["r"]),
                    helper.make_node("Add", ["a", "r"], ["y"])],
                   [("x", F32, [3, 4])], [("y", F32, [3, 4])],
                   {"start": np.array(0, F32), "limit": np.array(4, F32), "delta": np.array(1, F32)})
    g = _apply(fold_constants, _load(m, tmp_path))
    assert _ops(g) == ["Add", "Add"]
    np.testing.assert_array_equal(g.const("c"), np.full((3, 4), 1.5, F32))
    np.testing.assert_array_equal(g.const("r"), [0, 1, 2, 3])
    _assert_same(m, g, {"x": _rand(3, 4)})


def test_fold_stops_at_large_expansion(tmp_path):
    # a 4 MiB constant from 16 bytes of shape stays a kernel
    m = make_model([helper.make_node("ConstantOfShape", ["shape"], ["c"]),
                    helper.make_node("Add", ["x", "c"], ["y"])],
                   [("x", F32, [1024, 1024])], [("y", F32, [1024, 1024])],
                   {"shape": np.array([1024, 1024], np.int64)})
    g = _apply(fold_constants, _load(m, tmp_path))
    assert _ops(g) == ["ConstantOfShape", "Add"]


# -- remove-identity ------------------------------------------------------------

def test_remove_identity_and_dropout(tmp_path):
    m = make_model([helper.make_node("Identity", ["x"], ["a"]),
                    helper.make_node("Relu", ["a"], ["b"]),
                    helper.make_node("Dropout", ["b", "ratio"], ["c"]),
                    helper.make_node("Identity", ["c"], ["d"]),
                    helper.make_node("Sigmoid", ["d"], ["y"])],
                   [("x", F32, [2, 5])], [("y", F32, [2, 5])], {"ratio": np.array(0.3, F32)})
    g = _apply(remove_identity, _load(m, tmp_path))
    assert _ops(g) == ["Relu", "Sigmoid"]
    assert g.nodes[0].inputs == ("x",) and g.nodes[1].inputs == ("b",)
    _assert_same(m, g, {"x": _rand(2, 5)})


def test_remove_identity_keeps_graph_output_and_training_dropout(tmp_path):
    m = make_model([helper.make_node("Identity", ["x"], ["y"]),
                    helper.make_node("Dropout", ["x", "ratio", "train"], ["d1"]),
                    helper.make_node("Dropout", ["x"], ["d2", "mask"])],
                   [("x", F32, [2, 5])],
                   [("y", F32, [2, 5]), ("d1", F32, [2, 5]), ("d2", F32, [2, 5]),
                    ("mask", TensorProto.BOOL, [2, 5])],
                   {"ratio": np.array(0.5, F32), "train": np.array(True)})
    g = _apply(remove_identity, _load(m, tmp_path))
    assert _ops(g) == ["Identity", "Dropout", "Dropout"]


# -- fold-batchnorm -------------------------------------------------------------

def _bn_params(c, prefix="bn"):
    return {f"{prefix}_s": _rand(c, lo=0.5, hi=1.5), f"{prefix}_b": _rand(c),
            f"{prefix}_m": _rand(c), f"{prefix}_v": _rand(c, lo=0.1, hi=2.0)}


def _bn(x, y, prefix="bn", **attrs):
    return helper.make_node("BatchNormalization", [x] + [f"{prefix}_{k}" for k in "sbmv"], [y],
                            name=prefix, **attrs)


def _check_folded(m, g, feeds, producer: str, name: str, out: str, before: Graph):
    assert _ops(g) == [producer]
    node = g.nodes[0]
    assert node.name == name and node.outputs == (out,)
    fresh = [i for i in node.inputs[1:] if i not in before.tensors]
    assert len(fresh) == 2 and all(g.tensors[i].is_const for i in fresh)
    assert all(g.tensors[i].dtype.name == "float32" for i in node.inputs[1:])
    if m is not None:
        _assert_same(m, g, feeds)


@pytest.mark.parametrize("group,bias", [(1, True), (2, False)])
def test_fold_batchnorm_into_conv(tmp_path, group, bias):
    w = _rand(6, 4 // group, 3, 3)
    inits = {"w": w, **_bn_params(6)}
    ins = ["x", "w"] + (["b"] if bias else [])
    if bias:
        inits["b"] = _rand(6)
    m = make_model([helper.make_node("Conv", ins, ["c"], name="conv", group=group, pads=[1, 1, 1, 1]),
                    _bn("c", "y", epsilon=1e-3)],
                   [("x", F32, [1, 4, 5, 5])], [("y", F32, [1, 6, 5, 5])], inits)
    g0 = _load(m, tmp_path)
    g = _apply(fold_batchnorm, g0)
    _check_folded(m, g, {"x": _rand(1, 4, 5, 5)}, "Conv", "conv", "y", g0)
    assert "c" not in g.tensors


def _conv_transpose_np(x, w, b, group, stride):
    """Grouped 2-D ConvTranspose without padding (onnx.reference mishandles group > 1)."""
    n, c, h, wd = x.shape
    cg, mg, kh, kw = c // group, w.shape[1], w.shape[2], w.shape[3]
    y = np.zeros((n, group * mg, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for g in range(group):
        xs, ws = x[:, g * cg:(g + 1) * cg], w[g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                y[:, g * mg:(g + 1) * mg, i:i + (h - 1) * stride + 1:stride,
                  j:j + (wd - 1) * stride + 1:stride] += np.einsum("nchw,cm->nmhw", xs, ws[:, :, i, j])
    return y + b.reshape(1, -1, 1, 1)


@pytest.mark.parametrize("group,bias", [(1, True), (1, False), (2, False), (2, True)])
def test_fold_batchnorm_into_conv_transpose(tmp_path, group, bias):
    # W is [C, M/group, k...]: M = 3 * group output channels
    inits = {"w": _rand(4, 3, 2, 2), **_bn_params(3 * group)}
    ins = ["x", "w"] + (["b"] if bias else [])
    if bias:
        inits["b"] = _rand(3 * group)
    m = make_model([helper.make_node("ConvTranspose", ins, ["c"], name="deconv", group=group,
                                     strides=[2, 2]),
                    _bn("c", "y")],
                   [("x", F32, [1, 4, 3, 3])], [("y", F32, [1, 3 * group, 6, 6])], inits)
    g0 = _load(m, tmp_path)
    g = _apply(fold_batchnorm, g0)
    x = _rand(1, 4, 3, 3)
    if group == 1:
        _check_folded(m, g, {"x": x}, "ConvTranspose", "deconv", "y", g0)
        return
    _check_folded(None, g, None, "ConvTranspose", "deconv", "y", g0)
    p = {k: v.astype(np.float64) for k, v in inits.items()}
    y = _conv_transpose_np(x, p["w"], p.get("b", np.zeros(6)), group, 2)
    scale = (p["bn_s"] / np.sqrt(p["bn_v"] + 1e-5)).reshape(1, -1, 1, 1)
    want = (y - p["bn_m"].reshape(1, -1, 1, 1)) * scale + p["bn_b"].reshape(1, -1, 1, 1)
    node = g.nodes[0]
    got = _conv_transpose_np(x, g.const(node.inputs[1]), g.const(node.inputs[2]), group, 2)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("c_shape", [None, (), (5,), (1, 5)])
def test_fold_batchnorm_into_gemm(tmp_path, trans_b, c_shape):
    inits = {"w": _rand(5, 3) if trans_b else _rand(3, 5), **_bn_params(5)}
    ins = ["x", "w"]
    if c_shape is not None:
        inits["c"] = _rand(*c_shape)
        ins.append("c")
    m = make_model([helper.make_node("Gemm", ins, ["g"], name="fc", transB=trans_b,
                                     alpha=0.7, beta=1.3),
                    _bn("g", "y")],
                   [("x", F32, [2, 3])], [("y", F32, [2, 5])], inits)
    g0 = _load(m, tmp_path)
    g = _apply(fold_batchnorm, g0)
    _check_folded(m, g, {"x": _rand(2, 3)}, "Gemm", "fc", "y", g0)
    node = g.nodes[0]
    assert g.tensors[node.inputs[2]].shape == (5,)
    assert node.attrs["alpha"] == pytest.approx(0.7) and node.attrs["beta"] == 1.0


def test_fold_two_batchnorms_in_a_row(tmp_path):
    m = make_model([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                    _bn("c", "z", "bn1"), _bn("z", "y", "bn2")],
                   [("x", F32, [1, 2, 4, 4])], [("y", F32, [1, 3, 4, 4])],
                   {"w": _rand(3, 2, 1, 1), **_bn_params(3, "bn1"), **_bn_params(3, "bn2")})
    g = _apply(fold_batchnorm, _load(m, tmp_path))
    assert _ops(g) == ["Conv"] and g.nodes[0].outputs == ("y",)
    _assert_same(m, g, {"x": _rand(1, 2, 4, 4)})


def _conv_bn_model(extra_nodes=(), outputs=(("y", F32, [1, 3, 4, 4]),), w_input=False,
                   opset=17, **bn_attrs):
    inits = _bn_params(3)
    inputs = [("x", F32, [1, 2, 4, 4])]
    if w_input:
        inputs.append(("w", F32, [3, 2, 1, 1]))
    else:
        inits["w"] = _rand(3, 2, 1, 1)
    return make_model([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                       _bn("c", "y", **bn_attrs), *extra_nodes], inputs, list(outputs), inits,
                      opset=opset)


def test_fold_batchnorm_opset6_test_mode(tmp_path):
    m = _conv_bn_model(opset=6, is_test=1)
    g0 = _load(m, tmp_path)
    g = _apply(fold_batchnorm, g0)
    _check_folded(m, g, {"x": _rand(1, 2, 4, 4)}, "Conv", "conv", "y", g0)


@pytest.mark.parametrize("case", ["used_twice", "graph_output", "weights_input", "mean_input",
                                  "opset6_batch_statistics", "gemm_c_varies_along_n"])
def test_fold_batchnorm_does_not_fire(tmp_path, case):
    if case == "used_twice":
        m = _conv_bn_model([helper.make_node("Relu", ["c"], ["r"])],
                           [("y", F32, [1, 3, 4, 4]), ("r", F32, [1, 3, 4, 4])])
    elif case == "graph_output":
        m = _conv_bn_model(outputs=[("y", F32, [1, 3, 4, 4]), ("c", F32, [1, 3, 4, 4])])
    elif case == "weights_input":
        m = _conv_bn_model(w_input=True)
    elif case == "mean_input":
        m = _conv_bn_model()
        m.graph.initializer.remove(next(i for i in m.graph.initializer if i.name == "bn_m"))
        m.graph.input.append(helper.make_tensor_value_info("bn_m", TensorProto.FLOAT, [3]))
    elif case == "opset6_batch_statistics":
        m = _conv_bn_model(opset=6)           # is_test defaults to 0: batch statistics
    else:
        m = make_model([helper.make_node("Gemm", ["x", "w", "cc"], ["g"]), _bn("g", "y")],
                       [("x", F32, [2, 3])], [("y", F32, [2, 3])],
                       {"w": _rand(3, 3), "cc": _rand(2, 3), **_bn_params(3)})
    g0 = _load(m, tmp_path)
    g = _apply(fold_batchnorm, g0)
    assert g.nodes == g0.nodes


def test_fold_batchnorm_skips_producer_with_fused_activation(tmp_path):
    m = make_model([helper.make_node("Conv", ["x", "w"], ["c"]),
                    helper.make_node("Relu", ["c"], ["r"]), _bn("r", "y")],
                   [("x", F32, [1, 2, 4, 4])], [("y", F32, [1, 3, 4, 4])],
                   {"w": _rand(3, 2, 1, 1), **_bn_params(3)})
    g = fuse_activations(_load(m, tmp_path))
    assert _ops(g) == ["Conv", "BatchNormalization"]
    assert _apply(fold_batchnorm, g).nodes == g.nodes


# -- fuse-activations -----------------------------------------------------------

def _fused(g: Graph, op: str) -> dict:
    assert len(g.nodes) == 1 and g.nodes[0].op_type == op
    return g.nodes[0].attrs["_activation"]


def test_fuse_conv_relu(tmp_path):
    m = make_model([helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv"),
                    helper.make_node("Relu", ["c"], ["y"])],
                   [("x", F32, [1, 2, 4, 4])], [("y", F32, [1, 3, 2, 2])],
                   {"w": _rand(3, 2, 3, 3), "b": _rand(3)})
    g = _apply(fuse_activations, _load(m, tmp_path))
    assert _fused(g, "Conv") == {"op": "Relu", "attrs": {}}
    assert g.nodes[0].name == "conv" and g.nodes[0].outputs == ("y",) and "c" not in g.tensors
    _assert_same(m, g, {"x": _rand(1, 2, 4, 4)})


# producer -> (x shape, weight, output shape)
_PRODUCER_CASES = {
    "Gemm": ([2, 3], (3, 4), [2, 4]),
    "MatMul": ([2, 3], (3, 4), [2, 4]),
    "Conv": ([1, 3, 3, 3], (4, 3, 1, 1), [1, 4, 3, 3]),
    "ConvTranspose": ([1, 3, 3, 3], (3, 4, 1, 1), [1, 4, 3, 3]),
}


@pytest.mark.parametrize("producer,act,attrs", [
    ("Gemm", "LeakyRelu", {"alpha": 0.2}),
    ("MatMul", "Sigmoid", {}),
    ("ConvTranspose", "HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
    ("Conv", "Gelu", {"approximate": "tanh"}),
])
def test_fuse_activation_attrs(tmp_path, producer, act, attrs):
    x_shape, w_shape, y_shape = _PRODUCER_CASES[producer]
    m = make_model([helper.make_node(producer, ["x", "w"], ["p"]),
                    helper.make_node(act, ["p"], ["y"], **attrs)],
                   [("x", F32, x_shape)], [("y", F32, y_shape)], {"w": _rand(*w_shape)}, opset=20)
    g = _apply(fuse_activations, _load(m, tmp_path))
    spec = _fused(g, producer)
    assert spec["op"] == act and spec["attrs"].keys() == attrs.keys()
    for k, v in attrs.items():
        assert spec["attrs"][k] == (pytest.approx(v) if isinstance(v, float) else v)
    _assert_same(m, g, {"x": _rand(*x_shape, lo=-3, hi=3)})


@pytest.mark.parametrize("opset,bounds,want", [
    (17, (0.0, 6.0), (0.0, 6.0)),
    (17, (None, 0.5), (-math.inf, 0.5)),
    (17, (-0.5, None), (-0.5, math.inf)),
    (6, (-0.25, 0.25), (-0.25, 0.25)),
    (6, (None, None), (-float(np.finfo(F32).max), float(np.finfo(F32).max))),
])
def test_fuse_clip(tmp_path, opset, bounds, want):
    inits = {"w": _rand(3, 2, 1, 1)}
    if opset >= 11:
        names = []
        for key, v in zip(("lo", "hi"), bounds):
            names.append("" if v is None else key)
            if v is not None:
                inits[key] = np.array(v, F32)
        clip = helper.make_node("Clip", ["c", *names], ["y"])
    else:
        clip = helper.make_node("Clip", ["c"], ["y"], **{k: v for k, v in zip(("min", "max"), bounds)
                                                         if v is not None})
    m = make_model([helper.make_node("Conv", ["x", "w"], ["c"]), clip],
                   [("x", F32, [1, 2, 3, 3])], [("y", F32, [1, 3, 3, 3])], inits, opset=opset)
    g = _apply(fuse_activations, _load(m, tmp_path))
    assert _fused(g, "Conv") == {"op": "Clip", "attrs": {"min": want[0], "max": want[1]}}
    _assert_same(m, g, {"x": _rand(1, 2, 3, 3, lo=-3, hi=3)})


def test_fuse_runs_once_per_producer(tmp_path):
    m = make_model([helper.make_node("MatMul", ["x", "w"], ["p"]),
                    helper.make_node("Relu", ["p"], ["r"]),
                    helper.make_node("Tanh", ["r"], ["y"])],
                   [("x", F32, [2, 3])], [("y", F32, [2, 4])], {"w": _rand(3, 4)})
    g = _apply(fuse_activations, _load(m, tmp_path))
    assert _ops(g) == ["MatMul", "Tanh"]
    again = _apply(fuse_activations, g)
    assert again.nodes == g.nodes
    _assert_same(m, g, {"x": _rand(2, 3)})


@pytest.mark.parametrize("case", ["used_twice", "graph_output", "clip_min_input", "int_matmul",
                                  "not_a_producer", "not_fusable"])
def test_fuse_does_not_fire(tmp_path, case):
    w = _rand(3, 4)
    inputs, outputs, inits = [("x", F32, [2, 3])], [("y", F32, [2, 4])], {"w": w}
    nodes = [helper.make_node("MatMul", ["x", "w"], ["p"]), helper.make_node("Relu", ["p"], ["y"])]
    if case == "used_twice":
        nodes.append(helper.make_node("Neg", ["p"], ["z"]))
        outputs.append(("z", F32, [2, 4]))
    elif case == "graph_output":
        outputs.append(("p", F32, [2, 4]))
    elif case == "clip_min_input":
        nodes[1] = helper.make_node("Clip", ["p", "lo"], ["y"])
        inputs.append(("lo", F32, []))
    elif case == "int_matmul":
        inputs, outputs = [("x", np.int32, [2, 3])], [("y", np.int32, [2, 4])]
        inits = {"w": np.ones((3, 4), np.int32)}
    elif case == "not_a_producer":
        nodes[0] = helper.make_node("Add", ["x", "x"], ["p"])
        inits, outputs = {}, [("y", F32, [2, 3])]
    else:
        nodes[1] = helper.make_node("Softmax", ["p"], ["y"])
    g0 = _load(make_model(nodes, inputs, outputs, inits), tmp_path)
    g = _apply(fuse_activations, g0)
    assert g.nodes == g0.nodes


# -- eliminate-dead-code --------------------------------------------------------

def test_eliminate_dead_code(tmp_path):
    m = make_model([helper.make_node("Relu", ["x"], ["y"]),
                    helper.make_node("Add", ["x", "k"], ["a"]),
                    helper.make_node("Sigmoid", ["a"], ["unused"])],
                   [("x", F32, [4])], [("y", F32, [4])], {"k": _rand(4)})
    g0 = _load(m, tmp_path)
    g = _apply(eliminate_dead_code, g0)
    assert _ops(g) == ["Relu"]
    assert not {"k", "a", "unused"} & set(g.tensors) and {"x", "y"} <= set(g.tensors)
    _assert_same(m, g, {"x": _rand(4)})


# -- pass manager ---------------------------------------------------------------

def _conv_bn_relu():
    return make_model([helper.make_node("Identity", ["x"], ["xi"]),
                       helper.make_node("Conv", ["xi", "w"], ["c"], name="conv"), _bn("c", "z"),
                       helper.make_node("Relu", ["z"], ["y"])],
                      [("x", F32, [1, 2, 4, 4])], [("y", F32, [1, 3, 4, 4])],
                      {"w": _rand(3, 2, 1, 1), **_bn_params(3)})


def test_pass_manager_runs_all_in_order(tmp_path):
    g = run_passes(_load(_conv_bn_relu(), tmp_path))
    assert _ops(g) == ["Conv"] and g.nodes[0].attrs["_activation"]["op"] == "Relu"
    # replaced weights, BN parameters and intermediates are gone
    assert not {"bn_s", "bn_b", "bn_m", "bn_v", "w", "xi", "c", "z"} & set(g.tensors)


def test_pass_manager_skips_disabled(tmp_path):
    g0 = _load(_conv_bn_relu(), tmp_path)
    assert _ops(run_passes(g0, ["remove-identity", "fold-batchnorm"])) == \
        ["Identity", "Conv", "BatchNormalization", "Relu"]
    assert _ops(run_passes(g0, ["fuse-activations"])) == ["Conv", "Relu"]
    assert run_passes(g0, PASS_NAMES).nodes == g0.nodes


def test_pass_manager_rejects_unknown_pass(tmp_path):
    with pytest.raises(ZonnxError, match="no-such-pass"):
        run_passes(_load(_conv_bn_relu(), tmp_path), ["fold-batchnorm", "no-such-pass"])


# -- end to end: fused kernels against onnx.reference ---------------------------

def _require(*op_types):
    missing = [op for op in op_types if ("", op) not in ops.REGISTRY]
    assert not missing, f"ops not registered: {', '.join(missing)}"


def _assert_fused_e2e(m, feeds, tmp_path, producer):
    _, report = assert_matches_reference(m, feeds, tmp_path)
    assert [n["op"] for n in report["nodes"]] == [producer]


def test_e2e_conv_relu(tmp_path):
    _require("Conv")
    m = make_model([helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                    helper.make_node("Relu", ["c"], ["y"])],
                   [("x", F32, [1, 2, 5, 5])], [("y", F32, [1, 4, 5, 5])],
                   {"w": _rand(4, 2, 3, 3), "b": _rand(4)})
    _assert_fused_e2e(m, {"x": _rand(1, 2, 5, 5)}, tmp_path, "Conv")


def test_e2e_gemm_relu(tmp_path):
    _require("Gemm")
    m = make_model([helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
                    helper.make_node("Relu", ["g"], ["y"])],
                   [("x", F32, [3, 6])], [("y", F32, [3, 5])], {"w": _rand(5, 6), "b": _rand(5)})
    _assert_fused_e2e(m, {"x": _rand(3, 6)}, tmp_path, "Gemm")


def test_e2e_conv_clip(tmp_path):
    _require("Conv")
    m = make_model([helper.make_node("Conv", ["x", "w"], ["c"]),
                    helper.make_node("Clip", ["c", "lo", "hi"], ["y"])],
                   [("x", F32, [1, 3, 4, 4])], [("y", F32, [1, 2, 2, 2])],
                   {"w": _rand(2, 3, 3, 3), "lo": np.array(-0.5, F32), "hi": np.array(0.5, F32)})
    _assert_fused_e2e(m, {"x": _rand(1, 3, 4, 4, lo=-2, hi=2)}, tmp_path, "Conv")


def test_e2e_conv_batchnorm_relu(tmp_path):
    _require("Conv")
    _assert_fused_e2e(_conv_bn_relu(), {"x": _rand(1, 2, 4, 4)}, tmp_path, "Conv")


@pytest.mark.parametrize("bounds", [(0.0, 0.6), (None, 0.2)])
def test_e2e_gemm_clip(tmp_path, bounds):
    _require("Gemm")
    inits = {"w": _rand(6, 5), **{k: np.array(v, F32) for k, v in zip(("lo", "hi"), bounds)
                                  if v is not None}}
    clip_ins = ["g"] + ["" if v is None else k for k, v in zip(("lo", "hi"), bounds)]
    m = make_model([helper.make_node("Gemm", ["x", "w"], ["g"]),
                    helper.make_node("Clip", clip_ins, ["y"])],
                   [("x", F32, [3, 6])], [("y", F32, [3, 5])], inits)
    _assert_fused_e2e(m, {"x": _rand(3, 6)}, tmp_path, "Gemm")
