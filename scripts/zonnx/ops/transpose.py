"""Transpose: a strided copy with the permuted input strides."""

from __future__ import annotations

from ._data_util import copy_block, check_out_shape, is_plain_copy, kernel_step, transpose_maps
from .base import LowerCtx, Lowered, Op, register


def permute_lowered(ctx: LowerCtx, hint: str, view_shape, perm) -> Lowered:
    """Output = transpose(input viewed as `view_shape`, perm), any dtype.
    A permutation that keeps the byte order (only unit axes move) is a view."""
    out_shape, maps = transpose_maps(view_shape, perm)
    block = copy_block(out_shape, maps, ctx.tin(0).dtype.size)
    step = kernel_step(ctx, hint, [block], ins=[0], outs=[0])
    return Lowered([step], alias=is_plain_copy(out_shape, maps))


@register
class Transpose(Op):
    op_types = ("Transpose",)
    since = 1
    dtypes = "all"

    def lower(self, ctx: LowerCtx) -> Lowered:
        shape = list(ctx.tin(0).shape)
        rank = len(shape)
        perm = [int(p) for p in ctx.attr("perm", range(rank - 1, -1, -1))]
        if sorted(perm) != list(range(rank)):
            raise ctx.reject(f"perm {perm} is not a permutation of {rank} axes")
        check_out_shape(ctx, [shape[p] for p in perm])
        return permute_lowered(ctx, "transpose", shape, perm)
