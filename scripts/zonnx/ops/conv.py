"""Conv: N-dimensional direct convolution, float32.

Output-stationary: one accumulator per output element, kept in a register
while the window's taps (clipped to the input, so no padding tests) and then
the group's input channels are walked; bias and a fused activation are applied
on store. Weights are read in place from the node's constant input.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from ..cgen import numel
from ._conv_util import (Axis, Offset, Window, WalkFn, check_output, conv_groups, forward_axes,
                         forward_walk, fused_activation, plus, read_kernel, scaled,
                         spatial_strides, visited_taps)
from .base import LowerCtx, Lowered, Op, register


@dataclass(frozen=True)
class ConvSpec:
    """Shapes of one (transposed) convolution, as the kernel text needs them."""
    batch: int
    in_ch: int                 # C
    out_ch: int                # M
    group: int
    in_sp: tuple[int, ...]     # input spatial shape
    kernel: tuple[int, ...]
    axes: tuple[Axis, ...]
    has_bias: bool
    transposed: bool = False   # weights [C, M/group, k...] instead of [M, C/group, k...]

    @property
    def cg(self) -> int:
        return self.in_ch // self.group

    @property
    def mg(self) -> int:
        return self.out_ch // self.group


def conv_body(spec: ConvSpec, walk: WalkFn, store: Callable[[str], str]) -> tuple[str, int]:
    """Kernel text for Conv / ConvTranspose and its MACs."""
    isz, ksz = numel(spec.in_sp), numel(spec.kernel)
    cg, mg = spec.cg, spec.mg
    group = (f"(m / {mg})" if mg > 1 else "m") if spec.group > 1 else "0"   # group index
    if spec.transposed:
        # W[g*cg + c, mm, k...]: input channel c of group g, output mm = m % mg
        mm = (f"(m % {mg})" if spec.group > 1 else "m") if mg > 1 else "0"
        w_base = plus(scaled(group, cg * mg * ksz), scaled(mm, ksz))
        w_cstride = mg * ksz
    else:
        w_base, w_cstride = scaled("m", cg * ksz), ksz
    x_base = plus(scaled("n", spec.in_ch * isz), scaled(group, cg * isz))
    win = Window(spec.axes, walk, [Offset("ix", "coord", spatial_strides(spec.in_sp)),
                                   Offset("iw", "tap", spatial_strides(spec.kernel))], depth=3)

    def visit(off: dict[str, str]) -> str:
        if cg == 1:
            return f"acc += xg[{off['ix']}] * wm[{off['iw']}];"
        xi, wi = plus(off["ix"], scaled("c", isz)), plus(off["iw"], scaled("c", w_cstride))
        return (f"for (int32_t c = 0; c < {cg}; c++) {{\n"
                f"    acc += xg[{xi}] * wm[{wi}];\n}}")

    nest, walks = win.build(lambda w: f"float acc = {'x2[m]' if spec.has_bias else '0.0f'};",
                            visit, lambda w: f"*yp++ = {store('acc')};")
    body = "\n".join([
        "    float *yp = y0;",
        f"    for (int32_t n = 0; n < {spec.batch}; n++) {{",
        f"        for (int32_t m = 0; m < {spec.out_ch}; m++) {{",
        f"            const float *xg = {plus('x0', x_base)};",
        f"            const float *wm = {plus('x1', w_base)};",
        nest,
        "        }",
        "    }",
    ])
    macs = spec.batch * spec.out_ch * cg * visited_taps(walks)
    return body, macs


def conv_spec(ctx: LowerCtx, transposed: bool) -> ConvSpec:
    """Checks the inputs Conv and ConvTranspose share; the caller fills in the axes."""
    x, w = ctx.tin(0), ctx.tin(1)
    for t in (x, w, ctx.tout()):
        ctx.require_dtype(t, ["float32"])
    n, c, group = conv_groups(ctx, x, w)
    if transposed:
        if w.shape[0] != c:
            raise ctx.reject(f"weights {list(w.shape)} do not match {c} input channels")
        m = w.shape[1] * group
    else:
        m = w.shape[0]
        if w.shape[1] * group != c or m % group:
            raise ctx.reject(f"weights {list(w.shape)} do not match {c} input channels "
                             f"in {group} groups")
    has_bias = ctx.has_input(2)
    if has_bias:
        ctx.require_dtype(ctx.tin(2), ["float32"])
        if tuple(ctx.tin(2).shape) != (m,):
            raise ctx.reject(f"bias shape {list(ctx.tin(2).shape)} is not [{m}]")
    kernel = read_kernel(ctx, len(x.shape) - 2, w.shape[2:])
    return ConvSpec(n, c, m, group, tuple(x.shape[2:]), tuple(kernel), (), has_bias, transposed)


@register
class Conv(Op):
    op_types = ("Conv",)
    since = 1
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        spec = conv_spec(ctx, transposed=False)
        axes = forward_axes(ctx, spec.in_sp, spec.kernel)
        check_output(ctx, (spec.batch, spec.out_ch), axes)
        spec = replace(spec, axes=tuple(axes))
        body, macs = conv_body(spec, forward_walk, fused_activation(ctx))
        note = "depthwise" if spec.cg == 1 and spec.group > 1 else ""
        return Lowered([ctx.step("conv", body)], macs=macs, note=note)
