"""DepthToSpace and SpaceToDepth: a transpose of a 6-D view of the input."""

from __future__ import annotations

from ._data_util import check_out_shape
from .base import LowerCtx, Lowered, Op, register
from .transpose import permute_lowered


def _nchw(ctx: LowerCtx) -> tuple[int, int, int, int, int]:
    shape = ctx.tin(0).shape
    if len(shape) != 4:
        raise ctx.reject(f"input must be 4-D NCHW, got rank {len(shape)}")
    b = int(ctx.attr("blocksize", 0))
    if b < 1:
        raise ctx.reject("blocksize must be positive")
    return (*shape, b)


@register
class DepthToSpace(Op):
    op_types = ("DepthToSpace",)
    since = 1
    dtypes = "all"

    def lower(self, ctx: LowerCtx) -> Lowered:
        n, c, h, w, b = _nchw(ctx)
        if c % (b * b):
            raise ctx.reject(f"channels {c} not divisible by blocksize^2 = {b * b}")
        mode = ctx.attr("mode", "DCR") if ctx.version >= 11 else "DCR"
        c2 = c // (b * b)
        check_out_shape(ctx, [n, c2, h * b, w * b])
        if mode == "DCR":
            return permute_lowered(ctx, "depth_to_space", [n, b, b, c2, h, w], [0, 3, 4, 1, 5, 2])
        if mode == "CRD":
            return permute_lowered(ctx, "depth_to_space", [n, c2, b, b, h, w], [0, 1, 4, 2, 5, 3])
        raise ctx.reject(f"mode '{mode}' is not DCR or CRD")


@register
class SpaceToDepth(Op):
    op_types = ("SpaceToDepth",)
    since = 1
    dtypes = "all"

    def lower(self, ctx: LowerCtx) -> Lowered:
        n, c, h, w, b = _nchw(ctx)
        if h % b or w % b:
            raise ctx.reject(f"spatial size {h}x{w} not divisible by blocksize {b}")
        check_out_shape(ctx, [n, c * b * b, h // b, w // b])
        return permute_lowered(ctx, "space_to_depth", [n, c, h // b, b, w // b, b], [0, 3, 5, 1, 2, 4])
