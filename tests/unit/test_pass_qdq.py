"""fuse-qdq: QDQ models written by onnxruntime.quantization.quantize_static become
QLinearConv / QLinearMatMul, and zonnx's integer kernels then agree with
onnxruntime (which runs the same fused integer kernels): >= 99 % equal output
elements, at most 1 LSB apart. With the pass disabled the float islands still
run and agree within a few output scales.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from zonnx.ir import Graph
from zonnx.load import load
from zonnx.passes import PASS_NAMES, run_passes
from zonnx.passes.fuse_qdq import fuse_qdq
from zonnx.pipeline import GenerateOptions
from zonnx_testing import make_model, run_zonnx

ort = pytest.importorskip("onnxruntime")
quant = pytest.importorskip("onnxruntime.quantization")

F32 = np.float32
RNG = np.random.default_rng(7)


def _rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape).astype(F32)


# -- models --------------------------------------------------------------------------

def _conv_chain(opset=13):
    """Conv(pad 1, bias) -> Relu -> Conv (no bias)."""
    nodes = [helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "W2"], ["y"], name="conv2", strides=[2, 2])]
    inits = {"W1": _rand(4, 3, 3, 3), "B1": _rand(4), "W2": _rand(5, 4, 3, 3)}
    return make_model(nodes, [("x", F32, [1, 3, 9, 9])], [("y", F32, [1, 5, 4, 4])], inits, opset=opset), \
        (1, 3, 9, 9)


def _matmul(opset=13):
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")]
    return make_model(nodes, [("x", F32, [3, 16])], [("y", F32, [3, 6])], {"W": _rand(16, 6)},
                      opset=opset), (3, 16)


class _Reader(quant.CalibrationDataReader):
    def __init__(self, shape, n=4):
        self.it = iter([{"x": _rand(*shape)} for _ in range(n)])

    def get_next(self):
        return next(self.it, None)


def _quantize(model, shape, tmp_path, per_channel, act, name="q"):
    f, q = tmp_path / f"{name}_float.onnx", tmp_path / f"{name}.onnx"
    onnx.save(model, f)
    reader = _Reader(shape)
    quant.quantize_static(str(f), str(q), reader, quant_format=quant.QuantFormat.QDQ,
                          per_channel=per_channel, activation_type=act,
                          weight_type=quant.QuantType.QInt8)
    return onnx.load(str(q))


# -- comparing -----------------------------------------------------------------------

def _ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def _out_scale(model, out):
    (dq,) = [n for n in model.graph.node if n.output[0] == out]
    assert dq.op_type == "DequantizeLinear"
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return float(inits[dq.input[1]].reshape(-1)[0])


def _lsb(model, got, want, out="y"):
    d = np.abs(got[out].astype(np.float64) - want[out].astype(np.float64)) / _out_scale(model, out)
    return np.rint(d)


def _check_fused(model, feeds, tmp_path, name):
    got, report = run_zonnx(model, feeds, tmp_path, name=name)
    d = _lsb(model, got, _ort(model, feeds))
    assert d.max() <= 1, f"max {d.max()} LSB from onnxruntime"
    assert np.mean(d == 0) >= 0.99, f"only {np.mean(d == 0):.3%} equal to onnxruntime"
    return report


def _check_float_islands(model, feeds, tmp_path, name, lsb=4):
    opts = GenerateOptions(name=name, disabled_passes=("fuse-qdq",))
    got, report = run_zonnx(model, feeds, tmp_path, name=name, opts=opts)
    assert "Conv" in [n["op"] for n in report["nodes"]] or "MatMul" in [n["op"] for n in report["nodes"]]
    d = _lsb(model, got, _ort(model, feeds))
    assert d.max() <= lsb, f"float islands: max {d.max()} LSB from onnxruntime"


def _graph(model, tmp_path, name="g") -> Graph:
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return load(str(path))


def _ops(g: Graph) -> list[str]:
    return [n.op_type for n in g.nodes]


U8, I8 = "QUInt8", "QInt8"


# -- quantize_static models --------------------------------------------------------------

@pytest.mark.parametrize("per_channel,act", [(False, U8), (True, I8), (True, U8)])
def test_conv_chain(tmp_path, per_channel, act):
    qm = _quantize(*_conv_chain(), tmp_path, per_channel, getattr(quant.QuantType, act))
    g = run_passes(_graph(qm, tmp_path))
    assert _ops(g) == ["QuantizeLinear", "QLinearConv", "QLinearConv", "DequantizeLinear"]
    conv1 = g.nodes[1]
    assert conv1.name == "conv1" and conv1.attr("_quant") == "int8" and len(conv1.inputs) == 9
    assert g.tensors[conv1.inputs[8]].dtype.name == "int32"          # the int32 bias fed as is
    assert conv1.attr("pads") == [1, 1, 1, 1] and g.nodes[2].attr("strides") == [2, 2]
    feeds = {"x": _rand(1, 3, 9, 9, lo=-1.2, hi=1.2)}
    report = _check_fused(qm, feeds, tmp_path, "fused")
    assert [n["op"] for n in report["nodes"]].count("QLinearConv") == 2
    _check_float_islands(qm, feeds, tmp_path, "islands")


@pytest.mark.parametrize("per_channel,act", [(False, U8), (True, I8)])
def test_matmul(tmp_path, per_channel, act):
    qm = _quantize(*_matmul(), tmp_path, per_channel, getattr(quant.QuantType, act))
    g = run_passes(_graph(qm, tmp_path))
    assert _ops(g) == ["QuantizeLinear", "QLinearMatMul", "DequantizeLinear"]
    feeds = {"x": _rand(3, 16)}
    _check_fused(qm, feeds, tmp_path, "fused")
    _check_float_islands(qm, feeds, tmp_path, "islands")


def test_opset_21_weights_are_not_folded_first(tmp_path):
    """From opset 19 fold-constants evaluates DequantizeLinear: fuse-qdq must see
    the weights' DequantizeLinear before it does."""
    qm = _quantize(*_conv_chain(opset=21), tmp_path, True, quant.QuantType.QUInt8)
    assert qm.opset_import[0].version >= 19
    g = run_passes(_graph(qm, tmp_path))
    assert _ops(g) == ["QuantizeLinear", "QLinearConv", "QLinearConv", "DequantizeLinear"]
    assert "fuse-qdq" in PASS_NAMES and PASS_NAMES.index("fuse-qdq") < PASS_NAMES.index("fold-constants")
    _check_fused(qm, {"x": _rand(1, 3, 9, 9)}, tmp_path, "fused21")


# -- hand-written QDQ models: activations kept between the producer and QuantizeLinear -------

def _qdq_conv(act_nodes, act_out, y_zp, bias_scale_factor=1.0, opset=13, clip_consts=None):
    """Q(x) -> DQ -> Conv(DQ(w), DQ(b)) -> act -> Q(y, zp) -> DQ, uint8 activations;
    weights per channel from opset 13, per tensor before."""
    xs, ys = F32(0.02), F32(0.03)
    nw = 4 if opset >= 13 else 1
    ws = RNG.uniform(0.004, 0.01, size=nw).astype(F32)
    axis = {"axis": 0} if opset >= 13 else {}
    inits = {"xs": xs, "xz": np.uint8(120), "ws": ws, "wz": np.zeros(nw, np.int8),
             "wq": RNG.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8),
             "bq": RNG.integers(-3000, 3000, size=4).astype(np.int32),
             "bs": (xs * ws * F32(bias_scale_factor)).astype(F32), "bz": np.zeros(nw, np.int32),
             "ys": ys, "yz": np.uint8(y_zp), **(clip_consts or {})}
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], **axis),
             helper.make_node("DequantizeLinear", ["bq", "bs", "bz"], ["bd"], **axis),
             helper.make_node("Conv", ["xd", "wd", "bd"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             *act_nodes,
             helper.make_node("QuantizeLinear", [act_out, "ys", "yz"], ["yq"]),
             helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    return make_model(nodes, [("x", F32, [1, 3, 6, 6])], [("y", F32, [1, 4, 6, 6])], inits, opset=opset)


CASES = {
    "relu_zp128": ([helper.make_node("Relu", ["c"], ["a"])], "a", 128, None, [128, 255]),
    "relu_zp0": ([helper.make_node("Relu", ["c"], ["a"])], "a", 0, None, None),
    "clip": ([helper.make_node("Clip", ["c", "lo", "hi"], ["a"])], "a", 100,
             {"lo": F32(-0.6), "hi": F32(1.5)}, [80, 150]),
    "none": ([], "c", 128, None, None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_activation_becomes_a_clamp(tmp_path, case):
    act_nodes, act_out, y_zp, consts, clamp = CASES[case]
    model = _qdq_conv(act_nodes, act_out, y_zp, clip_consts=consts)
    g = run_passes(_graph(model, tmp_path))
    assert _ops(g) == ["QuantizeLinear", "QLinearConv", "DequantizeLinear"]
    assert g.nodes[1].attr("_clamp") == clamp      # None: the output range implies it
    feeds = {"x": _rand(1, 3, 6, 6, lo=-2.4, hi=2.6)}
    _check_fused(model, feeds, tmp_path, "fused")


def test_clamp_before_opset_12(tmp_path):
    """The clamp is the kernel's saturation bounds, not an integer Clip node
    (which needs opset 12): an opset-11 model fuses as well."""
    model = _qdq_conv([helper.make_node("Relu", ["c"], ["a"])], "a", 128, opset=11)
    g = run_passes(_graph(model, tmp_path))
    assert _ops(g) == ["QuantizeLinear", "QLinearConv", "DequantizeLinear"]
    assert g.nodes[1].attr("_clamp") == [128, 255]
    _check_fused(model, {"x": _rand(1, 3, 6, 6, lo=-2.4, hi=2.6)}, tmp_path, "fused11")
    # Clip with min > max is not folded
    model = _qdq_conv([helper.make_node("Clip", ["c", "lo", "hi"], ["a"])], "a", 100,
                      clip_consts={"lo": F32(1.0), "hi": F32(-1.0)})
    assert "QLinearConv" not in _ops(fuse_qdq(_graph(model, tmp_path, "g2")))


# -- where it must not fire ----------------------------------------------------------------

def test_bias_scale_mismatch_keeps_the_float_island(tmp_path):
    model = _qdq_conv([], "c", 128, bias_scale_factor=1.01)
    g = _graph(model, tmp_path)
    out = fuse_qdq(g)
    assert out.nodes == g.nodes
    feeds = {"x": _rand(1, 3, 6, 6)}
    got, _ = run_zonnx(model, feeds, tmp_path, name="m")
    assert _lsb(model, got, _ort(model, feeds)).max() <= 1


def test_other_patterns_are_left_alone(tmp_path):
    # a Sigmoid between Conv and QuantizeLinear; the Conv output read twice
    model = _qdq_conv([helper.make_node("Sigmoid", ["c"], ["a"])], "a", 0)
    g = _graph(model, tmp_path)
    assert fuse_qdq(g).nodes == g.nodes
    model = _qdq_conv([helper.make_node("Relu", ["c"], ["a"])], "a", 0)
    model.graph.output.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 4, 6, 6]))
    g = _graph(model, tmp_path, "g2")
    assert fuse_qdq(g).nodes == g.nodes
    # float bias (not a DequantizeLinear of int32)
    model = _qdq_conv([], "c", 0)
    for n in model.graph.node:
        if n.op_type == "Conv":
            n.input[2] = "bf"
    model.graph.initializer.append(numpy_helper.from_array(_rand(4), "bf"))
    g = _graph(model, tmp_path, "g3")
    assert "QLinearConv" not in _ops(fuse_qdq(g))


def test_pass_is_pure(tmp_path):
    model = _qdq_conv([helper.make_node("Relu", ["c"], ["a"])], "a", 128)
    g = _graph(model, tmp_path)
    nodes, tensors = g.nodes, dict(g.tensors)
    out = fuse_qdq(g)
    assert g.nodes == nodes and g.tensors.keys() == tensors.keys()
    assert all(g.tensors[k] is t for k, t in tensors.items())
    assert out.nodes != g.nodes
    # every tensor a node reads exists in the result
    for n in out.nodes:
        assert all(not x or x in out.tensors or x in out.inputs for x in n.inputs)


# -- data movement between DequantizeLinear and QuantizeLinear ---------------------------------

def _cnn(opset=13):
    """Conv -> Relu -> MaxPool -> Reshape -> MatMul -> Transpose."""
    nodes = [helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Reshape", ["p1", "shape"], ["f1"]),
             helper.make_node("MatMul", ["f1", "W2"], ["m1"], name="mm"),
             helper.make_node("Transpose", ["m1"], ["y"], perm=[1, 0])]
    inits = {"W1": _rand(4, 3, 3, 3), "B1": _rand(4), "shape": np.array([2, 64], np.int64),
             "W2": _rand(64, 5)}
    return make_model(nodes, [("x", F32, [2, 3, 8, 8])], [("y", F32, [5, 2])], inits, opset=opset), \
        (2, 3, 8, 8)


@pytest.mark.parametrize("act", [U8, I8])
def test_data_movement_runs_on_integers(tmp_path, act):
    qm = _quantize(*_cnn(), tmp_path, True, getattr(quant.QuantType, act))
    g = run_passes(_graph(qm, tmp_path))
    ops = _ops(g)
    assert "Conv" not in ops and "MatMul" not in ops
    for op in ("MaxPool", "Reshape"):
        (n,) = [n for n in g.nodes if n.op_type == op]
        assert n.attr("_quant") == "int8" and g.tensors[n.outputs[0]].dtype.name == act[1:].lower()
    assert ops.count("QuantizeLinear") == 1 and ops[-1] == "DequantizeLinear"
    feeds = {"x": _rand(2, 3, 8, 8)}
    _check_fused(qm, feeds, tmp_path, "fused")
    _check_float_islands(qm, feeds, tmp_path, "islands")
