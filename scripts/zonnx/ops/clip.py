"""Clip: y = min(max(x, lo), hi) like np.clip (lo > hi gives hi everywhere;
a NaN propagates). Bounds are attributes before opset 11, then optional
scalar inputs: baked in as literals when constant, read at run time otherwise."""

from __future__ import annotations

import numpy as np
import onnx.defs

from ..cgen import c_literal
from ..ir import DType
from ._elementwise_util import FLOATS, NUMERIC, broadcast_lowered, local, max_expr
from .base import LowerCtx, Lowered, Op, register

# A bound is a C literal, the index of an input read at run time, or None.


def _attr_bounds(ctx: LowerCtx, dt: DType) -> list:
    """Clip-6 defaults absent bounds to -+FLT_MAX (so +-inf are clipped too,
    as the reference does); Clip-1 has no defaults."""
    schema = onnx.defs.get_schema("Clip", ctx.version)
    bounds = []
    for key in ("min", "max"):
        v = ctx.attr(key)
        default = schema.attributes[key].default_value
        if v is None and default.HasField("f"):
            v = default.f
        bounds.append(None if v is None else c_literal(np.float32(v), dt))
    return bounds


def _input_bounds(ctx: LowerCtx, dt: DType) -> list:
    bounds: list = []
    for i in (1, 2):
        if not ctx.has_input(i):
            bounds.append(None)
            continue
        t = ctx.tin(i)
        if t.dtype != dt or t.size != 1:
            raise ctx.reject(f"bound '{t.name}' must be a single {dt.name} value")
        v = ctx.const(i)
        bounds.append(i if v is None else c_literal(np.asarray(v).reshape(-1)[0], dt))
    return bounds


@register
class Clip(Op):
    op_types = ("Clip",)
    since = 1
    dtypes = "float32/64; int8/16/32/64, uint8/16/32/64 from opset 12"

    def lower(self, ctx: LowerCtx) -> Lowered:
        dt = ctx.require_dtype(ctx.tin(0), NUMERIC if ctx.version >= 12 else FLOATS)
        if ctx.tout().dtype != dt or tuple(ctx.tout().shape) != tuple(ctx.tin(0).shape):
            raise ctx.reject("output dtype or shape differs from the input's")
        bounds = _attr_bounds(ctx, dt) if ctx.version < 11 else _input_bounds(ctx, dt)
        runtime = [b for b in bounds if isinstance(b, int)]
        ins = [0] + runtime

        def statement(vals: list[str], out: str) -> str:
            value = dict(zip(ins, vals))
            lines = [f"{dt.ctype} v = {vals[0]};"]
            for name, b, op in (("lo", bounds[0], ">"), ("hi", bounds[1], "<")):
                if b is not None:
                    lines += [local(dt, name, value[b] if isinstance(b, int) else b),
                              f"v = {max_expr(dt, 'v', name, op)};"]
            lines.append(f"{out} = v;")
            return "\n".join(lines)
        # bounds are single values: index 0 whatever their rank
        shapes = [ctx.tin(0).shape] + [() for _ in runtime]
        return broadcast_lowered(ctx, "clip", statement, ins=ins, shapes=shapes)
