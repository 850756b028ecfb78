"""Softmax, LogSoftmax and Hardmax along one axis (float32).

Before opset 13 these ops flatten the input to 2-D at `axis` (default 1) and
work on the whole trailing block; from 13 they work along the single `axis`
(default -1). Both are an [outer, length, inner] view; each line is handled
with max subtraction so expf never overflows.
"""

from __future__ import annotations

from ..cgen import numel
from ._reduce_util import better_cond, line_loops, normalize_axis, scaled, split_at_axis, void_body
from .base import LowerCtx, Lowered, Op, register


def _max_scan(length: int, at) -> str:
    # zonnx_maxf propagates NaN, as the reference's np.max does.
    return (f"float m = px[0];\n"
            f"for (int32_t k = 1; k < {length}; k++) {{ m = zonnx_maxf(m, px[{at}]); }}\n")


def _softmax_line(length: int, at: str) -> str:
    return (_max_scan(length, at) +
            f"float sum = 0.0f;\n"
            f"for (int32_t k = 0; k < {length}; k++) {{\n"
            f"    const float e = expf(px[{at}] - m);\n"
            f"    py[{at}] = e;\n"
            f"    sum += e;\n"
            f"}}\n"
            f"const float r = 1.0f / sum;\n"
            f"for (int32_t k = 0; k < {length}; k++) {{ py[{at}] *= r; }}")


def _logsoftmax_line(length: int, at: str) -> str:
    # (x - m) - log(sum) rather than x - (m + log(sum)): exact for large x.
    return (_max_scan(length, at) +
            f"float sum = 0.0f;\n"
            f"for (int32_t k = 0; k < {length}; k++) {{ sum += expf(px[{at}] - m); }}\n"
            f"const float ls = logf(sum);\n"
            f"for (int32_t k = 0; k < {length}; k++) {{ py[{at}] = (px[{at}] - m) - ls; }}")


def _hardmax_line(length: int, at: str) -> str:
    # Scan first, then write: safe when py aliases px.
    return (f"int32_t best = 0;\n"
            f"float bv = px[0];\n"
            f"for (int32_t k = 1; k < {length}; k++) {{\n"
            f"    const float v = px[{at}];\n"
            f"    if ({better_cond('max', False, True)}) {{ bv = v; best = k; }}\n"
            f"}}\n"
            f"for (int32_t k = 0; k < {length}; k++) {{ py[{at}] = (k == best) ? 1.0f : 0.0f; }}")


_LINE = {"Softmax": _softmax_line, "LogSoftmax": _logsoftmax_line, "Hardmax": _hardmax_line}


@register
class SoftmaxFamily(Op):
    op_types = tuple(_LINE)
    since = 1
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        ctx.require_dtype(ctx.tin(0), ["float32"])
        shape = ctx.tin(0).shape
        if not shape:
            raise ctx.reject("input must have rank >= 1")
        legacy = ctx.version < 13
        axis = normalize_axis(ctx.attr("axis", 1 if legacy else -1), len(shape))
        if legacy:   # coerced to 2-D [prod(shape[:axis]), prod(shape[axis:])]
            outer, length, inner = numel(shape[:axis]), numel(shape[axis:]), 1
        else:
            outer, length, inner = split_at_axis(shape, axis)
        op = ctx.node.op_type
        hint = op.lower()
        if outer * length * inner == 0:
            return Lowered([ctx.step(hint, void_body([0], [0]), ins=[0], outs=[0])])
        body = line_loops(outer, length, inner,
                          [("const float *px", "x0", length * inner),
                           ("float *py", "y0", length * inner)],
                          _LINE[op](length, scaled("k", inner)))
        # Each line is read before it is written, so the kernel may run in place.
        return Lowered([ctx.step(hint, body, ins=[0], outs=[0])], inplace=((0, 0),))
