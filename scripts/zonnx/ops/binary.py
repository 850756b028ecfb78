"""Element-wise arithmetic over numpy-broadcast inputs: Add, Sub, Mul, Div,
Pow, Mod, the variadic Max, Min, Sum, Mean, and PRelu.

Integer results follow onnx.reference (numpy): + - * wrap, Div truncates
toward zero, Mod with fmod=0 takes the divisor's sign, and division or
modulo by zero gives 0 instead of trapping.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..cgen import c_float, math_fn
from ..ir import DTYPE_BY_NAME, DType
from ._elementwise_util import (FLOATS, NUMERIC, binary_shapes, broadcast_check, broadcast_lowered,
                                float_to_int, local, max_expr, same_dtype, uwide, wrap_op)
from .base import LowerCtx, Lowered, Op, register

# combine(dt, a, b): C expression for a (op) b, where a and b are plain variables
Combine = Callable[[DType, str, str], str]


def _div(dt: DType, a: str, b: str) -> str:
    ct = dt.ctype
    if dt.is_float:
        return f"({a} / {b})"
    if not dt.is_signed:
        return f"({b} == 0 ? ({ct})0 : ({ct})({a} / {b}))"
    # C truncates like the reference; MIN / -1 (UB in C) wraps to MIN there
    neg = f"({ct})(0u - ({uwide(dt)}){a})"
    return f"({b} == 0 ? ({ct})0 : {b} == -1 ? {neg} : ({ct})({a} / {b}))"


_COMBINE: dict[str, Combine] = {
    "Add": lambda dt, a, b: wrap_op(dt, "+", a, b),
    "Sub": lambda dt, a, b: wrap_op(dt, "-", a, b),
    "Mul": lambda dt, a, b: wrap_op(dt, "*", a, b),
    "Div": _div,
    "Max": lambda dt, a, b: max_expr(dt, a, b, ">"),
    "Min": lambda dt, a, b: max_expr(dt, a, b, "<"),
    "Sum": lambda dt, a, b: f"({a} + {b})",
    "Mean": lambda dt, a, b: f"({a} + {b})",
}


def fold_statement(dt: DType, combine: Combine, finish: Callable[[str], str]):
    """acc = v0; acc = combine(acc, v1); ...; out = finish(acc) -- left to
    right, as the reference evaluates variadic ops."""
    def statement(vals: list[str], out: str) -> str:
        if len(vals) == 2:
            return "\n".join([local(dt, "a", vals[0]), local(dt, "b", vals[1]),
                              f"{out} = {finish(combine(dt, 'a', 'b'))};"])
        lines = [f"{dt.ctype} a = {vals[0]};"]
        for k, v in enumerate(vals[1:], 1):
            lines += [local(dt, f"b{k}", v), f"a = {combine(dt, 'a', f'b{k}')};"]
        lines.append(f"{out} = {finish('a')};")
        return "\n".join(lines)
    return statement


def _lower_fold(ctx: LowerCtx, allowed: tuple[str, ...], binary: bool) -> Lowered:
    op = ctx.node.op_type
    ins = [i for i, n in enumerate(ctx.node.inputs) if n]
    if not ins or (binary and ins != [0, 1]):
        raise ctx.reject(f"unexpected inputs {list(ctx.node.inputs)}")
    dt = same_dtype(ctx, ins)
    ctx.require_dtype(ctx.tin(0), allowed)
    if ctx.tout().dtype != dt:
        raise ctx.reject(f"output dtype {ctx.tout().dtype.name} differs from the inputs'")
    if binary:
        shapes = binary_shapes(ctx)
    else:
        broadcast_check(ctx, ins)
        shapes = [tuple(ctx.tin(i).shape) for i in ins]
    finish = (lambda a: a)
    if op == "Mean" and len(ins) > 1:
        n = c_float(len(ins), dt.ctype)
        finish = (lambda a: f"{a} / {n}")
    return broadcast_lowered(ctx, op.lower(), fold_statement(dt, _COMBINE[op], finish),
                             ins=ins, shapes=shapes, macs_per=len(ins) - 1)


@register
class Arith(Op):
    op_types = ("Add", "Sub", "Mul", "Div")
    since = 1   # before 7: broadcasting by the broadcast/axis attributes
    dtypes = "float32/64, int8/16/32/64, uint8/16/32/64"

    def lower(self, ctx: LowerCtx) -> Lowered:
        return _lower_fold(ctx, NUMERIC, binary=True)


@register
class MaxMin(Op):
    """Any number of inputs (one: a copy); before opset 8 shapes must be
    equal, which broadcasting covers."""
    op_types = ("Max", "Min")
    since = 1
    dtypes = "float32/64, int8/16/32/64, uint8/16/32/64"

    def lower(self, ctx: LowerCtx) -> Lowered:
        return _lower_fold(ctx, NUMERIC, binary=False)


@register
class SumMean(Op):
    op_types = ("Sum", "Mean")
    since = 1
    dtypes = "float32/64"

    def lower(self, ctx: LowerCtx) -> Lowered:
        return _lower_fold(ctx, FLOATS, binary=False)


# -- Mod -----------------------------------------------------------------------

def _mod_statement(dt: DType, fmod: bool):
    ct = dt.ctype

    def statement(vals: list[str], out: str) -> str:
        lines = [local(dt, "a", vals[0]), local(dt, "b", vals[1])]
        if dt.is_float:
            # the reference takes C fmod for floats whatever the attribute;
            # with fmod=0 it also maps NaN (x mod 0) to 0
            lines.append(local(dt, "r", f"{math_fn('fmod', dt)}(a, b)"))
            lines.append(f"{out} = r;" if fmod else f"{out} = (r != r) ? ({ct})0 : r;")
        elif not dt.is_signed:
            lines.append(f"{out} = (b == 0) ? ({ct})0 : ({ct})(a % b);")
        else:
            # truncated remainder (MIN % -1 is UB in C, and 0 anyway)...
            lines.append(f"{ct} r = (b == 0 || b == -1) ? ({ct})0 : ({ct})(a % b);")
            if not fmod:
                # ...moved to the divisor's sign, like Python's %
                lines.append(f"if (r != 0 && ((r < 0) != (b < 0))) {{ r = ({ct})(r + b); }}")
            lines.append(f"{out} = r;")
        return "\n".join(lines)
    return statement


@register
class Mod(Op):
    op_types = ("Mod",)
    since = 10
    dtypes = "float32/64, int8/16/32/64, uint8/16/32/64"

    def lower(self, ctx: LowerCtx) -> Lowered:
        dt = same_dtype(ctx, [0, 1])
        ctx.require_dtype(ctx.tin(0), NUMERIC)
        fmod = int(ctx.attr("fmod", 0))
        if fmod not in (0, 1):
            raise ctx.reject(f"fmod={fmod} (must be 0 or 1)")
        return broadcast_lowered(ctx, "mod", _mod_statement(dt, bool(fmod)),
                                 shapes=binary_shapes(ctx), macs_per=1)


# -- Pow -----------------------------------------------------------------------

def _int_pow_statement(base: DType, ex: DType):
    """Integer power by squaring, wrapping like numpy. numpy refuses negative
    exponents; here they give the truncated real result (0 unless |a| == 1)."""
    u = uwide(base)

    def statement(vals: list[str], out: str) -> str:
        lines = [local(base, "a", vals[0]), f"{ex.ctype} e = {vals[1]};",
                 f"{u} r = 1u;", f"{u} p = ({u})a;"]
        if ex.is_signed:
            minus = f"a == -1 ? ((e % 2 == 0) ? 1u : ~({u})0) : " if base.is_signed else ""
            lines.append(f"if (e < 0) {{ r = (a == 1) ? 1u : {minus}0u; e = 0; }}")
        lines += ["while (e > 0) {",
                  "    if (e % 2 != 0) { r *= p; }",
                  "    p *= p;",
                  "    e = e / 2;",
                  "}",
                  f"{out} = ({base.ctype})r;"]
        return "\n".join(lines)
    return statement


def _pow_calc_type(base: DType, ex: DType) -> DType:
    """A float base keeps its own math unless the exponent is a wider float;
    an integer base computes in numpy's promoted float type (the result is
    truncated, so the extra precision decides exact powers)."""
    if base.is_float and (not ex.is_float or ex.size <= base.size):
        return base
    return DTYPE_BY_NAME[np.result_type(base.np, ex.np).name]


def _float_pow_statement(base: DType, ex: DType):
    calc = _pow_calc_type(base, ex)
    ct = calc.ctype

    def statement(vals: list[str], out: str) -> str:
        lines = [f"const {ct} a = ({ct}){vals[0]};", f"const {ct} b = ({ct}){vals[1]};",
                 f"const {ct} r = {math_fn('pow', calc)}(a, b);"]
        lines.append(f"{out} = ({base.ctype})r;" if base.is_float
                     else f"{out} = {float_to_int('r', calc, base)};")
        return "\n".join(lines)
    return statement


def _is_const_two(v: np.ndarray | None) -> bool:
    return v is not None and v.size == 1 and float(np.asarray(v).reshape(-1)[0]) == 2.0


@register
class Pow(Op):
    op_types = ("Pow",)
    since = 1   # Pow-1: broadcasting by the broadcast/axis attributes
    dtypes = "float32/64, int8/16/32/64, uint8/16/32/64 (mixed base/exponent)"

    def lower(self, ctx: LowerCtx) -> Lowered:
        base, ex = ctx.tin(0).dtype, ctx.tin(1).dtype
        ctx.require_dtype(ctx.tin(0), NUMERIC)
        ctx.require_dtype(ctx.tin(1), NUMERIC)
        if ctx.tout().dtype != base:
            raise ctx.reject("output dtype differs from the base's")
        shapes = binary_shapes(ctx)
        if base.is_float and _is_const_two(ctx.const(1)):
            # x^2 is one multiply (exactly what pow rounds to); the exponent is not read
            return broadcast_lowered(ctx, "square", lambda v, o: f"{local(base, 'a', v[0])}\n{o} = a * a;",
                                     ins=[0], shapes=shapes[:1], macs_per=1)
        if not base.is_float and not ex.is_float:
            statement = _int_pow_statement(base, ex)
        else:
            statement = _float_pow_statement(base, ex)
        return broadcast_lowered(ctx, "pow", statement, shapes=shapes, macs_per=1)


# -- PRelu ---------------------------------------------------------------------

def _slope_shape(x: tuple[int, ...], slope: tuple[int, ...], legacy: bool) -> tuple[int, ...] | None:
    """The slope's shape as broadcast against x: numpy rules (unidirectional),
    else the reference's fallback for a 1-D slope matching exactly one dim of
    x. Before opset 7 a 1-D slope is per channel, so one matching several
    dims (where numpy would pick the last) is ambiguous."""
    one_d = len(slope) == 1 and slope[0] > 1
    matches = sum(d == slope[0] for d in x) if one_d else 0
    if legacy and one_d and matches > 1:
        return None
    try:
        if np.broadcast_shapes(x, slope) == x:
            return slope
    except ValueError:
        pass
    if one_d and matches == 1:
        return tuple(d if d == slope[0] else 1 for d in x)
    return None


@register
class PRelu(Op):
    op_types = ("PRelu",)
    since = 1
    dtypes = "float32/64, int8/16/32/64, uint8/16/32/64"

    def lower(self, ctx: LowerCtx) -> Lowered:
        dt = same_dtype(ctx, [0, 1])
        ctx.require_dtype(ctx.tin(0), NUMERIC)
        x = tuple(ctx.tin(0).shape)
        slope = _slope_shape(x, tuple(ctx.tin(1).shape), legacy=ctx.version < 7)
        if slope is None or x != tuple(ctx.tout().shape):
            raise ctx.reject(f"slope shape {list(ctx.tin(1).shape)} does not broadcast "
                             f"unambiguously to the input's {list(x)}")
        zero = f"({dt.ctype})0"

        def statement(vals: list[str], out: str) -> str:
            return "\n".join([local(dt, "a", vals[0]), local(dt, "s", vals[1]),
                              f"{out} = (a > {zero}) ? a : {wrap_op(dt, '*', 'a', 's')};"])
        return broadcast_lowered(ctx, "prelu", statement, shapes=[x, slope], macs_per=1)
