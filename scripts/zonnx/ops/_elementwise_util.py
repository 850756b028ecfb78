"""Shared machinery for element-wise kernels over broadcast inputs.

`broadcast_body` writes the loops: one flat loop when every input already has
the output's shape, otherwise a loop nest over the output with dimensions
merged wherever all inputs broadcast the same way (so `[N,C,H,W] + [C,1,1]`
becomes a 3-deep nest over `[N, C, H*W]`). Ops only supply the statement that
computes one output element from the input element expressions.

Also the C spellings shared by several families: wrapping integer arithmetic,
NaN-propagating max/min, and float -> integer conversion with defined results.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..cgen import broadcast_index, c_float, c_int, loop_nest, numel
from ..ir import DType
from .base import LowerCtx, Lowered

INTS = ("uint8", "int8", "uint16", "int16", "int32", "int64", "uint32", "uint64")
FLOATS = ("float32", "float64")
NUMERIC = FLOATS + INTS
ALL = NUMERIC + ("bool",)

# statement(vals, out): C statements computing `out` (an lvalue) from `vals`
# (one C expression per input, already indexed).
Statement = Callable[[list[str], str], str]


def _collapse(out_shape: Sequence[int], in_shapes: Sequence[Sequence[int]]
              ) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 output dims and merge neighbours every input treats alike
    (all full or all broadcast); the flat index arithmetic stays the same."""
    rank = len(out_shape)
    padded = [[1] * (rank - len(s)) + list(s) for s in in_shapes]
    out: list[int] = []
    ins: list[list[int]] = [[] for _ in padded]
    prev_kind: tuple[bool, ...] | None = None
    for d, n in enumerate(out_shape):
        if n == 1:
            continue
        kind = tuple(p[d] == n for p in padded)
        if kind == prev_kind:
            out[-1] *= n
            for k, p in enumerate(padded):
                ins[k][-1] *= p[d]
        else:
            out.append(n)
            for k, p in enumerate(padded):
                ins[k].append(p[d])
        prev_kind = kind
    return out, ins


def unused(names: Sequence[str]) -> str:
    return "\n".join(f"    (void){n};" for n in names)


def broadcast_body(out_shape: Sequence[int], in_shapes: Sequence[Sequence[int]],
                   statement: Statement, in_names: Sequence[str] | None = None,
                   out_name: str = "y0") -> str:
    """Loops over `out_shape` computing each element with `statement`; same-shape
    operands collapse to a single flat loop."""
    in_names = list(in_names) if in_names is not None else [f"x{k}" for k in range(len(in_shapes))]
    if numel(out_shape) == 0:
        return unused(in_names + [out_name])
    oshape, ishapes = _collapse(out_shape, in_shapes)

    def inner(iv: list[str]) -> str:
        vals = [f"{nm}[{broadcast_index(s, oshape, iv)}]" for nm, s in zip(in_names, ishapes)]
        return statement(vals, f"{out_name}[{broadcast_index(oshape, oshape, iv)}]")
    return loop_nest(oshape, inner)


def broadcast_lowered(ctx: LowerCtx, hint: str, statement: Statement,
                      ins: Sequence[int] | None = None, macs_per: int = 0,
                      shapes: Sequence[Sequence[int]] | None = None) -> Lowered:
    """A one-step kernel over inputs `ins` (default: all present) broadcast to
    output 0; `shapes` overrides the inputs' shapes as seen by broadcasting.

    In place with the first input that already has the output's size (so it is
    not broadcast) and element size: each output element is written after its
    inputs are read.
    """
    if ins is None:
        ins = [i for i, n in enumerate(ctx.node.inputs) if n]
    out = ctx.tout()
    shapes = [tuple(s) for s in shapes] if shapes is not None else [tuple(ctx.tin(i).shape) for i in ins]
    body = broadcast_body(out.shape, shapes, statement, [f"x{i}" for i in ins])
    inplace = tuple((i, 0) for i, s in zip(ins, shapes)
                    if numel(s) == out.size and ctx.tin(i).dtype.size == out.dtype.size)
    return Lowered([ctx.step(hint, body, ins=list(ins), outs=[0])], inplace=inplace[:1],
                   macs=out.size * macs_per)


def broadcast_check(ctx: LowerCtx, ins: Sequence[int]) -> None:
    """The inputs must broadcast (numpy rules) to exactly the output's shape."""
    try:
        shape = np.broadcast_shapes(*[tuple(ctx.tin(i).shape) for i in ins])
    except ValueError:
        raise ctx.reject("input shapes " + " and ".join(str(list(ctx.tin(i).shape)) for i in ins)
                         + " do not broadcast") from None
    if tuple(shape) != tuple(ctx.tout().shape):
        raise ctx.reject(f"broadcast shape {list(shape)} differs from the output's "
                         f"{list(ctx.tout().shape)}")


def same_dtype(ctx: LowerCtx, ins: Sequence[int]) -> DType:
    dt = ctx.tin(ins[0]).dtype
    for i in ins[1:]:
        if ctx.tin(i).dtype != dt:
            raise ctx.reject(f"inputs have different dtypes ({dt.name}, {ctx.tin(i).dtype.name})")
    return dt


def legacy_shapes(ctx: LowerCtx) -> list[tuple[int, ...]]:
    """Shapes of A and B as broadcast by the binary ops before opset 7: none
    unless broadcast=1, then B's dims line up with A's from `axis` (default:
    the trailing ones), each equal to A's or 1. The output has A's shape."""
    a, b = tuple(ctx.tin(0).shape), tuple(ctx.tin(1).shape)
    if tuple(ctx.tout().shape) != a:
        raise ctx.reject(f"output shape {list(ctx.tout().shape)} differs from A's {list(a)}")
    if not ctx.attr("broadcast", 0):
        if a != b:
            raise ctx.reject(f"shapes {list(a)} and {list(b)} differ and broadcast=0")
        return [a, b]
    axis = int(ctx.attr("axis", len(a) - len(b)))
    axis = axis + len(a) if axis < 0 else axis
    if axis < 0 or axis + len(b) > len(a):
        raise ctx.reject(f"B {list(b)} does not fit A {list(a)} at axis {axis}")
    placed = (1,) * axis + b + (1,) * (len(a) - axis - len(b))
    if any(p not in (1, n) for p, n in zip(placed, a)):
        raise ctx.reject(f"B {list(b)} does not broadcast to A {list(a)} at axis {axis}")
    return [a, placed]


def binary_shapes(ctx: LowerCtx) -> list[tuple[int, ...]]:
    """Input shapes of a two-input op as its kernel sees them (legacy
    axis-based broadcasting before opset 7, numpy rules after)."""
    if ctx.version < 7:
        return legacy_shapes(ctx)
    broadcast_check(ctx, [0, 1])
    return [tuple(ctx.tin(0).shape), tuple(ctx.tin(1).shape)]


# -- C spellings -------------------------------------------------------------

def uwide(dt: DType) -> str:
    """Unsigned type for wrapping arithmetic on `dt` (never narrower than 32
    bits, so that integer promotion cannot make it signed)."""
    return "uint64_t" if dt.size == 8 else "uint32_t"


def wrap_op(dt: DType, op: str, a: str, b: str) -> str:
    """a op b for + - *: wraps on integers like numpy (signed overflow is UB in C)."""
    if dt.is_float:
        return f"({a} {op} {b})"
    u = uwide(dt)
    return f"({dt.ctype})(({u}){a} {op} ({u}){b})"


def max_expr(dt: DType, a: str, b: str, op: str = ">") -> str:
    """np.maximum (op '>') / np.minimum (op '<'): a NaN in either propagates.
    `a` and `b` must be plain variables (they are read more than once)."""
    if dt.ctype == "float":
        return f"zonnx_{'max' if op == '>' else 'min'}f({a}, {b})"
    if dt.is_float:
        return f"((({a}) != ({a}) || ({a}) {op} ({b})) ? ({a}) : ({b}))"
    return f"(({a}) {op} ({b}) ? ({a}) : ({b}))"


def _int_range(dt: DType) -> tuple[int, int]:
    info = np.iinfo(dt.np)
    return int(info.min), int(info.max)


def float_to_int(v: str, src: DType, dst: DType) -> str:
    """Float variable `v` to integer `dst`: truncation toward zero; NaN gives 0
    and values beyond the range saturate. (ONNX leaves out-of-range casts
    undefined and C makes them UB; numpy's result there is platform-specific.)"""
    lo, hi = _int_range(dst)
    # both bounds are exact in floating point: MIN (or -1 when unsigned) and MAX + 1
    lo_f = c_float(float(lo) if lo < 0 else -1.0, src.ctype)
    hi_f = c_float(float(hi) + 1.0, src.ctype)
    lo_c, hi_c = c_int(lo, dst.ctype), c_int(hi, dst.ctype)
    return (f"(({v}) != ({v}) ? ({dst.ctype})0 : ({v}) <= {lo_f} ? ({dst.ctype}){lo_c} : "
            f"({v}) >= {hi_f} ? ({dst.ctype}){hi_c} : ({dst.ctype})({v}))")


def local(dt: DType, name: str, expr: str) -> str:
    return f"const {dt.ctype} {name} = {expr};"


__all__ = ["INTS", "FLOATS", "NUMERIC", "ALL", "broadcast_body", "broadcast_lowered",
           "broadcast_check", "binary_shapes", "legacy_shapes", "same_dtype", "uwide", "wrap_op",
           "max_expr", "float_to_int", "local", "unused"]
