"""Comparisons (to bool), boolean logic, bit shifts and IsNaN/IsInf, all
element-wise over numpy-broadcast inputs. Bools are bytes holding 0 or 1."""

from __future__ import annotations

from ..ir import DType
from ._elementwise_util import (ALL, FLOATS, NUMERIC, binary_shapes,
                                broadcast_lowered, local, same_dtype, uwide)
from .base import LowerCtx, Lowered, Op, register

_CMP = {"Equal": "==", "Less": "<", "Greater": ">", "LessOrEqual": "<=", "GreaterOrEqual": ">="}
_LOGIC = {"And": "a && b", "Or": "a || b", "Xor": "(a != 0) != (b != 0)"}


def _require_bool_out(ctx: LowerCtx) -> None:
    if ctx.tout().dtype.name != "bool":
        raise ctx.reject(f"output dtype is {ctx.tout().dtype.name}, expected bool")


def _binary_bool(ctx: LowerCtx, hint: str, dt: DType, expr: str) -> Lowered:
    """y = (uint8_t)(expr) with the inputs as plain variables a and b."""
    shapes = binary_shapes(ctx)

    def statement(vals: list[str], out: str) -> str:
        return "\n".join([local(dt, "a", vals[0]), local(dt, "b", vals[1]),
                          f"{out} = (uint8_t)({expr});"])
    return broadcast_lowered(ctx, hint, statement, ins=[0, 1], shapes=shapes)


def _compare(ctx: LowerCtx, allowed: tuple[str, ...]) -> Lowered:
    op = ctx.node.op_type
    dt = same_dtype(ctx, [0, 1])
    ctx.require_dtype(ctx.tin(0), allowed)
    _require_bool_out(ctx)
    return _binary_bool(ctx, op.lower(), dt, f"a {_CMP[op]} b")


@register
class Equal(Op):
    op_types = ("Equal",)
    since = 1   # before 7: broadcasting by the broadcast/axis attributes
    dtypes = "float32/64, int8/16/32/64, uint8/16/32/64, bool"

    def lower(self, ctx: LowerCtx) -> Lowered:
        return _compare(ctx, ALL)


@register
class Order(Op):
    op_types = ("Less", "Greater", "LessOrEqual", "GreaterOrEqual")
    since = 1
    dtypes = "float32/64, int8/16/32/64, uint8/16/32/64"

    def lower(self, ctx: LowerCtx) -> Lowered:
        return _compare(ctx, NUMERIC)


@register
class Logic(Op):
    op_types = tuple(_LOGIC)
    since = 1
    dtypes = "bool"

    def lower(self, ctx: LowerCtx) -> Lowered:
        op = ctx.node.op_type
        dt = same_dtype(ctx, [0, 1])
        ctx.require_dtype(ctx.tin(0), ["bool"])
        _require_bool_out(ctx)
        return _binary_bool(ctx, op.lower(), dt, _LOGIC[op])


def _unary_bool(ctx: LowerCtx, hint: str, expr: str, reads: bool = True) -> Lowered:
    """y = (uint8_t)(expr) with the input as plain variable a (`reads`: expr uses it)."""
    _require_bool_out(ctx)
    dt = ctx.tin(0).dtype

    def statement(vals: list[str], out: str) -> str:
        unused = "" if reads else "\n(void)a;"
        return f"{local(dt, 'a', vals[0])}{unused}\n{out} = (uint8_t)({expr});"
    return broadcast_lowered(ctx, hint, statement, ins=[0])


@register
class Not(Op):
    op_types = ("Not",)
    since = 1
    dtypes = "bool"

    def lower(self, ctx: LowerCtx) -> Lowered:
        ctx.require_dtype(ctx.tin(0), ["bool"])
        return _unary_bool(ctx, "not", "!a")


@register
class IsNaN(Op):
    op_types = ("IsNaN",)
    since = 9
    dtypes = "float32/64"

    def lower(self, ctx: LowerCtx) -> Lowered:
        ctx.require_dtype(ctx.tin(0), FLOATS)
        return _unary_bool(ctx, "isnan", "a != a")


@register
class IsInf(Op):
    op_types = ("IsInf",)
    since = 10
    dtypes = "float32/64"

    def lower(self, ctx: LowerCtx) -> Lowered:
        ctx.require_dtype(ctx.tin(0), FLOATS)
        pos = bool(ctx.attr("detect_positive", 1))
        neg = bool(ctx.attr("detect_negative", 1))
        zero = "0.0f" if ctx.tin(0).dtype.ctype == "float" else "0.0"
        if pos and neg:
            expr = "isinf(a) != 0"
        elif pos or neg:
            expr = f"isinf(a) != 0 && a {'>' if pos else '<'} {zero}"
        else:
            expr = "0"
        return _unary_bool(ctx, "isinf", expr, reads=pos or neg)


@register
class BitShift(Op):
    op_types = ("BitShift",)
    since = 11
    dtypes = "uint8/16/32/64"

    def lower(self, ctx: LowerCtx) -> Lowered:
        dt = same_dtype(ctx, [0, 1])
        ctx.require_dtype(ctx.tin(0), ["uint8", "uint16", "uint32", "uint64"])
        direction = ctx.attr("direction", "")
        direction = direction.decode() if isinstance(direction, bytes) else direction
        if direction not in ("LEFT", "RIGHT"):
            raise ctx.reject(f"direction '{direction}' (must be LEFT or RIGHT)")
        bits = 8 * dt.size
        # shifting by the width or more is UB in C; numpy gives 0
        op = "<<" if direction == "LEFT" else ">>"
        expr = f"(b < {bits}) ? ({dt.ctype})(({uwide(dt)})a {op} b) : ({dt.ctype})0"
        shapes = binary_shapes(ctx)

        def statement(vals: list[str], out: str) -> str:
            return "\n".join([local(dt, "a", vals[0]), local(dt, "b", vals[1]), f"{out} = {expr};"])
        return broadcast_lowered(ctx, f"shift_{direction.lower()}", statement, ins=[0, 1], shapes=shapes)
