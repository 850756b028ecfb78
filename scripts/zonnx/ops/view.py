"""Ops that only reinterpret a tensor's shape: the memory planner makes the
output an alias of the input; the copy kernel runs only where it cannot
(graph inputs, outputs, constants)."""

from __future__ import annotations

import numpy as np

from .base import KernelFn, LowerCtx, Lowered, Op, Step, register


def copy_lowered(ctx: LowerCtx) -> Lowered:
    nbytes = ctx.tout().nbytes
    body = f"    memcpy(y0, x0, {nbytes}u);" if nbytes else "    (void)x0;\n    (void)y0;"
    return Lowered([ctx.step("copy", body, ins=[0], outs=[0])], alias=True)


@register
class View(Op):
    op_types = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")
    dtypes = "all"

    def lower(self, ctx: LowerCtx) -> Lowered:
        # Output shapes come from shape inference (shape inputs are constants by
        # then, or inference would have failed); the bytes are unchanged.
        if ctx.tin(0).nbytes != ctx.tout().nbytes:
            raise ctx.reject("input and output sizes differ")
        return copy_lowered(ctx)


@register
class Dropout(Op):
    """Inference mode: the identity, with an all-true mask when asked for."""
    op_types = ("Dropout",)
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        tm = ctx.const(2) if ctx.has_input(2) else False
        if tm is None or bool(tm):
            raise ctx.reject("training_mode must be a constant false")
        low = copy_lowered(ctx)
        if ctx.node.output(1):
            n = ctx.tout(1).size
            low.steps.append(ctx.step("fill_true", f"    memset(y1, 1, {n}u);", ins=[], outs=[1]))
        return low


@register
class Constant(Op):
    """Constants are folded at load time; this covers one that is a graph
    output or that folding left alone: a copy from flash."""
    op_types = ("Constant",)
    dtypes = "all"

    def lower(self, ctx: LowerCtx) -> Lowered:
        attrs = ctx.node.attrs
        if "value" not in attrs or not isinstance(attrs["value"], np.ndarray):
            raise ctx.reject(f"only tensor-valued Constant is supported (got {', '.join(attrs)})")
        name = ctx.derived_const("value", attrs["value"])
        nbytes = ctx.tout().nbytes
        body = f"    memcpy(y0, x0, {nbytes}u);" if nbytes else "    (void)x0;\n    (void)y0;"
        params, args = ctx.params_for([], [0])
        t = ctx.tout()
        return Lowered([Step(KernelFn("constant", (f"const {t.dtype.ctype} *x0",) + params, body),
                             (name,) + args)])
