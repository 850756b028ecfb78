"""Tile: the output viewed as [r0, d0, r1, d1, ...] reads the input with stride
0 along every repeat axis, so the copy needs no index table."""

from __future__ import annotations

import numpy as np

from ..cgen import strides
from ._data_util import axis_map, check_out_shape, copy_block, kernel_step
from .base import LowerCtx, Lowered, Op, register


@register
class Tile(Op):
    op_types = ("Tile",)
    since = 6
    dtypes = "all"

    def lower(self, ctx: LowerCtx) -> Lowered:
        x = ctx.tin(0)
        reps = [int(r) for r in np.asarray(ctx.require_const(1, "repeats")).reshape(-1)]
        if len(reps) != len(x.shape) or any(r < 0 for r in reps):
            raise ctx.reject(f"repeats {reps} do not match rank {len(x.shape)}")
        check_out_shape(ctx, [d * r for d, r in zip(x.shape, reps)])
        view, maps = [], []
        for d, r, s in zip(x.shape, reps, strides(x.shape)):
            view += [r, d]
            maps += [axis_map(r, 0), axis_map(d, s)]
        block = copy_block(view, maps, x.dtype.size)
        return Lowered([kernel_step(ctx, "tile", [block], ins=[0], outs=[0])],
                       alias=all(r == 1 for r in reps))
