"""The com.microsoft quantized ops onnxruntime's quantizer emits (QOperator
format): QLinearAdd, QLinearMul, QLinearSigmoid, QLinearLeakyRelu,
QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat,
QLinearSoftmax and QGemm, on int8 / uint8 tensors with
constant per-tensor scales and zero points. Kernels are integer-only:

* QLinearAdd: y = saturate(rint(rA * (a - zA) + rB * (b - zB)) + zC) with
  rA = fl32(sA / sC), rB = fl32(sB / sC) (as onnxruntime computes them) as
  integers mA, mB over one common power of two (2^S, the larger in
  [2^30, 2^31)), so the int64 sum is exact and is rounded half to even by a
  shift. onnxruntime itself uses 22-bit multipliers: within 1 LSB of it.
* QLinearMul: y = saturate(rint((a - zA) * (b - zB) * fl32(fl32(sA * sB) / sC)) + zC)
  with the Q31 multiplier of `_quant_util`.
  Both broadcast with numpy rules.
* QLinearSigmoid, QLinearLeakyRelu: 256-entry lookup tables built exactly as
  onnxruntime builds them (float32, its logistic approximation), so the
  results are identical to onnxruntime's.
* QLinearGlobalAveragePool: int32 sum - zx * size, then requantized with
  M = fl32(sx / fl32(sy * size)) (onnxruntime's scale); channels_last=1 reads
  [N, spatial..., C].
* QLinearAveragePool (NCHW): int32 window sums, requantized per divisor.
* QLinearSoftmax: integer exp table, uint64 sums, integer division.
* QGemm (quantized output only): int32 MACs, per-column requantization.
* QLinearConcat: inputs (Y_scale, Y_zero_point, then X, X_scale, X_zero_point
  per input); an input quantized like the output is copied, another goes
  through onnxruntime's requantization table (identical results).
"""

from __future__ import annotations

import math

import numpy as np
from ..cgen import numel
from ._elementwise_util import broadcast_body, broadcast_check
from ._ms_quant_util import (F32, INT8_TYPES, lookup_table, mlas_logistic, q_scale, q_zero,
                             table_index)
from . import _cmsis_nn as cmsis_nn
from ._quant_util import Tables, multiplier, out_bounds, requant_lines, shifted, table_step
from .base import LowerCtx, Lowered, Op, register

MS = "com.microsoft"


def _same_dtype(ctx: LowerCtx, idx) -> str:
    dt = ctx.tin(idx[0]).dtype.name
    if dt not in INT8_TYPES:
        raise ctx.reject(f"dtype {dt}: only int8 and uint8 are supported")
    for i in idx[1:]:
        if ctx.tin(i).dtype.name != dt:
            raise ctx.reject(f"inputs have different dtypes ({dt}, {ctx.tin(i).dtype.name})")
    if ctx.tout().dtype.name != dt:
        raise ctx.reject(f"output dtype {ctx.tout().dtype.name} differs from the input's {dt}")
    return dt


def _i64(v: int) -> str:
    return f"INT64_C({int(v)})" if v >= 0 else f"(-INT64_C({-int(v)}))"


class _QBinary(Op):
    """QLinearAdd / QLinearMul: inputs A, A_scale, A_zero_point, B, B_scale,
    B_zero_point, C_scale, C_zero_point (constant, per tensor); A and B
    broadcast. Subclasses give the per-element statement."""
    domain = MS
    since = 1
    dtypes = "int8, uint8"
    hint = ""
    macs_per_element = 1

    def infer(self, node, types):
        a, b = types[node.input[0]], types[node.input[3]]
        return [(a[0], tuple(np.broadcast_shapes(a[1], b[1])))]

    def statement(self, ctx: LowerCtx, dt: str, scales, zeros):
        """(vals, out) -> C block storing one output element."""
        raise NotImplementedError

    def lower(self, ctx: LowerCtx) -> Lowered:
        dt = _same_dtype(ctx, [0, 3])
        broadcast_check(ctx, [0, 3])
        scales = q_scale(ctx, 1, "A_scale"), q_scale(ctx, 4, "B_scale"), q_scale(ctx, 6, "C_scale")
        zeros = (q_zero(ctx, 2, "A_zero_point", dt), q_zero(ctx, 5, "B_zero_point", dt),
                 q_zero(ctx, 7, "C_zero_point", dt))
        stmt = self.statement(ctx, dt, scales, zeros)
        out = ctx.tout()
        body = broadcast_body(out.shape, [ctx.tin(0).shape, ctx.tin(3).shape], stmt, ["x0", "x3"])
        inplace = tuple((i, 0) for i in (0, 3) if numel(ctx.tin(i).shape) == out.size)
        return Lowered([ctx.step(self.hint, body, ins=[0, 3], outs=[0])], inplace=inplace[:1],
                       macs=out.size * self.macs_per_element)


def _block(lines: list[str]) -> str:
    return "{\n" + "\n".join("    " + s for s in lines) + "\n}"


@register
class QLinearAdd(_QBinary):
    op_types = ("QLinearAdd",)
    hint = "qlinear_add"
    macs_per_element = 2

    def statement(self, ctx, dt, scales, zeros):
        (sa, sb, sc), (za, zb, zc) = scales, zeros
        with np.errstate(all="ignore"):
            ra, rb = float(F32(sa / sc)), float(F32(sb / sc))
        if not (math.isfinite(ra) and math.isfinite(rb)) or ra <= 0 or rb <= 0:
            raise ctx.reject("scale ratios A_scale / C_scale, B_scale / C_scale must be positive and finite")
        shift = 31 - max(math.frexp(ra)[1], math.frexp(rb)[1])
        if not 1 <= shift <= 62:
            raise ctx.reject(f"scale ratios {ra}, {rb} are out of the supported range [2^-31, 2^30)")
        ma, mb = (int(np.rint(np.float64(r) * 2.0 ** shift)) for r in (ra, rb))
        bias = -(za * ma + zb * mb)

        def stmt(vals, out):
            return _block([f"const int64_t acc = (int64_t){vals[0]} * {_i64(ma)} + "
                           f"(int64_t){vals[1]} * {_i64(mb)} + {_i64(bias)};",
                           *requant_lines("acc", "1", str(shift), str(zc), dt, out)])
        return stmt


@register
class QLinearMul(_QBinary):
    op_types = ("QLinearMul",)
    hint = "qlinear_mul"

    def statement(self, ctx, dt, scales, zeros):
        (sa, sb, sc), (za, zb, zc) = scales, zeros
        with np.errstate(all="ignore"):
            real = F32(F32(sa * sb) / sc)
        try:
            m0, sh = multiplier(real)
        except Exception as e:
            raise ctx.reject(str(e)) from None

        def stmt(vals, out):
            return _block([f"const int32_t acc = {shifted(vals[0], str(za))} * {shifted(vals[1], str(zb))};",
                           *requant_lines("acc", str(m0), str(sh), str(zc), dt, out)])
        return stmt


class _LookupOp(Op):
    """y = table[x], the table built by onnxruntime's recipe from `fn`."""
    domain = MS
    since = 1
    dtypes = "int8, uint8"
    hint = "qlinear_lut"

    def fn(self, ctx: LowerCtx):  # pragma: no cover - abstract
        raise NotImplementedError

    def infer(self, node, types):
        return [types[node.input[0]]]

    def lower(self, ctx: LowerCtx) -> Lowered:
        dt = _same_dtype(ctx, [0])
        sx, sy = q_scale(ctx, 1, "X_scale"), q_scale(ctx, 3, "Y_scale")
        zx, zy = q_zero(ctx, 2, "X_zero_point", dt), q_zero(ctx, 4, "Y_zero_point", dt)
        tabs = Tables(ctx)
        t = tabs.add("table", lookup_table(self.fn(ctx), dt, sx, zx, dt, sy, zy))
        n = ctx.tout().size
        body = (f"    for (int32_t i = 0; i < {n}; i++) {{ y0[i] = {t}[{table_index('x0[i]', dt)}]; }}")
        return Lowered([table_step(ctx, self.hint, body, [0], tabs.names)], inplace=((0, 0),))


@register
class QLinearSigmoid(_LookupOp):
    op_types = ("QLinearSigmoid",)
    hint = "qlinear_sigmoid"

    def fn(self, ctx):
        return mlas_logistic


@register
class QLinearLeakyRelu(_LookupOp):
    op_types = ("QLinearLeakyRelu",)
    hint = "qlinear_leaky_relu"

    def fn(self, ctx):
        alpha = F32(ctx.attr("alpha", 0.01))
        return lambda x: np.where(x >= 0, x, (x * alpha).astype(F32)).astype(F32)


@register
class QLinearGlobalAveragePool(Op):
    op_types = ("QLinearGlobalAveragePool",)
    domain = MS
    since = 1
    dtypes = "int8, uint8"

    def infer(self, node, types):
        elem, shape = types[node.input[0]]
        last = any(a.name == "channels_last" and a.i for a in node.attribute)
        if len(shape) < 3:
            return None
        if last:
            return [(elem, (shape[0],) + (1,) * (len(shape) - 2) + (shape[-1],))]
        return [(elem, tuple(shape[:2]) + (1,) * (len(shape) - 2))]

    def lower(self, ctx: LowerCtx) -> Lowered:
        dt = _same_dtype(ctx, [0])
        x = ctx.tin(0)
        if len(x.shape) < 3:
            raise ctx.reject(f"input rank {len(x.shape)}: needs N, C and at least one spatial axis")
        last = bool(ctx.attr("channels_last", 0))
        n = x.shape[0]
        c = x.shape[-1] if last else x.shape[1]
        size = numel(x.shape[1:-1] if last else x.shape[2:])
        want = ((n,) + (1,) * (len(x.shape) - 2) + (c,)) if last else ((n, c) + (1,) * (len(x.shape) - 2))
        if tuple(ctx.tout().shape) != want:
            raise ctx.reject(f"output shape {list(ctx.tout().shape)} is not {list(want)}")
        if size == 0 or size >= 0x800000:
            raise ctx.reject(f"spatial size {size} is not in [1, 2^23)")
        sx, sy = q_scale(ctx, 1, "x_scale"), q_scale(ctx, 3, "y_scale")
        zx, zy = q_zero(ctx, 2, "x_zero_point", dt), q_zero(ctx, 4, "y_zero_point", dt)
        with np.errstate(all="ignore"):
            real = F32(sx / F32(sy * F32(size)))
        try:
            m0, sh = multiplier(real)
        except Exception as e:
            raise ctx.reject(str(e)) from None
        ct = f"{dt}_t"
        store = requant_lines("acc", str(m0), str(sh), str(zy), dt, "y0[o]")
        init = f"int32_t acc = {-zx * size};"
        if last:
            lines = [f"for (int32_t b = 0; b < {n}; b++) {{",
                     f"    const {ct} *xb = x0 + b * {size * c};",
                     f"    for (int32_t ch = 0; ch < {c}; ch++) {{",
                     f"        const int32_t o = b * {c} + ch;",
                     f"        {init}",
                     f"        for (int32_t i = 0; i < {size}; i++) {{ acc += xb[i * {c} + ch]; }}",
                     *[f"        {s}" for s in store],
                     "    }", "}"]
        else:
            lines = [f"for (int32_t o = 0; o < {n * c}; o++) {{",
                     f"    const {ct} *xo = x0 + o * {size};",
                     f"    {init}",
                     f"    for (int32_t i = 0; i < {size}; i++) {{ acc += xo[i]; }}",
                     *[f"    {s}" for s in store],
                     "}"]
        body = "\n".join("    " + s for s in lines)
        return Lowered([ctx.step("qlinear_gavgpool", body, ins=[0], outs=[0])], macs=x.size)


@register
class QLinearConcat(Op):
    op_types = ("QLinearConcat",)
    domain = MS
    since = 1
    dtypes = "int8, uint8"

    def infer(self, node, types):
        axis = next((a.i for a in node.attribute if a.name == "axis"), None)
        xs = [types[node.input[i]][1] for i in range(2, len(node.input), 3)]
        if axis is None or not xs:
            return None
        rank = len(xs[0])
        axis = axis + rank if axis < 0 else axis
        shape = list(xs[0])
        shape[axis] = sum(s[axis] for s in xs)
        return [(types[node.input[1]][0], tuple(shape))]

    def lower(self, ctx: LowerCtx) -> Lowered:
        nin = len(ctx.node.inputs)
        if nin < 5 or (nin - 2) % 3:
            raise ctx.reject(f"{nin} inputs: expects Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples")
        xi = list(range(2, nin, 3))
        if not all(ctx.has_input(i) for i in xi):
            raise ctx.reject("a data input is missing")
        out = ctx.tout()
        dt = out.dtype.name
        if dt not in INT8_TYPES:
            raise ctx.reject(f"dtype {dt}: only int8 and uint8 are supported")
        if not ctx.has_input(1):
            raise ctx.reject("Y_zero_point is required")
        for i in xi:
            if ctx.tin(i).dtype.name != dt:
                raise ctx.reject(f"input dtype {ctx.tin(i).dtype.name} differs from the output's {dt}")
        sy, zy = q_scale(ctx, 0, "Y_scale"), q_zero(ctx, 1, "Y_zero_point", dt)
        rank = len(out.shape)
        if rank == 0:
            raise ctx.reject("QLinearConcat of scalars")
        axis = ctx.attr("axis")
        if axis is None:
            raise ctx.reject("attribute axis is required")
        axis = int(axis)
        if not -rank <= axis < rank:
            raise ctx.reject(f"axis {axis} is out of range for rank {rank}")
        axis %= rank
        at = 0
        for i in xi:
            s = tuple(ctx.tin(i).shape)
            if len(s) != rank or s[:axis] != out.shape[:axis] or s[axis + 1:] != out.shape[axis + 1:]:
                raise ctx.reject(f"input shape {list(s)} does not fit the output {list(out.shape)} on axis {axis}")
            at += s[axis]
        if at != out.shape[axis]:
            raise ctx.reject(f"inputs sum to {at} along axis {axis}, the output has {out.shape[axis]}")
        outer, out_inner = numel(out.shape[:axis]), numel(out.shape[axis:])
        tabs = Tables(ctx)
        ct = f"{dt}_t"
        lines, off = [], 0
        for i in xi:
            sx, zx = q_scale(ctx, i + 1, "X_scale"), q_zero(ctx, i + 2, "X_zero_point", dt)
            inner = numel(ctx.tin(i).shape[axis:])
            if sx == sy and zx == zy:
                val = "xp[j]"
            else:
                t = tabs.add(f"table{i}", lookup_table(lambda v: v, dt, sx, zx, dt, sy, zy))
                val = f"{t}[{table_index('xp[j]', dt)}]"
            if inner:
                lines += [f"for (int32_t o = 0; o < {outer}; o++) {{",
                          f"    const {ct} *xp = x{i} + o * {inner};",
                          f"    {ct} *yp = y0 + o * {out_inner} + {off};",
                          f"    for (int32_t j = 0; j < {inner}; j++) {{ yp[j] = {val}; }}",
                          "}"]
            else:
                lines.append(f"(void)x{i};")
            off += inner
        if out.size == 0:
            lines.append("(void)y0;")
        body = "\n".join("    " + s for s in lines)
        return Lowered([table_step(ctx, "qlinear_concat", body, xi, tabs.names)])


class _AttrCtx:
    """Enough of a LowerCtx (attributes, reject) for the pool geometry helpers
    during type inference."""

    def __init__(self, node):
        from ..onnx_io import _attr_value
        self.attrs = {a.name: _attr_value(a) for a in node.attribute}

    def attr(self, key, default=None):
        return self.attrs.get(key, default)

    def reject(self, why, hint=None):
        from ..errors import Unsupported
        return Unsupported(why, hint=hint)


@register
class QLinearAveragePool(Op):
    """AveragePool on int8 / uint8, NCHW (channels_last=0) only: int32 window
    sums minus zx per tap inside the input (padding holds the real value 0, as
    onnxruntime's dequantized padding), requantized by
    M_d = fl32(sx / fl32(sy * d)) for the window's divisor d (taps inside the
    input, or inside the padded input with count_include_pad)."""
    op_types = ("QLinearAveragePool",)
    domain = MS
    since = 1
    dtypes = "int8, uint8"

    def infer(self, node, types):
        from ._conv_util import forward_axes, read_kernel
        elem, shape = types[node.input[0]]
        c = _AttrCtx(node)
        if len(shape) < 3 or c.attr("channels_last", 0):
            return None
        try:
            axes = forward_axes(c, shape[2:], read_kernel(c, len(shape) - 2),
                                bool(c.attr("ceil_mode", 0)))
        except Exception:
            return None
        return [(elem, tuple(shape[:2]) + tuple(a.out for a in axes))]

    def lower(self, ctx: LowerCtx) -> Lowered:
        from ._conv_util import count_expr, visited_taps
        from .pool import _input_offset, _pool_axes, _windowed
        dt = _same_dtype(ctx, [0])
        if ctx.attr("channels_last", 0):
            raise ctx.reject("channels_last=1 is not supported")
        axes, planes = _pool_axes(ctx)
        include_pad = bool(ctx.attr("count_include_pad", 0))
        sx, sy = q_scale(ctx, 1, "x_scale"), q_scale(ctx, 3, "y_scale")
        zx, zy = q_zero(ctx, 2, "x_zero_point", dt), q_zero(ctx, 4, "y_zero_point", dt)
        ksize = numel([a.kernel for a in axes])
        tabs = Tables(ctx)

        def mult(d: int) -> tuple[int, int]:
            with np.errstate(all="ignore"):
                real = F32(sx / F32(sy * F32(d)))
            try:
                return multiplier(real)
            except Exception as e:
                raise ctx.reject(str(e)) from None

        def finish(walks) -> str:
            real_e, real_n = count_expr([(w.lo, w.hi) for w in walks])
            div_e, div_n = count_expr([w.bounds if include_pad else (w.lo, w.hi) for w in walks])
            lines = []
            if zx:
                if real_n.min() == real_n.max():
                    lines.append(f"acc -= {zx * int(real_n.min())};")
                else:
                    lines.append(f"acc -= {zx} * ({real_e});")
            if div_n.min() == div_n.max():
                m0, sh = (str(v) for v in mult(int(div_n.min())))
            else:
                if not tabs.names:      # one table per node, whatever the nest asks
                    tabs.add("requant", np.array([(0, 1)] + [mult(d) for d in range(1, ksize + 1)],
                                                 dtype=np.int32))
                t = "c0"
                lines += [f"const int32_t d = {div_e};",
                          f"const int32_t m0 = {t}[2 * d];", f"const int32_t sh = {t}[2 * d + 1];"]
                m0, sh = "m0", "sh"
            return "\n".join(lines + requant_lines("acc", m0, sh, str(zy), dt, "*yp++"))

        body, walks = _windowed(ctx, axes, planes, [_input_offset(ctx)], "int32_t acc = 0;",
                                lambda off: f"acc += xp[{off['ix']}];", finish,
                                [f"{dt}_t *yp = y0;"])
        return Lowered([table_step(ctx, "qlinear_avgpool", body, [0], tabs.names)],
                       macs=planes * visited_taps(walks))


@register
class QLinearSoftmax(Op):
    """onnxruntime's QLinearSoftmax: p = exp((x - max) * sx) / sum over the
    axis (from `axis` to the end when the `opset` attribute is < 13, as
    Softmax-1/11; only along `axis` from 13), x_zero_point unused (softmax
    is shift-invariant), y = saturate(rint(p * floor(1 / y_scale)) + zp_y):
    onnxruntime quantizes with floor(1 / y_scale), not y_scale itself.

    Integer kernel: a 256-entry uint32 table of round(2^30 * exp(-d * sx))
    for d = max - x, a uint64 sum and y = (2 * e * K + sum) / (2 * sum) with
    K = floor(1 / y_scale) (integer division, rounds half up; onnxruntime's
    float32 arithmetic agrees but at ties and 1e-7 relative error).
    onnxruntime wraps an int8 result above 127 around to negative numbers
    (its clamp is at 255): int8 models where that can happen are rejected."""
    op_types = ("QLinearSoftmax",)
    domain = MS
    since = 1
    dtypes = "int8, uint8"

    def infer(self, node, types):
        return [types[node.input[0]]]

    def lower(self, ctx: LowerCtx) -> Lowered:
        dt = _same_dtype(ctx, [0])
        x = ctx.tin(0)
        rank = len(x.shape)
        if rank == 0:
            raise ctx.reject("QLinearSoftmax of a scalar")
        opset = ctx.attr("opset")
        if opset is None:
            raise ctx.reject("attribute opset is required")
        opset = int(opset)
        axis = int(ctx.attr("axis", 1 if opset < 13 else -1))
        if not -rank <= axis < rank:
            raise ctx.reject(f"axis {axis} is out of range for rank {rank}")
        axis %= rank
        sx, sy = q_scale(ctx, 1, "X_scale"), q_scale(ctx, 3, "y_scale")
        if not ctx.has_input(4):
            raise ctx.reject("y_zero_point is required")
        zy = q_zero(ctx, 4, "y_zero_point", dt)
        with np.errstate(all="ignore"):
            k = float(np.floor(F32(F32(1.0) / sy)))
        if not k <= 2 ** 24:
            raise ctx.reject(f"y_scale {float(sy)} is too small (floor(1 / y_scale) > 2^24)")
        k = int(k)
        if dt == "int8" and k + zy > 127:
            raise ctx.reject(f"int8 output with floor(1 / y_scale) + y_zero_point = {k + zy} > 127: "
                             "onnxruntime wraps such results around instead of saturating",
                             hint="quantize the softmax output as uint8")
        outer = numel(x.shape[:axis])
        if opset < 13:
            d, inner = numel(x.shape[axis:]), 1
        else:
            d, inner = x.shape[axis], numel(x.shape[axis + 1:])
        if x.size == 0:
            raise ctx.reject("empty input")
        if d > 2 ** 24:
            raise ctx.reject(f"reduction length {d} is too large")
        table = np.rint(np.exp(-np.arange(256, dtype=np.float64) * np.float64(sx)) * 2.0 ** 30)
        tabs = Tables(ctx)
        t = tabs.add("exp", table.astype(np.uint32))
        ct = f"{dt}_t"
        hi = 255 if dt == "uint8" else 127      # v >= zp_y >= the dtype's lowest

        def at(v: str) -> str:
            return f"xp[{v}]" if inner == 1 else f"xp[{v} * {inner}]"

        lines = [f"for (int32_t o = 0; o < {outer * inner}; o++) {{",
                 f"    const int32_t base = (o / {inner}) * {d * inner} + o % {inner};" if inner > 1
                 else f"    const int32_t base = o * {d};",
                 f"    const {ct} *xp = x0 + base;",
                 f"    {ct} *yp = y0 + base;",
                 f"    int32_t mx = {at('0')};",
                 f"    for (int32_t j = 1; j < {d}; j++) {{ if ({at('j')} > mx) {{ mx = {at('j')}; }} }}",
                 "    uint64_t sum = 0;",
                 f"    for (int32_t j = 0; j < {d}; j++) {{ sum += {t}[mx - {at('j')}]; }}",
                 f"    for (int32_t j = 0; j < {d}; j++) {{",
                 f"        const uint64_t q = (2u * (uint64_t){t}[mx - {at('j')}] * {k}u + sum) / (2u * sum);",
                 f"        const int64_t v = (int64_t)q + {zy};",
                 f"        yp[{'j' if inner == 1 else f'j * {inner}'}] = ({ct})(v > {hi} ? {hi} : v);",
                 "    }",
                 "}"]
        body = "\n".join("    " + s for s in lines)
        return Lowered([table_step(ctx, "qlinear_softmax", body, [0], tabs.names)])


@register
class QGemm(Op):
    """QGemm with a quantized output (y_scale given): inputs A, a_scale,
    a_zero_point, B, b_scale, b_zero_point, C (int32 bias, optional), y_scale,
    y_zero_point; attributes transA, transB, alpha. acc = C + sum_k (a - za) *
    (b - zb[n]) in int32 (wrapping uint32 if the bound says it could
    overflow), y = saturate(rint(acc * fl32(alpha * a_scale * b_scale[n] / y_scale)) + zy).
    B is per tensor or per column; C is a scalar, [N], [1, N] or [M, N]."""
    op_types = ("QGemm",)
    domain = MS
    since = 1
    dtypes = "int8, uint8 (int32 bias)"

    def infer(self, node, types):
        attrs = _AttrCtx(node)
        sa, sb = types[node.input[0]][1], types[node.input[3]][1]
        if len(sa) != 2 or len(sb) != 2:
            return None
        m = sa[1] if attrs.attr("transA", 0) else sa[0]
        n = sb[0] if attrs.attr("transB", 0) else sb[1]
        if len(node.input) > 8 and node.input[8]:
            elem = types[node.input[8]][0]
        elif len(node.input) > 7 and node.input[7]:
            elem = types[node.input[0]][0]
        else:
            elem = 1   # FLOAT
        return [(elem, (m, n))]

    def lower(self, ctx: LowerCtx) -> Lowered:
        from ._quant_util import acc_for, max_abs_shifted, per_channel
        a, b, y = ctx.tin(0), ctx.tin(3), ctx.tout()
        if not ctx.has_input(7):
            raise ctx.reject("float output (no y_scale) is not supported")
        for t in (a, b, y):
            ctx.require_dtype(t, INT8_TYPES)
        if len(a.shape) != 2 or len(b.shape) != 2:
            raise ctx.reject("A and B must be matrices")
        ta, tb = bool(ctx.attr("transA", 0)), bool(ctx.attr("transB", 0))
        m, k = (a.shape[1], a.shape[0]) if ta else tuple(a.shape)
        k2, n = (b.shape[1], b.shape[0]) if tb else tuple(b.shape)
        if k != k2 or tuple(y.shape) != (m, n):
            raise ctx.reject(f"shapes {list(a.shape)}, {list(b.shape)} (transA={int(ta)}, "
                             f"transB={int(tb)}) -> {list(y.shape)} do not match")
        if m * n * k == 0:
            raise ctx.reject("empty operands")
        sa, sy = q_scale(ctx, 1, "a_scale"), q_scale(ctx, 7, "y_scale")
        za = q_zero(ctx, 2, "a_zero_point", a.dtype.name)
        zy = q_zero(ctx, 8, "y_zero_point", y.dtype.name)
        from ._quant_util import const_values
        sb = per_channel(ctx, const_values(ctx, 4, "b_scale", ["float32"]), "b_scale", n).astype(F32)
        if not np.all(np.isfinite(sb) & (sb > 0)):
            raise ctx.reject("b_scale must be positive and finite")
        zb = (np.zeros(n, dtype=np.int64) if not ctx.has_input(5) else
              per_channel(ctx, const_values(ctx, 5, "b_zero_point", [b.dtype.name]), "b_zero_point", n)
              .astype(np.int64))
        alpha = F32(ctx.attr("alpha", 1.0))
        with np.errstate(all="ignore"):
            reals = (alpha * sa * sb).astype(F32) / sy
        try:
            table = [multiplier(r) for r in reals.astype(F32)]
        except Exception as e:
            raise ctx.reject(str(e)) from None
        fallback = ""
        if ctx.options.kernels == "cmsis-nn":
            got = _qgemm_cmsis(ctx, ta, tb, (m, k, n), za, zb, zy, np.array(table, dtype=np.int64))
            if isinstance(got, Lowered):
                return got
            fallback = got.reason
        tabs = Tables(ctx)
        ins = [0, 3]
        has_c = ctx.has_input(6)
        bound = k * max_abs_shifted(a.dtype.name, za) * max_abs_shifted(b.dtype.name, zb)
        c_index = None
        if has_c:
            ctx.require_dtype(ctx.tin(6), ["int32"])
            cs = tuple(ctx.tin(6).shape)
            try:
                ok = np.broadcast_shapes(cs, (m, n)) == (m, n)
            except ValueError:
                ok = False
            if not ok:
                raise ctx.reject(f"C of shape {list(cs)} does not broadcast to {[m, n]}")
            from ..cgen import broadcast_index
            c_index = broadcast_index(cs, (m, n), ["i", "j"])
            cv = ctx.const(6)
            bound += int(np.abs(cv.astype(np.int64)).max()) if cv is not None and cv.size else 2 ** 31
            ins.append(6)
        acc = acc_for(bound)
        lines = []
        if np.all(zb == zb[0]):
            zbe = str(int(zb[0]))
        else:
            zbe = "zbn"
            lines.append(f"const int32_t zbn = {tabs.add('b_zero_point', zb.astype(np.int32))}[j];")
        if all(t == table[0] for t in table):
            m0, sh = (str(v) for v in table[0])
        else:
            rt = tabs.add("requant", np.array(table, dtype=np.int32))
            lines += [f"const int32_t m0 = {rt}[2 * j];", f"const int32_t sh = {rt}[2 * j + 1];"]
            m0, sh = "m0", "sh"
        ae = "x0[kk * {} + i]".format(m) if ta else "x0[i * {} + kk]".format(k)
        be = "x3[j * {} + kk]".format(k) if tb else "x3[kk * {} + j]".format(n)
        init = f"x6[{c_index}]" if has_c else "0"
        lines += [acc.decl(init),
                  f"for (int32_t kk = 0; kk < {k}; kk++) {{ "
                  f"{acc.add(f'{shifted(ae, str(za))} * {shifted(be, zbe)}')} }}",
                  *acc.finish(),
                  *requant_lines("acc", m0, sh, str(zy), y.dtype.name, f"y0[i * {n} + j]",
                                 out_bounds(ctx, y.dtype.name), ctx.options.rounding)]
        body = "\n".join([f"    for (int32_t i = 0; i < {m}; i++) {{",
                           f"        for (int32_t j = 0; j < {n}; j++) {{",
                           *[f"            {s}" for s in lines],
                           "        }", "    }"])
        return Lowered([table_step(ctx, "qgemm", body, ins, tabs.names)], macs=m * n * k,
                       fallback=fallback)


def _qgemm_cmsis(ctx: LowerCtx, ta: bool, tb: bool, mkn: tuple[int, int, int], za: int,
                 zb: np.ndarray, zy: int, table: np.ndarray):
    """arm_fully_connected_s8 for QGemm with transA = 0, constant B and a
    constant bias that is one value per column."""
    m, k, n = mkn
    if ta:
        return cmsis_nn.Fallback("transA = 1")
    bv = ctx.const(3)
    bt = None if bv is None else (bv if tb else bv.T)
    bias = None
    if ctx.has_input(6):
        c = ctx.const(6)
        if c is None:
            return cmsis_nn.Fallback("the bias C is not constant")
        if c.size not in (1, n) or (c.size == n and c.ndim == 2 and c.shape[0] != 1):
            return cmsis_nn.Fallback(f"the bias C of shape {list(c.shape)} is not one value per column")
        bias = np.broadcast_to(c.reshape(-1), (n,)).astype(np.int32)
    return cmsis_nn.fully_connected(ctx, cmsis_nn.FcArgs(
        0, m, k, n, bt, zb, za, zy, table, out_bounds(ctx, ctx.tout().dtype.name), bias), [0, 3, -1])


__all__ = ["QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu",
           "QLinearGlobalAveragePool", "QLinearConcat", "QLinearAveragePool", "QLinearSoftmax", "QGemm"]
