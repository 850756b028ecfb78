"""Resize (10, 11, 13, 18, 19) and Upsample (7, 9): every mode, coordinate
transformation and nearest rounding, antialias and exclude_outside.

Resizing is separable, so all the arithmetic happens here in numpy: for each
resized axis, every output index gets a few input taps and their weights,
computed exactly as onnx.reference does. Then
* when every tap set is a single weight-1 index (nearest modes), the output is
  a gather copy through per-axis index tables, for any dtype;
* otherwise a float kernel sums taps x weights axis by axis (linear, cubic,
  antialias); tf_crop_and_resize writes extrapolation_value where any axis
  falls outside the input.
Scales, sizes and roi must be build-time constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..cgen import c_float, strides
from ._data_util import (axis_map, c_table, check_index_range, check_out_shape, copy_block,
                         is_plain_copy, kernel_step, norm_axis)
from .base import LowerCtx, Lowered, Op, register

CoeffFn = Callable[[float, float], np.ndarray]
COORD_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
               "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
MAX_TAPS = 64


@dataclass
class Params:
    mode: str
    coord: str = "asymmetric"
    nearest: str = "floor"
    cubic_a: np.float32 = np.float32(-0.75)
    exclude_outside: bool = False
    extrapolation: float = 0.0
    antialias: bool = False


# -- coefficients (the separable 1-D resampling of onnx.reference) -------------

def _nearest_coeffs(mode: str) -> CoeffFn:
    def f(r: float, scale: float) -> np.ndarray:
        if float(r).is_integer():
            return np.array([0.0, 1.0])
        lo = {"round_prefer_floor": r <= 0.5, "round_prefer_ceil": r < 0.5,
              "floor": True, "ceil": False}[mode]
        return np.array([float(lo), float(not lo)])
    return f


def _linear_coeffs(antialias: bool) -> CoeffFn:
    def f(r: float, scale: float) -> np.ndarray:
        if not antialias:
            return np.array([1.0 - r, r])
        s = min(scale, 1.0)
        start = int(np.floor(-1 / s) + 1)
        c = np.clip(1 - np.abs((np.arange(start, 2 - start) - r) * s), 0, 1)
        return c / c.sum()
    return f


def _cubic_kernel(x: float, a: np.float32) -> float:
    x = abs(x)
    x2 = x * x
    x3 = x * x2
    if x <= 1:
        return (a + 2) * x3 - (a + 3) * x2 + 1
    if x < 2:
        return a * x3 - 5 * a * x2 + 8 * a * x - 4 * a
    return 0.0


def _cubic_coeffs(a: np.float32, antialias: bool) -> CoeffFn:
    # Same expressions as onnx.reference, so integer outputs round the same way.
    def f(r: float, scale: float) -> np.ndarray:
        if not antialias:
            q = 1 - r
            return np.array([((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
                             ((a + 2) * r - (a + 3)) * r * r + 1,
                             ((a + 2) * q - (a + 3)) * q * q + 1,
                             ((a * (q + 1) - 5 * a) * (q + 1) + 8 * a) * (q + 1) - 4 * a])
        s = min(scale, 1.0)
        start = int(np.floor(-2 / s) + 1)
        c = np.array([_cubic_kernel(s * (i - r), a) for i in range(start, 2 - start)])
        return c / c.sum()
    return f


def _coeff_fn(p: Params) -> CoeffFn:
    if p.mode == "nearest":
        return _nearest_coeffs(p.nearest)
    if p.mode == "linear":
        return _linear_coeffs(p.antialias)
    return _cubic_coeffs(p.cubic_a, p.antialias)


def _source_coords(p: Params, n_in: int, n_out: int, scale: float,
                   roi: tuple[float, float]) -> tuple[np.ndarray, np.ndarray | None]:
    """Input coordinate of every output index, and the tf_crop_and_resize
    positions that fall outside the input."""
    y = np.arange(n_out, dtype=np.float64)
    width = scale * n_in              # the reference uses the unrounded width
    mode = p.coord
    if mode == "align_corners":
        return (np.zeros(n_out) if width == 1 else y * (n_in - 1) / (width - 1)), None
    if mode == "asymmetric":
        return y / scale, None
    if mode == "tf_half_pixel_for_nn":
        return (y + 0.5) / scale, None
    if mode == "pytorch_half_pixel":
        return (np.full(n_out, -0.5) if width == 1 else (y + 0.5) / scale - 0.5), None
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5, None
    if mode == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / width)
        return offset + (y + 0.5) / scale - 0.5, None
    # tf_crop_and_resize
    r0, r1 = roi               # float32, as the reference computes with them
    if width == 1:
        x = np.full(n_out, (r1 - r0) * (n_in - 1) / 2)
    else:
        x = y * (r1 - r0) * (n_in - 1) / (width - 1)
    x = x + r0 * (n_in - 1)
    return x, (x < 0) | (x > n_in - 1)


def axis_taps(p: Params, n_in: int, n_out: int, scale: float, roi: tuple[float, float]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(input indices [n_out, T], weights [n_out, T], extrapolated [n_out] or None)."""
    x, extrap = _source_coords(p, n_in, n_out, scale, roi)
    xf = np.floor(x)
    ratios = np.where(x == xf, 1.0, x - xf)
    fn = _coeff_fn(p)
    w = np.array([fn(float(r), scale) for r in ratios], dtype=np.float64).reshape(n_out, -1)
    n = w.shape[1]
    pad = int(math.ceil(n / 2))
    xp = x + pad
    pp = np.floor(xp).astype(np.int64)
    frac = xp - pp
    if n % 2 == 0:
        off = np.where(frac == 0, -(n // 2), -(n // 2) + 1)
    else:
        off = np.where(frac <= 0.5, -((n - 1) // 2), -((n - 1) // 2) + 1)
    idx = (pp + off)[:, None] + np.arange(n)[None, :] - pad
    if p.exclude_outside:
        w = np.where((idx < 0) | (idx >= n_in), 0.0, w)
        tot = w.sum(axis=1, keepdims=True)
        w = w / np.where(tot == 0, 1.0, tot)
    return np.clip(idx, 0, n_in - 1), w, extrap


def _pack(idx: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop zero-weight taps: rows keep their nonzero taps first, padded with
    weight 0 at index 0, to the widest row."""
    keep = w != 0
    t = max(1, int(keep.sum(axis=1).max()))
    pi = np.zeros((len(w), t), dtype=np.int64)
    pw = np.zeros((len(w), t), dtype=np.float64)
    for r in range(len(w)):
        k = np.nonzero(keep[r])[0]
        pi[r, :len(k)], pw[r, :len(k)] = idx[r, k], w[r, k]
    return pi, pw


# -- attributes and inputs per version -----------------------------------------

def _params(ctx: LowerCtx) -> Params:
    op, v = ctx.node.op_type, ctx.version
    mode = ctx.attr("mode", "nearest")
    if mode == "bilinear":
        mode = "linear"
    if op == "Upsample" or v < 11:
        if mode not in ("nearest", "linear"):
            raise ctx.reject(f"mode '{mode}' is not nearest or linear")
        return Params(mode)
    p = Params(mode, coord=ctx.attr("coordinate_transformation_mode", "half_pixel"),
               nearest=ctx.attr("nearest_mode", "round_prefer_floor"),
               # float32 like the attribute: the reference's coefficients are float32
               cubic_a=np.float32(ctx.attr("cubic_coeff_a", -0.75)),
               exclude_outside=bool(ctx.attr("exclude_outside", 0)),
               extrapolation=float(ctx.attr("extrapolation_value", 0.0)),
               antialias=bool(ctx.attr("antialias", 0)) if v >= 18 else False)
    if mode not in ("nearest", "linear", "cubic"):
        raise ctx.reject(f"mode '{mode}' is not nearest, linear or cubic")
    if p.coord not in COORD_MODES:
        raise ctx.reject(f"coordinate_transformation_mode '{p.coord}' is not supported")
    if p.nearest not in NEAREST_MODES:
        raise ctx.reject(f"nearest_mode '{p.nearest}' is not supported")
    if mode == "nearest" and p.antialias:
        raise ctx.reject("antialias is not defined for nearest mode")
    return p


def _opt_const(ctx: LowerCtx, i: int, what: str) -> np.ndarray | None:
    """A constant optional input; None when absent or empty."""
    if not ctx.has_input(i):
        return None
    v = np.asarray(ctx.require_const(i, what))
    return v if v.size else None


def _geometry(ctx: LowerCtx, p: Params, in_shape: Sequence[int]
              ) -> tuple[list[float], list[int], list[tuple[float, float]]]:
    """Scale factor, output size and roi of every axis."""
    rank = len(in_shape)
    if ctx.node.op_type == "Upsample" and ctx.version < 9:
        scales, sizes, roi, axes = ctx.attr("scales"), None, None, list(range(rank))
        if scales is None:
            raise ctx.reject("scales attribute is required")
        scales = np.asarray(scales, dtype=np.float32)
    elif ctx.node.op_type == "Upsample" or ctx.version < 11:
        scales, sizes, roi = ctx.require_const(1, "scales"), None, None
        axes = list(range(rank))
    else:
        scales, sizes = _opt_const(ctx, 2, "scales"), _opt_const(ctx, 3, "sizes")
        roi = _opt_const(ctx, 1, "roi") if p.coord == "tf_crop_and_resize" else None
        axes = list(range(rank))
        if ctx.version >= 18 and ctx.attr("axes") is not None:
            axes = [norm_axis(a, rank) for a in ctx.attr("axes")]
            if len(set(axes)) != len(axes):
                raise ctx.reject(f"repeated axes {axes}")
    if (scales is None) == (sizes is None):
        raise ctx.reject("exactly one of scales and sizes must be given")
    given = np.asarray(scales if sizes is None else sizes).reshape(-1)
    if len(given) != len(axes) or (roi is not None and roi.size != 2 * len(axes)):
        raise ctx.reject(f"scales/sizes/roi lengths do not match {len(axes)} axes")
    if p.coord == "tf_crop_and_resize" and roi is None:
        raise ctx.reject("tf_crop_and_resize needs a roi")
    scale = [1.0] * rank
    size = list(in_shape)
    rois = [(0.0, 1.0)] * rank
    for k, a in enumerate(axes):
        if roi is not None:
            flat = roi.reshape(-1).astype(np.float32)
            rois[a] = (flat[k], flat[len(axes) + k])
        if sizes is None:
            scale[a] = float(np.float32(given[k]))
            size[a] = int(scale[a] * in_shape[a])
        else:
            size[a] = int(given[k])
            scale[a] = size[a] / in_shape[a] if in_shape[a] else 1.0
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch") if ctx.version >= 18 else "stretch"
    if sizes is not None and policy != "stretch":
        if policy not in ("not_larger", "not_smaller"):
            raise ctx.reject(f"keep_aspect_ratio_policy '{policy}' is not supported")
        pick = min if policy == "not_larger" else max
        s = pick(scale[a] for a in axes)
        for a in axes:
            scale[a], size[a] = s, int(s * in_shape[a] + 0.5)
    if any(s <= 0 for s in scale):
        raise ctx.reject(f"scales {scale} must be positive")
    return scale, size, rois


# -- lowering --------------------------------------------------------------------

@dataclass
class _Axis:
    n: int                              # output size
    stride: int                         # input stride
    idx: np.ndarray | None = None       # [n, T] input indices; None: identity
    w: np.ndarray | None = None         # [n, T] weights
    extrap: np.ndarray | None = None

    @property
    def one_hot(self) -> bool:
        return self.idx is not None and self.idx.shape[1] == 1 and bool(np.all(self.w == 1.0))


def _plan_axes(p: Params, in_shape, scale, size, rois) -> list[_Axis]:
    axes = []
    for n_in, n_out, s, roi, st in zip(in_shape, size, scale, rois, strides(in_shape)):
        identity = (math.isclose(s, 1.0) and n_out == n_in
                    and math.isclose(roi[0], 0.0) and math.isclose(roi[1], 1.0))
        if identity or n_out == 0:
            axes.append(_Axis(n_out, st))
            continue
        if n_in == 0:
            raise ValueError("empty input axis")
        idx, w, ex = axis_taps(p, n_in, n_out, s, roi)
        idx, w = _pack(idx, w)
        if idx.shape[1] > MAX_TAPS:
            raise ValueError(f"{idx.shape[1]} taps per output")
        axes.append(_Axis(n_out, st, idx, w, ex if ex is not None and ex.any() else None))
    return axes


@register
class Resize(Op):
    op_types = ("Resize", "Upsample")
    since = 7
    dtypes = "all (nearest); float32/float64, int8/uint8/int16/uint16 (linear, cubic)"

    def lower(self, ctx: LowerCtx) -> Lowered:
        x = ctx.tin(0)
        p = _params(ctx)
        scale, size, rois = _geometry(ctx, p, x.shape)
        if ctx.node.op_type == "Upsample" and any(s < 1 for s in scale):
            raise ctx.reject(f"Upsample scales {scale} must be >= 1")
        check_out_shape(ctx, size)
        check_index_range(x.size, ctx.tout().size)
        try:
            axes = _plan_axes(p, x.shape, scale, size, rois)
        except ValueError as e:
            raise ctx.reject(f"cannot resample: {e}") from None
        if all(a.idx is None or a.one_hot for a in axes) and all(a.extrap is None for a in axes):
            return _gather_lowered(ctx, axes, size)
        return _interpolate_lowered(ctx, axes, p.extrapolation)


def _gather_lowered(ctx: LowerCtx, axes: list[_Axis], size: list[int]) -> Lowered:
    """Every output element copies one input element: any dtype."""
    maps = [axis_map(a.n, a.stride) if a.idx is None else a.idx[:, 0] * a.stride for a in axes]
    block = copy_block(size, maps, ctx.tin(0).dtype.size)
    step = kernel_step(ctx, "resize", [block], ins=[0], outs=[0])
    return Lowered([step], alias=list(size) == list(ctx.tin(0).shape) and is_plain_copy(size, maps))


def _interpolate_lowered(ctx: LowerCtx, axes: list[_Axis], extrapolation: float) -> Lowered:
    dt = ctx.require_dtype(ctx.tin(0), ["float32", "float64", "int8", "uint8", "int16", "uint16"])
    body = _taps_kernel(axes, dt, extrapolation)
    taps = int(np.prod([a.idx.shape[1] for a in axes if a.idx is not None and not a.one_hot]))
    note = "" if dt.is_float else "integer interpolation accumulates in double"
    return Lowered([kernel_step(ctx, "resize", [body], ins=[0], outs=[0])],
                   macs=ctx.tout().size * taps, note=note)


def _loop_axes(axes: list[_Axis]) -> list[tuple[_Axis, int]]:
    """(axis, output stride) to loop over: unit identity axes dropped, adjacent
    identity axes merged (they are contiguous in input and output alike)."""
    out: list[tuple[_Axis, int]] = []
    for a, os_ in zip(axes, strides([a.n for a in axes])):
        if a.idx is None and a.n == 1:
            continue
        if a.idx is None and out and out[-1][0].idx is None:
            out[-1] = (_Axis(out[-1][0].n * a.n, a.stride), os_)
        else:
            out.append((a, os_))
    return out


def _taps_kernel(axes: list[_Axis], dt, extrapolation: float) -> str:
    """Loops over the output; per element, nested loops over the taps of each
    interpolated axis, accumulating one axis at a time."""
    if any(a.n == 0 for a in axes):
        return ""
    acc = _acc_type(dt)
    loops = _loop_axes(axes)
    tables, src, dst, taps, ext = [], [], [], [], []
    for d, (a, os_) in enumerate(loops):
        v = f"i{d}"
        dst.append(v if os_ == 1 else f"{v} * {os_}")
        if a.idx is None:
            src.append(v if a.stride == 1 else f"{v} * {a.stride}")
        elif a.one_hot:
            tables.append(c_table(f"o{d}", a.idx[:, 0] * a.stride))
            src.append(f"o{d}[{v}]")
        else:
            tables.append(c_table(f"o{d}", a.idx * a.stride))
            tables.append(c_table(f"w{d}", a.w, ctype=acc))
            taps.append((d, v, a.idx.shape[1]))
        if a.extrap is not None:
            tables.append(c_table(f"e{d}", a.extrap.astype(np.uint8), ctype="uint8_t"))
            ext.append(f"e{d}[{v}]")
    y = f"y0[{' + '.join(dst) or '0'}]"
    inner = [f"const {dt.ctype} *p = x0{''.join(' + ' + t for t in src)};",
             *_tap_sum(taps, acc), f"{y} = {_store('s0' if taps else 'p[0]', dt, acc)};"]
    if ext:
        inner = [f"if ({' || '.join(ext)}) {{",
                 f"    {y} = {_store(c_float(extrapolation, acc), dt, acc)};",
                 "} else {", *("    " + ln for ln in inner), "}"]
    lines = [("    " * d) + f"for (int32_t i{d} = 0; i{d} < {a.n}; i{d}++) {{"
             for d, (a, _) in enumerate(loops)]
    lines += [("    " * len(loops)) + ln for ln in inner]
    lines += [("    " * d) + "}" for d in range(len(loops) - 1, -1, -1)]
    return "\n".join("    " + ln for ln in "\n".join(tables + lines).splitlines())


def _tap_sum(taps: list[tuple[int, str, int]], acc: str) -> list[str]:
    """s0 = sum_tk wk * (... sum_t0 w0 * p[o0 + ... + ok]): the first axis is
    summed innermost, in the order onnx.reference resamples the axes."""
    if not taps:
        return []
    order = taps[::-1]
    k = len(order)
    weight = [f"w{d}[{v} * {t} + t{d}]" for d, v, t in order]
    offs = " + ".join(f"o{d}[{v} * {t} + t{d}]" for d, v, t in taps)
    lines: list[str] = []
    for j, (d, _, t) in enumerate(order):
        lines += [("    " * j) + f"{acc} s{j} = 0;",
                  ("    " * j) + f"for (int32_t t{d} = 0; t{d} < {t}; t{d}++) {{"]
    lines.append(("    " * k) + f"s{k - 1} += {weight[k - 1]} * p[{offs}];")
    for j in range(k - 1, -1, -1):
        lines.append(("    " * j) + "}")
        if j > 0:
            lines.append(("    " * j) + f"s{j - 1} += {weight[j - 1]} * s{j};")
    return lines


def _acc_type(dt) -> str:
    """float for float32; double for float64 and for integers, whose rounding
    must reproduce the float64 reference exactly."""
    return "float" if dt.ctype == "float" else "double"


def _store(expr: str, dt, acc: str) -> str:
    """Cast the accumulator to the element type (integers: round half to even, saturate)."""
    if dt.is_float:
        return f"({dt.ctype})({expr})" if dt.ctype != acc else expr
    lo, hi = np.iinfo(dt.np).min, np.iinfo(dt.np).max
    return f"({dt.ctype})fmin(fmax(nearbyint({expr}), {float(lo)!r}), {float(hi)!r})"
