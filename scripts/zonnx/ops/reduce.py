"""Reduce* over any set of axes.

Dimensions of size 1 are dropped and neighbouring dimensions of the same kind
(kept or reduced) merged, so most reductions become a two-level loop: one
accumulator per output element, read in the input's memory order. Integer sums
and products accumulate in an unsigned type: they wrap like the numpy
reference, without signed-overflow UB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..cgen import c_float, loop_nest, math_fn, strides
from ..ir import DType
from ._reduce_util import normalize_axis, offset_expr, void_body
from .base import LowerCtx, Lowered, Op, register
from .view import copy_lowered


@dataclass(frozen=True)
class _Reduction:
    """C text of one reduction for one element type; `acc` is the accumulator, `v` the element."""
    acc_type: str
    init: str
    step: str
    final: str                 # expression of `acc` (and the element count n)
    empty: float | None        # value over an empty set; None: reject


# op -> (initial value, step, final expression, value over an empty set); `acc` is
# the accumulator, `v` the element, {f} the libm suffix of the type, {n} the count.
_FLOAT = {
    "ReduceSum": (0.0, "acc += v;", "acc", 0.0),
    "ReduceMean": (0.0, "acc += v;", "acc / {n}", float("nan")),
    # NaN propagates, as in np.max
    "ReduceMax": (-np.inf, "acc = (v > acc || v != v) ? v : acc;", "acc", -np.inf),
    "ReduceMin": (np.inf, "acc = (v < acc || v != v) ? v : acc;", "acc", np.inf),
    "ReduceProd": (1.0, "acc *= v;", "acc", 1.0),
    "ReduceL1": (0.0, "acc += fabs{f}(v);", "acc", 0.0),
    "ReduceL2": (0.0, "acc += v * v;", "sqrt{f}(acc)", 0.0),
    "ReduceSumSquare": (0.0, "acc += v * v;", "acc", 0.0),
    "ReduceLogSum": (0.0, "acc += v;", "log{f}(acc)", -np.inf),
    "ReduceLogSumExp": (None, None, None, -np.inf),    # two passes, see _log_sum_exp
}

_INT_LIMITS = {  # ctype -> (min, max) macros
    "int8_t": ("INT8_MIN", "INT8_MAX"), "uint8_t": ("0", "UINT8_MAX"),
    "int16_t": ("INT16_MIN", "INT16_MAX"), "uint16_t": ("0", "UINT16_MAX"),
    "int32_t": ("INT32_MIN", "INT32_MAX"), "uint32_t": ("0", "UINT32_MAX"),
    "int64_t": ("INT64_MIN", "INT64_MAX"), "uint64_t": ("0", "UINT64_MAX"),
}
_INT_OPS = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
            "ReduceSumSquare")
_INT_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"]


def _int_reduction(op: str, dt: DType) -> _Reduction:
    t = dt.ctype
    if op in ("ReduceMax", "ReduceMin"):
        lo, hi = ("0", "1") if dt.name == "bool" else _INT_LIMITS[t]
        cmp = ">" if op == "ReduceMax" else "<"
        return _Reduction(t, lo if op == "ReduceMax" else hi,
                          f"acc = (v {cmp} acc) ? v : acc;", "acc", None)
    u = "uint64_t" if dt.size == 8 else "uint32_t"
    if op == "ReduceL1":
        step = (f"acc += (v < 0) ? ({u})0 - ({u})v : ({u})v;" if dt.is_signed
                else f"acc += ({u})v;")
    elif op == "ReduceSumSquare":
        step = f"acc += ({u})v * ({u})v;"
    elif op == "ReduceProd":
        step = f"acc *= ({u})v;"
    else:
        step = f"acc += ({u})v;"
    # Mean divides the wrapped sum, truncating toward zero like the reference.
    final = f"({t})(({t})acc / {{n}})" if op == "ReduceMean" else f"({t})acc"
    empty = {"ReduceProd": 1.0, "ReduceMean": None}.get(op, 0.0)
    return _Reduction(u, "1" if op == "ReduceProd" else "0", step, final, empty)


def _reduction(op: str, dt: DType) -> _Reduction:
    if dt.is_float:
        init, step, final, empty = _FLOAT[op]
        f = "f" if dt.ctype == "float" else ""
        return _Reduction(dt.ctype, c_float(init, dt.ctype), step.replace("{f}", f),
                          final.replace("{f}", f), empty)
    return _int_reduction(op, dt)


def _merge_dims(shape: Sequence[int], reduced: set[int]) -> tuple[list, list]:
    """([(size, stride)] kept, [(size, stride)] reduced), size-1 dims dropped and
    adjacent dims of the same kind merged (they are contiguous in memory)."""
    kept: list[list[int]] = []
    red: list[list[int]] = []
    last_kind = None
    for d, (n, st) in enumerate(zip(shape, strides(shape))):
        if n == 1:
            continue
        kind = d in reduced
        group = red if kind else kept
        if kind == last_kind:
            group[-1] = [group[-1][0] * n, st]
        else:
            group.append([n, st])
        last_kind = kind
    return [tuple(g) for g in kept], [tuple(g) for g in red]


def _nest(dims: list, prefix: str, body: str) -> str:
    """Loops over `dims`; `body` may use `{off}`, the input offset they select."""
    ivars = [f"{prefix}{d}" for d in range(len(dims))]
    off = offset_expr(ivars, [st for _, st in dims])
    return loop_nest([n for n, _ in dims], lambda _: body.replace("{off}", off), prefix=prefix,
                     indent=0)


def _log_sum_exp(red: list, dt: DType) -> str:
    # Shift by the largest finite element (none: no shift; exp handles +-inf).
    t, zero = dt.ctype, c_float(0.0, dt.ctype)
    return (f"{t} m = -ZONNX_INF;\n"
            + _nest(red, "r", f"const {t} v = p[{{off}}];\nif (v > m && v < ZONNX_INF) {{ m = v; }}")
            + f"\nif (m == -ZONNX_INF) {{ m = {zero}; }}\n"
            + f"{t} acc = {zero};\n"
            + _nest(red, "r", f"acc += {math_fn('exp', dt)}(p[{{off}}] - m);") + "\n")


def _kernel_body(op: str, dt: DType, shape: Sequence[int], axes: set[int]) -> str:
    kept, red = _merge_dims(shape, axes)
    n = int(np.prod([s for s, _ in red], dtype=np.int64))
    out_strides = strides([s for s, _ in kept])
    t = dt.ctype
    if op == "ReduceLogSumExp":
        line = _log_sum_exp(red, dt)
        final = f"m + {math_fn('log', dt)}(acc)"
    else:
        r = _reduction(op, dt)
        line = (f"{r.acc_type} acc = {r.init};\n"
                + _nest(red, "r", f"const {t} v = p[{{off}}];\n{r.step}") + "\n")
        final = r.final.replace("{n}", c_float(n, t) if dt.is_float else str(n))
    kvars = [f"o{d}" for d in range(len(kept))]
    inner = (f"const {t} *p = x0 + {{off}};\n" + line
             + f"y0[{offset_expr(kvars, out_strides)}] = {final};")
    return "\n".join("    " + s if s.strip() else s for s in _nest(kept, "o", inner).splitlines())


def _fill_body(value: float, dt: DType, count: int) -> str:
    lit = c_float(value, dt.ctype) if dt.is_float else str(int(value))
    return (f"    (void)x0;\n"
            f"    for (int32_t i = 0; i < {count}; i++) {{ y0[i] = {lit}; }}")


@register
class Reduce(Op):
    op_types = tuple(_FLOAT)
    since = 1
    dtypes = "float32, float64; int8..int64, uint8..uint64 (not L2/LogSum/LogSumExp); bool (Max/Min)"

    def lower(self, ctx: LowerCtx) -> Lowered:
        op = ctx.node.op_type
        allowed = ["float32", "float64"]
        if op in _INT_OPS:
            allowed += _INT_DTYPES
        if op in ("ReduceMax", "ReduceMin"):
            allowed.append("bool")
        dt = ctx.require_dtype(ctx.tin(0), allowed)
        shape = tuple(ctx.tin(0).shape)
        axes = self._axes(ctx, len(shape))
        if axes is None:
            return copy_lowered(ctx)    # noop_with_empty_axes
        keepdims = bool(ctx.attr("keepdims", 1))
        want = tuple(1 if d in axes else s for d, s in enumerate(shape) if keepdims or d not in axes)
        if tuple(ctx.tout().shape) != want:
            raise ctx.reject(f"output shape {list(ctx.tout().shape)} differs from {list(want)}")
        hint = op[len("Reduce"):].lower()
        out_n = ctx.tout().size
        if out_n == 0:
            return Lowered([ctx.step(hint, void_body([0], [0]), ins=[0], outs=[0])])
        if ctx.tin(0).size == 0:
            empty = _FLOAT[op][3] if dt.is_float else _reduction(op, dt).empty
            if empty is None:
                raise ctx.reject(f"{op} over an empty set is undefined for {dt.name}")
            return Lowered([ctx.step(hint, _fill_body(empty, dt, out_n), ins=[0], outs=[0])])
        body = _kernel_body(op, dt, shape, axes)
        macs = ctx.tin(0).size if op in ("ReduceL2", "ReduceSumSquare") else 0
        return Lowered([ctx.step(hint, body, ins=[0], outs=[0])], macs=macs)

    @staticmethod
    def _axes(ctx: LowerCtx, rank: int) -> set[int] | None:
        """Reduced axes; None when the node is the identity (noop_with_empty_axes)."""
        as_input = ctx.version >= (13 if ctx.node.op_type == "ReduceSum" else 18)
        if as_input:
            axes = ctx.require_const(1, "axes") if ctx.has_input(1) else None
            noop = bool(ctx.attr("noop_with_empty_axes", 0))
        else:
            axes, noop = ctx.attr("axes"), False
        axes = [] if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]
        if not axes:
            return None if noop else set(range(rank))
        norm = [normalize_axis(a, rank) for a in axes]
        if len(set(norm)) != len(norm):
            raise ctx.reject(f"axes {axes} repeat an axis")
        return set(norm)
