"""MatMul with numpy semantics: 1-D operands are promoted to a row (A) or a
column (B) and the added dimension removed; batch dimensions broadcast (float32)."""

from __future__ import annotations

import textwrap

from ..cgen import broadcast_index, loop_nest, numel
from ._linalg_util import MatmulSpec, fused_activation, matmul_2d, matmul_shapes
from ._reduce_util import void_body
from .base import LowerCtx, Lowered, Op, register


def _times(expr: str, stride: int) -> str:
    if expr == "0":
        return "0"
    return f"({expr}) * {stride}" if "+" in expr or "*" in expr else f"{expr} * {stride}"


@register
class MatMul(Op):
    op_types = ("MatMul",)
    since = 1
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        for i in (0, 1):
            ctx.require_dtype(ctx.tin(i), ["float32"])
        sh = matmul_shapes(ctx, 0, 1)
        batch, batch_a, batch_b, m, n, k = sh.batch, sh.batch_a, sh.batch_b, sh.m, sh.n, sh.k
        nb = numel(batch)
        if nb * m * n == 0:
            return Lowered([ctx.step("matmul", void_body([0, 1], [0]))])
        act = fused_activation(ctx)
        if numel(batch_b) == 1:
            # One B for every batch: A's batches are consecutive rows of one product.
            spec = MatmulSpec(nb * m, n, k, activation=act)
            body = ("    const float *a = x0;\n    const float *b = x1;\n    float *y = y0;\n"
                    + matmul_2d(spec))
        else:
            body = self._batched(batch, batch_a, batch_b, MatmulSpec(m, n, k, activation=act))
        return Lowered([ctx.step("matmul", body)], macs=nb * m * n * k)

    @staticmethod
    def _batched(batch, batch_a, batch_b, spec: MatmulSpec) -> str:
        m, n, k = spec.m, spec.n, spec.k

        def one(ivars: list[str]) -> str:
            a_off = _times(broadcast_index(batch_a, batch, ivars), m * k)
            b_off = _times(broadcast_index(batch_b, batch, ivars), k * n)
            y_off = _times(broadcast_index(batch, batch, ivars), m * n)
            return (f"const float *a = x0 + {a_off};\n"
                    f"const float *b = x1 + {b_off};\n"
                    f"float *y = y0 + {y_off};\n"
                    + textwrap.dedent(matmul_2d(spec)))
        return loop_nest(batch, one, prefix="t")
