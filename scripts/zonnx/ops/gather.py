"""Gather and GatherElements, any data dtype, int32/int64 indices.

Constant indices are checked at build time and Gather becomes a strided copy
(a scalar index is one memcpy). Runtime indices are wrapped once if negative
and then clamped into range, so a bad index reads a valid element rather
than out of bounds (ONNX leaves out-of-range indices undefined)."""

from __future__ import annotations

import numpy as np

from ..cgen import strides
from ._data_util import (axis_map, check_index_range, check_out_shape, copy_block, kernel_step,
                         norm_axis)
from .base import LowerCtx, Lowered, Op, register


def _const_indices(ctx: LowerCtx, dim: int) -> np.ndarray | None:
    idx = ctx.const(1)
    if idx is None:
        return None
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size and (idx.min() < -dim or idx.max() >= dim):
        raise ctx.reject(f"indices outside [-{dim}, {dim - 1}]")
    return np.where(idx < 0, idx + dim, idx)


def _index_stmts(elem: str, dim: int) -> list[str]:
    """`k`, the int32_t index read from `elem`: negative wraps once, then clamp."""
    return [f"const int64_t v = {elem};",
            f"const int32_t k = zonnx_clamp_i32(v < 0 ? v + {dim} : v, 0, {dim - 1});"]


@register
class Gather(Op):
    op_types = ("Gather",)
    since = 1
    dtypes = "all (indices int32/int64)"

    def lower(self, ctx: LowerCtx) -> Lowered:
        x, ind = ctx.tin(0), ctx.tin(1)
        ctx.require_dtype(ind, ["int32", "int64"])
        rank = len(x.shape)
        axis = norm_axis(ctx.attr("axis", 0), rank)
        dim = x.shape[axis]
        outer = int(np.prod(x.shape[:axis], dtype=np.int64))
        inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
        check_out_shape(ctx, x.shape[:axis] + ind.shape + x.shape[axis + 1:])
        nidx = ind.size
        check_index_range(x.size, ctx.tout().size)
        esize = x.dtype.size
        idx = _const_indices(ctx, dim)
        if idx is not None:
            maps = [axis_map(outer, dim * inner), idx.reshape(-1) * inner, axis_map(inner, 1)]
            block = copy_block([outer, nidx, inner], maps, esize)
            return Lowered([kernel_step(ctx, "gather", [block], ins=[0], outs=[0])])
        if outer * nidx * inner and dim == 0:
            raise ctx.reject("gathering from an empty axis")
        return Lowered([kernel_step(ctx, "gather", [_runtime_gather(outer, nidx, dim, inner, esize)],
                                    ins=[0, 1], outs=[0])])


def _runtime_gather(outer: int, nidx: int, dim: int, inner: int, esize: int) -> str:
    if outer * nidx * inner == 0:
        return ""
    o = "o * " if outer > 1 else ""
    dst, src = f"({o}{nidx} + j)" if outer > 1 else "j", f"({o}{dim} + k)" if outer > 1 else "k"
    copy = (f"memcpy(y0 + {dst} * {inner}, x0 + {src} * {inner}, {inner * esize}u);" if inner > 1
            else f"y0[{dst}] = x0[{src}];")
    lines = [f"for (int32_t j = 0; j < {nidx}; j++) {{",
             *("    " + ln for ln in _index_stmts("x1[j]", dim)), f"    {copy}", "}"]
    if outer > 1:
        lines = [f"for (int32_t o = 0; o < {outer}; o++) {{", *("    " + ln for ln in lines), "}"]
    return "\n".join("    " + ln for ln in lines)


@register
class GatherElements(Op):
    op_types = ("GatherElements",)
    since = 11
    dtypes = "all (indices int32/int64)"

    def lower(self, ctx: LowerCtx) -> Lowered:
        x, ind = ctx.tin(0), ctx.tin(1)
        ctx.require_dtype(ind, ["int32", "int64"])
        rank = len(x.shape)
        if rank == 0 or len(ind.shape) != rank:
            raise ctx.reject("data and indices must have the same rank >= 1")
        axis = norm_axis(ctx.attr("axis", 0), rank)
        if any(i > d for a, (i, d) in enumerate(zip(ind.shape, x.shape)) if a != axis):
            raise ctx.reject(f"indices shape {list(ind.shape)} exceeds data {list(x.shape)}")
        check_out_shape(ctx, ind.shape)
        check_index_range(x.size, ind.size)
        if ind.size and x.shape[axis] == 0:
            raise ctx.reject("gathering from an empty axis")
        if ctx.const(1) is not None:
            _const_indices(ctx, x.shape[axis])          # build-time range check
        return Lowered([kernel_step(ctx, "gather_elements", [_elements(x.shape, ind.shape, axis)],
                                    ins=[0, 1], outs=[0])])


def _elements(shape, ishape, axis: int) -> str:
    if 0 in ishape:
        return ""
    xs, ys = strides(shape), strides(ishape)
    iv = [f"i{d}" for d in range(len(ishape))]
    flat = " + ".join(v if s == 1 else f"{v} * {s}" for v, s in zip(iv, ys))
    src = [("k" if d == axis else v) + ("" if xs[d] == 1 else f" * {xs[d]}")
           for d, v in enumerate(iv)]
    lines = [("    " * d) + f"for (int32_t {v} = 0; {v} < {n}; {v}++) {{" for d, (v, n) in enumerate(zip(iv, ishape))]
    pad = "    " * len(ishape)
    lines += [f"{pad}const int32_t j = {flat};",
              *(pad + ln for ln in _index_stmts("x1[j]", shape[axis])),
              f"{pad}y0[j] = x0[{' + '.join(src)}];"]
    lines += [("    " * d) + "}" for d in range(len(ishape) - 1, -1, -1)]
    return "\n".join("    " + ln for ln in lines)
