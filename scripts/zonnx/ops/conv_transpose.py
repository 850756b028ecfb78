"""ConvTranspose: N-dimensional transposed convolution, float32.

Computed as a gather, like Conv: each output element sums the input elements
and taps that reach it (see `_conv_util.transpose_walk`), in a register, so
bias and a fused activation apply on store and no output is read back.
"""

from __future__ import annotations

from dataclasses import replace

from ._conv_util import check_output, fused_activation, transpose_axes, transpose_walk
from .base import LowerCtx, Lowered, Op, register
from .conv import conv_body, conv_spec


@register
class ConvTranspose(Op):
    op_types = ("ConvTranspose",)
    since = 1
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        spec = conv_spec(ctx, transposed=True)
        axes = transpose_axes(ctx, spec.in_sp, spec.kernel)
        check_output(ctx, (spec.batch, spec.out_ch), axes)
        spec = replace(spec, axes=tuple(axes))
        body, macs = conv_body(spec, transpose_walk, fused_activation(ctx))
        return Lowered([ctx.step("conv_transpose", body)], macs=macs)
