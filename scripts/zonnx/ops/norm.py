"""Normalizations over reduced axes (Instance-, Layer-, Group-, MeanVariance-
Normalization), LpNormalization and LRN.

The moment-based ones share one kernel shape: for every index of the kept
axes, a mean pass, a variance pass (two passes, so no E[x^2] - E[x]^2
cancellation), then y = (x - mean) * inv * scale + bias. Scale and bias are
read in place through a broadcast "view" shape of the same rank as X, so they
may be constants or computed tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..cgen import broadcast_index, c_float, numel, strides
from .base import LowerCtx, Lowered, Op, register

F = c_float


@dataclass
class _Moments:
    shape: tuple[int, ...]                 # X, possibly viewed (GroupNorm: N, G, C/G, S)
    reduced: frozenset[int]                # axes statistics are taken over
    params: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)  # (input, view) scale then bias
    eps: float = 1e-5
    eps_after_sqrt: bool = False           # MeanVarianceNormalization: 1 / (sqrt(var) + eps)
    stats: tuple[int | None, int | None] = (None, None)   # outputs for mean, inv std dev


def _merge(m: _Moments) -> tuple[list[int], list[bool], list[list[int]]]:
    """Drops size-1 axes and fuses neighbours that the same loop can walk:
    both kept or both reduced, and every parameter either spans both or neither."""
    dims, red, views = [], [], [[] for _ in m.params]
    for a, n in enumerate(m.shape):
        if n == 1:
            continue
        pv = [v[a] for _, v in m.params]
        if dims and red[-1] == (a in m.reduced) and all(
                (p == n and vw[-1] == dims[-1]) or (p == 1 and vw[-1] == 1)
                for p, vw in zip(pv, views)):
            dims[-1] *= n
            for vw, p in zip(views, pv):
                vw[-1] *= p
            continue
        dims.append(n)
        red.append(a in m.reduced)
        for vw, p in zip(views, pv):
            vw.append(p)
    return dims, red, views


def _nest(dims: Sequence[int], axes: Sequence[int], ivars: Sequence[str], body: str, pad: str) -> list[str]:
    lines = []
    for k, a in enumerate(axes):
        lines.append(f"{pad}{'    ' * k}for (int32_t {ivars[a]} = 0; {ivars[a]} < {dims[a]}; {ivars[a]}++) {{")
    inner = pad + "    " * len(axes)
    lines += [inner + ln for ln in body.splitlines()]
    lines += [f"{pad}{'    ' * k}}}" for k in range(len(axes) - 1, -1, -1)]
    return lines


def _index(dims: Sequence[int], axes: Sequence[int], ivars: Sequence[str]) -> str:
    st = strides(dims)
    terms = [ivars[a] if st[a] == 1 else f"{ivars[a]} * {st[a]}" for a in axes]
    return " + ".join(terms) if terms else "0"


def moments_body(m: _Moments) -> str:
    dims, red, views = _merge(m)
    ivars = [f"i{a}" for a in range(len(dims))]
    kept = [a for a in range(len(dims)) if not red[a]]
    rsum = [a for a in range(len(dims)) if red[a]]
    n = numel([dims[a] for a in rsum])
    xi = _index(dims, range(len(dims)), ivars)
    y = "(x0[k] - mean) * inv"
    for (i, _), vw in zip(m.params, views):
        y = f"{y} {'*' if i == 1 else '+'} x{i}[{broadcast_index(vw, dims, ivars)}]"   # 1: scale, 2: bias
    eps = F(m.eps)
    inv = f"1.0f / (sqrtf(var) + {eps})" if m.eps_after_sqrt else f"1.0f / sqrtf(var + {eps})"
    body = ["float sum = 0.0f;",
            *_nest(dims, rsum, ivars, f"sum += x0[{xi}];", ""),
            f"const float mean = sum / {F(n)};",
            "float sq = 0.0f;",
            *_nest(dims, rsum, ivars, f"const float d = x0[{xi}] - mean;\nsq += d * d;", ""),
            f"const float var = sq / {F(n)};",
            f"const float inv = {inv};",
            *_nest(dims, rsum, ivars, f"const int32_t k = {xi};\ny0[k] = {y};", "")]
    kept_dims = [dims[a] for a in kept]
    for j, v in zip(m.stats, ("mean", "inv")):
        if j is not None:
            body.append(f"y{j}[{_index(kept_dims, range(len(kept)), [ivars[a] for a in kept])}] = {v};")
    return "\n".join(_nest(dims, kept, ivars, "\n".join(body), "    "))


def _moments_lowered(ctx: LowerCtx, m: _Moments) -> Lowered:
    ins = [0] + [i for i, _ in m.params]
    outs = [0] + [j for j in m.stats if j is not None]
    size = ctx.tin(0).size
    return Lowered([ctx.step(ctx.node.op_type.lower(), moments_body(m), ins=ins, outs=outs)],
                   macs=3 * size, inplace=((0, 0),))


def _require_floats(ctx: LowerCtx) -> None:
    for i, n in enumerate(ctx.node.inputs):
        if n:
            ctx.require_dtype(ctx.tin(i), ["float32"])
    for j, n in enumerate(ctx.node.outputs):
        if n:
            ctx.require_dtype(ctx.tout(j), ["float32"])


def _stash_float(ctx: LowerCtx) -> None:
    if int(ctx.attr("stash_type", 1)) != 1:
        raise ctx.reject(f"stash_type {ctx.attr('stash_type')} is not supported (only 1, float)")


@register
class InstanceNormalization(Op):
    op_types = ("InstanceNormalization",)
    since = 6
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        _require_floats(ctx)
        shape = ctx.tin(0).shape
        if len(shape) < 2:
            raise ctx.reject("input must have rank >= 2 (N x C x ...)")
        c = shape[1]
        for i, what in ((1, "scale"), (2, "B")):
            if tuple(ctx.tin(i).shape) != (c,):
                raise ctx.reject(f"{what} has shape {list(ctx.tin(i).shape)}; expected [{c}]")
        view = (1, c) + (1,) * (len(shape) - 2)
        return _moments_lowered(ctx, _Moments(
            tuple(shape), frozenset(range(2, len(shape))), [(1, view), (2, view)],
            float(ctx.attr("epsilon", 1e-5))))


@register
class LayerNormalization(Op):
    op_types = ("LayerNormalization",)
    since = 17
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        _require_floats(ctx)
        _stash_float(ctx)
        shape = tuple(ctx.tin(0).shape)
        rank = len(shape)
        axis = int(ctx.attr("axis", -1))
        if not -rank <= axis < rank:
            raise ctx.reject(f"axis {axis} out of range for rank {rank}")
        axis %= rank
        params = []
        for i in (1, 2):
            if not ctx.has_input(i):
                continue
            p = tuple(ctx.tin(i).shape)
            view = (1,) * (rank - len(p)) + p
            if len(p) > rank or any(v not in (1, s) for v, s in zip(view, shape)):
                raise ctx.reject(f"{'Scale' if i == 1 else 'B'} of shape {list(p)} does not "
                                 f"broadcast to X {list(shape)}")
            params.append((i, view))
        stats = tuple(j if ctx.node.output(j) else None for j in (1, 2))
        return _moments_lowered(ctx, _Moments(
            shape, frozenset(range(axis, rank)), params, float(ctx.attr("epsilon", 1e-5)),
            stats=stats))


@register
class GroupNormalization(Op):
    """Opset 18: scale/bias per group; opset 21: per channel."""
    op_types = ("GroupNormalization",)
    since = 18
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        _require_floats(ctx)
        _stash_float(ctx)
        shape = tuple(ctx.tin(0).shape)
        if len(shape) < 2:
            raise ctx.reject("input must have rank >= 2 (N x C x ...)")
        n, c = shape[:2]
        groups = int(ctx.attr("num_groups"))
        if groups <= 0 or c % groups:
            raise ctx.reject(f"num_groups {groups} does not divide the {c} channels")
        view_x = (n, groups, c // groups, numel(shape[2:]))
        per_channel = ctx.version >= 21
        view = (1, groups, c // groups if per_channel else 1, 1)
        want = (c,) if per_channel else (groups,)
        for i, what in ((1, "scale"), (2, "bias")):
            if tuple(ctx.tin(i).shape) != want:
                raise ctx.reject(f"{what} has shape {list(ctx.tin(i).shape)}; expected {list(want)} "
                                 f"at GroupNormalization-{ctx.version}")
        return _moments_lowered(ctx, _Moments(
            view_x, frozenset((2, 3)), [(1, view), (2, view)], float(ctx.attr("epsilon", 1e-5))))


@register
class MeanVarianceNormalization(Op):
    op_types = ("MeanVarianceNormalization",)
    since = 9
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        _require_floats(ctx)
        shape = tuple(ctx.tin(0).shape)
        rank = len(shape)
        axes = [int(a) for a in ctx.attr("axes", [0, 2, 3])]
        if any(not -rank <= a < rank for a in axes):
            raise ctx.reject(f"axes {axes} out of range for rank {rank}")
        return _moments_lowered(ctx, _Moments(
            shape, frozenset(a % rank for a in axes), eps=1e-9, eps_after_sqrt=True))


def _outer_axis_inner(shape: Sequence[int], axis: int) -> tuple[int, int, int]:
    return numel(shape[:axis]), shape[axis], numel(shape[axis + 1:])


@register
class LpNormalization(Op):
    op_types = ("LpNormalization",)
    since = 1
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        _require_floats(ctx)
        shape = tuple(ctx.tin(0).shape)
        rank = len(shape)
        axis, p = int(ctx.attr("axis", -1)), int(ctx.attr("p", 2))
        if not -rank <= axis < rank:
            raise ctx.reject(f"axis {axis} out of range for rank {rank}")
        if p not in (1, 2):
            raise ctx.reject(f"p={p} is not supported (1 or 2)")
        outer, n, inner = _outer_axis_inner(shape, axis % rank)
        term, norm = ("fabsf(v)", "s") if p == 1 else ("v * v", "sqrtf(s)")
        idx = f"(o * {n} + a) * {inner} + i" if inner > 1 else f"o * {n} + a"
        body = (f"    for (int32_t o = 0; o < {outer}; o++) {{\n"
                f"        for (int32_t i = 0; i < {inner}; i++) {{\n"
                f"            float s = 0.0f;\n"
                f"            for (int32_t a = 0; a < {n}; a++) {{ const float v = x0[{idx}]; s += {term}; }}\n"
                f"            const float norm = {norm};\n"
                f"            /* a zero norm gives zeros, as the reference does */\n"
                f"            for (int32_t a = 0; a < {n}; a++) {{ const int32_t k = {idx}; "
                f"y0[k] = norm == 0.0f ? 0.0f : x0[k] / norm; }}\n"
                f"        }}\n"
                f"    }}")
        return Lowered([ctx.step("lpnorm", body, ins=[0], outs=[0])],
                       macs=2 * ctx.tin(0).size, inplace=((0, 0),))


@register
class LRN(Op):
    """y = x / (bias + alpha / size * sum of x^2 over a window of channels) ^ beta."""
    op_types = ("LRN",)
    since = 1
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        _require_floats(ctx)
        shape = tuple(ctx.tin(0).shape)
        if len(shape) < 3:
            raise ctx.reject("input must have rank >= 3 (N x C x D1 ...)")
        size = int(ctx.attr("size"))
        if size <= 0:
            raise ctx.reject(f"size {size} must be positive")
        alpha, beta = float(ctx.attr("alpha", 1e-4)), float(ctx.attr("beta", 0.75))
        bias = float(ctx.attr("bias", 1.0))
        n, c, inner = shape[0], shape[1], numel(shape[2:])
        lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2     # channels before / after
        body = (f"    for (int32_t n = 0; n < {n}; n++) {{\n"
                f"        for (int32_t c = 0; c < {c}; c++) {{\n"
                f"            const int32_t c0 = c < {lo} ? 0 : c - {lo};\n"
                f"            const int32_t c1 = c + {hi} >= {c} ? {c - 1} : c + {hi};\n"
                f"            for (int32_t i = 0; i < {inner}; i++) {{\n"
                f"                float s = 0.0f;\n"
                f"                for (int32_t q = c0; q <= c1; q++) {{\n"
                f"                    const float v = x0[(n * {c} + q) * {inner} + i];\n"
                f"                    s += v * v;\n"
                f"                }}\n"
                f"                const int32_t k = (n * {c} + c) * {inner} + i;\n"
                f"                y0[k] = x0[k] / powf({F(bias)} + {F(alpha / size)} * s, {F(beta)});\n"
                f"            }}\n"
                f"        }}\n"
                f"    }}")
        return Lowered([ctx.step("lrn", body, ins=[0], outs=[0])], macs=ctx.tin(0).size * (size + 1))
