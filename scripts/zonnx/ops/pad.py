"""Pad: constant, reflect, edge and wrap modes; negative pads crop.

Pad-2 takes `pads`/`value` attributes, Pad-11 `pads`/`constant_value` inputs
and Pad-18 an `axes` input. Constant mode fills the output and copies the
(possibly cropped) input into its interior; the other modes map each output
index to an input index per axis (numpy.pad semantics, applied after
cropping)."""

from __future__ import annotations

import numpy as np

from ..cgen import c_literal, strides
from ._data_util import (axis_map, check_out_shape, copy_block, fill_block, is_zero_bytes,
                         kernel_step, norm_axis)
from .base import LowerCtx, Lowered, Op, register

MODES = ("constant", "reflect", "edge", "wrap")
RUNTIME_VALUE = "x2[0]"     # constant_value computed at run time


def _pads(ctx: LowerCtx, rank: int) -> list[tuple[int, int]]:
    """(begin, end) per axis of the input."""
    if ctx.version < 11:
        raw = ctx.attr("pads")
        if raw is None:
            raise ctx.reject("pads attribute is required")
    else:
        raw = ctx.require_const(1, "pads")
    raw = [int(v) for v in np.asarray(raw).reshape(-1)]
    axes = list(range(rank))
    if ctx.version >= 18 and ctx.has_input(3):
        axes = [norm_axis(a, rank) for a in np.asarray(ctx.require_const(3, "axes")).reshape(-1)]
    if len(raw) != 2 * len(axes) or len(set(axes)) != len(axes):
        raise ctx.reject(f"{len(raw)} pads for axes {axes}")
    out = [(0, 0)] * rank
    for k, a in enumerate(axes):
        out[a] = (raw[k], raw[len(axes) + k])
    return out


def _fill_value(ctx: LowerCtx) -> tuple[str, bool]:
    """C expression of the constant fill value and whether its bytes are zero."""
    dt = ctx.tin(0).dtype
    if ctx.version < 11:
        v = ctx.attr("value", 0.0)
    elif not ctx.has_input(2):
        v = 0
    else:
        c = ctx.const(2)
        if c is None:
            return RUNTIME_VALUE, False
        if np.asarray(c).size != 1:
            raise ctx.reject("constant_value must be a scalar")
        v = np.asarray(c).reshape(-1)[0]
    v = np.asarray(v).astype(dt.np)
    return c_literal(v.item(), dt), is_zero_bytes(v, dt.np)


def _index_map(n: int, begin: int, end: int, mode: str) -> np.ndarray:
    """Input index of each output index along one axis (edge/reflect/wrap)."""
    idx = np.arange(n)[max(-begin, 0):n - max(-end, 0)]
    return np.pad(idx, (max(begin, 0), max(end, 0)), mode=mode)


@register
class Pad(Op):
    op_types = ("Pad",)
    since = 2
    dtypes = "all"

    def lower(self, ctx: LowerCtx) -> Lowered:
        x = ctx.tin(0)
        shape = list(x.shape)
        mode = ctx.attr("mode", "constant")
        if mode not in MODES or (mode == "wrap" and ctx.version < 19):
            raise ctx.reject(f"mode '{mode}' is not supported")
        pads = _pads(ctx, len(shape))
        out_shape = [d + b + e for d, (b, e) in zip(shape, pads)]
        if any(n < 0 for n in out_shape):
            raise ctx.reject(f"pads {pads} crop more than the input")
        check_out_shape(ctx, out_shape)
        esize = x.dtype.size
        ins = [0]
        if mode == "constant":
            value, zero = _fill_value(ctx)
            if value == RUNTIME_VALUE:
                ins.append(2)
            blocks = _constant(shape, out_shape, pads, esize, value, zero)
        else:
            blocks = [_mapped(ctx, shape, out_shape, pads, mode, esize)]
        step = kernel_step(ctx, "pad", blocks, ins=ins, outs=[0])
        return Lowered([step], alias=all(p == (0, 0) for p in pads))


def _constant(shape, out_shape, pads, esize: int, value: str, zero: bool) -> list[str]:
    """Fill where anything is padded, then copy the (cropped) input inside."""
    inner = [d - max(-b, 0) - max(-e, 0) for d, (b, e) in zip(shape, pads)]
    n_out = int(np.prod(out_shape, dtype=np.int64))
    blocks = []
    if any(b > 0 or e > 0 for b, e in pads) or any(n <= 0 for n in inner):
        blocks.append(fill_block(n_out, value, esize, zero))
    if all(n > 0 for n in inner):
        ist, ost = strides(shape), strides(out_shape)
        maps = [axis_map(n, s, start=max(-b, 0)) for n, s, (b, _) in zip(inner, ist, pads)]
        off = sum(max(b, 0) * s for (b, _), s in zip(pads, ost))
        blocks.append(copy_block(inner, maps, esize, dst_strides=ost, dst_off=off))
    return blocks


def _mapped(ctx: LowerCtx, shape, out_shape, pads, mode: str, esize: int) -> str:
    maps = []
    for d, (b, e), s in zip(shape, pads, strides(shape)):
        if d - max(-b, 0) - max(-e, 0) <= 0 and (b > 0 or e > 0):
            raise ctx.reject(f"{mode} padding of an axis cropped to nothing")
        maps.append(_index_map(d, b, e, mode).astype(np.int64) * s)
    return copy_block(out_shape, maps, esize)
