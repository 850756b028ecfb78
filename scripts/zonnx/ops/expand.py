"""Expand: broadcast the input to a shape known at build time."""

from __future__ import annotations

import numpy as np

from ._elementwise_util import ALL, broadcast_lowered
from .base import LowerCtx, Lowered, Op, register
from .view import copy_lowered


@register
class Expand(Op):
    op_types = ("Expand",)
    since = 8
    dtypes = "all"

    def lower(self, ctx: LowerCtx) -> Lowered:
        ctx.require_dtype(ctx.tin(0), ALL)
        shape = ctx.require_const(1, "shape")
        x, out = tuple(ctx.tin(0).shape), tuple(ctx.tout().shape)
        dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
        try:
            want = tuple(np.broadcast_shapes(x, dims))
        except ValueError:
            raise ctx.reject(f"shape {list(dims)} does not broadcast with the input's {list(x)}") from None
        if want != out or ctx.tout().dtype != ctx.tin(0).dtype:
            raise ctx.reject(f"output {list(out)} differs from the broadcast shape {list(want)}")
        if ctx.tin(0).size == ctx.tout().size:
            return copy_lowered(ctx)   # only the rank changes: a view
        return broadcast_lowered(ctx, "expand", lambda v, o: f"{o} = {v[0]};", ins=[0])
