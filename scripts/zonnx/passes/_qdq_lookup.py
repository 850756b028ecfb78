"""fuse-qdq, element-wise float functions between 8-bit quantized tensors:

    DequantizeLinear(x_q) -> f -> [Relu | Clip] -> QuantizeLinear  ==>  zonnx QLookup(x_q, table)

x_q has only 256 possible values, so the whole island is a 256-entry table
table[v] = Q(f(DQ(v))), built here at generation time: DQ in float32 as
onnxruntime does ((v - zp) * scale), f evaluated by onnx.reference on those
256 float32 values (the node itself, its attributes and constant inputs),
Q = saturate(round_half_even(y / y_scale) + zp_y) in float32, then clamped
to the activation's bounds. onnxruntime runs these islands in float (it has
no integer kernel for them), so the only differences are where its float
f(x) and onnx.reference's straddle a rounding boundary: 1 LSB, rarely.

Sigmoid and LeakyRelu with equal input and output types are left to
_qdq_ms (QLinearSigmoid / QLinearLeakyRelu, onnxruntime's own tables).
"""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

from ._names import add_const
from ._qdq_util import ZONNX, Match, Rewrite, Tensors, clamp, per_tensor_dq, plain
from ..ir import Node

# Element-wise ops of one float input (further inputs must be constants).
UNARY = frozenset({
    "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Ceil", "Celu", "Clip", "Cos",
    "Cosh", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish", "LeakyRelu",
    "Log", "Mish", "Neg", "Reciprocal", "Relu", "Round", "Selu", "Sigmoid", "Sign", "Sin",
    "Sinh", "Softplus", "Softsign", "Sqrt", "Tan", "Tanh", "ThresholdedRelu"})


def _evaluate(st: Rewrite, f: Node, tensors: Tensors, x: np.ndarray) -> np.ndarray | None:
    """f on the float32 vector x, by onnx.reference (None if it cannot)."""
    from onnx.reference import ReferenceEvaluator
    consts = []
    for name in f.inputs[1:]:
        if name:
            t = tensors.get(name)
            if t is None or not t.is_const:
                return None
            consts.append(numpy_helper.from_array(np.asarray(t.data), name))
    node = helper.make_node(f.op_type, ["x"] + list(f.inputs[1:]), ["y"])
    node.attribute.extend(helper.make_attribute(k, v) for k, v in f.attrs.items())
    graph = helper.make_graph([node], "lookup", [helper.make_tensor_value_info("x", 1, [x.size])],
                              [helper.make_tensor_value_info("y", 1, None)], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", st.g.opset(""))])
    try:
        (y,) = ReferenceEvaluator(model).run(None, {"x": x})
    except Exception:
        return None
    y = np.asarray(y)
    return y.astype(np.float32) if y.shape == x.shape else None


def fuse_lookup(st: Rewrite, m: Match, tensors: Tensors) -> Node | None:
    from ..ops._ms_quant_util import lookup_table
    g, y = st.g, m.y
    f, act = m.p, m.act
    if plain(f, "DequantizeLinear") and act is not None:
        f, act = act, None               # DQ -> Relu | Clip -> Q: the activation is f
        dq = m.p
    else:
        dq = st.node_of(f.input(0))
    if f.op_type not in UNARY or f.domain not in ("", "ai.onnx") or not f.inputs:
        return None
    if any(isinstance(v, np.ndarray) or hasattr(v, "SerializeToString") for v in f.attrs.values()):
        return None
    x = per_tensor_dq(g, dq, tensors, st.taken)
    bounds = clamp(g, act, m.ys, m.zy, y.dtype)
    if x is None or bounds is None:
        return None
    view = g.replace(tensors=tensors)
    (xs, zx), (ys, zy) = x.values(view), y.values(view)
    fails = []

    def fn(v):
        r = _evaluate(st, f, tensors, v)
        if r is None:
            fails.append(f.op_type)
            return np.zeros_like(v)
        return r

    table = lookup_table(fn, x.dtype, np.float32(xs), zx, y.dtype, np.float32(ys), zy)
    if fails:
        return None
    table = np.clip(table, *bounds).astype(table.dtype)
    name = add_const(tensors, st.taken, f"{f.name}_table", table)
    return Node(f.name, "QLookup", (x.q, name), (y.q,), {"_quant": "int8", "_function": f.op_type},
                ZONNX)
