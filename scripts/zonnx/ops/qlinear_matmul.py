"""QLinearMatMul: MatMul on int8/uint8 tensors with numpy semantics (1-D
operands promoted, batch dimensions broadcast).

acc = sum_k (a - zp_a) * (b - zp_b[n]) in int32, then
y = saturate(rint(acc * a_scale * b_scale[n] / y_scale) + zp_y) with the
fixed-point multiplier of `_quant_util` (rounding before adding zp_y, as
the spec and onnxruntime; onnx.reference adds zp_y first, which differs on
exact ties with an odd zp_y). a and y are quantized per tensor, b per tensor
or per column ([N] or [..., 1, N]); all scales and zero points must be
constants.
Constant B is stored transposed and its zero-point corrections precomputed.
"""

from __future__ import annotations

import numpy as np

from . import _cmsis_nn as cmsis_nn
from ._quant_util import (INT8_TYPES, broadcast_last, const_values, int_matmul, multiplier_table,
                          out_bounds, scalar_value, table_step)
from .base import LowerCtx, Lowered, Op, register
from .integer_ops import matmul_zero_points
from .qlinear_conv import zero_point


@register
class QLinearMatMul(Op):
    op_types = ("QLinearMatMul",)
    since = 10
    dtypes = "int8, uint8"

    def lower(self, ctx: LowerCtx) -> Lowered:
        a, b, y = ctx.tin(0), ctx.tin(3), ctx.tout()
        for t in (a, b, y):
            ctx.require_dtype(t, INT8_TYPES)
        za, zb = matmul_zero_points(ctx, 0, 2, 3, 5)
        zy = int(scalar_value(ctx, zero_point(ctx, 7, "y_zero_point", y.dtype.name), "y_zero_point"))
        a_s = scalar_value(ctx, const_values(ctx, 1, "a_scale", ["float32"]), "a_scale")
        y_s = scalar_value(ctx, const_values(ctx, 6, "y_scale", ["float32"]), "y_scale")
        b_s = const_values(ctx, 4, "b_scale", ["float32"])
        if len(b.shape) == 1:
            b_s = np.array([scalar_value(ctx, b_s, "b_scale")])
        else:
            b_s = broadcast_last(ctx, b_s, b.shape, "b_scale")
        with np.errstate(all="ignore"):    # float32, in the reference's order
            per_col = (np.float32(a_s) * b_s.astype(np.float32)) / np.float32(y_s)
        table = multiplier_table(per_col)
        fallback = ""
        if ctx.options.kernels == "cmsis-nn":
            got = _cmsis(ctx, za, zb, zy, table)
            if isinstance(got, Lowered):
                return got
            fallback = got.reason
        body, macs, ins, tables = int_matmul(ctx, 0, 3, za, zb, (table, zy))
        return Lowered([table_step(ctx, "qlinear_matmul", body, ins, tables)], macs=macs,
                       fallback=fallback)


def _cmsis(ctx: LowerCtx, za: int, zb: np.ndarray, zy: int, table: np.ndarray):
    """arm_fully_connected_s8 when B is a constant matrix (A's leading axes are rows)."""
    a, b = ctx.tin(0), ctx.tin(3)
    bv = ctx.const(3)
    if len(b.shape) != 2:
        return cmsis_nn.Fallback(f"B of rank {len(b.shape)} (CMSIS-NN needs a matrix)")
    k, n = b.shape
    rows = int(np.prod(a.shape[:-1])) if len(a.shape) > 1 else 1
    bt = None if bv is None else bv.reshape(k, n).T
    zb = np.broadcast_to(np.asarray(zb, dtype=np.int64).reshape(-1), (n,))
    return cmsis_nn.fully_connected(ctx, cmsis_nn.FcArgs(
        0, rows, k, n, bt, zb, za, zy, table, out_bounds(ctx, ctx.tout().dtype.name), None), [0, 3, -1])
