"""fuse-qdq beyond Conv / MatMul: Gemm -> QGemm, the com.microsoft QLinear*
ops onnxruntime's QDQ transformer uses (Add, Mul, AveragePool,
GlobalAveragePool, Concat, Softmax, Sigmoid, LeakyRelu) and zonnx QLookup
tables for other element-wise functions. Outputs against onnxruntime, in
units of the output scale: >= 99 % equal, none more than 1 LSB apart; and
where a pattern must stay a float island, that it does.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from zonnx.load import load
from zonnx.onnx_io import to_onnx
from zonnx.passes import run_passes
from zonnx.passes.fuse_qdq import fuse_qdq
from zonnx_testing import assert_matches_reference, make_model, run_zonnx

ort = pytest.importorskip("onnxruntime")
quant = pytest.importorskip("onnxruntime.quantization")

F32 = np.float32
RNG = np.random.default_rng(11)
U8, I8 = quant.QuantType.QUInt8, quant.QuantType.QInt8


def _rand(*shape, lo=-1.0, hi=1.0):
    return RNG.uniform(lo, hi, size=shape).astype(F32)


class _Reader(quant.CalibrationDataReader):
    def __init__(self, shape, n=6):
        self.it = iter([{"x": _rand(*shape)} for _ in range(n)])

    def get_next(self):
        return next(self.it, None)


def _quantize(model, shape, tmp_path, act, per_channel=False, name="q", **kw):
    f, q = tmp_path / f"{name}_float.onnx", tmp_path / f"{name}.onnx"
    onnx.save(model, f)
    quant.quantize_static(str(f), str(q), _Reader(shape), quant_format=quant.QuantFormat.QDQ,
                          per_channel=per_channel, activation_type=act, weight_type=I8, **kw)
    return onnx.load(str(q))


def _ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


def _out_scale(model, out):
    (dq,) = [n for n in model.graph.node if out in n.output]
    assert dq.op_type == "DequantizeLinear"
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return float(inits[dq.input[1]].reshape(-1)[0])


def _check(model, feeds, tmp_path, name="m", out="y"):
    got, report = run_zonnx(model, feeds, tmp_path, name=name)
    want = _ort(model, feeds)
    d = np.rint(np.abs(got[out].astype(np.float64) - want[out].astype(np.float64)) / _out_scale(model, out))
    assert d.max() <= 1, f"max {d.max()} LSB from onnxruntime"
    assert np.mean(d == 0) >= 0.99, f"only {np.mean(d == 0):.3%} equal to onnxruntime"
    return report


def _graph(model, tmp_path, name="g"):
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return load(str(path))


def _ops(g):
    return [n.op_type for n in g.nodes]


# -- Gemm -> QGemm -----------------------------------------------------------------------

def _mlp():
    nodes = [helper.make_node("Gemm", ["x", "W1", "B1"], ["h"], name="fc1", transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "W2", "B2"], ["y"], name="fc2")]
    inits = {"W1": _rand(12, 10), "B1": _rand(12), "W2": _rand(12, 5), "B2": _rand(5)}
    return make_model(nodes, [("x", F32, [4, 10])], [("y", F32, [4, 5])], inits, opset=13), (4, 10)


@pytest.mark.parametrize("per_channel,act", [(False, U8), (True, I8), (True, U8)])
def test_gemm_becomes_qgemm(tmp_path, per_channel, act):
    qm = _quantize(*_mlp(), tmp_path, act, per_channel)
    g = run_passes(_graph(qm, tmp_path))
    assert _ops(g) == ["QuantizeLinear", "QGemm", "QGemm", "DequantizeLinear"]
    fc1, fc2 = g.nodes[1], g.nodes[2]
    assert fc1.domain == "com.microsoft" and fc1.attr("transB") == 1 and fc2.attr("transB") == 0
    assert g.tensors[fc1.inputs[6]].dtype.name == "int32"     # the int32 bias fed as is
    assert g.opsets["com.microsoft"] == 1
    _check(qm, {"x": _rand(4, 10, lo=-1.3, hi=1.3)}, tmp_path)


def _qdq_gemm(alpha=1.0, beta=1.0, trans_a=0, bias_factor=1.0, relu_zp=None):
    """Hand-written QDQ Gemm (uint8 activations, per-tensor int8 B [N, K])."""
    xs, ys, bs = F32(0.02), F32(0.05), F32(0.01)
    inits = {"xs": xs, "xz": np.uint8(128), "bq": RNG.integers(-127, 128, (6, 8)).astype(np.int8),
             "bs": bs, "bz": np.int8(0), "cq": RNG.integers(-2000, 2000, 6).astype(np.int32),
             "cs": F32(alpha * xs * bs * bias_factor), "ys": ys,
             "yz": np.uint8(128 if relu_zp is None else relu_zp)}
    x_shape = [8, 3] if trans_a else [3, 8]
    act = [helper.make_node("Relu", ["g"], ["a"])] if relu_zp is not None else []
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["bq", "bs", "bz"], ["bd"]),
             helper.make_node("DequantizeLinear", ["cq", "cs"], ["cd"]),
             helper.make_node("Gemm", ["xd", "bd", "cd"], ["g"], name="gemm", transB=1, alpha=alpha,
                              beta=beta, transA=trans_a),
             *act,
             helper.make_node("QuantizeLinear", ["a" if act else "g", "ys", "yz"], ["yq"]),
             helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    return make_model(nodes, [("x", F32, x_shape)], [("y", F32, [3, 6])], inits, opset=13), x_shape


def test_gemm_alpha_and_relu_clamp(tmp_path):
    model, shape = _qdq_gemm(alpha=0.5, relu_zp=100)
    g = run_passes(_graph(model, tmp_path))
    assert "QGemm" in _ops(g) and "Gemm" not in _ops(g)
    (qg,) = [n for n in g.nodes if n.op_type == "QGemm"]
    assert qg.attr("alpha") == 0.5 and qg.attr("_clamp") == [100, 255]
    _check(model, {"x": _rand(*shape, lo=-2.5, hi=2.5)}, tmp_path)


@pytest.mark.parametrize("kw", [dict(trans_a=1), dict(beta=0.5), dict(alpha=0.5, bias_factor=2.0)],
                         ids=["transA", "beta", "bias_scale_without_alpha"])
def test_gemm_stays_float(tmp_path, kw):
    model, shape = _qdq_gemm(**kw)
    g = _graph(model, tmp_path)
    assert "QGemm" not in _ops(fuse_qdq(g)) and "Gemm" in _ops(fuse_qdq(g))
    # the float island still runs (onnxruntime may fuse it differently: a few LSB)
    got, _ = run_zonnx(model, {"x": _rand(*shape)}, tmp_path, name="f")
    assert np.all(np.isfinite(got["y"]))


# -- com.microsoft QLinear* ------------------------------------------------------------------

def _block(opset=17):
    """Conv -> Sigmoid -> Mul -> Add -> Concat -> LeakyRelu -> GlobalAveragePool
    -> Flatten -> Softmax: ops onnxruntime's QDQ transformer turns into
    com.microsoft QLinear* kernels (AveragePool: test_average_pool)."""
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["c"], ["s"], name="sigmoid"),
             helper.make_node("Mul", ["s", "c"], ["m"], name="mul"),
             helper.make_node("Add", ["m", "c"], ["a"], name="add"),
             helper.make_node("Concat", ["a", "c"], ["cc"], name="concat", axis=1),
             helper.make_node("LeakyRelu", ["cc"], ["l"], name="leaky", alpha=0.2),
             helper.make_node("GlobalAveragePool", ["l"], ["gp"], name="gap"),
             helper.make_node("Flatten", ["gp"], ["f"], name="flatten"),
             helper.make_node("Softmax", ["f"], ["y"], name="softmax", axis=1)]
    inits = {"W": _rand(4, 3, 3, 3), "B": _rand(4)}
    return make_model(nodes, [("x", F32, [64, 3, 6, 6])], [("y", F32, [64, 8])], inits, opset=opset), \
        (64, 3, 6, 6)


MS_FUSED = ["QLinearSigmoid", "QLinearMul", "QLinearAdd", "QLinearConcat", "QLinearLeakyRelu",
            "QLinearGlobalAveragePool", "QLinearSoftmax"]


@pytest.mark.parametrize("act", [U8, I8], ids=["uint8", "int8"])
def test_ms_qlinear_islands(tmp_path, act):
    qm = _quantize(*_block(), tmp_path, act)
    g = run_passes(_graph(qm, tmp_path))
    ops = _ops(g)
    assert [o for o in ops if o.startswith("QLinear") and o != "QLinearConv"] == MS_FUSED
    assert ops[0] == "QuantizeLinear" and ops[-1] == "DequantizeLinear"
    assert ops.count("QuantizeLinear") == 1 and ops.count("DequantizeLinear") == 1
    (sm,) = [n for n in g.nodes if n.op_type == "QLinearSoftmax"]
    assert sm.attr("opset") == 13 and sm.domain == "com.microsoft"
    feeds = {"x": _rand(64, 3, 6, 6)}
    report = _check(qm, feeds, tmp_path)
    assert {n["op"] for n in report["nodes"]} >= set(MS_FUSED)


@pytest.mark.parametrize("xs,ys", [(0.05, 0.037), (0.05, 0.05)], ids=["rescaled", "same_scale"])
def test_average_pool(tmp_path, xs, ys):
    """With x_scale == y_scale (what quantize_static writes) an even window
    makes exact ties, which onnxruntime's float kernel breaks either way and
    zonnx's integer one to even: there only within 1 LSB is asserted."""
    model, feeds = _qdq_unary("AveragePool", xs=xs, ys=ys, shape=(2, 8, 8, 8), kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1], strides=[1, 1])
    g = run_passes(_graph(model, tmp_path))
    assert _ops(g) == ["QuantizeLinear", "QLinearAveragePool", "DequantizeLinear"]
    got, _ = run_zonnx(model, feeds, tmp_path, name="pool")
    d = np.rint(np.abs(got["y"] - _ort(model, feeds)["y"]) / ys)
    assert d.max() <= 1
    if xs != ys:
        assert np.mean(d == 0) >= 0.99, f"only {np.mean(d == 0):.3%} equal to onnxruntime"


def _qdq_unary(op, x_dtype=np.uint8, y_dtype=np.uint8, xs=0.05, ys=0.01, xz=None, yz=None, opset=17,
               extra_nodes=(), out="f", shape=(4, 64), **attrs):
    """Q(x) -> DQ -> op -> [extra] -> Q -> DQ, the input covering every code."""
    xz = (128 if x_dtype == np.uint8 else 0) if xz is None else xz
    yz = (128 if y_dtype == np.uint8 else 0) if yz is None else yz
    inits = {"xs": F32(xs), "xz": np.array(xz, x_dtype), "ys": F32(ys), "yz": np.array(yz, y_dtype)}
    ins = ["xd"] + list(attrs.pop("inputs", []))
    inits.update(attrs.pop("consts", {}))
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node(op, ins, ["f"], name="fn", **attrs), *extra_nodes,
             helper.make_node("QuantizeLinear", [out, "ys", "yz"], ["yq"]),
             helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"])]
    model = make_model(nodes, [("x", F32, list(shape))], [("y", F32, list(shape))], inits, opset=opset)
    info = np.iinfo(x_dtype)
    codes = np.arange(info.min, info.max + 1, dtype=np.float64)
    x = ((codes - xz) * xs).astype(F32)
    return model, {"x": np.resize(x, shape).astype(F32)}


# -- where the com.microsoft fusions must not fire ------------------------------------------

def test_average_pool_with_dilations_stays_float(tmp_path):
    model, feeds = _qdq_unary("AveragePool", shape=(1, 2, 8, 8), opset=19, kernel_shape=[2, 2],
                              dilations=[2, 2])
    model.graph.output[0].type.tensor_type.shape.dim[2].dim_value = 6
    model.graph.output[0].type.tensor_type.shape.dim[3].dim_value = 6
    g = fuse_qdq(_graph(model, tmp_path))
    assert "AveragePool" in _ops(g) and "QLinearAveragePool" not in _ops(g)
    # onnxruntime fuses it anyway and then rejects the attribute: onnx.reference is the oracle
    assert_matches_reference(model, feeds, tmp_path, rtol=0, atol=0.0101)


def test_add_of_a_float_constant_and_unredundant_relu_stay_float(tmp_path):
    # Add(DQ(x), float constant): not every input is a DequantizeLinear
    model, feeds = _qdq_unary("Add", inputs=["k"], consts={"k": _rand(4, 64)})
    g = fuse_qdq(_graph(model, tmp_path))
    assert "Add" in _ops(g) and "QLinearAdd" not in _ops(g)
    _check(model, feeds, tmp_path, "add")
    # Mul(DQ(x), DQ(x)) -> Relu -> Q with zp_y mid-range: the Relu is not implied by the range
    model, feeds = _qdq_unary("Mul", inputs=["xd"], extra_nodes=[helper.make_node("Relu", ["f"], ["r"])],
                              out="r", ys=0.05)
    g = fuse_qdq(_graph(model, tmp_path, "g2"))
    assert "Mul" in _ops(g) and "QLinearMul" not in _ops(g)
    _check(model, feeds, tmp_path, "mul")
    # same, zp_y == 0: the Relu is implied and the Mul fuses
    model, feeds = _qdq_unary("Mul", inputs=["xd"], extra_nodes=[helper.make_node("Relu", ["f"], ["r"])],
                              out="r", ys=0.05, yz=0)
    g = fuse_qdq(_graph(model, tmp_path, "g3"))
    assert "QLinearMul" in _ops(g) and "Relu" not in _ops(g)
    _check(model, feeds, tmp_path, "mul0")


def test_int8_softmax_that_would_wrap_stays_float(tmp_path):
    # int8 output with floor(1 / y_scale) + zp_y > 127: onnxruntime's kernel wraps, zonnx keeps float
    model, _ = _qdq_unary("Softmax", x_dtype=np.int8, y_dtype=np.int8, ys=1 / 256, yz=-128, axis=-1)
    g = fuse_qdq(_graph(model, tmp_path))
    assert "Softmax" in _ops(g) and "QLinearSoftmax" not in _ops(g)


# -- lookup tables -----------------------------------------------------------------------------

LOOKUPS = {
    "tanh": ("Tanh", {}, 17),
    "hardswish": ("HardSwish", {}, 17),
    "elu": ("Elu", {"alpha": 0.7}, 17),
    "gelu_tanh": ("Gelu", {"approximate": "tanh"}, 20),
    "softplus": ("Softplus", {}, 17),
    "exp": ("Exp", {}, 17),
    "clip": ("Clip", {"inputs": ["lo", "hi"], "consts": {"lo": F32(-1.5), "hi": F32(2.0)}}, 17),
}


@pytest.mark.parametrize("case", sorted(LOOKUPS))
@pytest.mark.parametrize("x_dtype", [np.uint8, np.int8], ids=["uint8", "int8"])
def test_lookup_tables(tmp_path, case, x_dtype):
    op, attrs, opset = LOOKUPS[case]
    ys = 0.2 if op == "Exp" else 0.02
    model, feeds = _qdq_unary(op, x_dtype=x_dtype, y_dtype=x_dtype, ys=ys, opset=opset, **dict(attrs))
    g = run_passes(_graph(model, tmp_path))
    assert _ops(g) == ["QuantizeLinear", "QLookup", "DequantizeLinear"]
    lk = g.nodes[1]
    assert lk.domain == "zonnx" and lk.attr("_function") == op
    table = g.const(lk.inputs[1])
    assert table.shape == (256,) and table.dtype == x_dtype
    _check(model, feeds, tmp_path)


def test_lookup_mixed_types_and_folded_activation(tmp_path):
    # Sigmoid uint8 -> int8: QLinearSigmoid needs one type, the table does not
    model, feeds = _qdq_unary("Sigmoid", np.uint8, np.int8, ys=1 / 256, yz=-128)
    g = run_passes(_graph(model, tmp_path))
    assert _ops(g) == ["QuantizeLinear", "QLookup", "DequantizeLinear"]
    _check(model, feeds, tmp_path, "sig")
    # Tanh -> Relu -> Q (zp mid-range): the Relu is folded into the table
    model, feeds = _qdq_unary("Tanh", extra_nodes=[helper.make_node("Relu", ["f"], ["r"])], out="r")
    g = run_passes(_graph(model, tmp_path, "g2"))
    assert _ops(g) == ["QuantizeLinear", "QLookup", "DequantizeLinear"]
    assert g.const(g.nodes[1].inputs[1]).min() == 128
    _check(model, feeds, tmp_path, "tanh_relu")


def test_lookup_from_quantize_static(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"),
             helper.make_node("Tanh", ["m"], ["t"], name="tanh"),
             helper.make_node("HardSwish", ["t"], ["h"], name="hswish"),
             helper.make_node("MatMul", ["h", "W2"], ["y"], name="mm2")]
    model = make_model(nodes, [("x", F32, [3, 8])], [("y", F32, [3, 4])],
                       {"W": _rand(8, 6) * 2, "W2": _rand(6, 4)}, opset=17)
    qm = _quantize(model, (3, 8), tmp_path, U8,
                   op_types_to_quantize=["MatMul", "Tanh", "HardSwish"])
    g = run_passes(_graph(qm, tmp_path))
    assert _ops(g) == ["QuantizeLinear", "QLinearMatMul", "QLookup", "QLookup", "QLinearMatMul",
                       "DequantizeLinear"]
    _check(qm, {"x": _rand(3, 8)}, tmp_path)


def test_lookup_not_for_run_time_inputs_or_other_ops(tmp_path):
    # Clip with a run-time bound, and Softmax (not element-wise) on an int8 wrap: stay float
    model, _ = _qdq_unary("Clip", inputs=["xd", "hi"], consts={"hi": F32(1.0)})
    g = fuse_qdq(_graph(model, tmp_path))
    assert "QLookup" not in _ops(g) and "Clip" in _ops(g)      # min is DQ(x), not a constant
    model, _ = _qdq_unary("Softmax", x_dtype=np.int8, y_dtype=np.int8, ys=1 / 256, yz=-128, axis=-1)
    assert "QLookup" not in _ops(fuse_qdq(_graph(model, tmp_path, "g2")))


def test_fused_graph_round_trips_through_onnx(tmp_path):
    """to_onnx (used by shape inference after passes) keeps the zonnx and
    com.microsoft nodes with their domains declared."""
    qm = _quantize(*_block(), tmp_path, U8)
    g = fuse_qdq(_graph(qm, tmp_path))
    model = to_onnx(g)
    domains = {o.domain: o.version for o in model.opset_import}
    assert domains["com.microsoft"] == 1
    onnx.shape_inference.infer_shapes(model, strict_mode=True)
    model, _ = _qdq_unary("Tanh")
    g = fuse_qdq(_graph(model, tmp_path, "g2"))
    m2 = to_onnx(g)
    assert {o.domain for o in m2.opset_import} >= {"zonnx"}
    assert [n.domain for n in m2.graph.node if n.op_type == "QLookup"] == ["zonnx"]
    onnx.shape_inference.infer_shapes(m2, strict_mode=True)
