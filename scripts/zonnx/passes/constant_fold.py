"""Constant folding: nodes whose inputs are all known become constants.

Values come from onnx.reference, so folding agrees with the ONNX oracle by
construction. Shape and Size fold from static shapes, which is what turns
Shape -> Gather -> Concat -> Reshape chains and ConstantOfShape/Range into
plain constants. Folding stops where it would create a constant much larger
than its inputs (Expand of a scalar to a big tensor stays a kernel).
"""

from __future__ import annotations


import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..ir import Graph, Tensor, dtype_of_numpy

MAX_GROWTH_BYTES = 64 * 1024
_NEVER = {"RandomUniform", "RandomNormal", "RandomUniformLike", "RandomNormalLike",
          "Bernoulli", "Multinomial", "If", "Loop", "Scan", "SequenceConstruct"}


def _shape_value(node, g: Graph) -> np.ndarray | None:
    t = g.tensors.get(node.inputs[0])
    if t is None or any(d < 0 for d in t.shape):
        return None
    if node.op_type == "Size":
        return np.array(t.size, dtype=np.int64)
    shape = np.array(t.shape, dtype=np.int64)
    start, end = node.attrs.get("start", 0), node.attrs.get("end", None)
    return shape[start:end]


def _evaluate(node, g: Graph) -> list[np.ndarray] | None:
    from onnx.reference import ReferenceEvaluator

    inputs = [n for n in node.inputs if n]
    onnx_node = helper.make_node(node.op_type, list(node.inputs), list(node.outputs),
                                 domain=node.domain or None)
    for k, v in node.attrs.items():
        if k.startswith("_") or isinstance(v, onnx.AttributeProto):
            return None
        onnx_node.attribute.append(helper.make_attribute(
            k, numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v))
    inits = [numpy_helper.from_array(np.asarray(g.tensors[n].data), n) for n in dict.fromkeys(inputs)]
    outs = [helper.make_tensor_value_info(o, 0, None) for o in node.outputs if o]
    graph = helper.make_graph([onnx_node], "fold", [], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v)
                                                    for d, v in g.opsets.items()])
    try:
        results = ReferenceEvaluator(model).run(None, {})
    except Exception:
        return None  # left to the op's kernel, or rejected there with a clear reason
    return [np.asarray(r) for r in results]


def _fold_once(g: Graph) -> tuple[Graph, bool]:
    tensors = dict(g.tensors)
    keep, changed = [], False
    for node in g.nodes:
        values = None
        if node.domain == "" and node.op_type == "CastLike" and tensors[node.inputs[0]].is_const \
                and node.inputs[1] in tensors and tensors[node.inputs[1]].dtype.supported:
            # only the second input's type matters
            values = [np.asarray(tensors[node.inputs[0]].data).astype(tensors[node.inputs[1]].dtype.np)]
        elif node.domain == "" and node.op_type in ("Shape", "Size"):
            values = [_shape_value(node, g.replace(tensors=tensors))]
            values = None if values[0] is None else values
        elif (node.op_type not in _NEVER and node.inputs is not None
              and all(not n or tensors.get(n) is not None and tensors[n].is_const for n in node.inputs)
              and not any(isinstance(v, onnx.AttributeProto) for v in node.attrs.values())):
            in_bytes = sum(tensors[n].nbytes for n in node.inputs if n)
            values = _evaluate(node, g.replace(tensors=tensors))
            if values is not None and sum(v.nbytes for v in values) > max(in_bytes, MAX_GROWTH_BYTES):
                values = None
        if values is None or any(dtype_of_numpy(v) is None for v in values):
            keep.append(node)
            continue
        for name, v in zip([o for o in node.outputs if o], values):
            tensors[name] = Tensor(name, dtype_of_numpy(v), tuple(v.shape), v)
        changed = True
    return g.replace(nodes=tuple(keep), tensors=tensors), changed


def fold_constants(g: Graph) -> Graph:
    from ..load import reinfer

    for _ in range(8):
        g, changed = _fold_once(g)
        if not changed:
            break
        g = reinfer(g)
    return g


__all__ = ["fold_constants"]
