"""Element-wise unary float ops (activations and math functions).

`activation_expr` is the single source of each function's C expression: the
unary kernels use it and so does activation fusion into Conv/Gemm.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from ..cgen import c_float
from ..errors import Unsupported
from .base import LowerCtx, Lowered, Op, register

F = c_float


def _gelu(a: dict[str, Any], x: str) -> str:
    if a.get("approximate", "none") == "tanh":
        k = F(math.sqrt(2.0 / math.pi))
        return f"(0.5f * {x} * (1.0f + tanhf({k} * ({x} + 0.044715f * {x} * {x} * {x}))))"
    return f"(0.5f * {x} * (1.0f + erff({x} * {F(1.0 / math.sqrt(2.0))})))"


def _clip(a: dict[str, Any], x: str) -> str:
    # Comparisons rather than fminf/fmaxf so that NaN propagates as in np.clip;
    # min > max clips everything to max (ONNX), hence lo = min(lo, hi).
    hi = float(a.get("max", math.inf))
    lo = min(float(a.get("min", -math.inf)), hi)
    e = x if lo == -math.inf else f"({x} < {F(lo)} ? {F(lo)} : {x})"
    return e if hi == math.inf else f"({x} > {F(hi)} ? {F(hi)} : {e})"


def _softplus(x: str) -> str:
    # log(1 + e^x) without overflow for large |x|
    return f"({x} > 0.0f ? {x} + log1pf(expf(-{x})) : log1pf(expf({x})))"


_EXPR: dict[str, Callable[[dict[str, Any], str], str]] = {
    "Relu": lambda a, x: f"({x} < 0.0f ? 0.0f : {x})",
    "LeakyRelu": lambda a, x: f"({x} < 0.0f ? {x} * {F(a.get('alpha', 0.01))} : {x})",
    "Elu": lambda a, x: f"({x} < 0.0f ? {F(a.get('alpha', 1.0))} * (expf({x}) - 1.0f) : {x})",
    "Celu": lambda a, x: (f"({x} > 0.0f ? {x} : {F(a.get('alpha', 1.0))} * "
                          f"(expf({x} / {F(a.get('alpha', 1.0))}) - 1.0f))"),
    "Selu": lambda a, x: (f"({x} <= 0.0f ? {F(a.get('gamma', 1.05070102214813232421875))} * "
                          f"({F(a.get('alpha', 1.67326319217681884765625))} * expf({x}) - "
                          f"{F(a.get('alpha', 1.67326319217681884765625))}) : "
                          f"{F(a.get('gamma', 1.05070102214813232421875))} * {x})"),
    "ThresholdedRelu": lambda a, x: f"({x} > {F(a.get('alpha', 1.0))} ? {x} : 0.0f)",
    "Sigmoid": lambda a, x: f"zonnx_sigmoidf({x})",
    "HardSigmoid": lambda a, x: (f"fmaxf(0.0f, fminf(1.0f, {F(a.get('alpha', 0.2))} * {x} + "
                                 f"{F(a.get('beta', 0.5))}))"),
    "HardSwish": lambda a, x: f"({x} * fmaxf(0.0f, fminf(1.0f, {x} * {F(1 / 6)} + 0.5f)))",
    "Swish": lambda a, x: f"({x} * zonnx_sigmoidf({F(a.get('alpha', 1.0))} * {x}))",
    "Tanh": lambda a, x: f"tanhf({x})",
    "Softplus": lambda a, x: _softplus(x),
    "Softsign": lambda a, x: f"({x} / (1.0f + fabsf({x})))",
    "Mish": lambda a, x: f"({x} * tanhf({_softplus(x)}))",
    "Gelu": _gelu,
    "Shrink": lambda a, x: (f"({x} < -{F(a.get('lambd', 0.5))} ? {x} + {F(a.get('bias', 0.0))} : "
                            f"({x} > {F(a.get('lambd', 0.5))} ? {x} - {F(a.get('bias', 0.0))} : 0.0f))"),
    "Erf": lambda a, x: f"erff({x})",
    "Exp": lambda a, x: f"expf({x})",
    "Log": lambda a, x: f"logf({x})",
    "Sqrt": lambda a, x: f"sqrtf({x})",
    "Reciprocal": lambda a, x: f"(1.0f / {x})",
    "Floor": lambda a, x: f"floorf({x})",
    "Ceil": lambda a, x: f"ceilf({x})",
    "Round": lambda a, x: f"nearbyintf({x})",   # half to even under the default rounding mode
    "Sin": lambda a, x: f"sinf({x})",
    "Cos": lambda a, x: f"cosf({x})",
    "Tan": lambda a, x: f"tanf({x})",
    "Asin": lambda a, x: f"asinf({x})",
    "Acos": lambda a, x: f"acosf({x})",
    "Atan": lambda a, x: f"atanf({x})",
    "Sinh": lambda a, x: f"sinhf({x})",
    "Cosh": lambda a, x: f"coshf({x})",
    "Asinh": lambda a, x: f"asinhf({x})",
    "Acosh": lambda a, x: f"acoshf({x})",
    "Atanh": lambda a, x: f"atanhf({x})",
    "Clip": _clip,   # fused activation only: the Clip op lives in ops/clip.py
}
# entries of _EXPR that are not registered by FloatUnary
_FUSION_ONLY = ("Clip",)

FUSABLE = ("Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish",
           "Tanh", "Softplus", "Softsign", "ThresholdedRelu", "Mish", "Gelu", "Swish", "Clip")


def activation_expr(op_type: str, attrs: dict[str, Any], x: str) -> str:
    """C expression for float activation `op_type` applied to expression `x`."""
    fn = _EXPR.get(op_type)
    if fn is None:
        raise Unsupported(f"no float expression for {op_type}")
    return fn(attrs, x)


def unary_step(ctx: LowerCtx, hint: str, expr: Callable[[str], str]) -> Lowered:
    """y = expr(x) over the whole tensor; safe in place."""
    n = ctx.tout().size
    ct = ctx.tout().dtype.ctype
    it = ctx.tin(0).dtype.ctype
    body = (f"    for (int32_t i = 0; i < {n}; i++) {{\n"
            f"        const {it} v = x0[i];\n"
            f"        y0[i] = ({ct})({expr('v')});\n"
            f"    }}")
    inplace = ((0, 0),) if ctx.tin(0).dtype.size == ctx.tout().dtype.size else ()
    return Lowered([ctx.step(hint, body, ins=[0], outs=[0])], inplace=inplace)


@register
class FloatUnary(Op):
    op_types = tuple(op for op in _EXPR if op not in _FUSION_ONLY)
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        ctx.require_dtype(ctx.tin(0), ["float32"])
        op = ctx.node.op_type
        attrs = dict(ctx.node.attrs)
        return unary_step(ctx, op.lower(), lambda v: activation_expr(op, attrs, v))


@register
class SignedUnary(Op):
    """Ops defined for integers as well as floats."""
    op_types = ("Abs", "Neg", "Sign")
    dtypes = "float32, int8/16/32/64"

    def lower(self, ctx: LowerCtx) -> Lowered:
        dt = ctx.require_dtype(ctx.tin(0), ["float32", "int8", "int16", "int32", "int64"])
        op = ctx.node.op_type
        if op == "Neg":
            expr = (lambda v: f"-{v}")
        elif op == "Abs":
            expr = (lambda v: f"fabsf({v})") if dt.is_float else (lambda v: f"({v} < 0 ? -{v} : {v})")
        else:
            expr = (lambda v: f"(({v} > 0) - ({v} < 0))")
        return unary_step(ctx, op.lower(), expr)
