"""Pooling, N-dimensional: MaxPool (with Indices), AveragePool, LpPool and the
Global* forms.

Windows are clipped to the input (see `_conv_util`), so padding is never read;
AveragePool's count_include_pad and LpPool's normalisation use the per-axis
counts of taps inside the padded input instead.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from ..cgen import c_float, numel
from ._conv_util import (Axis, Offset, Walk, Window, check_output, count_expr, forward_axes,
                         forward_walk, read_kernel, spatial_strides, visited_taps,
                         window_counts)
from .base import LowerCtx, Lowered, Op, register

_LOWEST = {"float32": "-ZONNX_INF", "int8": "INT8_MIN", "uint8": "0"}


def _pool_axes(ctx: LowerCtx) -> tuple[list[Axis], int]:
    """Geometry of a windowed pool; returns the axes and N * C."""
    x = ctx.tin(0)
    if len(x.shape) < 3:
        raise ctx.reject(f"input rank {len(x.shape)}: needs N, C and at least one spatial axis")
    n_sp = len(x.shape) - 2
    kernel = read_kernel(ctx, n_sp)
    ceil_mode = bool(ctx.attr("ceil_mode", 0))
    axes = forward_axes(ctx, x.shape[2:], kernel, ceil_mode)
    check_output(ctx, x.shape[:2], axes)
    return axes, x.shape[0] * x.shape[1]


def _plane_body(ctype: str, planes: int, in_size: int, nest: str, pointers: Sequence[str]) -> str:
    """Loop over the N*C planes around a window nest."""
    return "\n".join([*(f"    {p}" for p in pointers),
                      f"    for (int32_t p = 0; p < {planes}; p++) {{",
                      f"        const {ctype} *xp = x0 + p * {in_size};",
                      nest, "    }"])


def _windowed(ctx: LowerCtx, axes: list[Axis], planes: int, offsets: list[Offset],
              init: str, visit: Callable[[dict[str, str]], str],
              finish: Callable[[list[Walk]], str], pointers: Sequence[str]) -> tuple[str, list[Walk]]:
    win = Window(axes, forward_walk, offsets, depth=2)
    nest, walks = win.build(lambda w: init, visit, finish)
    if window_counts(walks).min() <= 0:
        raise ctx.reject("a pooling window lies entirely in the padding")
    x = ctx.tin(0)
    return _plane_body(x.dtype.ctype, planes, x.size // planes, nest, pointers), walks


def _input_offset(ctx: LowerCtx) -> Offset:
    return Offset("ix", "coord", spatial_strides(ctx.tin(0).shape[2:]))


@register
class MaxPool(Op):
    op_types = ("MaxPool",)
    since = 1
    dtypes = "float32, int8, uint8"

    def lower(self, ctx: LowerCtx) -> Lowered:
        dt = ctx.require_dtype(ctx.tin(0), list(_LOWEST))
        ctx.require_dtype(ctx.tout(), [dt.name])
        axes, planes = _pool_axes(ctx)
        ct = dt.ctype
        offsets = [_input_offset(ctx)]
        init = f"{ct} acc = {_LOWEST[dt.name]};"
        pointers = [f"{ct} *yp = y0;"]
        if not ctx.node.output(1):
            def visit(off):
                return f"const {ct} v = xp[{off['ix']}];\nif (v > acc) {{\n    acc = v;\n}}"
            finish = "*yp++ = acc;"
        else:
            key = _indices_offset(ctx, axes, offsets)
            init += "\nint32_t best = -1;"      # the first maximum in scan order wins

            def visit(off):
                return (f"const {ct} v = xp[{off['ix']}];\n"
                        f"if (v > acc || best < 0) {{\n    acc = v;\n    best = {off[key]};\n}}")
            plane = numel([a.size for a in axes])
            finish = f"*yp++ = acc;\n*ip++ = (int64_t)p * {plane} + best;"
            pointers.append("int64_t *ip = y1;")
        body, _ = _windowed(ctx, axes, planes, offsets, init, visit, lambda w: finish, pointers)
        return Lowered([ctx.step("maxpool", body)])


def _indices_offset(ctx: LowerCtx, axes: list[Axis], offsets: list[Offset]) -> str:
    """Checks the Indices output; returns the offset its in-plane index is (adding a
    column-major one for storage_order 1)."""
    ctx.require_dtype(ctx.tout(1), ["int64"])
    check_output(ctx, ctx.tin(0).shape[:2], axes, j=1)
    order = int(ctx.attr("storage_order", 0))
    if order == 0:
        return "ix"
    if order != 1:
        raise ctx.reject(f"storage_order {order} is not 0 or 1")
    sizes = [a.size for a in axes]
    offsets.append(Offset("ik", "coord", spatial_strides(sizes[::-1])[::-1]))
    return "ik"


def _mean_store(walks: list[Walk], include_pad: bool) -> str:
    expr, counts = count_expr([w.bounds if include_pad else (w.lo, w.hi) for w in walks])
    if counts.min() == counts.max():
        return f"*yp++ = acc * {c_float(1.0 / int(counts.min()))};"
    return f"*yp++ = acc / (float)({expr});"


@register
class AveragePool(Op):
    op_types = ("AveragePool",)
    since = 1
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        ctx.require_dtype(ctx.tin(0), ["float32"])
        ctx.require_dtype(ctx.tout(), ["float32"])
        axes, planes = _pool_axes(ctx)
        include_pad = bool(ctx.attr("count_include_pad", 0))
        body, walks = _windowed(ctx, axes, planes, [_input_offset(ctx)], "float acc = 0.0f;",
                                lambda off: f"acc += xp[{off['ix']}];",
                                lambda w: _mean_store(w, include_pad), ["float *yp = y0;"])
        return Lowered([ctx.step("avgpool", body)], macs=planes * visited_taps(walks))


def read_p(ctx: LowerCtx) -> float:
    """LpPool's p: a float in version 1, an int afterwards."""
    p = float(ctx.attr("p", 2))
    if not 0 < p < math.inf:
        raise ctx.reject(f"p {p} must be a positive number")
    return p


def lp_terms(p: float) -> tuple[Callable[[str], str], Callable[[str], str]]:
    """(|v|^p as C, s^(1/p) as C) with p = 1, 2 and small integers unrolled."""
    if p == 1:
        return (lambda v: f"fabsf({v})"), (lambda s: s)
    if p == 2:
        return (lambda v: f"{v} * {v}"), (lambda s: f"sqrtf({s})")
    root = (lambda s: f"powf({s}, {c_float(1.0 / p)})")
    if p == int(p) and p <= 4:
        return (lambda v: " * ".join([f"fabsf({v})"] * int(p))), root
    return (lambda v: f"powf(fabsf({v}), {c_float(p)})"), root


@register
class LpPool(Op):
    op_types = ("LpPool",)
    since = 1
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        ctx.require_dtype(ctx.tin(0), ["float32"])
        ctx.require_dtype(ctx.tout(), ["float32"])
        power, root = lp_terms(read_p(ctx))
        axes, planes = _pool_axes(ctx)
        ksize = numel([a.kernel for a in axes])

        def finish(walks: list[Walk]) -> str:
            _, counts = count_expr([w.bounds for w in walks])
            if counts.min() < ksize:
                raise ctx.reject("ceil_mode cuts a window short of the padded input: "
                                 "onnx.reference scales its norm by the kernel size, "
                                 "onnxruntime does not")
            return f"*yp++ = {root('acc')};"

        body, walks = _windowed(ctx, axes, planes, [_input_offset(ctx)], "float acc = 0.0f;",
                                lambda off: f"const float v = xp[{off['ix']}];\nacc += {power('v')};",
                                finish, ["float *yp = y0;"])
        return Lowered([ctx.step("lppool", body)], macs=planes * visited_taps(walks))


class _GlobalPool(Op):
    """A reduction over each N*C plane: `parts` gives (init, update, result)."""
    since = 1
    dtypes = "float32"
    hint = ""
    accumulates = True      # counts as MACs

    def parts(self, ctx: LowerCtx, size: int) -> tuple[str, str, str]:  # pragma: no cover
        raise NotImplementedError

    def lower(self, ctx: LowerCtx) -> Lowered:
        x = ctx.tin(0)
        ctx.require_dtype(x, ["float32"])
        ctx.require_dtype(ctx.tout(), ["float32"])
        if len(x.shape) < 2:
            raise ctx.reject(f"input rank {len(x.shape)}: needs N and C")
        want = tuple(x.shape[:2]) + (1,) * (len(x.shape) - 2)
        if tuple(ctx.tout().shape) != want:
            raise ctx.reject(f"output shape {list(ctx.tout().shape)} is not {list(want)}")
        planes, size = x.shape[0] * x.shape[1], numel(x.shape[2:])
        if planes * size == 0:
            raise ctx.reject("empty input")
        init, update, result = self.parts(ctx, size)
        body = "\n".join([
            f"    for (int32_t p = 0; p < {planes}; p++) {{",
            f"        const float *xp = x0 + p * {size};",
            f"        {init}",
            f"        for (int32_t i = 0; i < {size}; i++) {{",
            f"            {update}",
            "        }",
            f"        y0[p] = {result};",
            "    }"])
        return Lowered([ctx.step(self.hint, body)], macs=planes * size if self.accumulates else 0)


@register
class GlobalAveragePool(_GlobalPool):
    op_types = ("GlobalAveragePool",)
    hint = "global_avgpool"

    def parts(self, ctx, size):
        return "float acc = 0.0f;", "acc += xp[i];", f"acc * {c_float(1.0 / size)}"


@register
class GlobalMaxPool(_GlobalPool):
    op_types = ("GlobalMaxPool",)
    hint = "global_maxpool"
    accumulates = False

    def parts(self, ctx, size):
        # zonnx_maxf propagates NaN like numpy's max
        return "float acc = xp[0];", "acc = zonnx_maxf(acc, xp[i]);", "acc"


@register
class GlobalLpPool(_GlobalPool):
    op_types = ("GlobalLpPool",)
    hint = "global_lppool"

    def parts(self, ctx, size):
        power, root = lp_terms(read_p(ctx))
        return "float acc = 0.0f;", f"acc += {power('xp[i]')};", root("acc")
