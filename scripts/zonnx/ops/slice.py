"""Slice: a strided copy (negative steps read backwards).

Slice-1 takes starts/ends/axes as attributes, Slice-10 and later as inputs
(with steps); the values must be known at build time."""

from __future__ import annotations

import numpy as np

from ..cgen import strides
from ._data_util import axis_map, check_out_shape, copy_block, is_plain_copy, kernel_step, norm_axis
from .base import LowerCtx, Lowered, Op, register


def _params(ctx: LowerCtx, rank: int) -> tuple[list[int], list[int], list[int], list[int]]:
    if ctx.version < 10:
        starts, ends = ctx.attr("starts"), ctx.attr("ends")
        axes, steps = ctx.attr("axes"), None
        if starts is None or ends is None:
            raise ctx.reject("starts and ends attributes are required")
    else:
        starts = ctx.require_const(1, "starts")
        ends = ctx.require_const(2, "ends")
        axes = ctx.require_const(3, "axes") if ctx.has_input(3) else None
        steps = ctx.require_const(4, "steps") if ctx.has_input(4) else None
    starts = [int(v) for v in np.asarray(starts).reshape(-1)]
    ends = [int(v) for v in np.asarray(ends).reshape(-1)]
    axes = list(range(len(starts))) if axes is None else [int(v) for v in np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else [int(v) for v in np.asarray(steps).reshape(-1)]
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ctx.reject("starts, ends, axes and steps differ in length")
    axes = [norm_axis(a, rank) for a in axes]
    if len(set(axes)) != len(axes):
        raise ctx.reject(f"repeated axes {axes}")
    if 0 in steps:
        raise ctx.reject("a step is 0")
    return starts, ends, axes, steps


def slice_range(start: int, end: int, step: int, dim: int) -> tuple[int, int]:
    """(first index, count) of start:end:step on an axis of `dim`, clamped as ONNX says."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        return start, max(0, -(-(end - start) // step))
    start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return start, max(0, -(-(start - end) // -step))


@register
class Slice(Op):
    op_types = ("Slice",)
    since = 1
    dtypes = "all"

    def lower(self, ctx: LowerCtx) -> Lowered:
        x = ctx.tin(0)
        shape = list(x.shape)
        ist = strides(shape)
        maps = [axis_map(d, s) for d, s in zip(shape, ist)]
        out_shape = list(shape)
        for start, end, axis, step in zip(*_params(ctx, len(shape))):
            first, count = slice_range(start, end, step, shape[axis])
            out_shape[axis] = count
            maps[axis] = axis_map(count, ist[axis], start=first, step=step)
        check_out_shape(ctx, out_shape)
        block = copy_block(out_shape, maps, x.dtype.size)
        step = kernel_step(ctx, "slice", [block], ins=[0], outs=[0])
        same = out_shape == shape and is_plain_copy(out_shape, maps)
        return Lowered([step], alias=same)
