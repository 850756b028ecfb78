"""The CMSIS-NN backend: int8 convolutions and matrix products as arm_* calls.

With LowerOptions.kernels == "cmsis-nn", QLinearConv, QLinearMatMul and QGemm
first ask this module for a lowering; it returns a Fallback with the reason
when the node's parameters do not fit CMSIS-NN (the zonnx kernel runs then,
the reason in Lowered.fallback, with the same "cmsis-nn" rounding, so both
kinds of node agree bit for bit).

What fits (CMSIS-NN's own constraints, checked here at build time):
* int8 activations and weights (uint8 has no s8 kernel), constant weights
  with zero point 0 (symmetric), int32 bias;
* requantization multipliers real = m0 * 2^-shift < 1 with 31 <= shift <= 61:
  CMSIS-NN's shift 31 - shift is then in [-30, 0], so its int32 left shift
  never overflows and its rounding divide stays below 2^31;
* convolutions with 1 or 2 spatial axes (1-D as H = 1); depthwise
  (group == C, M = C * multiplier) goes to arm_depthwise_conv_wrapper_s8,
  every other group count to arm_convolve_wrapper_s8 (it handles groups);
* matrix products A [M, K] x constant B [K, N] (QGemm: transA = 0, a constant
  bias of [N] or [1, N] or a scalar) go to arm_fully_connected_s8, or its
  per-channel variant when B has a scale per column.

Layout: CMSIS-NN is NHWC, ONNX NCHW. Weights are stored transposed at build
time (OIHW -> OHWI, depthwise [M, 1, kh, kw] -> [kh, kw, M], B -> B^T); the
activation is transposed into a scratch buffer before the call and the
result back after it, unless a side is one channel or one pixel (then both
layouts are the same bytes).

Buffers: the call's context buffer is a scratch buffer of the size CMSIS-NN's
get_buffer_size formulas give for Cortex-M without Helium (plain C and DSP
extension); the kernel checks arm_*_get_buffer_size() against it at run time
and returns ZONNX_ERR_BACKEND rather than overrun (as it does for any
non-success status of the call). Helium (MVE) kernels want more and are not
supported yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._conv_util import window_taps
from .base import KernelFn, LowerCtx, Lowered, Step

HEADER = "arm_nnfunctions.h"
BACKEND = "cmsis-nn"


@dataclass(frozen=True)
class Fallback:
    """Why a node stays on the zonnx kernel."""
    reason: str


def cmsis_quant(table: np.ndarray) -> tuple[np.ndarray, np.ndarray] | Fallback:
    """(multipliers, shifts) in CMSIS-NN's convention from zonnx's (m0, shift)
    table, or why they do not fit."""
    t = np.asarray(table, dtype=np.int64).reshape(-1, 2)
    mult, shift = t[:, 0].copy(), 31 - t[:, 1]
    zero = mult == 0
    shift[zero] = 0
    bad = ~zero & ((t[:, 1] < 31) | (t[:, 1] > 61))
    if np.any(bad):
        return Fallback("requantization multiplier outside CMSIS-NN's range (needs 2^-31 <= M < 1)")
    return mult.astype(np.int32), shift.astype(np.int32)


def _int8_only(ctx: LowerCtx, idx: list[int]) -> Fallback | None:
    for i in idx:
        t = ctx.tin(i) if i >= 0 else ctx.tout()
        if t.dtype.name != "int8":
            return Fallback(f"tensor '{t.name}' is {t.dtype.name} (CMSIS-NN runs int8)")
    return None


def _relayout(src: str, dst: str, n: int, c: int, hw: int, to_nhwc: bool) -> list[str]:
    """Loops copying NCHW `src` to NHWC `dst` (or back), the store side sequential."""
    nchw, nhwc = f"(n * {c} + c) * {hw} + i", f"(n * {hw} + i) * {c} + c"
    inner, outer = ("c", "i") if to_nhwc else ("i", "c")   # innermost loop walks dst
    ext = {"c": c, "i": hw}
    d, s_ = (nhwc, nchw) if to_nhwc else (nchw, nhwc)
    return [f"for (int32_t n = 0; n < {n}; n++) {{",
            f"    for (int32_t {outer} = 0; {outer} < {ext[outer]}; {outer}++) {{",
            f"        for (int32_t {inner} = 0; {inner} < {ext[inner]}; {inner}++) {{",
            f"            {dst}[{d}] = {src}[{s_}];",
            "        }", "    }", "}"]


def _dims(n: int, h: int, w: int, c: int) -> str:
    return f"{{{n}, {h}, {w}, {c}}}"


def _call_block(call: str, size_check: str | None, buf: int) -> list[str]:
    lines = []
    if size_check is not None:
        lines.append(f"if ({size_check} > {buf}) {{")
        lines.append("    return ZONNX_ERR_BACKEND;   /* CMSIS-NN wants a larger buffer than planned */")
        lines.append("}")
    lines += [f"if ({call} != ARM_CMSIS_NN_SUCCESS) {{", "    return ZONNX_ERR_BACKEND;", "}"]
    return lines


def conv_buffer_bytes(depthwise: bool, c: int, kh: int, kw: int) -> int:
    """The context buffer planned for a convolution: the largest that CMSIS-NN's
    get_buffer_size formulas ask for without Helium (plain C and DSP)."""
    if depthwise:
        return c * kh * kw * 2           # arm_depthwise_conv_s8_opt (DSP): int16 copy of the window
    cols = kh * kw * c
    return 4 * (cols + (-cols) % 4)      # arm_convolve_s8: two int16 im2col columns, 4-aligned


@dataclass(frozen=True)
class ConvArgs:
    """A QLinearConv as the zonnx lowering resolved it."""
    batch: int
    in_ch: int
    out_ch: int
    group: int
    in_sp: tuple[int, ...]
    kernel: tuple[int, ...]
    axes: tuple            # _conv_util.Axis per spatial axis
    zx: int
    zw: np.ndarray         # per output channel
    zy: int
    table: np.ndarray      # (m0, shift) per output channel
    bounds: tuple[int, int]
    bias: int | None       # input index of the int32 bias


def conv(ctx: LowerCtx, a: ConvArgs) -> Lowered | Fallback:
    """arm_convolve_wrapper_s8 / arm_depthwise_conv_wrapper_s8 for a QLinearConv."""
    bad = _int8_only(ctx, [0, 3, -1])
    if bad:
        return bad
    w = ctx.const(3)
    if w is None:
        return Fallback("weights are not constant")
    if np.any(a.zw != 0):
        return Fallback("weight zero point is not 0 (CMSIS-NN needs symmetric weights)")
    if len(a.in_sp) not in (1, 2):
        return Fallback(f"{len(a.in_sp)}-D convolution (CMSIS-NN has 1-D and 2-D)")
    q = cmsis_quant(a.table)
    if isinstance(q, Fallback):
        return q
    mult, shift = q
    if len(a.in_sp) == 1:
        (ax_w,), (kw,), ih, iw = a.axes, a.kernel, 1, a.in_sp[0]
        kh, oh, ph, sh, dh = 1, 1, 0, 1, 1
    else:
        (ax_h, ax_w), (kh, kw), (ih, iw) = a.axes, a.kernel, a.in_sp
        oh, ph, sh, dh = ax_h.out, ax_h.pad, ax_h.stride, ax_h.dilation
    ow, pw, sw, dw = ax_w.out, ax_w.pad, ax_w.stride, ax_w.dilation
    n, c, m = a.batch, a.in_ch, a.out_ch
    depthwise = a.group == c and a.group > 1
    w4 = w.reshape(m, c // a.group, kh, kw)
    if depthwise:
        filt = np.ascontiguousarray(np.transpose(w4[:, 0], (1, 2, 0)))        # [kh, kw, M]
        f_dims = _dims(1, kh, kw, m)
        buf = conv_buffer_bytes(True, c, kh, kw)
        fn, params_t, size_fn = ("arm_depthwise_conv_wrapper_s8", "cmsis_nn_dw_conv_params",
                                 "arm_depthwise_conv_wrapper_s8_get_buffer_size")
    else:
        filt = np.ascontiguousarray(np.transpose(w4, (0, 2, 3, 1)))           # [M, kh, kw, C/g]
        f_dims = _dims(m, kh, kw, c // a.group)
        buf = conv_buffer_bytes(False, c, kh, kw)
        fn, params_t, size_fn = ("arm_convolve_wrapper_s8", "cmsis_nn_conv_params",
                                 "arm_convolve_wrapper_s8_get_buffer_size")
    wf = ctx.derived_const("cmsis_filter", filt.astype(np.int8))
    tm = ctx.derived_const("cmsis_multiplier", mult)
    ts = ctx.derived_const("cmsis_shift", shift)
    tile = lambda h, w_: f"{{{w_}, {h}}}"   # noqa: E731  cmsis_nn_tile is {w, h}
    act = f"{{{a.bounds[0]}, {a.bounds[1]}}}"
    if depthwise:
        cp = (f"{{{-a.zx}, {a.zy}, {m // c}, {tile(sh, sw)}, {tile(ph, pw)}, "
              f"{tile(dh, dw)}, {act}}}")
    else:
        cp = f"{{{-a.zx}, {a.zy}, {tile(sh, sw)}, {tile(ph, pw)}, {tile(dh, dw)}, {act}}}"
    hw_in, hw_out = ih * iw, oh * ow
    t_in, t_out = c > 1 and hw_in > 1, m > 1 and hw_out > 1
    scratch, sizes = [], []
    names = {}
    for key, need, size, ctype in (("in", t_in, n * c * hw_in, "int8_t"),
                                   ("out", t_out, n * m * hw_out, "int8_t"),
                                   ("buf", buf > 0, buf, "int16_t")):
        if need:
            names[key] = f"s{len(scratch)}"
            scratch.append(ctype)
            sizes.append(size)
    ins = [0] + ([a.bias] if a.bias is not None else [])
    params, args = ctx.params_for(ins, [0], scratch)
    tables = (wf, tm, ts)
    params += ("const int8_t *c0", "const int32_t *c1", "const int32_t *c2")
    args += tables
    x_nhwc = names.get("in", "x0")
    y_nhwc = names.get("out", "y0")
    bias = f"x{a.bias}" if a.bias is not None else "NULL"
    ctx_buf = f"{{{names['buf']}, {buf}}}" if "buf" in names else "{NULL, 0}"
    body = [f"static const {params_t} cp = {cp};",
            f"static const cmsis_nn_dims in_d = {_dims(n, ih, iw, c)};",
            f"static const cmsis_nn_dims f_d = {f_dims};",
            f"static const cmsis_nn_dims b_d = {_dims(1, 1, 1, m)};",
            f"static const cmsis_nn_dims out_d = {_dims(n, oh, ow, m)};",
            "const cmsis_nn_per_channel_quant_params qp = {(int32_t *)c1, (int32_t *)c2};",
            f"const cmsis_nn_context ctx = {ctx_buf};"]
    if t_in:
        body += _relayout("x0", x_nhwc, n, c, hw_in, to_nhwc=True)
    body += _call_block(f"{fn}(&ctx, &cp, &qp, &in_d, {x_nhwc}, &f_d, c0, &b_d, {bias}, &out_d, {y_nhwc})",
                        f"{size_fn}(&cp, &in_d, &f_d, &out_d)", buf)
    if t_out:
        body += _relayout(y_nhwc, "y0", n, m, hw_out, to_nhwc=False)
    body.append("return ZONNX_OK;")
    text = "\n".join("    " + s for s in body)
    macs = n * m * (c // a.group) * window_taps(a.axes)     # as the zonnx kernel counts them
    step = Step(KernelFn("cmsis_conv", params, text, status=True), args)
    return Lowered([step], scratch=sizes, macs=macs, backend=BACKEND, includes=(HEADER,), note=fn)


@dataclass(frozen=True)
class FcArgs:
    """A matrix product y[M, N] = A[M, K] B[K, N] (+ bias) as its op resolved it."""
    a: int                 # input index of A
    rows: int              # M (all batch rows of A)
    k: int
    n: int
    bt: np.ndarray | None  # constant B^T [N, K] (None: B not constant)
    zb: np.ndarray         # per column
    za: int
    zy: int
    table: np.ndarray      # (m0, shift) per column or one row
    bounds: tuple[int, int]
    bias: np.ndarray | None   # int32 [N]


def fully_connected(ctx: LowerCtx, f: FcArgs, io: list[int]) -> Lowered | Fallback:
    """arm_fully_connected_s8 (per tensor) or _per_channel_s8 (per column).
    io: indices of A, B ... whose dtypes must be int8, -1 for the output."""
    bad = _int8_only(ctx, io)
    if bad:
        return bad
    if f.bt is None:
        return Fallback("B is not constant")
    if np.any(f.zb != 0):
        return Fallback("B zero point is not 0 (CMSIS-NN needs symmetric weights)")
    q = cmsis_quant(f.table)
    if isinstance(q, Fallback):
        return q
    mult, shift = q
    per_channel = not (np.all(mult == mult[0]) and np.all(shift == shift[0]))
    wt = ctx.derived_const("cmsis_filter", np.ascontiguousarray(f.bt).astype(np.int8))
    params, args = ctx.params_for([f.a], [0])
    tables = [wt]
    params += ("const int8_t *c0",)
    bias = "NULL"
    if f.bias is not None:
        tables.append(ctx.derived_const("cmsis_bias", np.asarray(f.bias, dtype=np.int32)))
        params += ("const int32_t *c1",)
        bias = "c1"
    act = f"{{{f.bounds[0]}, {f.bounds[1]}}}"
    body = [f"static const cmsis_nn_fc_params fp = {{{-f.za}, 0, {f.zy}, {act}}};",
            f"static const cmsis_nn_dims in_d = {_dims(f.rows, 1, 1, f.k)};",
            f"static const cmsis_nn_dims f_d = {_dims(f.k, 1, 1, f.n)};",
            f"static const cmsis_nn_dims b_d = {_dims(1, 1, 1, f.n)};",
            f"static const cmsis_nn_dims out_d = {_dims(f.rows, 1, 1, f.n)};",
            "const cmsis_nn_context ctx = {NULL, 0};"]
    if per_channel:
        k = len(tables)
        tables += [ctx.derived_const("cmsis_multiplier", mult), ctx.derived_const("cmsis_shift", shift)]
        params += (f"const int32_t *c{k}", f"const int32_t *c{k + 1}")
        body.append(f"const cmsis_nn_per_channel_quant_params qp = {{(int32_t *)c{k}, (int32_t *)c{k + 1}}};")
        fn = "arm_fully_connected_per_channel_s8"
    else:
        body.append(f"static const cmsis_nn_per_tensor_quant_params qp = {{{int(mult[0])}, {int(shift[0])}}};")
        fn = "arm_fully_connected_s8"
    body += _call_block(f"{fn}(&ctx, &fp, &qp, &in_d, x{f.a}, &f_d, c0, &b_d, {bias}, &out_d, y0)",
                        "arm_fully_connected_s8_get_buffer_size(&f_d)", 0)
    body.append("return ZONNX_OK;")
    text = "\n".join("    " + s for s in body)
    step = Step(KernelFn("cmsis_fc", params, text, status=True), args + tuple(tables))
    return Lowered([step], macs=f.rows * f.n * f.k, backend=BACKEND, includes=(HEADER,), note=fn)


__all__ = ["ConvArgs", "FcArgs", "Fallback", "conv", "fully_connected", "cmsis_quant"]
