"""Concat: each input is a strided copy into its slab of the output."""

from __future__ import annotations

from ..cgen import strides
from ._data_util import check_out_shape, contiguous_maps, copy_block, kernel_step, norm_axis
from .base import LowerCtx, Lowered, Op, register


@register
class Concat(Op):
    op_types = ("Concat",)
    since = 4          # axis became required; 11 added negative axes
    dtypes = "all"

    def lower(self, ctx: LowerCtx) -> Lowered:
        ins = [i for i, n in enumerate(ctx.node.inputs) if n]
        out = ctx.tout()
        rank = len(out.shape)
        if rank == 0:
            raise ctx.reject("Concat of scalars")
        axis = norm_axis(ctx.attr("axis", 0), rank)
        ost = strides(out.shape)
        blocks, at = [], 0
        for i in ins:
            shape = ctx.tin(i).shape
            if len(shape) != rank:
                raise ctx.reject("inputs differ in rank")
            blocks.append(copy_block(shape, contiguous_maps(shape), out.dtype.size,
                                     dst_strides=ost, dst_off=at * ost[axis], src=f"x{i}"))
            at += shape[axis]
        check_out_shape(ctx, out.shape[:axis] + (at,) + out.shape[axis + 1:])
        return Lowered([kernel_step(ctx, "concat", blocks, ins=ins, outs=[0])],
                       alias=len(ins) == 1)
