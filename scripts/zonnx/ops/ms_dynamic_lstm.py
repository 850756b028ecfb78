"""com.microsoft DynamicQuantizeLSTM, what onnxruntime's quantize_dynamic
writes for an LSTM: int8 / uint8 weights W [num_directions, input_size,
4*hidden] and R [num_directions, hidden, 4*hidden] (transposed against
ONNX LSTM), each with a scale and zero point per direction or per gate
column; inputs 0-7 and the attributes are LSTM's.

onnxruntime's kernel (single-threaded), which this one follows operation
for operation:

* X is quantized to uint8 once, over the whole sequence (scale
  (max - min) / 255 of its range including 0, or 1 for an all-zero range;
  zero point rint(-min / scale); q = clamp(rint(x / scale) + zp, 0, 255)),
  the hidden state likewise at every time step, over all batch rows.
* g = fl(sx * sW) * acc_x + fl(sh * sR) * acc_h, acc_* the exact int32 sums
  of (q - zp)(w - zw), then + (Wb + Rb) after the peephole term.
* Sigmoid and Tanh are MLAS's rational approximations (MlasComputeLogistic,
  MlasComputeTanh) with fused multiply-adds, bit for bit what onnxruntime
  computes on FMA-capable x86-64; since one ulp in h can move a value
  across a rounding boundary of the next step's quantization, exp-based
  functions would put a few outputs an int8 step apart.

Weights are stored transposed ([4*hidden, K] rows, the kernel's order) in
their 8-bit type. sequence_lens below seq_length is rejected: onnxruntime's
per-step range then includes finished rows whose value depends on whether
Y is requested.
"""

from __future__ import annotations

import numpy as np

from ..cgen import c_float
from ._ms_quant_util import MLAS_LOGISTIC, MLAS_TANH
from ._quant_util import Tables
from ._rnn_util import BlockAct, KernelHooks, RnnSpec, lin_expr, lower_recurrent, parse_rnn
from .base import LowerCtx, Lowered, Op, register
from .lstm import lstm_cell

MS = "com.microsoft"
W_SCALE, W_ZP, R_SCALE, R_ZP = 8, 9, 10, 11
I32_MAX = 2 ** 31 - 1


def _horner(var: str, coeffs: list[float]) -> str:
    """fmaf chain: ((c0 * var + c1) * var + c2)... (MLAS's multiply-adds)."""
    expr = c_float(coeffs[0])
    for c in coeffs[1:]:
        expr = f"fmaf({expr}, {var}, {c_float(c)})"
    return expr


def _rational(consts: dict, num: list[str], den: list[str], finish: str) -> BlockAct:
    """v = clamp(src), p = v * P(v^2), q = Q(v^2); dst = finish(p / q)."""
    c = consts

    def block(dst: str, src: str) -> str:
        return "\n".join([
            f"float {dst};",
            "{",
            f"    const float v = fminf(fmaxf({src}, {c_float(c['lower'])}), {c_float(c['upper'])});",
            "    const float v2 = v * v;",
            f"    const float p = {_horner('v2', [c[k] for k in num])} * v;",
            f"    const float q = {_horner('v2', [c[k] for k in den])};",
            f"    {dst} = {finish};",
            "}"])
    return BlockAct(block)


MLAS_ACTS = {
    "Sigmoid": _rational(MLAS_LOGISTIC, ["a9", "a7", "a5", "a3", "a1"],
                         ["b10", "b8", "b6", "b4", "b2", "b0"],
                         "fminf(fmaxf(p / q + 0.5f, 0.0f), 1.0f)"),
    "Tanh": _rational(MLAS_TANH, ["a13", "a11", "a9", "a7", "a5", "a3", "a1"],
                      ["b6", "b4", "b2", "b0"], "p / q"),
}


def _quantize_range(src: str, n: int, pre: str) -> list[str]:
    """uint8 parameters of src[0, n) as onnxruntime's GetQuantizationParameter:
    `{pre}s` (scale), `{pre}lo`, `{pre}hi` (the quantized range minus the zero
    point, as floats)."""
    return [
        f"float {pre}mn = 0.0f, {pre}mx = 0.0f;",
        f"for (int32_t i = 0; i < {n}; i++) {{",
        f"    const float v = {src}[i];",
        f"    if (v > {pre}mx) {{ {pre}mx = v; }}",
        f"    if (v < {pre}mn) {{ {pre}mn = v; }}",
        "}",
        f"const float {pre}s = {pre}mx == {pre}mn ? 1.0f : ({pre}mx - {pre}mn) / 255.0f;",
        f"const float {pre}z = nearbyintf(fminf(fmaxf(0.0f - {pre}mn / {pre}s, 0.0f), 255.0f));",
        f"const float {pre}lo = 0.0f - {pre}z, {pre}hi = 255.0f - {pre}z;",
    ]


def _quantize_into(dst: str, src: str, n: str, pre: str) -> list[str]:
    """dst[i] = clamp(rint(src[i] / scale) + zp, 0, 255) - zp, as int16."""
    return [
        f"for (int32_t k = 0; k < {n}; k++) {{",
        f"    const float v = nearbyintf({src}[k] / {pre}s);",
        f"    {dst}[k] = (int16_t)(v >= {pre}hi ? {pre}hi : (v > {pre}lo ? v : {pre}lo));",
        "}",
    ]


class _Weights:
    """One of W / R: its scale input, per-direction zero points, per column or not."""

    def __init__(self, ctx: LowerCtx, wi: int, si: int, zi: int, what: str, spec: RnnSpec):
        nd, cols = spec.ndir, 4 * spec.hidden
        w = ctx.require_const(wi, what)
        self.k = w.shape[1]
        ctx.require_dtype(ctx.tin(si), ["float32"])
        s_shape = tuple(ctx.tin(si).shape)
        if s_shape not in ((nd,), (nd, cols)):
            raise ctx.reject(f"{what}_scale has shape {list(s_shape)}; expected [{nd}] "
                             f"(per tensor) or [{nd}, {cols}] (per gate column)")
        self.per_column = s_shape == (nd, cols)
        if not ctx.has_input(zi):
            raise ctx.reject(f"{what}_zero_point is required")
        zp = np.asarray(ctx.require_const(zi, f"{what}_zero_point"))
        if ctx.tin(zi).dtype != ctx.tin(wi).dtype:
            raise ctx.reject(f"{what}_zero_point dtype {ctx.tin(zi).dtype.name} differs from "
                             f"{what}'s {ctx.tin(wi).dtype.name}")
        if zp.shape != s_shape:
            raise ctx.reject(f"{what}_zero_point has shape {list(zp.shape)}, its scale {list(s_shape)}")
        zp = zp.astype(np.int64).reshape(nd, -1)
        # onnxruntime subtracts one zero point per direction (the first) and
        # refuses per-column ones it would get wrong
        if self.per_column and (np.any(zp != 0) if w.dtype == np.int8 else np.any(zp != zp.flat[0])):
            raise ctx.reject(f"per-column {what}_zero_point must be all zero (int8) or one value (uint8)")
        self.zp = [int(z) for z in zp[:, 0]]
        if self.k * 255 * 255 > I32_MAX:      # |q - zp|, |w - zw| <= 255
            raise ctx.reject(f"{what} has {self.k} rows: its int32 sums could overflow")
        self.scale = si
        self.rows = np.ascontiguousarray(np.transpose(w, (0, 2, 1)))   # [nd, 4*hidden, K]

    def multiplier(self, d: int, act_scale: str) -> str:
        """fl(activation scale * weight scale) of gate column r."""
        idx = lin_expr(d * self.rows.shape[1], ("r", 1)) if self.per_column else str(d)
        return f"({act_scale} * x{self.scale}[{idx}])"

    def dot(self, d: int, acc: str, table: str, vec: str) -> list[str]:
        """C adding sum_k vec[k] * (w[r][k] - zw) of gate column r to acc."""
        k, cols = self.k, self.rows.shape[1]
        z = self.zp[d]
        wv = f"((int32_t)wr[k] - {z})" if z else "wr[k]"
        return [f"const {'int8_t' if self.rows.dtype == np.int8 else 'uint8_t'} *wr = "
                f"{table} + {lin_expr(d * cols * k, ('r', k))};",
                f"for (int32_t k = 0; k < {k}; k++) {{ {acc} += {vec}[k] * {wv}; }}"]


@register
class DynamicQuantizeLSTM(Op):
    op_types = ("DynamicQuantizeLSTM",)
    domain = MS
    since = 1
    dtypes = "float32 (int8, uint8 weights)"

    def infer(self, node, types):
        x, r = types.get(node.input[0]), types.get(node.input[2])
        if x is None or r is None or len(x[1]) != 3 or len(r[1]) != 3:
            return None
        seq, batch, nd, hidden = x[1][0], x[1][1], r[1][0], r[1][1]
        shapes = [(seq, nd, batch, hidden), (nd, batch, hidden), (nd, batch, hidden)]
        return [(x[0], s) for s, name in zip(shapes, node.output) if name]

    def lower(self, ctx: LowerCtx) -> Lowered:
        spec = parse_rnn(ctx, 4, ("Sigmoid", "Tanh", "Tanh"), n_states=2, quantized=True,
                         fixed_acts=MLAS_ACTS)
        if spec.seq_lens:
            raise ctx.reject("sequence_lens below seq_length (or set at run time) is not supported: "
                             "onnxruntime's per-step quantization range then covers finished rows")
        h, nd = spec.hidden, spec.ndir
        peep = ctx.has_input(7)
        if peep and tuple(ctx.tin(7).shape) != (nd, 3 * h):
            raise ctx.reject(f"P has shape {list(ctx.tin(7).shape)}; expected [{nd}, {3 * h}]")
        for i, what in ((W_SCALE, "W_scale"), (R_SCALE, "R_scale")):
            if not ctx.has_input(i):
                raise ctx.reject(f"{what} is required")
        w = _Weights(ctx, 1, W_SCALE, W_ZP, "W", spec)
        r = _Weights(ctx, 2, R_SCALE, R_ZP, "R", spec)
        tabs = Tables(ctx)
        wt, rt = tabs.add("W_rows", w.rows), tabs.add("R_rows", r.rows)
        n_x, n_h = spec.seq * spec.batch * spec.inp, spec.batch * h

        def setup(d: int) -> str:   # X's parameters: one quantization of the whole sequence
            return "\n".join(["int16_t *xq = s3;", "int16_t *hq = s4;"]
                             + _quantize_range("x0", n_x, "x"))

        def step(d: int) -> str:    # the hidden states of all batch rows, quantized per step
            return "\n".join(_quantize_range("h", n_h, "h") + _quantize_into("hq", "h", str(n_h), "h"))

        def gates(d: int) -> str:
            return "\n".join(
                _quantize_into("xq", "xt", str(spec.inp), "x")
                + [f"const int16_t *hr = hq + {lin_expr(0, ('b', h))};",
                   f"for (int32_t r = 0; r < {4 * h}; r++) {{",
                   "    int32_t ax = 0, ah = 0;",
                   "    {"] + ["        " + s for s in w.dot(d, "ax", wt, "xq")] + ["    }", "    {"]
                + ["        " + s for s in r.dot(d, "ah", rt, "hr")]
                + ["    }",
                   f"    const float gx = {w.multiplier(d, 'xs')} * (float)ax;",
                   f"    g[r] = gx + {r.multiplier(d, 'hs')} * (float)ah;",
                   "}"])

        def bias(d: int):
            if not spec.has_bias:
                return lambda k: ""
            return lambda k: (f" + (x3[{lin_expr(d * 8 * h + k * h, ('j', 1))}] + "
                              f"x3[{lin_expr(d * 8 * h + 4 * h + k * h, ('j', 1))}])")

        input_forget = bool(ctx.attr("input_forget", 0))
        hooks = KernelHooks(setup=setup, step=step, tables=tuple(tabs.names), drop=(1, 2),
                            scratch=(("int16_t", 2 * spec.inp), ("int16_t", 2 * n_h)))
        return lower_recurrent(
            ctx, spec, "dynamic_quantize_lstm",
            lambda d: lstm_cell(spec, d, peep, input_forget, gates=gates(d), bias=bias(d)),
            n_states=2, gate_floats=4 * h, extra_ins=(7, W_SCALE, R_SCALE), hooks=hooks)
