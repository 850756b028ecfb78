"""QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear: the float <->
integer conversions at the edges of a quantized graph (float math is their
job). Scales and zero points are read at run time, so they need not be
constants; they are per tensor or per axis (blocked quantization is rejected).

* QuantizeLinear: y = saturate(nearbyintf(x / scale) + zp), the division in
  float32 and rounding half to even (the default rounding mode), as
  onnx.reference; values beyond the range (and +-inf) saturate, NaN gives the
  lowest value. Targets int8, uint8, int16, uint16.
* DequantizeLinear: y = (x - zp) * scale in float32 (exact for 8/16-bit x);
  int32 x with a zero point follows the reference's float64 arithmetic.
* DynamicQuantizeLinear: uint8 with scale and zero point from the tensor's
  range (including 0), the ONNX formula in float32.
"""

from __future__ import annotations

from typing import Callable

import onnx

from ..cgen import numel
from ._quant_util import QRANGE
from .base import LowerCtx, Lowered, Op, register

_INT_TYPES = tuple(QRANGE)     # int8, uint8, int16, uint16


def _granularity(ctx: LowerCtx, x_shape: tuple[int, ...]) -> tuple[int, int, int, bool, bool]:
    """(outer, axis length, inner, scale per axis, zero point per axis) from
    the scale's and zero point's shapes."""
    if ctx.version >= 21 and int(ctx.attr("block_size", 0) or 0) != 0:
        raise ctx.reject(f"blocked quantization (block_size {ctx.attr('block_size')}) is not supported")
    s_shape = tuple(ctx.tin(1).shape)
    z_shape = tuple(ctx.tin(2).shape) if ctx.has_input(2) else ()
    n = numel(x_shape)
    if numel(s_shape) == 1:
        if numel(z_shape) != 1:
            raise ctx.reject(f"zero point of shape {list(z_shape)} with a per-tensor scale")
        return 1, 1, n, False, False
    if ctx.version < 13:
        raise ctx.reject(f"scale of shape {list(s_shape)}: opset {ctx.version} quantizes per tensor only")
    if len(s_shape) != 1:
        raise ctx.reject(f"scale of shape {list(s_shape)} is neither per tensor nor per axis")
    rank = len(x_shape)
    axis = int(ctx.attr("axis", 1))
    if not -rank <= axis < rank:
        raise ctx.reject(f"axis {axis} is out of range for rank {rank}")
    axis %= rank
    d = x_shape[axis]
    if s_shape[0] != d:
        raise ctx.reject(f"scale of length {s_shape[0]} does not match axis {axis} of length {d}")
    if numel(z_shape) != 1 and z_shape != s_shape:
        raise ctx.reject(f"zero point of shape {list(z_shape)} does not match the scale {list(s_shape)}")
    return numel(x_shape[:axis]), d, numel(x_shape[axis + 1:]), True, numel(z_shape) != 1


def _axis_body(outer: int, d: int, inner: int, per_axis: bool, in_ct: str, out_ct: str,
               setup: Callable[[str, str], list[str]], elem: Callable[[str], list[str]]) -> str:
    """Loops over [outer, d, inner] with the scale / zero point of channel c set
    up once per line; `setup(scale index, zp index)`, `elem(i)` give statements."""
    if not per_axis:
        lines = setup("0", "0") + [f"for (int32_t i = 0; i < {inner}; i++) {{",
                                   *["    " + s for s in elem("i")], "}"]
        return "\n".join("    " + s for s in lines)
    lines = [f"const {in_ct} *xp = x0;", f"{out_ct} *yp = y0;"]
    inner_lines = setup("c", "c")
    if inner == 1:
        inner_lines += elem("0")
    else:
        inner_lines += [f"for (int32_t i = 0; i < {inner}; i++) {{", *["    " + s for s in elem("i")], "}"]
    inner_lines += [f"xp += {inner};", f"yp += {inner};"]
    loop = [f"for (int32_t c = 0; c < {d}; c++) {{", *["    " + s for s in inner_lines], "}"]
    if outer > 1:
        loop = [f"for (int32_t o = 0; o < {outer}; o++) {{", *["    " + s for s in loop], "}"]
    return "\n".join("    " + s for s in lines + loop)


@register
class QuantizeLinear(Op):
    op_types = ("QuantizeLinear",)
    since = 10
    dtypes = "float32 -> int8, uint8, int16, uint16"

    def lower(self, ctx: LowerCtx) -> Lowered:
        x, y = ctx.tin(0), ctx.tout()
        ctx.require_dtype(x, ["float32"])
        ctx.require_dtype(ctx.tin(1), ["float32"])
        yd = ctx.require_dtype(y, _INT_TYPES)
        if ctx.has_input(2) and ctx.tin(2).dtype != yd:
            raise ctx.reject(f"zero point dtype {ctx.tin(2).dtype.name} differs from the output's {yd.name}")
        odt = ctx.attr("output_dtype", 0) if ctx.version >= 21 else 0
        if odt and odt != yd.onnx:
            raise ctx.reject(f"output_dtype {odt} does not match the output dtype {yd.name}")
        prec = ctx.attr("precision", 0) if ctx.version >= 23 else 0
        if prec and prec != onnx.TensorProto.FLOAT:
            raise ctx.reject(f"precision {prec}: only float32 division is supported")
        outer, d, inner, per_axis, zp_axis = _granularity(ctx, tuple(x.shape))
        lo, hi = QRANGE[yd.name]
        has_zp = ctx.has_input(2)
        xe = "xp[i]" if per_axis else "x0[i]"
        ye = "yp[i]" if per_axis else "y0[i]"

        def setup(si: str, zi: str) -> list[str]:
            out = [f"const float s = x1[{si}];"]
            if has_zp:
                out += [f"const int32_t z = x2[{zi if zp_axis else '0'}];",
                        f"const float lo = (float)({lo} - z);",
                        f"const float hi = (float)({hi} - z);"]
            return out

        def elem(i: str) -> list[str]:
            xi, yi = xe.replace("[i]", f"[{i}]"), ye.replace("[i]", f"[{i}]")
            flo, fhi = ("lo", "hi") if has_zp else (f"{lo}.0f", f"{hi}.0f")
            val = "(int32_t)v + z" if has_zp else "(int32_t)v"
            return [f"const float v = nearbyintf({xi} / s);",
                    f"{yi} = ({yd.ctype})(v >= {flo} ? (v <= {fhi} ? {val} : {hi}) : {lo});"]

        body = _axis_body(outer, d, inner, per_axis, "float", yd.ctype, setup, elem)
        ins = [0, 1, 2] if has_zp else [0, 1]
        return Lowered([ctx.step("quantize_linear", body, ins=ins, outs=[0])])


@register
class DequantizeLinear(Op):
    op_types = ("DequantizeLinear",)
    since = 10
    dtypes = "int8, uint8, int16, uint16, int32 -> float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        x, y = ctx.tin(0), ctx.tout()
        xd = ctx.require_dtype(x, list(_INT_TYPES) + ["int32"])
        ctx.require_dtype(ctx.tin(1), ["float32"])
        ctx.require_dtype(y, ["float32"])
        has_zp = ctx.has_input(2)
        if has_zp and ctx.tin(2).dtype != xd:
            raise ctx.reject(f"zero point dtype {ctx.tin(2).dtype.name} differs from the input's {xd.name}")
        outer, d, inner, per_axis, zp_axis = _granularity(ctx, tuple(x.shape))
        xe = "xp[i]" if per_axis else "x0[i]"
        ye = "yp[i]" if per_axis else "y0[i]"

        def setup(si: str, zi: str) -> list[str]:
            out = [f"const float s = x1[{si}];"]
            if has_zp:
                out.append(f"const int32_t z = x2[{zi if zp_axis else '0'}];")
            return out

        def elem(i: str) -> list[str]:
            xi, yi = xe.replace("[i]", f"[{i}]"), ye.replace("[i]", f"[{i}]")
            if not has_zp:
                return [f"{yi} = (float){xi} * s;"]
            if xd.name == "int32":   # the reference subtracts in float64 (x as float32 first)
                return [f"{yi} = (float)(((double)(float){xi} - (double)z) * (double)s);"]
            return [f"{yi} = (float)((int32_t){xi} - z) * s;"]

        body = _axis_body(outer, d, inner, per_axis, xd.ctype, "float", setup, elem)
        ins = [0, 1, 2] if has_zp else [0, 1]
        return Lowered([ctx.step("dequantize_linear", body, ins=ins, outs=[0])])


@register
class DynamicQuantizeLinear(Op):
    op_types = ("DynamicQuantizeLinear",)
    since = 11
    dtypes = "float32 -> uint8"

    def lower(self, ctx: LowerCtx) -> Lowered:
        ctx.require_dtype(ctx.tin(0), ["float32"])
        ctx.require_dtype(ctx.tout(0), ["uint8"])
        n = ctx.tin(0).size
        if n == 0:
            raise ctx.reject("empty input (its range is undefined)")
        outs = [j for j in range(3) if ctx.node.output(j)]
        if 0 not in outs:
            raise ctx.reject("output y is required")
        if 1 in outs:
            ctx.require_dtype(ctx.tout(1), ["float32"])
        if 2 in outs:
            ctx.require_dtype(ctx.tout(2), ["uint8"])
        lines = [
            "float mx = 0.0f, mn = 0.0f;",
            f"for (int32_t i = 0; i < {n}; i++) {{",
            "    const float v = x0[i];",
            "    if (v > mx) { mx = v; }",
            "    if (v < mn) { mn = v; }",
            "}",
            "const float scale = (mx == mn ? 1.0f : mx - mn) / 255.0f;",
            "const float izp = 0.0f - mn / scale;",
            "const float zp = nearbyintf(izp > 0.0f ? (izp < 255.0f ? izp : 255.0f) : 0.0f);",
            f"for (int32_t i = 0; i < {n}; i++) {{",
            "    const float v = nearbyintf(x0[i] / scale) + zp;",
            "    y0[i] = (uint8_t)(v >= 255.0f ? 255 : (v > 0.0f ? (int32_t)v : 0));",
            "}",
        ]
        if 1 in outs:
            lines.append("y1[0] = scale;")
        if 2 in outs:
            lines.append("y2[0] = (uint8_t)zp;")
        body = "\n".join("    " + s for s in lines)
        return Lowered([ctx.step("dynamic_quantize_linear", body, ins=[0], outs=outs)])
