"""ArgMax and ArgMin along one axis, int64 indices."""

from __future__ import annotations

from ._reduce_util import better_cond, line_loops, normalize_axis, scaled, split_at_axis, void_body
from .base import LowerCtx, Lowered, Op, register

_DTYPES = ["float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]


@register
class ArgMaxMin(Op):
    op_types = ("ArgMax", "ArgMin")
    since = 1
    dtypes = "float32, float64, int8/16/32/64, uint8/16/32/64 -> int64"

    def lower(self, ctx: LowerCtx) -> Lowered:
        dt = ctx.require_dtype(ctx.tin(0), _DTYPES)
        shape = ctx.tin(0).shape
        if not shape:
            raise ctx.reject("input must have rank >= 1")
        axis = normalize_axis(ctx.attr("axis", 0), len(shape))
        keepdims = bool(ctx.attr("keepdims", 1))
        last = bool(ctx.attr("select_last_index", 0))   # attribute exists from version 12
        want = shape[:axis] + ((1,) if keepdims else ()) + shape[axis + 1:]
        if tuple(ctx.tout().shape) != tuple(want):
            raise ctx.reject(f"output shape {list(ctx.tout().shape)} differs from {list(want)}")
        outer, length, inner = split_at_axis(shape, axis)
        kind = "max" if ctx.node.op_type == "ArgMax" else "min"
        hint = f"arg{kind}"
        if outer * inner == 0:
            return Lowered([ctx.step(hint, void_body([0], [0]))])
        if length == 0:
            raise ctx.reject(f"axis {axis} is empty: no index to return")
        at = scaled("k", inner)
        line = (f"int32_t best = 0;\n"
                f"{dt.ctype} bv = px[0];\n"
                f"for (int32_t k = 1; k < {length}; k++) {{\n"
                f"    const {dt.ctype} v = px[{at}];\n"
                f"    if ({better_cond(kind, last, dt.is_float)}) {{ bv = v; best = k; }}\n"
                f"}}\n"
                f"py[0] = (int64_t)best;")
        body = line_loops(outer, length, inner,
                          [(f"const {dt.ctype} *px", "x0", length * inner),
                           ("int64_t *py", "y0", inner)], line)
        return Lowered([ctx.step(hint, body)])
