"""QLookup (domain "zonnx", zonnx-internal): y = table[x] for int8 / uint8 x,
with a constant 256-entry table of y's type indexed by x - lowest(x). The
fuse-qdq pass makes it from DequantizeLinear -> element-wise function ->
QuantizeLinear islands (passes/_qdq_lookup.py builds the table); written
back to ONNX it is a node of domain "zonnx", version 1, which only zonnx
reads."""

from __future__ import annotations

from ._ms_quant_util import INT8_TYPES, table_index
from .base import LowerCtx, Lowered, Op, register

DOMAIN = "zonnx"


@register
class QLookup(Op):
    op_types = ("QLookup",)
    domain = DOMAIN
    since = 1
    dtypes = "int8, uint8 (zonnx-internal: fuse-qdq lookup tables)"

    def infer(self, node, types):
        return [(types[node.input[1]][0], types[node.input[0]][1])]

    def lower(self, ctx: LowerCtx) -> Lowered:
        x, t, y = ctx.tin(0), ctx.tin(1), ctx.tout()
        xd = ctx.require_dtype(x, INT8_TYPES).name
        ctx.require_dtype(y, INT8_TYPES)
        if t.dtype != y.dtype or tuple(t.shape) != (256,):
            raise ctx.reject(f"table must be {y.dtype.name}[256], not {t.dtype.name}{list(t.shape)}")
        if tuple(x.shape) != tuple(y.shape):
            raise ctx.reject(f"output shape {list(y.shape)} differs from the input's {list(x.shape)}")
        body = f"    for (int32_t i = 0; i < {y.size}; i++) {{ y0[i] = x1[{table_index('x0[i]', xd)}]; }}"
        inplace = ((0, 0),) if x.dtype == y.dtype else ()
        return Lowered([ctx.step("qlookup", body, ins=[0, 1], outs=[0])], inplace=inplace)


__all__ = ["QLookup"]
