"""Where: select from X or Y by a bool condition, all three numpy-broadcast."""

from __future__ import annotations

from ._elementwise_util import ALL, broadcast_check, broadcast_lowered
from .base import LowerCtx, Lowered, Op, register


@register
class Where(Op):
    op_types = ("Where",)
    since = 9
    dtypes = "all"

    def lower(self, ctx: LowerCtx) -> Lowered:
        ctx.require_dtype(ctx.tin(0), ["bool"])
        dt = ctx.require_dtype(ctx.tin(1), ALL)
        if ctx.tin(2).dtype != dt or ctx.tout().dtype != dt:
            raise ctx.reject("X, Y and the output must share one dtype")
        broadcast_check(ctx, [0, 1, 2])
        return broadcast_lowered(ctx, "where", lambda v, o: f"{o} = {v[0]} ? {v[1]} : {v[2]};",
                                 ins=[0, 1, 2])
