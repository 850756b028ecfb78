"""ConvInteger and MatMulInteger: int8/uint8 operands, int32 output, optional
constant zero points; the convolution and product kernels of QLinearConv and
QLinearMatMul without the requantization. MatMulInteger also takes a run-time
a_zero_point (what quantize_dynamic writes: DynamicQuantizeLinear's output)
with a constant 2-D B: sum_k (a - za)(b - zb) = sum_k a (b - zb) - za * c[n],
c[n] = sum_k (b[k, n] - zb[n]) precomputed, the product run with za = 0."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ._conv_util import check_output, forward_axes
from ._quant_util import (INT8_TYPES, IntConv, Tables, broadcast_last, conv_accumulation,
                          int_conv_body, int_conv_spec, int_matmul, per_channel, scalar_value,
                          table_step)
from .base import LowerCtx, Lowered, Op, register
from .qlinear_conv import zero_point


@register
class ConvInteger(Op):
    op_types = ("ConvInteger",)
    since = 10
    dtypes = "int8, uint8 -> int32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        x, w = ctx.tin(0), ctx.tin(1)
        xd = ctx.require_dtype(x, INT8_TYPES).name
        wd = ctx.require_dtype(w, INT8_TYPES).name
        ctx.require_dtype(ctx.tout(), ["int32"])
        spec = int_conv_spec(ctx, 0, 1, None)
        axes = forward_axes(ctx, spec.in_sp, spec.kernel)
        check_output(ctx, (spec.batch, spec.out_ch), axes)
        spec = replace(spec, axes=tuple(axes))
        zx = int(scalar_value(ctx, zero_point(ctx, 2, "x_zero_point", xd), "x_zero_point"))
        zw = per_channel(ctx, zero_point(ctx, 3, "w_zero_point", wd), "w_zero_point", spec.out_ch)
        tabs = Tables(ctx)
        plan = conv_accumulation(ctx, spec, xd, zx, 1, wd, zw, None, tabs)
        q = IntConv(x.dtype.ctype, w.dtype.ctype, "int32_t", 1, plan, (), lambda: ["*yp++ = acc;"])
        body, macs = int_conv_body(spec, q)
        return Lowered([table_step(ctx, "conv_integer", body, [0, 1], tabs.names)], macs=macs)


def matmul_zero_points(ctx: LowerCtx, ai: int, zai: int, bi: int, zbi: int) -> tuple[int, np.ndarray]:
    """A's zero point (per tensor) and B's per column [N] (numpy broadcasting
    against the operand, as the reference subtracts them)."""
    a, b = ctx.tin(ai), ctx.tin(bi)
    za_arr = zero_point(ctx, zai, "a_zero_point", a.dtype.name)
    zb_arr = zero_point(ctx, zbi, "b_zero_point", b.dtype.name)
    try:
        ok = np.broadcast_shapes(za_arr.shape, a.shape) == tuple(a.shape)
    except ValueError:
        ok = False
    if not ok:
        raise ctx.reject(f"a_zero_point of shape {list(za_arr.shape)} does not broadcast to "
                         f"{list(a.shape)}")
    za = int(scalar_value(ctx, za_arr, "a_zero_point"))
    if len(b.shape) == 1:
        zb = np.array([scalar_value(ctx, zb_arr, "b_zero_point")], dtype=np.int64)
    else:
        zb = broadcast_last(ctx, zb_arr, b.shape, "b_zero_point")
    return za, zb


@register
class MatMulInteger(Op):
    op_types = ("MatMulInteger",)
    since = 10
    dtypes = "int8, uint8 -> int32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        for i in (0, 1):
            ctx.require_dtype(ctx.tin(i), INT8_TYPES)
        ctx.require_dtype(ctx.tout(), ["int32"])
        if ctx.has_input(2) and ctx.const(2) is None:
            return self._runtime_za(ctx)
        za, zb = matmul_zero_points(ctx, 0, 2, 1, 3)
        body, macs, ins, tables = int_matmul(ctx, 0, 1, za, zb, None)
        return Lowered([table_step(ctx, "matmul_integer", body, ins, tables)], macs=macs)

    def _runtime_za(self, ctx: LowerCtx) -> Lowered:
        a, b, za_t = ctx.tin(0), ctx.tin(1), ctx.tin(2)
        if za_t.dtype != a.dtype or za_t.size != 1:
            raise ctx.reject("a run-time a_zero_point must be one value of A's type")
        bv = ctx.const(1)
        if bv is None or len(b.shape) != 2:
            raise ctx.reject("a run-time a_zero_point needs a constant 2-D B")
        zb = broadcast_last(ctx, zero_point(ctx, 3, "b_zero_point", b.dtype.name), b.shape, "b_zero_point")
        body, macs, ins, tables = int_matmul(ctx, 0, 1, 0, zb, None)
        col = (bv.astype(np.int64) - zb[None, :]).sum(axis=0)
        n, rows = b.shape[1], ctx.tout().size // b.shape[1]
        tabs = Tables(ctx)
        c = tabs.add("colsum", (col % (1 << 32)).astype(np.uint32))
        # wraps modulo 2^32 like the int32 accumulation of the product itself
        fix = "\n".join([
            "    const uint32_t za = (uint32_t)(int32_t)x2[0];",
            f"    for (int32_t m = 0; m < {rows}; m++) {{",
            f"        for (int32_t n = 0; n < {n}; n++) {{",
            f"            const uint32_t u = (uint32_t)y0[m * {n} + n] - za * {c}[n];",
            "            y0[m * %d + n] = u <= 2147483647u ? (int32_t)u : "
            "(int32_t)(u - 2147483648u) - 2147483647 - 1;" % n,
            "        }", "    }"])
        return Lowered([table_step(ctx, "matmul_integer", body, ins, tables),
                        table_step(ctx, "matmul_integer_zero_point", fix, [2], tabs.names)],
                       macs=macs)
