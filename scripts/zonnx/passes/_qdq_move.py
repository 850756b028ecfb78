"""fuse-qdq, data movement: DequantizeLinear -> op -> QuantizeLinear with the
same scale and zero point on both sides runs the op on the integer tensor
(onnxruntime's DropQDQNodesRules). Exact: Q(DQ(v)) == v for 8-bit v (the
float32 error of (v - zp) * s / s is far below 1/2), and DQ is increasing,
so it commutes with max and min (MaxPool's padding is never selected either
way)."""

from __future__ import annotations

from ._qdq_util import annotated, lowers, only_reader, plain, same_params
from ..ir import Graph, Node

MOVERS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "MaxPool", "Slice", "Gather",
          "GatherElements", "Tile", "Expand", "ReduceMax", "ReduceMin")


def push_through(g: Graph) -> Graph:
    nodes: list[Node | None] = list(g.nodes)
    tensors = dict(g.tensors)
    users = g.consumers()
    producers = g.producers()
    for i, op in enumerate(g.nodes):
        if op.op_type not in MOVERS or op.domain not in ("", "ai.onnx") or len(op.outputs) != 1:
            continue
        if annotated(op):
            continue
        j = producers.get(op.input(0))
        dq = g.nodes[j] if j is not None else None
        t = op.outputs[0]
        if not plain(dq, "DequantizeLinear") or not only_reader(g, t, users):
            continue
        q = g.nodes[users[t][0]]
        if not plain(q, "QuantizeLinear") or len(q.outputs) != 1 or not same_params(g, dq, q):
            continue
        moved = Node(op.name, op.op_type, (dq.input(0),) + op.inputs[1:], q.outputs,
                     {**op.attrs, "_quant": "int8"}, op.domain)
        if op.op_type not in MOVERS[:6] and not lowers(moved, g, tensors, g.opsets):
            continue                       # zonnx's kernel for it may not take 8-bit data
        nodes[i] = moved
        nodes[users[t][0]] = None
        tensors.pop(t, None)
    return g.replace(nodes=tuple(n for n in nodes if n is not None), tensors=tensors)
