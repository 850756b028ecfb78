"""BatchNormalization, inference mode: y = (x - mean) * scale / sqrt(var + eps) + B.

With constant statistics the per-channel factor scale / sqrt(var + eps) is
folded at build time and baked into the kernel with mean and B; otherwise the
kernel reads the four parameter tensors. Keeping `x - mean` separate from the
bias (rather than x * a + b) avoids cancellation when mean is large.
"""

from __future__ import annotations

import numpy as np

from ..cgen import c_array_body, c_float, indent, numel
from ..ir import FLOAT32
from .base import LowerCtx, Lowered, Op, register


def _reject_training(ctx: LowerCtx) -> None:
    if ctx.version >= 14:
        if int(ctx.attr("training_mode", 0)):
            raise ctx.reject("training_mode=1 is not supported (inference only)")
        extra = "running_mean/running_var"
    else:
        if ctx.version < 7 and not int(ctx.attr("is_test", 0)):
            raise ctx.reject("is_test=0 (training mode) is not supported (inference only)")
        extra = "mean/var/saved_mean/saved_var"   # requesting them means training (opset < 14)
    if any(ctx.node.outputs[1:]):
        raise ctx.reject(f"training outputs ({extra}) are not supported (inference only)")


def _param_size(ctx: LowerCtx) -> int:
    """Parameters per channel (opset < 9 spatial=1, and later) or per C x D1.. element (spatial=0)."""
    shape = ctx.tin(0).shape
    c = shape[1]
    spatial = int(ctx.attr("spatial", 1)) if ctx.version < 9 else 1
    sizes = {tuple(ctx.tin(i).shape) for i in range(1, 5)}
    if sizes == {(c,)}:
        return c
    if not spatial and sizes == {tuple(shape[1:])}:
        return numel(shape[1:])
    raise ctx.reject(f"scale/B/mean/var shapes {sorted(map(list, sizes))} do not match "
                     f"{c} channels" + ("" if spatial else f" or C x D1.. ({list(shape[1:])})"))


def _baked(ctx: LowerCtx, eps: float, n: int) -> tuple[str, str, str, str] | None:
    """static const arrays for mean, factor and bias when all statistics are constant."""
    vals = [ctx.const(i) for i in range(1, 5)]
    if any(v is None for v in vals):
        return None
    scale, bias, mean, var = (np.asarray(v, dtype=np.float64).reshape(-1) for v in vals)
    with np.errstate(all="ignore"):
        factor = (scale / np.sqrt(var + np.float64(np.float32(eps)))).astype(np.float32)
    decl = []
    for name, v in (("mu", mean), ("fa", factor), ("be", bias)):
        decl.append(f"static const float {name}[{n}] = {{\n"
                    f"{c_array_body(np.asarray(v, np.float32), FLOAT32)}\n}};")
    return indent("\n".join(decl), 1), "mu[p]", "fa[p]", "be[p]"


@register
class BatchNormalization(Op):
    op_types = ("BatchNormalization",)
    since = 6
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        for i in range(5):
            ctx.require_dtype(ctx.tin(i), ["float32"])
        _reject_training(ctx)
        shape = ctx.tin(0).shape
        if len(shape) < 2:
            raise ctx.reject("input must have rank >= 2 (N x C x ...)")
        n_par = _param_size(ctx)
        inner = numel(shape[1:]) // n_par     # elements sharing one parameter set
        eps = float(ctx.attr("epsilon", 1e-5))
        baked = _baked(ctx, eps, n_par)
        if baked:
            decl, mu, fa, be = baked
            ins = [0]
        else:
            decl, mu, fa, be = "", "x3[p]", f"x1[p] / sqrtf(x4[p] + {c_float(eps)})", "x2[p]"
            ins = [0, 1, 2, 3, 4]
        body = (f"{decl}\n" if decl else "") + (
            f"    for (int32_t n = 0; n < {shape[0]}; n++) {{\n"
            f"        for (int32_t p = 0; p < {n_par}; p++) {{\n"
            f"            const float m = {mu}, a = {fa}, b = {be};\n"
            f"            const int32_t base = (n * {n_par} + p) * {inner};\n"
            f"            for (int32_t i = 0; i < {inner}; i++) {{ y0[base + i] = (x0[base + i] - m) * a + b; }}\n"
            f"        }}\n"
            f"    }}")
        return Lowered([ctx.step("batchnorm", body, ins=ins, outs=[0])],
                       macs=ctx.tin(0).size, inplace=((0, 0),))
