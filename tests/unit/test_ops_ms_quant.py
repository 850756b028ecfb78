"""com.microsoft quantized ops (QLinearAdd, QLinearMul, QLinearSigmoid,
QLinearLeakyRelu, QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat,
QLinearSoftmax, QGemm) against onnxruntime (the oracle: onnx.reference cannot
run them): at most 1 LSB, >= 99 % equal, and exactly equal for the
table-driven ops. Also models quantized by onnxruntime.quantization
(QOperator format) end to end.

Several independent nodes share one model so that each test builds once.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import helper

from zonnx.errors import ZonnxError
from zonnx.pipeline import GenerateOptions, generate
from zonnx_testing import GraphBuilder, make_model, rand_ints, run_zonnx

ort = pytest.importorskip("onnxruntime")

RNG = np.random.default_rng(7)
F32 = np.float32
MS = "com.microsoft"


def _ints(dtype, shape):
    return rand_ints(RNG, dtype, shape)


def _zp(dtype, lo=-20, hi=20):
    base = 0 if np.dtype(dtype) == np.int8 else 128
    return np.array(base + RNG.integers(lo, hi), dtype=dtype)


class Model(GraphBuilder):
    def node(self, op, ins, out, dtype, shape, **attrs):
        self.add(op, ins, [out], [(dtype, list(shape))], domain=MS, **attrs)

    def model(self):
        return make_model(self.nodes, self.inputs, self.outputs, self.inits, opset=17,
                          extra_opsets=[(MS, 1)])


def ort_run(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in sess.get_inputs()}
    return dict(zip([o.name for o in sess.get_outputs()],
                    sess.run(None, {k: v for k, v in feeds.items() if k in wanted})))


def assert_close(got, want, names, exact=()):
    for name in names:
        g, w = np.asarray(got[name]), np.asarray(want[name])
        assert g.shape == w.shape and g.dtype == w.dtype, f"{name}: {g.shape} {g.dtype} vs {w.shape} {w.dtype}"
        d = np.abs(g.astype(np.int64) - w.astype(np.int64))
        limit = 0 if name in exact else 1
        assert d.max() <= limit, f"{name}: max difference {d.max()} from onnxruntime"
        assert np.mean(d == 0) >= 0.99, f"{name}: only {np.mean(d == 0):.3%} equal to onnxruntime"


def _scale(lo=0.005, hi=0.2):
    return np.array(RNG.uniform(lo, hi), dtype=F32)


@pytest.mark.parametrize("dt", [np.int8, np.uint8])
def test_ms_qlinear_ops(tmp_path, dt):
    m = Model()
    names, exact = [], set()
    # QLinearAdd / QLinearMul: same shapes, broadcasting, scalar
    cases = [((4, 5, 6), (4, 5, 6)), ((2, 3, 4, 5), (3, 1, 1)), ((3, 7), ()), ((1, 6), (5, 1))]
    for k, (sa, sb) in enumerate(cases):
        a = m.inp(f"a{k}", _ints(dt, sa))
        b = m.inp(f"b{k}", _ints(dt, sb)) if k != 2 else m.const(f"b{k}", _ints(dt, sb))
        shape = np.broadcast_shapes(sa, sb)
        for op in ("QLinearAdd", "QLinearMul"):
            c_s = _scale(0.02, 0.3) if op == "QLinearAdd" else _scale(0.1, 2.0)
            sc = [m.const(f"{op}{k}_as", _scale()), m.const(f"{op}{k}_az", _zp(dt)),
                  m.const(f"{op}{k}_bs", _scale()), m.const(f"{op}{k}_bz", _zp(dt)),
                  m.const(f"{op}{k}_cs", c_s), m.const(f"{op}{k}_cz", _zp(dt))]
            ins = [a, sc[0], sc[1], b, sc[2], sc[3], sc[4], sc[5]]
            out = f"{op}_{k}"
            m.node(op, ins, out, dt, shape)
            names.append(out)
    # Add with very different scales (the smaller multiplier is rounded)
    a = m.inp("aw", _ints(dt, (64,)))
    b = m.inp("bw", _ints(dt, (64,)))
    m.node("QLinearAdd", [a, m.const("w_as", np.array(0.5, F32)), m.const("w_az", _zp(dt)),
                          b, m.const("w_bs", np.array(0.0007, F32)), m.const("w_bz", _zp(dt)),
                          m.const("w_cs", np.array(0.6, F32)), m.const("w_cz", _zp(dt))],
           "QLinearAdd_w", dt, (64,))
    names.append("QLinearAdd_w")
    _check(m, tmp_path, names, exact, "bin")
    m, names, exact = Model(), [], set()
    # lookup-table ops over every input value
    info = np.iinfo(dt)
    allv = m.inp("allv", np.arange(info.min, info.max + 1).astype(dt).reshape(4, 64))
    for k in range(3):
        for op, attrs in (("QLinearSigmoid", {}), ("QLinearLeakyRelu", {"alpha": [0.01, 0.2, 1.7][k]})):
            ys = _scale(0.002, 0.01) if op == "QLinearSigmoid" else _scale()
            ins = [allv, m.const(f"{op}{k}_xs", _scale(0.01, 0.2)), m.const(f"{op}{k}_xz", _zp(dt)),
                   m.const(f"{op}{k}_ys", ys), m.const(f"{op}{k}_yz", _zp(dt, -100, 100))]
            if k == 2:
                ins[2] = ""                 # optional X_zero_point left out
            out = f"{op}_{k}"
            m.node(op, ins, out, dt, (4, 64), **attrs)
            names.append(out)
            exact.add(out)
    # global average pooling, both layouts
    g = m.inp("g", _ints(dt, (2, 5, 3, 4)))
    for last in (0, 1):
        out = f"QLinearGlobalAveragePool_{last}"
        m.node("QLinearGlobalAveragePool",
               [g, m.const(f"g{last}_xs", _scale()), m.const(f"g{last}_xz", _zp(dt)),
                m.const(f"g{last}_ys", _scale()), m.const(f"g{last}_yz", _zp(dt))],
               out, dt, (2, 5, 1, 1) if not last else (2, 1, 1, 4), channels_last=last)
        names.append(out)
    g2 = m.inp("g2", _ints(dt, (1, 3, 50)))
    m.node("QLinearGlobalAveragePool",
           [g2, m.const("g2_xs", np.array(0.05, F32)), m.const("g2_xz", _zp(dt)),
            m.const("g2_ys", np.array(0.02, F32)), m.const("g2_yz", _zp(dt))],
           "QLinearGlobalAveragePool_2", dt, (1, 3, 1))
    names.append("QLinearGlobalAveragePool_2")
    # concat: one input quantized like the output (copied), others requantized
    c0, c1, c2 = m.inp("c0", _ints(dt, (2, 3, 4))), m.inp("c1", _ints(dt, (2, 1, 4))), m.const("c2", _ints(dt, (2, 2, 4)))
    ys, yz = m.const("cc_ys", _scale()), m.const("cc_yz", _zp(dt))
    for axis, ins, shape in ((1, [c0, c1, c2], (2, 6, 4)), (-1, [c0, c0], (2, 3, 8))):
        args = [ys, yz]
        for k, x in enumerate(ins):
            if k == 0:
                args += [x, ys, yz]
            else:
                args += [x, m.const(f"cc{axis}_{k}_s", _scale()), m.const(f"cc{axis}_{k}_z", _zp(dt))]
        out = f"QLinearConcat_{axis % 3}"
        m.node("QLinearConcat", args, out, dt, shape, axis=axis)
        names.append(out)
        exact.add(out)
    _check(m, tmp_path, names, exact, "other")


@pytest.mark.parametrize("dt", [np.int8, np.uint8])
def test_ms_qlinear_average_pool(tmp_path, dt):
    m = Model()
    names = []
    x = m.inp("x", _ints(dt, (2, 3, 7, 8)))
    x1 = m.inp("x1", _ints(dt, (1, 4, 9)))
    cases = [(x, dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), (2, 3, 4, 4)),
             (x, dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
              (2, 3, 4, 4)),
             (x, dict(kernel_shape=[2, 2]), (2, 3, 6, 7)),
             (x, dict(kernel_shape=[3, 2], strides=[2, 3], ceil_mode=1), (2, 3, 3, 3)),
             (x, dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"), (2, 3, 4, 4)),
             (x1, dict(kernel_shape=[4], strides=[2], pads=[2, 1]), (1, 4, 5))]
    for k, (inp, attrs, shape) in enumerate(cases):
        out = f"QLinearAveragePool_{k}"
        m.node("QLinearAveragePool", [inp, m.const(f"p{k}_xs", _scale()), m.const(f"p{k}_xz", _zp(dt)),
                                      m.const(f"p{k}_ys", _scale()), m.const(f"p{k}_yz", _zp(dt))],
               out, dt, shape, **attrs)
        names.append(out)
    _check(m, tmp_path, names, (), "pool")


@pytest.mark.parametrize("dt", [np.int8, np.uint8])
def test_ms_qlinear_softmax(tmp_path, dt):
    m = Model()
    names = []
    x = m.inp("x", _ints(dt, (3, 4, 10)))
    x2 = m.inp("x2", _ints(dt, (2, 300)))
    signed = np.dtype(dt) == np.int8
    cases = [(x, 13, -1, 0.05, 1 / 256, 0), (x, 13, 1, 0.2, 0.01, 3), (x, 12, 1, 0.1, 1 / 256, 0),
             (x, 13, 0, 0.5, 1 / 100, 7), (x2, 13, -1, 0.03, 0.003, 0), (x, 12, 2, 0.02, 1 / 250, 2)]
    for k, (inp, opset, axis, xs, ys, yz) in enumerate(cases):
        if signed:
            ys, yz = max(ys, 1 / 200), yz - 100
        out = f"QLinearSoftmax_{k}"
        m.node("QLinearSoftmax", [inp, m.const(f"s{k}_xs", np.array(xs, F32)),
                                  m.const(f"s{k}_xz", _zp(dt)), m.const(f"s{k}_ys", np.array(ys, F32)),
                                  m.const(f"s{k}_yz", np.array(yz, dt))],
               out, dt, m.feeds[inp].shape, opset=opset, axis=axis)
        names.append(out)
    _check(m, tmp_path, names, (), "softmax")


def test_ms_qlinear_softmax_int8_wrap_rejected(tmp_path):
    m = Model()
    x = m.inp("x", _ints(np.int8, (2, 8)))
    m.node("QLinearSoftmax", [x, m.const("xs", np.array(0.1, F32)), m.const("xz", np.array(0, np.int8)),
                              m.const("ys", np.array(1 / 256, F32)), m.const("yz", np.array(-128, np.int8))],
           "y", np.int8, (2, 8), opset=13, axis=-1)
    path = os.path.join(str(tmp_path), "r.onnx")
    onnx.save(m.model(), path)
    with pytest.raises(ZonnxError, match="wraps"):
        generate(path, GenerateOptions(name="m"))


@pytest.mark.parametrize("dt", [np.int8, np.uint8])
def test_ms_qgemm(tmp_path, dt):
    m = Model()
    names = []
    a = m.inp("a", _ints(dt, (6, 20)))
    at = m.inp("at", _ints(dt, (20, 6)))
    cases = [  # (A, transA, B shape, transB, per-column b, C shape, alpha)
        (a, 0, (7, 20), 1, True, (7,), 1.0), (at, 1, (20, 7), 0, False, None, 1.0),
        (a, 0, (20, 7), 0, False, (6, 7), 0.5), (a, 0, (20, 7), 0, True, (1, 7), 1.0)]
    for k, (ain, ta, bshape, tb, per_col, cshape, alpha) in enumerate(cases):
        nout = 7
        bs = np.array(RNG.uniform(0.005, 0.05, nout), dtype=F32) if per_col else _scale(0.005, 0.05)
        bz = np.array([_zp(dt) for _ in range(nout)], dtype=dt) if per_col else _zp(dt)
        ins = [ain, m.const(f"q{k}_as", _scale(0.01, 0.05)), m.const(f"q{k}_az", _zp(dt)),
               m.const(f"q{k}_b", _ints(dt, bshape)), m.const(f"q{k}_bs", bs), m.const(f"q{k}_bz", bz),
               m.const(f"q{k}_c", RNG.integers(-5000, 5000, cshape).astype(np.int32)) if cshape else "",
               m.const(f"q{k}_ys", _scale(0.5, 2.0)), m.const(f"q{k}_yz", _zp(dt))]
        out = f"QGemm_{k}"
        m.node("QGemm", ins, out, dt, (6, nout), transA=ta, transB=tb, alpha=alpha)
        names.append(out)
    _check(m, tmp_path, names, (), "qgemm")


def _check(m, tmp_path, names, exact, name):
    model = m.model()
    got, _ = run_zonnx(model, m.feeds, tmp_path, name=name)
    want = ort_run(model, m.feeds)
    assert_close(got, want, names, exact)


def test_ms_qlinear_rejects_runtime_scale(tmp_path):
    m = Model()
    a = m.inp("a", _ints(np.int8, (4,)))
    s = m.inp("s", np.array([0.1], F32))
    m.node("QLinearAdd", [a, s, "", a, m.const("bs", np.array(0.1, F32)), "",
                          m.const("cs", np.array(0.2, F32)), m.const("cz", np.array(0, np.int8))],
           "y", np.int8, (4,))
    path = os.path.join(str(tmp_path), "r.onnx")
    onnx.save(m.model(), path)
    with pytest.raises(ZonnxError, match="must be a constant"):
        generate(path, GenerateOptions(name="m"))


def _rejected(m, tmp_path, match):
    path = os.path.join(str(tmp_path), "r.onnx")
    onnx.save(m.model(), path)
    with pytest.raises(ZonnxError, match=match):
        generate(path, GenerateOptions(name="m"))


def test_ms_qlinear_rejections(tmp_path):
    m = Model()
    x = m.inp("x", _ints(np.uint8, (1, 2, 4, 4)))
    m.node("QLinearAveragePool", [x, m.const("xs", np.array(0.1, F32)), m.const("xz", np.array(3, np.uint8)),
                                  m.const("ys", np.array(0.1, F32)), m.const("yz", np.array(3, np.uint8))],
           "y", np.uint8, (1, 2, 3, 4), kernel_shape=[2, 2], channels_last=1)
    _rejected(m, tmp_path, "channels_last")
    m = Model()
    a = m.inp("a", _ints(np.uint8, (2, 3)))
    m.node("QGemm", [a, m.const("as", np.array(0.1, F32)), m.const("az", np.array(3, np.uint8)),
                     m.const("b", _ints(np.uint8, (3, 4))), m.const("bs", np.array(0.1, F32)),
                     m.const("bz", np.array(3, np.uint8))], "y", F32, (2, 4))
    _rejected(m, tmp_path, "float output")
    m = Model()
    a = m.inp("a", _ints(np.int8, (3, 5)))
    m.node("QLinearMul", [a, m.const("as", np.array([0.1, 0.2, 0.3], F32).reshape(3, 1)),
                          m.const("az", np.array(0, np.int8)), a, m.const("bs", np.array(0.1, F32)),
                          m.const("bz", np.array(0, np.int8)), m.const("cs", np.array(0.1, F32)),
                          m.const("cz", np.array(0, np.int8))], "y", np.int8, (3, 5))
    _rejected(m, tmp_path, "per-tensor")


class _Reader:
    def __init__(self, name, shape, n=8):
        self.data = iter([{name: RNG.standard_normal(shape).astype(F32)} for _ in range(n)])

    def get_next(self):
        return next(self.data, None)


def _quantized(tmp_path, float_model, in_name, shape, name, **kw):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    fp = os.path.join(str(tmp_path), f"{name}_f.onnx")
    qp = os.path.join(str(tmp_path), f"{name}_q.onnx")
    onnx.save(float_model, fp)
    quantize_static(fp, qp, _Reader(in_name, shape), quant_format=QuantFormat.QOperator,
                    activation_type=kw.get("act", QuantType.QUInt8),
                    weight_type=kw.get("wt", QuantType.QUInt8))
    return onnx.load(qp)


@pytest.mark.parametrize("kind", ["conv", "matmul", "gemm"])
def test_quantize_static_qoperator_end_to_end(tmp_path, kind):
    pytest.importorskip("onnxruntime.quantization")
    from onnxruntime.quantization import QuantType
    if kind == "conv":
        shape = [1, 3, 6, 6]
        w = RNG.standard_normal((4, 3, 3, 3)).astype(F32)
        bias = RNG.standard_normal(4).astype(F32)
        w2 = RNG.standard_normal((4, 4, 1, 1)).astype(F32)
        nodes = [helper.make_node("Conv", ["x", "w", "bias"], ["c"], pads=[1, 1, 1, 1]),
                 helper.make_node("Relu", ["c"], ["r"]),
                 helper.make_node("Conv", ["r", "w2"], ["c2"]),
                 helper.make_node("Add", ["r", "c2"], ["s"]),
                 helper.make_node("Sigmoid", ["s"], ["sg"]),
                 helper.make_node("Mul", ["sg", "s"], ["y"])]
        inits = {"w": w, "bias": bias, "w2": w2}
        out_shape = [1, 4, 6, 6]
        act, wt = QuantType.QUInt8, QuantType.QUInt8
    else:
        shape = [16, 8]
        nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]),
                 helper.make_node("Add", ["mm", "b"], ["y0"]),
                 helper.make_node("LeakyRelu", ["y0"], ["y1"], alpha=0.1),
                 helper.make_node("Add", ["y1", "y0"], ["y"])]
        inits = {"w": RNG.standard_normal((8, 5)).astype(F32), "b": RNG.standard_normal(5).astype(F32)}
        out_shape = [16, 5]
        act, wt = QuantType.QInt8, QuantType.QInt8
    if kind == "gemm":
        shape = [16, 8]
        nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
                 helper.make_node("Relu", ["g"], ["r"]),
                 helper.make_node("Concat", ["r", "x"], ["y"], axis=1)]
        inits = {"w": RNG.standard_normal((6, 8)).astype(F32), "b": RNG.standard_normal(6).astype(F32)}
        out_shape = [16, 14]
        act, wt = QuantType.QUInt8, QuantType.QInt8
    fm = make_model(nodes, [("x", F32, shape)], [("y", F32, out_shape)], inits, opset=17)
    qm = _quantized(tmp_path, fm, "x", shape, kind, act=act, wt=wt)
    ops = {(n.domain, n.op_type) for n in qm.graph.node}
    assert any(d == MS for d, _ in ops), ops
    x = RNG.standard_normal(shape).astype(F32)
    got, _ = run_zonnx(qm, {"x": x}, tmp_path, name="q")
    want = ort_run(qm, {"x": x})
    # float output: the dequantized values may differ by one step of the output scale
    scale = next(onnx.numpy_helper.to_array(i) for i in qm.graph.initializer
                 if i.name == [n for n in qm.graph.node if n.op_type == "DequantizeLinear"][-1].input[1])
    d = np.abs(got["y"] - want["y"]) / float(scale)
    assert d.max() <= 1.0 + 1e-3, f"max difference {d.max()} steps"
    assert np.mean(d < 1e-3) >= 0.99, f"only {np.mean(d < 1e-3):.3%} equal to onnxruntime"
