"""Gemm: Y = alpha * A' @ B' + beta * C, A' and B' optionally transposed, C
broadcast unidirectionally to [M, N] (float32). Before version 7, C broadcasts
only with the `broadcast` attribute set; otherwise it must be [M, N]."""

from __future__ import annotations

import numpy as np

from ..cgen import broadcast_index, c_float
from ._linalg_util import MatmulSpec, fused_activation, matmul_2d
from ._reduce_util import void_body
from .base import LowerCtx, Lowered, Op, register


def _bias(ctx: LowerCtx, m: int, n: int, beta: float):
    """C-expression builder for beta * C at (m, n), or None when C does not contribute."""
    if not ctx.has_input(2) or beta == 0.0:
        return None     # the reference also skips C when beta is 0
    ctx.require_dtype(ctx.tin(2), ["float32"])
    cshape = tuple(ctx.tin(2).shape)
    if ctx.version < 7 and not ctx.attr("broadcast", 0) and cshape != (m, n):
        raise ctx.reject(f"C of shape {list(cshape)} is not [{m}, {n}] and broadcast=0")
    try:
        ok = np.broadcast_shapes(cshape, (m, n)) == (m, n)
    except ValueError:
        ok = False
    if not ok:
        raise ctx.reject(f"C of shape {list(cshape)} does not broadcast to [{m}, {n}]")
    scale = "" if beta == 1.0 else f"{c_float(beta)} * "
    return lambda mv, nv: f"{scale}x2[{broadcast_index(cshape, (m, n), [mv, nv])}]"


@register
class Gemm(Op):
    op_types = ("Gemm",)
    since = 1
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        for i in (0, 1):
            ctx.require_dtype(ctx.tin(i), ["float32"])
        a, b = ctx.tin(0).shape, ctx.tin(1).shape
        if len(a) != 2 or len(b) != 2:
            raise ctx.reject(f"A and B must be 2-D (got {list(a)} and {list(b)})")
        trans_a, trans_b = bool(ctx.attr("transA", 0)), bool(ctx.attr("transB", 0))
        m, k = (a[1], a[0]) if trans_a else a
        k2, n = (b[1], b[0]) if trans_b else b
        if k != k2 or tuple(ctx.tout().shape) != (m, n):
            raise ctx.reject(f"shapes A{list(a)} B{list(b)} -> Y{list(ctx.tout().shape)} "
                             f"do not match transA={int(trans_a)} transB={int(trans_b)}")
        bias = _bias(ctx, m, n, float(ctx.attr("beta", 1.0)))
        ins = [0, 1, 2] if bias else [0, 1]
        if m * n == 0:
            return Lowered([ctx.step("gemm", void_body(ins, [0]), ins=ins, outs=[0])])
        spec = MatmulSpec(m, n, k, trans_a, trans_b, float(ctx.attr("alpha", 1.0)), bias,
                          fused_activation(ctx))
        body = "    const float *a = x0;\n    const float *b = x1;\n    float *y = y0;\n" + matmul_2d(spec)
        return Lowered([ctx.step("gemm", body, ins=ins, outs=[0])], macs=m * n * k)
