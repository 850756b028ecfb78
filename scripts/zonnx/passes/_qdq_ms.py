"""fuse-qdq, the ops onnxruntime's QDQ transformer turns into com.microsoft
QLinear* kernels (its UnaryOpQDQRules, BinaryOpQDQRules, VariadicOpQDQRules):

    DQ(a), DQ(b) -> Add | Mul -> Q              ==>  QLinearAdd | QLinearMul
    DQ(x) -> AveragePool | GlobalAveragePool | Sigmoid | LeakyRelu | Softmax -> Q
                                                ==>  QLinearAveragePool | ...
    DQ(x1), DQ(x2)... -> Concat -> Q            ==>  QLinearConcat

as onnxruntime selects them: every data input is a DequantizeLinear (per
tensor here), inputs and output have one 8-bit type, and a Relu / Clip in
between only where the output range already implies it. A pattern is fused
only where zonnx's kernel accepts the attributes and scales (otherwise the
float island stays); see passes/fuse_qdq.py."""

from __future__ import annotations

from ._qdq_util import MS, QRANGE, Match, QParams, Rewrite, Tensors, clamp, lowers, per_tensor_dq
from ..ir import Node
from ..ops.base import schema_version

_UNARY = {"AveragePool": "QLinearAveragePool", "GlobalAveragePool": "QLinearGlobalAveragePool",
          "Sigmoid": "QLinearSigmoid", "LeakyRelu": "QLinearLeakyRelu", "Softmax": "QLinearSoftmax"}
_BINARY = {"Add": "QLinearAdd", "Mul": "QLinearMul"}
MS_OPS = tuple(_UNARY) + tuple(_BINARY) + ("Concat",)


def _inputs(st: Rewrite, names, tensors: Tensors, dtype: str) -> list[QParams] | None:
    out = []
    for name in names:
        x = per_tensor_dq(st.g, st.node_of(name), tensors, st.taken) if name else None
        if x is None or x.dtype != dtype:
            return None
        out.append(x)
    return out


def _attrs(st: Rewrite, p: Node) -> dict | None:
    attrs = dict(p.attrs)
    if p.op_type == "AveragePool" and any(int(d) != 1 for d in attrs.pop("dilations", [])):
        return None                        # QLinearAveragePool has no dilations
    if p.op_type == "Softmax":             # onnxruntime passes the schema version on
        attrs["opset"] = schema_version("Softmax", "", st.g.opset(""))
    return attrs


def fuse_ms(st: Rewrite, m: Match, tensors: Tensors) -> Node | None:
    p, y = m.p, m.y
    if p.op_type not in MS_OPS or clamp(st.g, m.act, m.ys, m.zy, y.dtype) != QRANGE[y.dtype]:
        return None
    attrs = _attrs(st, p)
    if attrs is None:
        return None
    xs = _inputs(st, p.inputs, tensors, y.dtype)
    if xs is None:
        return None
    if p.op_type in _UNARY:
        if len(xs) != 1:
            return None
        (x,) = xs
        op, ins = _UNARY[p.op_type], (x.q, x.scale, x.zp, y.scale, y.zp)
    elif p.op_type in _BINARY:
        a, b = xs
        op, ins = _BINARY[p.op_type], (a.q, a.scale, a.zp, b.q, b.scale, b.zp, y.scale, y.zp)
    else:
        op, ins = "QLinearConcat", (y.scale, y.zp) + tuple(v for x in xs for v in (x.q, x.scale, x.zp))
    node = Node(p.name, op, ins, (y.q,), {**attrs, "_quant": "int8"}, MS)
    return node if lowers(node, st.g, tensors, st.opsets) else None
