"""QLinearConv: N-dimensional direct convolution on int8/uint8 tensors.

acc = B[m] + sum (x - zp_x) * (w - zp_w[m]) in int32 over the window's taps
(clipped to the input, so padding contributes 0, i.e. holds zp_x), then
y = saturate(rint(acc * x_scale * w_scale[m] / y_scale) + zp_y) with the
fixed-point multiplier of `_quant_util` (exact round-half-to-even before
adding zp_y, integer only; weight-sum corrections fold zp_x into a constant
per channel when the weights are constant and no window reads padding). Scales and zero points must be constants; weights and bias may be
run-time inputs. Weight scales and zero points are per tensor or per output
channel.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ._conv_util import check_output, forward_axes
from ._quant_util import (INT8_TYPES, IntConv, Tables, const_values, conv_accumulation,
                          int_conv_body, int_conv_spec, multiplier_table, out_bounds,
                          per_channel, requant_lines, scalar_value, table_step)
from . import _cmsis_nn as cmsis_nn
from .base import LowerCtx, Lowered, Op, register


def zero_point(ctx: LowerCtx, i: int, what: str, dtype: str) -> np.ndarray:
    """A constant zero point of `dtype` (0 when the input is absent)."""
    if not ctx.has_input(i):
        return np.zeros(1, dtype=np.int64)
    return const_values(ctx, i, what, [dtype]).astype(np.int64)


@register
class QLinearConv(Op):
    op_types = ("QLinearConv",)
    since = 10
    dtypes = "int8, uint8 (int32 bias)"

    def lower(self, ctx: LowerCtx) -> Lowered:
        x, w, y = ctx.tin(0), ctx.tin(3), ctx.tout()
        xd = ctx.require_dtype(x, INT8_TYPES).name
        wd = ctx.require_dtype(w, INT8_TYPES).name
        yd = ctx.require_dtype(y, INT8_TYPES).name
        if ctx.attr("_activation"):
            raise ctx.reject("a fused activation on QLinearConv is not supported")
        spec = int_conv_spec(ctx, 0, 3, 8)
        axes = forward_axes(ctx, spec.in_sp, spec.kernel)
        check_output(ctx, (spec.batch, spec.out_ch), axes)
        spec = replace(spec, axes=tuple(axes))
        mch = spec.out_ch

        xs = scalar_value(ctx, const_values(ctx, 1, "x_scale", ["float32"]), "x_scale")
        zx = int(scalar_value(ctx, zero_point(ctx, 2, "x_zero_point", xd), "x_zero_point"))
        ws = per_channel(ctx, const_values(ctx, 4, "w_scale", ["float32"]), "w_scale", mch)
        zw = per_channel(ctx, zero_point(ctx, 5, "w_zero_point", wd), "w_zero_point", mch)
        ys = scalar_value(ctx, const_values(ctx, 6, "y_scale", ["float32"]), "y_scale")
        zy = int(scalar_value(ctx, zero_point(ctx, 7, "y_zero_point", yd), "y_zero_point"))
        with np.errstate(all="ignore"):     # as onnx.reference / onnxruntime: float32, this order
            real = (np.float32(xs) * ws.astype(np.float32)) / np.float32(ys)
        table = multiplier_table(real)
        bounds, rounding = out_bounds(ctx, yd), ctx.options.rounding
        fallback = ""
        if ctx.options.kernels == "cmsis-nn":
            got = cmsis_nn.conv(ctx, cmsis_nn.ConvArgs(
                spec.batch, spec.in_ch, mch, spec.group, spec.in_sp, spec.kernel, spec.axes,
                zx, zw, zy, table, bounds, 8 if ctx.has_input(8) else None))
            if isinstance(got, Lowered):
                return got
            fallback = got.reason

        tabs = Tables(ctx)
        plan = conv_accumulation(ctx, spec, xd, zx, 3, wd, zw, 8, tabs)
        setup = []
        if np.all(table == table[0]):
            m0, sh = (str(int(v)) for v in table[0])
        else:
            t = tabs.add("requant", table)
            setup += [f"const int32_t m0 = {t}[2 * m];", f"const int32_t sh = {t}[2 * m + 1];"]
            m0, sh = "m0", "sh"
        q = IntConv(x.dtype.ctype, w.dtype.ctype, y.dtype.ctype, 3, plan, tuple(setup),
                    lambda: requant_lines("acc", m0, sh, str(zy), yd, "*yp++", bounds, rounding))
        body, macs = int_conv_body(spec, q)
        ins = [0, 3] + ([8] if plan.reads_bias else [])
        note = "depthwise" if spec.cg == 1 and spec.group > 1 else ""
        return Lowered([table_step(ctx, "qlinear_conv", body, ins, tabs.names)], macs=macs, note=note,
                       fallback=fallback)
