"""Helpers of the com.microsoft quantized ops (ms_qlinear.py): constant
per-tensor scales / zero points, onnxruntime's 256-entry lookup tables and
the C spelling of a table lookup.

onnxruntime builds the tables of QLinearSigmoid, QLinearLeakyRelu and
QLinearConcat (QlinearBuildLookupTable) in float32: every possible input
value v is dequantized as x_scale * (v - x_zp), the function is applied, and
the result quantized as saturate(nearbyint(y / y_scale) + y_zp) (round half
to even). The same is done here with numpy float32, so the tables are the
ones onnxruntime uses.
"""

from __future__ import annotations

import numpy as np

from ._quant_util import INT8_TYPES, QRANGE, const_values, scalar_value
from .base import LowerCtx

F32 = np.float32


def q_scale(ctx: LowerCtx, i: int, what: str) -> np.float32:
    """A constant per-tensor float32 scale (positive and finite)."""
    s = F32(scalar_value(ctx, const_values(ctx, i, what, ["float32"]), what))
    if not (np.isfinite(s) and s > 0):
        raise ctx.reject(f"{what} is {float(s)}: must be positive and finite")
    return s


def q_zero(ctx: LowerCtx, i: int, what: str, dtype: str) -> int:
    """A constant per-tensor zero point of `dtype` (0 when absent)."""
    if not ctx.has_input(i):
        return 0
    return int(scalar_value(ctx, const_values(ctx, i, what, [dtype]), what))


def all_values(dtype: str) -> np.ndarray:
    """Every value of int8 / uint8 in increasing order (the table's index order)."""
    lo, hi = QRANGE[dtype]
    return np.arange(lo, hi + 1, dtype=np.int64)


def quantize_f32(y: np.ndarray, scale: np.float32, zp: int, dtype: str) -> np.ndarray:
    """MlasQuantizeLinear: saturate(nearbyint(y / scale) + zp), in float32."""
    lo, hi = QRANGE[dtype]
    with np.errstate(all="ignore"):
        v = np.rint(np.asarray(y, dtype=F32) / F32(scale)).astype(F32) + F32(zp)
        v = np.clip(v, F32(lo), F32(hi))
    v = np.where(np.isnan(v), F32(lo), v)
    return v.astype(np.int64).astype(np.dtype(dtype))


def lookup_table(fn, x_dtype: str, x_scale: np.float32, x_zp: int, y_dtype: str,
                 y_scale: np.float32, y_zp: int) -> np.ndarray:
    """Table over all x values (lowest first) of quantize(fn(dequantize(x)))."""
    x = all_values(x_dtype)
    with np.errstate(all="ignore"):
        deq = F32(x_scale) * (x - x_zp).astype(F32)
        y = np.asarray(fn(deq.astype(F32)), dtype=F32)
    return quantize_f32(y, y_scale, y_zp, y_dtype)


def table_index(expr: str, dtype: str) -> str:
    """C index into a table built by `lookup_table` for value `expr` of `dtype`."""
    return f"(int32_t){expr} + 128" if dtype == "int8" else expr


# -- onnxruntime's MlasComputeLogistic (float32, clamped rational approximation)

_LOGISTIC = dict(lower=-18.0, upper=18.0,
                 a9=4.37031012579801e-11, a7=1.15627324459942e-07, a5=6.08574864600143e-05,
                 a3=8.51377133304701e-03, a1=2.48287947061529e-01,
                 b10=6.10247389755681e-13, b8=5.76102136993427e-09, b6=6.29106785017040e-06,
                 b4=1.70198817374094e-03, b2=1.16817656904453e-01, b0=9.93151921023180e-01)


# onnxruntime's MlasComputeTanh: v = clamp(x, -9, 9), v * p(v^2) / q(v^2), not
# clamped to [-1, 1] afterwards (DynamicQuantizeLSTM's C matches it)
MLAS_TANH = dict(lower=-9.0, upper=9.0,
                 a13=-2.76076847742355e-16, a11=2.00018790482477e-13, a9=-8.60467152213735e-11,
                 a7=5.12229709037114e-08, a5=1.48572235717979e-05, a3=6.37261928875436e-04,
                 a1=4.89352455891786e-03,
                 b6=1.19825839466702e-06, b4=1.18534705686654e-04, b2=2.26843463243900e-03,
                 b0=4.89352518554385e-03)
MLAS_LOGISTIC = _LOGISTIC


def mlas_logistic(x: np.ndarray) -> np.ndarray:
    c = {k: F32(v) for k, v in _LOGISTIC.items()}
    v = np.clip(np.asarray(x, dtype=F32), c["lower"], c["upper"]).astype(F32)
    v2 = (v * v).astype(F32)
    p = (v2 * c["a9"] + c["a7"]).astype(F32)
    p = (p * v2 + c["a5"]).astype(F32)
    p = (p * v2 + c["a3"]).astype(F32)
    p = (p * v2 + c["a1"]).astype(F32)
    p = (p * v).astype(F32)
    q = (v2 * c["b10"] + c["b8"]).astype(F32)
    q = (q * v2 + c["b6"]).astype(F32)
    q = (q * v2 + c["b4"]).astype(F32)
    q = (q * v2 + c["b2"]).astype(F32)
    q = (q * v2 + c["b0"]).astype(F32)
    out = ((p / q).astype(F32) + F32(0.5)).astype(F32)
    return np.clip(out, F32(0.0), F32(1.0)).astype(F32)


__all__ = ["INT8_TYPES", "q_scale", "q_zero", "all_values", "quantize_f32", "lookup_table",
           "table_index", "mlas_logistic", "MLAS_LOGISTIC", "MLAS_TANH"]
