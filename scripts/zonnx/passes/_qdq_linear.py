"""fuse-qdq, the weighted ops: DequantizeLinear'd Conv / MatMul / Gemm
islands (with an optional Relu / Clip before their QuantizeLinear) become
QLinearConv / QLinearMatMul / com.microsoft QGemm; see passes/fuse_qdq.py."""

from __future__ import annotations

import numpy as np

from ._qdq_util import MS, Match, Rewrite, Tensors, bias_dq, lowers, per_axis_dq, per_tensor_dq
from ..ir import Node

LINEAR = ("Conv", "MatMul", "Gemm")


def _conv(st: Rewrite, m: Match, tensors: Tensors) -> Node | None:
    g, p = st.g, m.p
    x = per_tensor_dq(g, st.node_of(p.input(0)), tensors, st.taken)
    w_dq = st.node_of(p.input(1))
    wt = g.tensors.get(w_dq.input(0)) if w_dq is not None else None
    if x is None or wt is None or len(wt.shape) < 3:
        return None
    wq = per_axis_dq(g, w_dq, 0, tensors, st.taken, need_const=True)
    if wq is None:
        return None
    w, ws = wq
    inputs = [x.q, x.scale, x.zp, w.q, w.scale, w.zp, m.y.scale, m.y.zp]
    if p.input(2):
        bias = bias_dq(g, st.node_of(p.input(2)), x.values(g.replace(tensors=tensors))[0], ws,
                       wt.shape[0])
        if bias is None:
            return None
        inputs.append(bias)
    return Node(p.name, "QLinearConv", tuple(inputs), (m.y.q,), {**p.attrs, "_quant": "int8"}, "")


def _matmul(st: Rewrite, m: Match, tensors: Tensors) -> Node | None:
    g, p = st.g, m.p
    a = per_tensor_dq(g, st.node_of(p.input(0)), tensors, st.taken)
    b_dq = st.node_of(p.input(1))
    bt = g.tensors.get(b_dq.input(0)) if b_dq is not None else None
    if a is None or bt is None or not bt.shape:
        return None
    bq = per_axis_dq(g, b_dq, len(bt.shape) - 1, tensors, st.taken, need_const=False)
    if bq is None or (len(bt.shape) == 1 and bq[1].size != 1):
        return None
    b = bq[0]
    inputs = (a.q, a.scale, a.zp, b.q, b.scale, b.zp, m.y.scale, m.y.zp)
    return Node(p.name, "QLinearMatMul", inputs, (m.y.q,), {"_quant": "int8"}, "")


def _gemm(st: Rewrite, m: Match, tensors: Tensors) -> Node | None:
    """Gemm -> QGemm, as onnxruntime's QDQ transformer: transA = 0, constant
    B per tensor or per column (axis 0 of B when transB, else 1), A and Y of
    one type (B int8 when A is). QGemm computes alpha * (A B + C), so a bias
    must be DequantizeLinear of an int32 [N] with scale alpha * a_scale *
    b_scale and beta must be 1: then that equals alpha A B + C exactly."""
    g, p = st.g, m.p
    if p.attr("transA", 0):
        return None
    a = per_tensor_dq(g, st.node_of(p.input(0)), tensors, st.taken)
    b_dq = st.node_of(p.input(1))
    bt = g.tensors.get(b_dq.input(0)) if b_dq is not None else None
    if a is None or bt is None or len(bt.shape) != 2 or a.dtype != m.y.dtype:
        return None
    tb = int(p.attr("transB", 0))
    n = bt.shape[0] if tb else bt.shape[1]
    bq = per_axis_dq(g, b_dq, 0 if tb else 1, tensors, st.taken, need_const=True)
    if bq is None or (a.dtype == "int8" and bq[0].dtype != "int8"):
        return None
    b, bs = bq
    alpha = np.float32(p.attr("alpha", 1.0))
    c = ""
    if p.input(2):
        if float(p.attr("beta", 1.0)) != 1.0:
            return None
        xs = a.values(g.replace(tensors=tensors))[0]
        c = bias_dq(g, st.node_of(p.input(2)), float(np.float32(xs) * alpha), bs, n)
        if c is None:
            return None
    inputs = (a.q, a.scale, a.zp, b.q, b.scale, b.zp, c, m.y.scale, m.y.zp)
    node = Node(p.name, "QGemm", inputs, (m.y.q,),
                {"transA": 0, "transB": tb, "alpha": float(alpha), "_quant": "int8"}, MS)
    return node if lowers(node, g, tensors, st.opsets) else None


def fuse_linear(st: Rewrite, m: Match, tensors: Tensors) -> Node | None:
    """The integer node replacing m.p (its output: m's quantized output), or None."""
    build = {"Conv": _conv, "MatMul": _matmul, "Gemm": _gemm}.get(m.p.op_type)
    return build(st, m, tensors) if build is not None else None
