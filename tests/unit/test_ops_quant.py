"""Quantized ops: QuantizeLinear / DequantizeLinear round trips, DynamicQuantizeLinear,
QLinearConv and QLinearMatMul against onnx.reference (bit-exact) and onnxruntime
(at most 1 LSB, >= 99 % equal) on random data, ConvInteger / MatMulInteger,
int32 wrap-around, the integer-only kernels and the rejections.

Several independent nodes share one model so that each test builds once.
"""

from __future__ import annotations

import os
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from zonnx.errors import ZonnxError
from zonnx.load import LoadOptions
from zonnx.ops._quant_util import multiplier, requant_reference
from zonnx.oracle import reference_outputs
from zonnx.pipeline import GenerateOptions, generate
from zonnx_testing import GraphBuilder, make_model, rand_ints, run_zonnx

RNG = np.random.default_rng(2024)
F32 = np.float32
I8, U8 = np.int8, np.uint8


def _ints(dtype, shape, lo=None, hi=None):
    return rand_ints(RNG, dtype, shape, lo, hi)


class Model(GraphBuilder):
    """Independent nodes in one model: graph inputs with feeds, constants, outputs."""

    def node(self, op, ins, outs, out_dtypes, **attrs):
        self.add(op, ins, outs, [(dt, None) for dt in out_dtypes], **attrs)

    def model(self, opset):
        m = make_model(self.nodes, self.inputs, [(n, d, []) for n, d, _ in self.outputs],
                       self.inits, opset=opset)
        for o in m.graph.output:           # shapes come from inference
            o.type.tensor_type.ClearField("shape")
        m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
        return m

    def run(self, tmp_path, opset, name="m", ref_opset=None):
        """(zonnx outputs, onnx.reference outputs, model). onnx.reference lacks
        Quantize/DequantizeLinear before 19: `ref_opset` evaluates the same
        nodes at another opset whose semantics for them are the same."""
        m = self.model(opset)
        got, _ = run_zonnx(m, self.feeds, tmp_path, name=name)
        path = os.path.join(str(tmp_path), f"{name}.onnx")
        if ref_opset:
            path = os.path.join(str(tmp_path), f"{name}_ref.onnx")
            onnx.save(self.model(ref_opset), path)
        want = reference_outputs(path, self.feeds)
        return got, want, m


def assert_exact(got, want, names=None):
    for name in names or want:
        g, w = np.asarray(got[name]), np.asarray(want[name])
        assert g.shape == w.shape, f"{name}: shape {g.shape} != {w.shape}"
        assert g.dtype == w.dtype, f"{name}: dtype {g.dtype} != {w.dtype}"
        if w.dtype.kind == "f":
            np.testing.assert_array_equal(g, w, err_msg=name)
        else:
            d = np.abs(g.astype(np.int64) - w.astype(np.int64))
            assert d.max() == 0, f"{name}: {np.count_nonzero(d)} of {d.size} differ (max {d.max()})"


def assert_close_to_ort(model, feeds, got, names, exact=False):
    """onnxruntime rounds acc * scale in float32: allow 1 LSB, >= 99 % equal."""
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in sess.get_inputs()}
    res = dict(zip([o.name for o in sess.get_outputs()],
                   sess.run(None, {k: v for k, v in feeds.items() if k in wanted})))
    for name in names:
        d = np.abs(np.asarray(got[name]).astype(np.int64) - res[name].astype(np.int64))
        assert d.max() <= (0 if exact else 1), f"{name}: max difference {d.max()} from onnxruntime"
        assert np.mean(d == 0) >= 0.99, f"{name}: only {np.mean(d == 0):.3%} equal to onnxruntime"


def assert_rejected(model, tmp_path, match, consts=None):
    path = os.path.join(str(tmp_path), "r.onnx")
    onnx.save(model, path)
    with pytest.raises(ZonnxError, match=match):
        generate(path, GenerateOptions(name="m", load=LoadOptions(consts=consts or {})))


def source(model, tmp_path) -> str:
    path = os.path.join(str(tmp_path), "s.onnx")
    onnx.save(model, path)
    return generate(path, GenerateOptions(name="m")).files["m.c"]


def kernels(src: str, hint: str) -> list[str]:
    return re.findall(rf"static ZONNX_KERNEL void m_{hint}_\d+\(.*?\n}}\n", src, re.S)


# -- the fixed-point requantization ----------------------------------------------

def test_multiplier_is_exact_and_rounds_like_float64():
    for real in RNG.uniform(1e-7, 100.0, size=300).astype(F32).tolist() + [2.0 ** -31, 0.5, 1.0, 1000.0]:
        m0, shift = multiplier(real)
        assert 2 ** 30 <= m0 < 2 ** 31 and 1 <= shift <= 62
        assert m0 * 2.0 ** -shift == float(F32(real))
        acc = RNG.integers(-(2 ** 29), 2 ** 29, size=200)
        want = np.rint(acc.astype(np.float64) * float(F32(real))).astype(np.int64)
        np.testing.assert_array_equal(requant_reference(acc, real), want)
    # ties go to even, on both signs
    acc = np.arange(-9, 10)
    np.testing.assert_array_equal(requant_reference(acc, 0.5), np.rint(acc * 0.5))
    np.testing.assert_array_equal(requant_reference(acc * 3, 0.25), np.rint(acc * 0.75))
    assert multiplier(-0.75)[0] < 0
    np.testing.assert_array_equal(requant_reference(acc, -0.5), np.rint(acc * -0.5))
    assert multiplier(0.0) == (0, 1) and multiplier(1e-30) == (0, 1)
    for bad in (float("inf"), float("nan"), 2.0 ** 31):
        with pytest.raises(ZonnxError):
            multiplier(bad)


# -- QuantizeLinear / DequantizeLinear ---------------------------------------------

def _qdq(mdl, tag, x, scale, zp, axis=None, runtime=False, out_dtype=U8, dq=True):
    s = (mdl.inp if runtime else mdl.const)(f"s{tag}", np.asarray(scale, dtype=F32))
    ins = [x, s]
    if zp is not None:
        ins.append((mdl.inp if runtime else mdl.const)(f"z{tag}", np.asarray(zp)))
    attrs = {} if axis is None else {"axis": axis}
    qt = out_dtype if zp is None else np.asarray(zp).dtype
    mdl.node("QuantizeLinear", ins, [f"q{tag}"], [qt], **attrs)
    if dq:
        mdl.node("DequantizeLinear", [f"q{tag}"] + ins[1:], [f"d{tag}"], [F32], **attrs)


@pytest.mark.parametrize("opset", [10, 13, 19, 21])
def test_quantize_dequantize_round_trip(tmp_path, opset):
    mdl = Model()
    # ties (k + 0.5) * scale, saturation both ways (within int32: see below)
    ties = (np.arange(-6, 6) + 0.5) * 0.25
    x0 = np.concatenate([ties, [1e3, -1e3, 1e8, -1e8, 5e8, -5e8, 0.0, -0.0],
                         RNG.uniform(-40, 40, size=27)]).astype(F32)
    xa = mdl.inp("xa", x0)
    _qdq(mdl, 0, xa, 0.25, np.array(128, U8))
    _qdq(mdl, 1, xa, 0.25, np.array(-3, I8), runtime=True)
    _qdq(mdl, 2, xa, 0.3, None)                           # default uint8, zero point 0
    xb = mdl.inp("xb", RNG.uniform(-3, 3, size=(2, 3, 4, 5)).astype(F32))
    if opset >= 13:   # per axis
        _qdq(mdl, 3, xb, RNG.uniform(0.01, 0.05, size=3), _ints(I8, (3,), -10, 10), axis=1)
        _qdq(mdl, 4, xb, RNG.uniform(0.01, 0.05, size=5), _ints(U8, (5,), 100, 150), axis=-1,
             runtime=True)
        _qdq(mdl, 5, xb, RNG.uniform(0.01, 0.05, size=2), np.array([7, 250], U8), axis=0)
    if opset >= 21:   # 16-bit targets
        _qdq(mdl, 6, xb, [0.0001], np.array([-5], np.int16))
        _qdq(mdl, 7, xb, 0.0001, np.array(30000, np.uint16), dq=False)   # 16 outputs at most
    # int32 (a bias) with a zero point: the reference computes in float64
    xi = mdl.inp("xi", _ints(np.int32, (20,), -(2 ** 31), 2 ** 31 - 1))
    mdl.node("DequantizeLinear", [xi, mdl.const("si", F32(3.3e-5)), mdl.const("zi", np.int32(12345))],
             ["di"], [F32])
    if opset < 21:
        mdl.node("DequantizeLinear", [xi, "si"], ["di0"], [F32])
    got, want, model = mdl.run(tmp_path, opset, ref_opset=max(opset, 19))
    assert_exact(got, want)
    if opset < 19:
        assert_close_to_ort(model, mdl.feeds, got, ["q0", "q1", "q2"] + (["q3", "q4"] if opset >= 13 else []),
                            exact=True)
    # spot checks of the semantics
    assert got["q0"][:12].tolist() == [128 + int(v) for v in np.rint(ties / 0.25)]
    assert got["q0"][12:18].tolist() == [255, 0, 255, 0, 255, 0]


def test_quantize_saturates_beyond_int32(tmp_path):
    """Beyond the int32 range numpy's cast is undefined (onnx.reference gives
    the lowest value for 1e30 / scale); zonnx saturates as the spec and
    onnxruntime do, and NaN gives the lowest value like onnxruntime."""
    mdl = Model()
    x = mdl.inp("x", np.array([3e9, -3e9, 1e20, np.inf, np.nan], F32))
    mdl.node("QuantizeLinear", [x, mdl.const("s", F32(0.5)), mdl.const("z", np.int8(1))], ["q"], [I8])
    model = mdl.model(13)
    got, _ = run_zonnx(model, mdl.feeds, tmp_path)
    assert got["q"].tolist() == [127, -128, 127, 127, -128]
    assert_close_to_ort(model, mdl.feeds, got, ["q"], exact=True)   # NaN too


def test_dynamic_quantize_linear(tmp_path):
    mdl = Model()
    specs = [RNG.uniform(-3, 5, size=(3, 7)), RNG.uniform(0.5, 2, size=(10,)),
             RNG.uniform(-9, -1, size=(2, 2, 3)), np.zeros(4), np.array([0.1, 1e-30])]
    for i, x in enumerate(specs):
        xi = mdl.inp(f"x{i}", x.astype(F32))
        mdl.node("DynamicQuantizeLinear", [xi], [f"y{i}", f"s{i}", f"z{i}"], [U8, F32, U8])
    got, want, _ = mdl.run(tmp_path, 11)
    assert_exact(got, want)


# -- QLinearConv ----------------------------------------------------------------------

def _qconv(mdl, tag, x_dtype, x_shape, w_dtype, m, kernel, group=1, per_channel=True,
           zw_nonzero=False, bias="const", w_runtime=False, y_dtype=None, scales=None,
           ws_per_channel=None, zy=None, **attrs):
    """A QLinearConv on random data; scales chosen so outputs mostly fall in range."""
    c = x_shape[1]
    x = mdl.inp(f"x{tag}", _ints(x_dtype, x_shape))
    w_arr = _ints(w_dtype, (m, c // group, *kernel))
    w = (mdl.inp if w_runtime else mdl.const)(f"w{tag}", w_arr)
    zx = _ints(x_dtype, (), -20, 20) if x_dtype == I8 else _ints(x_dtype, (), 110, 140)
    if zw_nonzero:
        zw = _ints(w_dtype, (m,) if per_channel else (), *((-5, 5) if w_dtype == I8 else (100, 150)))
    else:
        zw = np.zeros((m,) if per_channel else (), w_dtype)
    taps = (c // group) * int(np.prod(kernel))
    xs, ys = F32(0.02), None
    ws_pc = per_channel if ws_per_channel is None else ws_per_channel
    ws = RNG.uniform(0.002, 0.01, size=(m,) if ws_pc else ()).astype(F32)
    if scales is not None:
        xs, ws, ys = (np.asarray(v, F32) for v in scales)
    if ys is None:
        spread = np.sqrt(taps) * 74.0 * 74.0 * xs * float(np.mean(ws))
        ys = F32(3.0 * spread / 127.0)
    y_dtype = y_dtype or x_dtype
    if zy is None:
        zy = _ints(y_dtype, (), -10, 10) if y_dtype == I8 else _ints(y_dtype, (), 100, 150)
    zy = np.asarray(zy, dtype=y_dtype)
    ins = [x, mdl.const(f"xs{tag}", xs), mdl.const(f"zx{tag}", zx), w,
           mdl.const(f"ws{tag}", ws), mdl.const(f"zw{tag}", zw),
           mdl.const(f"ys{tag}", ys), mdl.const(f"zy{tag}", zy)]
    b_arr = RNG.integers(-3000, 3000, size=m).astype(np.int32)
    if bias == "const":
        ins.append(mdl.const(f"b{tag}", b_arr))
    elif bias == "runtime":
        ins.append(mdl.inp(f"b{tag}", b_arr))
    mdl.node("QLinearConv", ins, [f"y{tag}"], [y_dtype], group=group, **attrs)
    return f"y{tag}"


def _conv_cases(mdl):
    """Output names; onnxruntime implements all but the last (int8 x, uint8 w)."""
    return [
        _qconv(mdl, 0, I8, [1, 3, 9, 8], I8, 5, [3, 3], pads=[1, 1, 1, 1], strides=[2, 1]),
        _qconv(mdl, 1, U8, [2, 4, 7, 7], U8, 6, [3, 2], zw_nonzero=True, bias="runtime",
               pads=[2, 0, 1, 1], dilations=[2, 1]),
        _qconv(mdl, 2, I8, [1, 6, 8, 8], I8, 6, [3, 3], group=6, pads=[1, 2, 1, 0]),  # depthwise
        _qconv(mdl, 3, U8, [1, 4, 6, 6], I8, 4, [3, 3], group=2, zw_nonzero=True, bias="none"),
        # onnx.reference applies per-channel scales to 2-D convolutions only
        _qconv(mdl, 4, I8, [1, 2, 17], I8, 3, [4], pads=[3, 1], strides=[3], zw_nonzero=True,
               ws_per_channel=False),
        _qconv(mdl, 5, U8, [1, 3, 5, 5], U8, 4, [3, 3], w_runtime=True, zw_nonzero=True,
               auto_pad="SAME_UPPER"),
        _qconv(mdl, 6, I8, [1, 8, 4, 4], I8, 16, [1, 1], per_channel=False, bias="const"),
        _qconv(mdl, 7, U8, [1, 2, 3, 4, 4], U8, 2, [2, 2, 2], pads=[1, 0, 1, 0, 1, 1],
               ws_per_channel=False, zw_nonzero=True),
        # x_scale * w_scale / y_scale == 0.5: every odd accumulator is a tie
        _qconv(mdl, 8, I8, [1, 1, 6, 6], I8, 2, [1, 1], scales=(1.0, [0.5, 0.25], 1.0), bias="none",
               zy=4),
        _qconv(mdl, 9, I8, [1, 4, 5, 5], U8, 3, [3, 3], zw_nonzero=True, y_dtype=U8,
               pads=[1, 1, 1, 1]),
    ]


def _submodel(model, outs):
    keep = [n for n in model.graph.node if n.output[0] in outs]
    used = {x for n in keep for x in n.input}
    g = helper.make_graph(keep, "sub", [i for i in model.graph.input if i.name in used],
                          [o for o in model.graph.output if o.name in outs],
                          [t for t in model.graph.initializer if t.name in used])
    return helper.make_model(g, opset_imports=model.opset_import)


def test_qlinear_conv_matches_reference_and_onnxruntime(tmp_path):
    mdl = Model()
    outs = _conv_cases(mdl)
    got, want, model = mdl.run(tmp_path, 13)
    assert_exact(got, want)
    for o in outs[:8] + outs[9:]:   # the data exercise the range, not just saturation
        lo, hi = np.iinfo(got[o].dtype).min, np.iinfo(got[o].dtype).max
        assert np.mean((got[o] > lo) & (got[o] < hi)) > 0.8, o
    assert_close_to_ort(_submodel(model, outs[:-1]), mdl.feeds, got, outs[:-1])


def test_qlinear_conv_ties_round_before_the_zero_point(tmp_path):
    """rint(acc * M) + zp_y, as the spec writes it and onnxruntime computes;
    onnx.reference adds an odd zp_y before rounding, which moves ties."""
    mdl = Model()
    y = _qconv(mdl, 0, I8, [1, 1, 6, 6], I8, 2, [1, 1], scales=(1.0, [0.5, 0.25], 1.0),
               bias="const", zy=-3)
    got, _, model = mdl.run(tmp_path, 10)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    acc = (mdl.feeds["x0"].astype(np.int64) - inits["zx0"]) * inits["w0"].reshape(1, 2, 1, 1) \
        + inits["b0"].reshape(1, 2, 1, 1)
    want = np.clip(np.rint(acc * np.array([0.5, 0.25]).reshape(1, 2, 1, 1)) - 3, -128, 127)
    np.testing.assert_array_equal(got[y], want.astype(I8))
    assert_close_to_ort(model, mdl.feeds, got, [y], exact=True)


def test_qlinear_conv_kernels_are_integer_only(tmp_path):
    mdl = Model()
    _conv_cases(mdl)
    src = source(mdl.model(13), tmp_path)
    ks = kernels(src, "qlinear_conv")
    assert len(ks) >= 9
    for k in ks:
        assert not re.search(r"\b(float|double)\b|nearbyint|\d\.\d*f", k), k
    # no padding and constant weights: the input zero point is folded into
    # per-channel weight sums, the MAC reads x as is
    assert any(re.search(r"acc \+= \(int32_t\)xg\[[^]]*\] \* \(int32_t\)wm\[", k) for k in ks)


# -- QLinearMatMul ---------------------------------------------------------------------

def _qmm(mdl, tag, a_dtype, sa, b_dtype, sb, b_const=True, per_column=True, y_dtype=None):
    a = mdl.inp(f"a{tag}", _ints(a_dtype, sa))
    b_arr = _ints(b_dtype, sb)
    b = (mdl.const if b_const else mdl.inp)(f"b{tag}", b_arr)
    n = sb[-1] if len(sb) > 1 else 1
    k = sa[-1]
    za = np.asarray(_ints(a_dtype, (), -10, 10) if a_dtype == I8 else _ints(a_dtype, (), 120, 135))
    col = (n,) if per_column and len(sb) > 1 else ()
    zb = _ints(b_dtype, col, -4, 4) if b_dtype == I8 else _ints(b_dtype, col, 110, 140)
    as_, bs = F32(0.03), RNG.uniform(0.005, 0.02, size=col).astype(F32)
    if col and len(sb) > 2:   # the same columns in every batch, as onnxruntime wants them
        zb = np.ascontiguousarray(np.broadcast_to(zb, tuple(sb[:-2]) + (1, n)))
        bs = np.ascontiguousarray(np.broadcast_to(bs, tuple(sb[:-2]) + (1, n)))
    ys = F32(3.0 * np.sqrt(k) * 74 * 74 * as_ * float(np.mean(bs)) / 127)
    y_dtype = y_dtype or a_dtype
    zy = np.asarray(_ints(y_dtype, (), -5, 5) if y_dtype == I8 else _ints(y_dtype, (), 120, 135))
    ins = [a, mdl.const(f"as{tag}", as_), mdl.const(f"za{tag}", za), b, mdl.const(f"bs{tag}", bs),
           mdl.const(f"zb{tag}", zb), mdl.const(f"ys{tag}", ys), mdl.const(f"zy{tag}", zy)]
    mdl.node("QLinearMatMul", ins, [f"y{tag}"], [y_dtype])
    return f"y{tag}"


def _mm_cases(mdl):
    return [
        _qmm(mdl, 0, I8, [5, 16], I8, [16, 7]),
        _qmm(mdl, 1, U8, [4, 9], U8, [9, 6], b_const=False),
        _qmm(mdl, 2, U8, [2, 3, 12], I8, [12, 5]),                       # rows of one product
        _qmm(mdl, 3, I8, [2, 1, 3, 8], I8, [3, 8, 4]),                   # broadcast batches
        _qmm(mdl, 4, I8, [2, 1, 3, 8], I8, [3, 8, 4], b_const=False),
        _qmm(mdl, 5, U8, [10], U8, [10, 3], per_column=False),           # vector @ matrix
        _qmm(mdl, 6, I8, [2, 6], I8, [6], per_column=False),             # matrix @ vector
        _qmm(mdl, 7, U8, [3, 5], U8, [5, 4], y_dtype=U8, per_column=False),
    ]


@pytest.mark.parametrize("opset", [10, 21])
def test_qlinear_matmul_matches_reference_and_onnxruntime(tmp_path, opset):
    mdl = Model()
    outs = _mm_cases(mdl)
    got, want, model = mdl.run(tmp_path, opset)
    assert_exact(got, want)
    assert_close_to_ort(model, mdl.feeds, got, outs)
    if opset == 10:
        src = source(model, tmp_path)
        for k in kernels(src, "qlinear_matmul"):
            assert not re.search(r"\b(float|double)\b|nearbyint", k), k


# -- ConvInteger / MatMulInteger ------------------------------------------------------------

def test_conv_integer_and_matmul_integer(tmp_path):
    mdl = Model()
    cases = [  # x dtype, x shape, w dtype, M, kernel, group, zw per channel, attrs
        (U8, [1, 3, 7, 7], U8, 4, [3, 3], 1, True, dict(pads=[1, 1, 1, 1])),
        (I8, [2, 4, 6, 5], I8, 4, [2, 3], 2, False, dict(strides=[2, 1], dilations=[1, 2])),
        (U8, [1, 4, 9], I8, 8, [3], 4, False, dict(pads=[2, 2])),   # reference: 2-D per channel only
        (I8, [1, 2, 5, 5], U8, 3, [3, 3], 1, True, dict()),              # folded zero point
    ]
    for i, (xd, xs, wd, m, ker, g, pc, attrs) in enumerate(cases):
        x = mdl.inp(f"cx{i}", _ints(xd, xs))
        w = (mdl.const if i != 1 else mdl.inp)(f"cw{i}", _ints(wd, (m, xs[1] // g, *ker)))
        zx = mdl.const(f"czx{i}", _ints(xd, (), 1, 20))
        zw = mdl.const(f"czw{i}", _ints(wd, (m,) if pc else (), 1, 9))
        mdl.node("ConvInteger", [x, w, zx, zw], [f"cy{i}"], [np.int32], group=g, **attrs)
    x = mdl.inp("cx9", _ints(U8, [1, 2, 4, 4]))
    mdl.node("ConvInteger", [x, mdl.const("cw9", _ints(U8, (3, 2, 2, 2)))], ["cy9"], [np.int32])
    mm = [  # a dtype, A shape, b dtype, B shape, B constant, zb shape
        (U8, [4, 6], U8, [6, 5], True, (5,)),
        (I8, [2, 3, 6], I8, [6, 4], False, (4,)),
        (U8, [2, 3, 7], I8, [2, 7, 2], True, (1, 2)),
        (I8, [7], U8, [7, 3], True, ()),
        (U8, [3, 7], U8, [7], False, ()),
    ]
    for i, (ad, sa, bd, sb, bc, zs) in enumerate(mm):
        a = mdl.inp(f"ma{i}", _ints(ad, sa))
        b = (mdl.const if bc else mdl.inp)(f"mb{i}", _ints(bd, sb))
        za = mdl.const(f"mza{i}", _ints(ad, (), 1, 30))
        zb = mdl.const(f"mzb{i}", _ints(bd, zs, -20, 20) if bd == I8 else _ints(bd, zs, 0, 200))
        mdl.node("MatMulInteger", [a, b, za, zb], [f"my{i}"], [np.int32])
    a = mdl.inp("ma9", _ints(I8, [3, 4]))
    mdl.node("MatMulInteger", [a, mdl.const("mb9", _ints(I8, (4, 2)))], ["my9"], [np.int32])
    got, want, _ = mdl.run(tmp_path, 10)
    assert_exact(got, want)


def test_int32_accumulators_wrap_like_the_reference(tmp_path):
    """K * 255 * 255 exceeds int32: the kernels accumulate in uint32 and the
    result wraps exactly like numpy's int32 (no undefined behaviour)."""
    k = 40000
    mdl = Model()
    a = mdl.inp("a", np.full((2, k), 255, U8))
    mdl.feeds["a"][1, ::3] = 0
    mdl.node("MatMulInteger", [a, mdl.const("b", np.full((k, 2), 255, U8))], ["y0"], [np.int32])
    mdl.node("MatMulInteger", [a, mdl.inp("b1", np.full((k, 2), 255, U8))], ["y1"], [np.int32])
    small = mdl.inp("s", _ints(I8, (2, 8)))
    mdl.node("MatMulInteger", [small, mdl.const("sb", _ints(I8, (8, 3)))], ["y2"], [np.int32])
    got, want, model = mdl.run(tmp_path, 10)
    assert_exact(got, want)
    assert got["y0"][0, 0] == np.int32(np.int64(k) * 255 * 255 - 2 ** 32)
    src = source(model, tmp_path)
    ks = kernels(src, "matmul_integer")
    assert sum("uint32_t au" in k for k in ks) == 2 and sum("int32_t acc = " in k for k in ks) >= 1


# -- rejections -----------------------------------------------------------------------------

def _conv_model(opset=10, **over):
    x = helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 1, 4, 4])
    inits = dict(xs=F32(0.1), xz=np.uint8(0), w=np.ones((2, 1, 1, 1), U8), ws=np.full(2, 0.1, F32),
                 wz=np.zeros(2, U8), ys=F32(0.1), yz=np.uint8(0))
    inits.update(over)
    runtime = [k for k, v in over.items() if v is None]
    inputs = [x] + [helper.make_tensor_value_info(k, TensorProto.FLOAT, []) for k in runtime]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"])
    g = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 2, 4, 4])],
                          [onnx.numpy_helper.from_array(np.asarray(v), k)
                           for k, v in inits.items() if v is not None])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def test_rejections(tmp_path):
    assert_rejected(_conv_model(xs=None), tmp_path, r"'xs' \(x_scale\) must be a constant.*--const")
    assert_rejected(_conv_model(ws=np.full(3, 0.1, F32)), tmp_path, r"w_scale of shape \[3\]")
    assert_rejected(_conv_model(ys=F32(1e-12)), tmp_path, r"too large")
    assert_rejected(_conv_model(ys=F32(0.0)), tmp_path, r"non-finite")
    assert_rejected(_conv_model(xs=np.array([0.1, 0.2], F32)), tmp_path, r"x_scale .* per-tensor")

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])
    blocked = helper.make_model(helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s"], ["y"], axis=1, block_size=2)], "g", [x],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [4, 4])],
        [onnx.numpy_helper.from_array(np.full((4, 2), 0.1, F32), "s")]),
        opset_imports=[helper.make_opsetid("", 21)])
    assert_rejected(blocked, tmp_path, r"blocked quantization")
    int4 = helper.make_model(helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])], "g", [x],
        [helper.make_tensor_value_info("y", TensorProto.INT4, [4, 4])],
        [onnx.numpy_helper.from_array(F32(0.1), "s"),
         helper.make_tensor("z", TensorProto.INT4, [], [0])]),
        opset_imports=[helper.make_opsetid("", 21)])
    assert_rejected(int4, tmp_path, r"unsupported data type int4|data type zonnx does not support")

    mdl = Model()
    a = mdl.inp("a", _ints(I8, (3, 4)))
    mdl.node("QLinearMatMul", [a, mdl.const("as", np.array([[0.1], [0.2], [0.3]], F32)),
                               mdl.const("za", np.int8(0)), mdl.const("b", _ints(I8, (4, 2))),
                               mdl.const("bs", F32(0.1)), mdl.const("zb", np.int8(0)),
                               mdl.const("ys", F32(0.1)), mdl.const("zy", np.int8(0))], ["y"], [I8])
    assert_rejected(mdl.model(10), tmp_path, r"a_scale of shape \[3, 1\] must be per-tensor")
    mdl = Model()
    a = mdl.inp("a", _ints(I8, (2, 3, 4)))
    mdl.node("QLinearMatMul", [a, mdl.const("as", F32(0.1)), mdl.const("za", np.int8(0)),
                               mdl.const("b", _ints(I8, (2, 4, 2))),
                               mdl.const("bs", np.array([[[0.1, 0.2]], [[0.3, 0.4]]], F32)),
                               mdl.const("zb", np.int8(0)), mdl.const("ys", F32(0.1)),
                               mdl.const("zy", np.int8(0))], ["y"], [I8])
    assert_rejected(mdl.model(21), tmp_path, r"b_scale .* varies along an axis other than the last")
    mdl = Model()
    xq = mdl.inp("xq", RNG.uniform(-1, 1, size=(2, 3)).astype(F32))
    mdl.node("QuantizeLinear", [xq, mdl.const("s3", np.full(3, 0.1, F32)), mdl.const("z3", np.zeros(3, U8))],
             ["q"], [U8])
    assert_rejected(mdl.model(10), tmp_path, r"quantizes per tensor only")
    mdl = Model()
    a = mdl.inp("a", _ints(U8, (3, 4)))
    mdl.node("MatMulInteger", [a, mdl.const("b", _ints(U8, (4, 2))),
                               mdl.const("za", np.array([[1], [2], [3]], U8))], ["y"], [np.int32])
    assert_rejected(mdl.model(10), tmp_path, r"a_zero_point of shape \[3, 1\] must be per-tensor")
