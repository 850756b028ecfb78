"""Split: each output is a strided copy of a slab of the input.

The part sizes come from the inferred output shapes, which already account for
every opset's form (Split-2 `split` attribute, Split-13 `split` input, Split-18
`num_outputs`); a constant `split` is cross-checked."""

from __future__ import annotations

from ..cgen import strides
from ._data_util import axis_map, copy_block, kernel_step, norm_axis
from .base import LowerCtx, Lowered, Op, register


@register
class Split(Op):
    op_types = ("Split",)
    since = 2
    dtypes = "all"

    def lower(self, ctx: LowerCtx) -> Lowered:
        x = ctx.tin(0)
        rank = len(x.shape)
        axis = norm_axis(ctx.attr("axis", 0), rank)
        outs = [j for j, n in enumerate(ctx.node.outputs) if n]
        if len(outs) != len(ctx.node.outputs):
            raise ctx.reject("an output of Split is omitted")
        sizes = [ctx.tout(j).shape[axis] for j in outs]
        if sum(sizes) != x.shape[axis]:
            raise ctx.reject(f"output parts {sizes} do not add up to {x.shape[axis]}")
        declared = ctx.attr("split") if ctx.version < 13 else (
            ctx.const(1) if ctx.has_input(1) else None)
        if declared is not None and [int(v) for v in declared] != sizes:
            raise ctx.reject(f"split {list(declared)} disagrees with the output shapes {sizes}")
        ist = strides(x.shape)
        blocks, at = [], 0
        for j, n in zip(outs, sizes):
            shape = list(x.shape[:axis]) + [n] + list(x.shape[axis + 1:])
            maps = [axis_map(d, s) for d, s in zip(shape, ist)]
            maps[axis] = axis_map(n, ist[axis], start=at)
            blocks.append(copy_block(shape, maps, x.dtype.size, dst=f"y{j}"))
            at += n
        return Lowered([kernel_step(ctx, "split", blocks, ins=[0], outs=outs)],
                       alias=len(outs) == 1)
