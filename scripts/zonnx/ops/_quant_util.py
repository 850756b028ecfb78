"""Helpers shared by the quantized ops (QLinearConv, QLinearMatMul, ConvInteger,
MatMulInteger): constant scales and zero points, the fixed-point
requantization, int32 accumulator bounds and the integer kernel texts.

Requantization: y = saturate(round_half_even(acc * M) + zp_y) with
M = fl32(fl32(s_a * s_w) / s_y), computed as onnx.reference and onnxruntime
do (both in float: the reference's product in float64, onnxruntime's in
float32). A float32 M has a 24-bit significand, so it is exactly
m0 * 2**-shift with m0 an int32 in +-[2^30, 2^31) (Q31) and 1 <= shift <= 62;
the generator derives (m0, shift) from the constant scales. The kernels form
the exact int64 product acc * m0 and shift it right rounding half to even:
the correctly rounded value of acc * M, with integer operations only. That is
bit-identical to onnx.reference whenever its float64 product is exact
(|acc| < 2^29, i.e. in practice always), except that the reference adds zp_y
before rounding, which differs on exact ties with an odd zp_y (only
power-of-two-like multipliers make ties); zonnx rounds first, as the
QLinearMatMul spec states and onnxruntime does. Against onnxruntime the
difference is at most 1 LSB (its float32 product rounds before the
rounding to an integer).

Accumulators are int32 when a bound computed here from the dtypes (and the
constant weights and bias) proves no partial sum can overflow; otherwise the
kernel accumulates in uint32, which wraps like the int32 of the reference
implementations ("accumulation may overflow if and only if in 32 bits"),
without undefined behaviour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..cgen import numel
from ..errors import Unsupported
from ._conv_util import (Offset, Window, conv_groups, forward_walk, plus, scaled, spatial_strides,
                         visited_taps)
from ._linalg_util import matmul_shapes
from .base import KernelFn, LowerCtx, Step
from .conv import ConvSpec

QRANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535)}
INT8_TYPES = ("int8", "uint8")
I32_MAX = 2 ** 31 - 1


# -- constants -------------------------------------------------------------------

def const_values(ctx: LowerCtx, i: int, what: str, dtypes: Sequence[str]) -> np.ndarray:
    """A constant scale or zero point (rejects a run-time value with a --const hint)."""
    ctx.require_dtype(ctx.tin(i), list(dtypes))
    return np.asarray(ctx.require_const(i, what))


def scalar_value(ctx: LowerCtx, arr: np.ndarray, what: str):
    """The single value of a per-tensor scale / zero point (any shape whose
    elements are all equal)."""
    flat = np.asarray(arr).reshape(-1)
    if flat.size == 0:
        raise ctx.reject(f"{what} is empty")
    if not np.all(flat == flat[0]):
        raise ctx.reject(f"{what} of shape {list(np.shape(arr))} must be per-tensor (one value)")
    return flat[0]


def per_channel(ctx: LowerCtx, arr: np.ndarray, what: str, n: int) -> np.ndarray:
    """A scale / zero point per output channel: one value or a 1-D tensor of `n`."""
    a = np.asarray(arr)
    if a.size == 1:
        return np.full(n, a.reshape(-1)[0], dtype=a.dtype)
    if a.shape != (n,):
        raise ctx.reject(f"{what} of shape {list(a.shape)} must be a scalar or [{n}]")
    return a


def broadcast_last(ctx: LowerCtx, arr: np.ndarray, shape: Sequence[int], what: str) -> np.ndarray:
    """`arr` broadcast (numpy rules, as the reference does) onto `shape`, as one
    value per index of the last axis; it must not vary along the other axes."""
    a = np.asarray(arr)
    shape = tuple(shape)
    try:
        ok = np.broadcast_shapes(a.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ctx.reject(f"{what} of shape {list(a.shape)} does not broadcast to {list(shape)}")
    if not shape:
        return a.reshape(1)
    full = np.broadcast_to(a, shape).reshape(-1, shape[-1])
    if not np.all(full == full[:1]):
        raise ctx.reject(f"{what} of shape {list(a.shape)} varies along an axis other than "
                         "the last (only per-tensor and per-column values are supported)")
    return full[0].copy()


# -- requantization ------------------------------------------------------------------

def multiplier(real, what: str = "requantization multiplier") -> tuple[int, int]:
    """(m0, shift) with float32 `real` == m0 * 2**-shift exactly, |m0| in
    [2^30, 2^31), 1 <= shift <= 62; (0, 1) when real * acc rounds to 0 for
    every int32 acc."""
    r = float(np.float32(real))
    if not math.isfinite(r):
        raise Unsupported(f"{what} is {r} (a zero or non-finite scale)")
    if r == 0.0:
        return 0, 1
    mant, exp = math.frexp(r)          # r = mant * 2**exp, 0.5 <= |mant| < 1
    m0 = int(mant * (1 << 31))
    assert m0 == mant * (1 << 31)      # float32: 24 significant bits
    shift = 31 - exp
    if shift > 62:                     # |acc * r| <= 2^31 * 2^-32 < 1/2
        return 0, 1
    if shift < 1:
        raise Unsupported(f"{what} {r} is too large (>= 2^30)")
    return m0, shift


def multiplier_table(reals: np.ndarray) -> np.ndarray:
    """[n, 2] int32 table of (m0, shift)."""
    return np.array([multiplier(r) for r in np.asarray(reals).reshape(-1)], dtype=np.int32).reshape(-1, 2)


def requant_reference(acc: np.ndarray, real) -> np.ndarray:
    """What the kernels compute before the zero point: rint(acc * real) exactly
    (numpy, for tests and documentation)."""
    m0, shift = multiplier(real)
    p = acc.astype(object) * m0
    out = []
    for v in p.reshape(-1):
        u = abs(int(v))
        r = (u + (1 << (shift - 1)) - 1 + ((u >> shift) & 1)) >> shift
        out.append(-r if v < 0 else r)
    return np.array(out, dtype=np.int64).reshape(np.shape(acc))


def requant_lines(acc: str, m0: str, shift: str, zp: str, out_dtype: str, dst: str,
                  bounds: tuple[int, int] | None = None, rounding: str = "half-even") -> list[str]:
    """C statements: dst = clamp(round(acc * m0 / 2^shift) + zp, bounds) with
    bounds the output type's range unless given (a fused Relu / Clip).
    `shift` is a literal or an int32 expression (1..62).

    rounding "half-even": the exact round half to even.
    rounding "cmsis-nn": CMSIS-NN's arm_nn_requantize for the same (m0, shift)
    (its multiplier is m0, its shift 31 - shift): by default a rounding
    doubling high multiply (half up, t = min(shift, 31) bits) and then a
    rounding divide by 2^(shift - t) (half away from zero); with
    CMSIS_NN_USE_SINGLE_ROUNDING one rounding half up. Computed in int64, so it
    equals CMSIS-NN wherever CMSIS-NN's int32 steps do not overflow (the
    backend only calls arm_* when they cannot)."""
    lo, hi = bounds if bounds is not None else QRANGE[out_dtype]
    ct = f"{out_dtype}_t"
    zp_term = "" if zp == "0" else (f" - {zp[1:]}" if zp.startswith("-") else f" + {zp}")
    store = f"{dst} = ({ct})(q < {lo} ? {lo} : (q > {hi} ? {hi} : q));"
    if rounding == "cmsis-nn":
        return _cmsis_requant(acc, m0, shift, zp_term) + [store]
    if shift.isdigit():
        half = f"UINT64_C({(1 << (int(shift) - 1)) - 1})"
    else:
        half = f"((UINT64_C(1) << ({shift} - 1)) - 1u)"
    return [
        f"const int64_t p = (int64_t){acc} * {m0};",
        "const uint64_t u = p < 0 ? (uint64_t)0 - (uint64_t)p : (uint64_t)p;",
        f"const uint64_t r = (u + {half} + ((u >> {shift}) & 1u)) >> {shift};",
        f"const int64_t q = (p < 0 ? -(int64_t)r : (int64_t)r){zp_term};",
        store,
    ]


def _cmsis_requant(acc: str, m0: str, shift: str, zp_term: str) -> list[str]:
    """int64 q = arm_nn_requantize(acc, m0, 31 - shift) + zp (see requant_lines).
    Right shifts of negative values are arithmetic on every compiler zonnx
    supports (as CMSIS-NN itself assumes)."""
    p = f"(int64_t){acc} * {m0}"
    if shift.isdigit():
        s = int(shift)
        t, r = min(s, 31), max(s - 31, 0)
        te, re_ = str(t), str(r)
        div = [] if r == 0 else [
            f"const int64_t rem = h & {(1 << r) - 1};",
            f"q0 = (h >> {r}) + (rem > ({(1 << r) - 1} >> 1) + (h < 0 ? 1 : 0));"]
        head = []
        single = f"((int64_t){acc} * {m0} + (INT64_C(1) << {s - 1})) >> {s}"
    else:
        head = [f"const int32_t t = {shift} < 31 ? {shift} : 31;", f"const int32_t rs = {shift} - t;"]
        te, re_ = "t", "rs"
        div = ["if (rs > 0) {",
               "    const int64_t mask = (INT64_C(1) << rs) - 1;",
               "    q0 = (h >> rs) + ((h & mask) > ((mask >> 1) + (h < 0 ? 1 : 0)));",
               "}"]
        single = f"((int64_t){acc} * {m0} + (INT64_C(1) << ({shift} - 1))) >> {shift}"
    return [
        "#if defined(CMSIS_NN_USE_SINGLE_ROUNDING)",
        f"const int64_t q = ({single}){zp_term};",
        "#else",
        *head,
        f"const int64_t h = ({p} + (INT64_C(1) << ({te} - 1))) >> {te};",
        "int64_t q0 = h;",
        *div,
        f"const int64_t q = q0{zp_term};",
        "#endif",
    ]


def cmsis_requant_reference(acc: np.ndarray, m0: int, shift: int, single: bool = False) -> np.ndarray:
    """What the "cmsis-nn" rounding computes before the zero point (Python
    integers, for tests): CMSIS-NN's double rounding, or with `single` its
    CMSIS_NN_USE_SINGLE_ROUNDING (half up)."""
    t, r = min(shift, 31), max(shift - 31, 0)
    out = []
    for a in np.asarray(acc).reshape(-1):
        if single:
            out.append((int(a) * m0 + (1 << (shift - 1))) >> shift)
            continue
        h = (int(a) * m0 + (1 << (t - 1))) >> t
        q = h >> r
        if r:
            mask = (1 << r) - 1
            q += (h & mask) > ((mask >> 1) + (1 if h < 0 else 0))
        out.append(q)
    return np.array(out, dtype=np.int64).reshape(np.shape(acc))


def out_bounds(ctx: LowerCtx, dtype: str) -> tuple[int, int]:
    """The integer output range: the type's, narrowed by a fused activation
    (attribute `_clamp` = [lo, hi], set by the fuse-qdq pass)."""
    lo, hi = QRANGE[dtype]
    c = ctx.attr("_clamp")
    if c is None:
        return lo, hi
    c = [int(v) for v in c]
    if len(c) != 2 or not lo <= c[0] <= c[1] <= hi:
        raise ctx.reject(f"_clamp {c} is not a sub-range of {dtype}")
    return c[0], c[1]


def shifted(e: str, zp: str) -> str:
    """C int32 expression `e - zp` (zp a literal or an int32 expression)."""
    if zp == "0":
        return f"(int32_t){e}"
    if zp.startswith("-"):
        return f"((int32_t){e} + {zp[1:]})"
    return f"((int32_t){e} - {zp})"


# -- accumulators --------------------------------------------------------------------

def max_abs_shifted(dtype: str, zp: np.ndarray | int) -> int:
    """max |v - zp| over the dtype's range and the zero point(s)."""
    lo, hi = QRANGE[dtype]
    z = np.asarray(zp, dtype=np.int64).reshape(-1)
    return int(max(np.max(np.abs(hi - z)), np.max(np.abs(lo - z))))


@dataclass(frozen=True)
class Acc:
    """How a kernel accumulates: int32 (`wrap` False) or wrapping uint32."""
    wrap: bool

    def decl(self, init: str) -> str:
        if self.wrap:
            return f"uint32_t au = (uint32_t)({init});" if init != "0" else "uint32_t au = 0u;"
        return f"int32_t acc = {init};"

    def add(self, term: str) -> str:
        return f"au += (uint32_t)({term});" if self.wrap else f"acc += {term};"

    def sub_mul(self, a: str, b: str) -> str:
        """acc -= a * b (both int32)."""
        return (f"au -= (uint32_t)({a}) * (uint32_t)({b});" if self.wrap
                else f"acc -= {a} * {b};")

    def finish(self) -> list[str]:
        """Leaves the int32 result in `acc`."""
        if not self.wrap:
            return []
        return ["const int32_t acc = au <= 2147483647u ? (int32_t)au : "
                "(int32_t)(au - 2147483648u) - 2147483647 - 1;"]


def acc_for(bound: int) -> Acc:
    return Acc(wrap=bound > I32_MAX)


# -- kernel steps with derived tables ----------------------------------------------------

def table_step(ctx: LowerCtx, hint: str, body: str, ins: Sequence[int], tables: Sequence[str],
               outs: Sequence[int] = (0,)) -> Step:
    """ctx.step plus derived constant tables as parameters `const T *c<k>`."""
    params, args = ctx.params_for(ins, outs)
    tparams = tuple(f"const {ctx.derived[t].dtype.ctype} *c{k}" for k, t in enumerate(tables))
    return Step(KernelFn(hint, params + tparams, body.strip("\n")), args + tuple(tables))


class Tables:
    """Derived constant tables of one kernel, named c0, c1... in its body."""

    def __init__(self, ctx: LowerCtx):
        self.ctx = ctx
        self.names: list[str] = []

    def add(self, hint: str, value: np.ndarray) -> str:
        self.names.append(self.ctx.derived_const(hint, value))
        return f"c{len(self.names) - 1}"


def i32_or_u32(values: np.ndarray, wrap: bool) -> np.ndarray:
    """int64 values as an int32 table, or modulo 2^32 as uint32 when wrapping."""
    v = np.asarray(values, dtype=np.int64)
    if wrap:
        return (v % (1 << 32)).astype(np.uint32)
    assert np.all(np.abs(v) <= I32_MAX)
    return v.astype(np.int32)


# -- convolution ----------------------------------------------------------------------

def int_conv_spec(ctx: LowerCtx, xi: int, wi: int, bi: int | None) -> ConvSpec:
    """Shapes of ConvInteger / QLinearConv (input xi, weights wi, bias bi)."""
    from ._conv_util import read_kernel
    x, w = ctx.tin(xi), ctx.tin(wi)
    n, c, group = conv_groups(ctx, x, w)
    m = w.shape[0]
    if w.shape[1] * group != c or m % group:
        raise ctx.reject(f"weights {list(w.shape)} do not match {c} input channels in {group} groups")
    has_bias = bi is not None and ctx.has_input(bi)
    if has_bias:
        ctx.require_dtype(ctx.tin(bi), ["int32"])
        if tuple(ctx.tin(bi).shape) != (m,):
            raise ctx.reject(f"bias shape {list(ctx.tin(bi).shape)} is not [{m}]")
    kernel = read_kernel(ctx, len(x.shape) - 2, w.shape[2:])
    return ConvSpec(n, c, m, group, tuple(x.shape[2:]), tuple(kernel), (), has_bias)


@dataclass(frozen=True)
class ConvAcc:
    """How the conv kernel accumulates: initial value, zero points in the MAC
    term, per-channel statements and the accumulator type."""
    init: str | None
    zx: int
    zw: str
    setup: tuple[str, ...]
    acc: Acc
    reads_bias: bool       # the kernel reads the bias input (not folded into a table)


def windows_full(spec: ConvSpec) -> bool:
    """Every window lies inside the input (no padding is ever read)."""
    return all(a.pad == 0 and (a.out - 1) * a.stride + (a.kernel - 1) * a.dilation <= a.size - 1
               for a in spec.axes)


def conv_accumulation(ctx: LowerCtx, spec: ConvSpec, x_dtype: str, zx: int, wi: int, w_dtype: str,
                      zw: np.ndarray, bi: int | None, tabs: Tables) -> ConvAcc:
    """acc = bias + sum (x - zx) * (w - zw[m]). With constant weights and no
    padding read, the zx term is folded into a per-channel constant
    -zx * sum(w[m] - zw[m]) (the weight-sum correction), so the MAC reads x
    as is. The accumulator is int32 unless the bound says it could overflow."""
    taps = spec.cg * numel(spec.kernel)
    mch = spec.out_ch
    w = ctx.const(wi)
    zw = np.asarray(zw, dtype=np.int64)
    wq = None if w is None else w.astype(np.int64).reshape(mch, -1) - zw[:, None]
    fold = wq is not None and zx != 0 and windows_full(spec)
    xmax = max_abs_shifted(x_dtype, 0 if fold else zx)
    if wq is not None:
        prod = xmax * (int(np.abs(wq).sum(axis=1).max()) if wq.size else 0)
    else:
        prod = taps * xmax * max_abs_shifted(w_dtype, zw)
    has_bias = bi is not None and ctx.has_input(bi)
    b = ctx.const(bi) if has_bias else None
    corr = -zx * wq.sum(axis=1) if fold else np.zeros(mch, dtype=np.int64)
    if not has_bias:
        bias_max = 0
    elif b is not None:
        bias_max = int(np.abs(b.astype(np.int64)).max()) if b.size else 0
    else:
        bias_max = 2 ** 31
    acc = acc_for(prod + bias_max + int(np.abs(corr).max()))
    init = None
    if fold:
        if b is not None:          # constant bias: one table with the correction
            init = f"{tabs.add('bias', i32_or_u32(b.astype(np.int64) + corr, acc.wrap))}[m]"
        else:
            ct = tabs.add("wsum", i32_or_u32(corr, acc.wrap))
            init = f"(uint32_t)x{bi}[m] + {ct}[m]" if has_bias and acc.wrap else (
                f"x{bi}[m] + {ct}[m]" if has_bias else f"{ct}[m]")
    elif has_bias:
        init = f"x{bi}[m]"
    setup = []
    if np.all(zw == zw[0]):
        zwe = str(int(zw[0]))
    else:
        setup.append(f"const int32_t zw = {tabs.add('w_zero_point', zw.astype(np.int32))}[m];")
        zwe = "zw"
    return ConvAcc(init, 0 if fold else zx, zwe, tuple(setup), acc,
                   has_bias and (b is None or not fold))


@dataclass(frozen=True)
class IntConv:
    """What the integer convolution kernel needs beyond the shapes."""
    x_ctype: str
    w_ctype: str
    y_ctype: str
    wi: int                    # weights' input index (x<wi>)
    plan: ConvAcc
    setup: tuple[str, ...]     # more statements per output channel m
    store: Callable[[], list[str]]   # statements storing int32 `acc` to `*yp++`


def int_conv_body(spec: ConvSpec, q: IntConv) -> tuple[str, int]:
    """Direct convolution with clipped windows (padding contributes zero after
    the zero point is subtracted, i.e. pads hold zp_x), int32 accumulation."""
    isz, ksz = numel(spec.in_sp), numel(spec.kernel)
    cg, mg = spec.cg, spec.mg
    acc = q.plan.acc
    group = (f"(m / {mg})" if mg > 1 else "m") if spec.group > 1 else "0"
    w_base = scaled("m", cg * ksz)
    x_base = plus(scaled("n", spec.in_ch * isz), scaled(group, cg * isz))
    win = Window(spec.axes, forward_walk, [Offset("ix", "coord", spatial_strides(spec.in_sp)),
                                           Offset("iw", "tap", spatial_strides(spec.kernel))], depth=3)

    def term(xe: str, we: str) -> str:
        return f"{shifted(xe, str(q.plan.zx))} * {shifted(we, q.plan.zw)}"

    def visit(off: dict[str, str]) -> str:
        if cg == 1:
            return acc.add(term(f"xg[{off['ix']}]", f"wm[{off['iw']}]"))
        xi, wi = plus(off["ix"], scaled("c", isz)), plus(off["iw"], scaled("c", ksz))
        return (f"for (int32_t c = 0; c < {cg}; c++) {{\n"
                f"    {acc.add(term(f'xg[{xi}]', f'wm[{wi}]'))}\n}}")

    nest, walks = win.build(lambda w: acc.decl(q.plan.init or "0"), visit,
                            lambda w: "\n".join(acc.finish() + q.store()))
    body = "\n".join([
        f"    {q.y_ctype} *yp = y0;",
        f"    for (int32_t n = 0; n < {spec.batch}; n++) {{",
        f"        for (int32_t m = 0; m < {spec.out_ch}; m++) {{",
        f"            const {q.x_ctype} *xg = {plus('x0', x_base)};",
        f"            const {q.w_ctype} *wm = {plus(f'x{q.wi}', w_base)};",
        *[f"            {s}" for s in q.plan.setup + q.setup],
        nest,
        "        }",
        "    }",
    ])
    return body, spec.batch * spec.out_ch * cg * visited_taps(walks)


# -- matrix product -------------------------------------------------------------------



def _times(expr: str, stride: int) -> str:
    if expr == "0":
        return "0"
    return f"({expr}) * {stride}" if "+" in expr or "*" in expr else f"{expr} * {stride}"


def int_matmul(ctx: LowerCtx, ai: int, bi: int, za: int, zb: np.ndarray,
               requant: tuple[np.ndarray, int] | None):
    """Kernel text, MACs, inputs and tables of an integer matrix product.

    zb: B's zero point per column [N]; requant: ((m0, shift) table [N, 2] and
    zp_y) for an int8/uint8 output, None for the int32 output of MatMulInteger
    (the output bounds and rounding then come from the node, see out_bounds).
    With constant B the kernel reads B transposed ([N, K], a derived constant)
    and folds the zero points into per-column corrections computed here:
    sum_k (a - za)(b - zb) = sum_k a*b - za*colsum_b + K*za*zb - zb*rowsum_a.
    """
    from ..cgen import broadcast_index, loop_nest
    sh = matmul_shapes(ctx, ai, bi)
    m, n, k = sh.m, sh.n, sh.k
    if numel(sh.batch) * m * n * k == 0:
        raise ctx.reject("empty operands or output are not supported")
    a_t, b_t, y_t = ctx.tin(ai), ctx.tin(bi), ctx.tout()
    a_dt, b_dt = a_t.dtype.name, b_t.dtype.name
    tabs = Tables(ctx)
    nb, nbb = numel(sh.batch), numel(sh.batch_b)
    amax = max(abs(QRANGE[a_dt][0]), abs(QRANGE[a_dt][1]))
    zb = np.asarray(zb, dtype=np.int64)
    zb_uniform = bool(np.all(zb == zb[0]))
    bconst = ctx.const(bi)

    lines_n: list[str] = []          # per output (m, n) before the k loop
    if bconst is not None:
        B = bconst.astype(np.int64).reshape(sh.batch_b + (k, n))
        bt = np.ascontiguousarray(np.swapaxes(bconst.reshape(sh.batch_b + (k, n)), -1, -2))
        colsum = B.sum(axis=-2)                              # batch_b + (n,)
        corr = -za * colsum + k * za * zb                     # batch_b + (n,)
        rowsum = not (zb_uniform and zb[0] == 0)
        bound = (int(np.abs(corr).max()) + amax * int(np.abs(B).sum(axis=-2).max())
                 + (int(np.abs(zb).max()) * k * amax if rowsum else 0))
        if k * amax > I32_MAX:
            raise ctx.reject(f"K = {k} is too large for an int32 row sum")
        acc = acc_for(bound)
        b_ptr = tabs.add("bt", bt)
        corr_tab = None
        if np.any(corr != 0):
            corr_tab = tabs.add("corr", i32_or_u32(corr.reshape(-1), acc.wrap))
        inner = "(int32_t)ar[k] * br[k]"
        b_stride = n * k        # per batch of B, in the transposed table
        lines_n.append(f"const {b_t.dtype.ctype} *br = b + {scaled('n', k)};")
    else:
        rowsum = False
        corr_tab = None
        bound = k * max_abs_shifted(a_dt, za) * max_abs_shifted(b_dt, zb)
        acc = acc_for(bound)
        b_ptr = f"x{bi}"
        at = shifted("ar[k]", str(za))
        inner = None              # built below once the zb expression is known
        b_stride = k * n
        lines_n.append("const " + b_t.dtype.ctype + " *bc = b + n;")
    # zero point of B at column n
    if zb_uniform:
        zbe = str(int(zb[0]))
    else:
        zbe = f"{tabs.add('zb', zb.astype(np.int32))}[n]"
    if inner is None:
        b_elem = f"bc[{scaled('k', n)}]"
        inner = f"{at} * {shifted(b_elem, zbe)}"

    # requantization per column
    store: list[str]
    if requant is None:
        store = ["yr[n] = acc;"]
    else:
        table, zy = requant
        lines_q = []
        if np.all(table == table[0]):
            m0, s = (str(int(v)) for v in table[0])
        else:
            t = tabs.add("requant", table.astype(np.int32))
            lines_q = [f"const int32_t m0 = {t}[2 * n];", f"const int32_t sh = {t}[2 * n + 1];"]
            m0, s = "m0", "sh"
        store = lines_q + requant_lines("acc", m0, s, str(int(zy)), y_t.dtype.name, "yr[n]",
                                        out_bounds(ctx, y_t.dtype.name), ctx.options.rounding)

    def body2d(rows: str, corr_ptr: str | None) -> list[str]:
        init = f"{corr_ptr}[n]" if corr_ptr else "0"
        out = [f"for (int32_t m = 0; m < {rows}; m++) {{",
               f"    const {a_t.dtype.ctype} *ar = a + {scaled('m', k)};",
               f"    {y_t.dtype.ctype} *yr = y + {scaled('m', n)};"]
        if rowsum:
            out += ["    int32_t rs = 0;",
                    f"    for (int32_t k = 0; k < {k}; k++) {{ rs += ar[k]; }}"]
        out += [f"    for (int32_t n = 0; n < {n}; n++) {{",
                *[f"        {s}" for s in lines_n],
                f"        {acc.decl(init)}",
                f"        for (int32_t k = 0; k < {k}; k++) {{ {acc.add(inner)} }}"]
        if rowsum and zbe != "0":
            out.append(f"        {acc.sub_mul(zbe, 'rs')}")
        out += [f"        {s}" for s in acc.finish() + store]
        out += ["    }", "}"]
        return out

    a_ct, b_ct, y_ct = a_t.dtype.ctype, b_t.dtype.ctype, y_t.dtype.ctype
    if nbb == 1:
        head = [f"const {a_ct} *a = x{ai};", f"const {b_ct} *b = {b_ptr};", f"{y_ct} *y = y0;"]
        body = "\n".join("    " + s for s in head + body2d(str(nb * m), corr_tab))
    else:
        def one(ivars: list[str]) -> str:
            bix = broadcast_index(sh.batch_b, sh.batch, ivars)
            st = [f"const {a_ct} *a = x{ai} + {_times(broadcast_index(sh.batch_a, sh.batch, ivars), m * k)};",
                  f"const {b_ct} *b = {b_ptr} + {_times(bix, b_stride)};",
                  f"{y_ct} *y = y0 + {_times(broadcast_index(sh.batch, sh.batch, ivars), m * n)};"]
            cp = None
            if corr_tab:
                st.append(f"const {'uint32_t' if acc.wrap else 'int32_t'} *cb = {corr_tab} + {_times(bix, n)};")
                cp = "cb"
            return "\n".join(st + body2d(str(m), cp))
        body = loop_nest(sh.batch, one, prefix="t")
    ins = [ai] if bconst is not None else [ai, bi]
    return body, nb * m * n * k, ins, tabs.names

