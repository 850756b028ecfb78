"""Cast and CastLike between float32/64, the integer types and bool.

Float to integer truncates toward zero; NaN gives 0 and out-of-range values
saturate (ONNX leaves those undefined, C makes them UB). Integer narrowing
wraps and anything to bool is `!= 0`, as numpy's astype does.
"""

from __future__ import annotations

import onnx

from ..ir import DType
from ._elementwise_util import ALL, broadcast_lowered, float_to_int, local
from .base import LowerCtx, Lowered, Op, register
from .view import copy_lowered


def convert_expr(v: str, src: DType, dst: DType) -> str:
    """C expression converting plain variable `v` from `src` to `dst`."""
    if dst.name == "bool":
        return f"(uint8_t)({v} != 0)"
    if src.is_float and not dst.is_float:
        return float_to_int(v, src, dst)
    return f"({dst.ctype}){v}"


def cast_lowered(ctx: LowerCtx) -> Lowered:
    src = ctx.require_dtype(ctx.tin(0), ALL)
    dst = ctx.require_dtype(ctx.tout(), ALL)
    if tuple(ctx.tin(0).shape) != tuple(ctx.tout().shape):
        raise ctx.reject("input and output shapes differ")
    if src == dst:
        return copy_lowered(ctx)

    def statement(vals: list[str], out: str) -> str:
        return f"{local(src, 'a', vals[0])}\n{out} = {convert_expr('a', src, dst)};"
    return broadcast_lowered(ctx, f"cast_{dst.name}", statement, ins=[0])


def _target_code(to) -> int | None:
    """The `to` attribute as an ONNX type code; Cast-1 names it ("FLOAT")."""
    if isinstance(to, (str, bytes)):
        name = (to.decode() if isinstance(to, bytes) else to).upper()
        return onnx.TensorProto.DataType.Value(name) if name in onnx.TensorProto.DataType.keys() else None
    return None if to is None else int(to)


@register
class Cast(Op):
    op_types = ("Cast",)
    since = 1
    dtypes = "float32/64, int8/16/32/64, uint8/16/32/64, bool"

    def lower(self, ctx: LowerCtx) -> Lowered:
        to = _target_code(ctx.attr("to"))
        if to != ctx.tout().dtype.onnx:
            raise ctx.reject(f"attribute to={to} does not match the output's dtype")
        return cast_lowered(ctx)


@register
class CastLike(Op):
    op_types = ("CastLike",)
    since = 15
    dtypes = "float32/64, int8/16/32/64, uint8/16/32/64, bool"

    def lower(self, ctx: LowerCtx) -> Lowered:
        if ctx.tin(1).dtype != ctx.tout().dtype:
            raise ctx.reject("output dtype differs from target_type's")
        return cast_lowered(ctx)
