"""Conversion between onnx.ModelProto and the zonnx IR, both ways.

`to_onnx` exists so that ONNX shape inference and the reference evaluator can
be applied to a transformed graph (constant folding, pass tests).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .errors import ZonnxError
from .ir import DTYPE_BY_ONNX, Graph, Node, Tensor, dtype_of_numpy, unsupported_dtype


def _attr_value(a: onnx.AttributeProto) -> Any:
    if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
        return a  # kept opaque; ops with subgraphs are rejected at lowering
    if a.type == onnx.AttributeProto.SPARSE_TENSOR:
        return a
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [s.decode("utf-8", "replace") for s in v]
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if a.type in (onnx.AttributeProto.INTS, onnx.AttributeProto.FLOATS):
        return list(v)
    return v


def _value_info(vi: onnx.ValueInfoProto) -> tuple[int, tuple[Any, ...] | None]:
    """(elem_type, dims) with None dims for unknown/symbolic ones."""
    tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
    if tt is None:
        return 0, None
    if not tt.HasField("shape"):
        return tt.elem_type, None
    dims = []
    for d in tt.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
    return tt.elem_type, tuple(dims)


def from_onnx(model: onnx.ModelProto, source: str = "", sha256: str = "") -> Graph:
    g = model.graph
    opsets = {(o.domain if o.domain != "ai.onnx" else ""): o.version for o in model.opset_import}
    tensors: dict[str, Tensor] = {}

    def add_info(vi: onnx.ValueInfoProto) -> None:
        if vi.name in tensors:
            return
        et, dims = _value_info(vi)
        dt = DTYPE_BY_ONNX.get(et) or unsupported_dtype(et)
        if dims is None:
            shape: tuple[int, ...] = (-1,)          # rank unknown
        else:
            shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in dims)
        tensors[vi.name] = Tensor(vi.name, dt, shape)

    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        dt = dtype_of_numpy(arr)
        if dt is None:
            raise ZonnxError(f"initializer '{init.name}' has unsupported data type {arr.dtype}")
        tensors[init.name] = Tensor(init.name, dt, tuple(arr.shape), arr)
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        add_info(vi)

    nodes = []
    for i, n in enumerate(g.node):
        attrs = {a.name: _attr_value(a) for a in n.attribute}
        name = n.name or f"{n.op_type}_{i}"
        nodes.append(Node(name, n.op_type, tuple(n.input), tuple(n.output), attrs,
                          n.domain if n.domain != "ai.onnx" else ""))
    inits = {i.name for i in g.initializer}
    inputs = tuple(i.name for i in g.input if i.name not in inits)
    outputs = tuple(o.name for o in g.output)
    return Graph(g.name or "graph", tuple(nodes), tensors, inputs, outputs, opsets,
                 source, sha256, model.ir_version)


def _make_attr(key: str, v: Any) -> onnx.AttributeProto:
    if isinstance(v, onnx.AttributeProto):
        return v
    if isinstance(v, np.ndarray):
        return helper.make_attribute(key, numpy_helper.from_array(v))
    return helper.make_attribute(key, v)


def to_onnx(g: Graph, *, with_value_info: bool = True) -> onnx.ModelProto:
    def vi(name: str) -> onnx.ValueInfoProto:
        t = g.tensors[name]
        shape = None if any(d < 0 for d in t.shape) else list(t.shape)
        return helper.make_tensor_value_info(name, t.dtype.onnx, shape)

    nodes = []
    for n in g.nodes:
        node = helper.make_node(n.op_type, list(n.inputs), list(n.outputs), name=n.name,
                                domain=n.domain or None)
        # '_'-prefixed attributes are zonnx annotations (fused activations), not ONNX
        node.attribute.extend(_make_attr(k, v) for k, v in n.attrs.items() if not k.startswith("_"))
        nodes.append(node)
    used = {x for n in g.nodes for x in n.inputs if x} | set(g.outputs)
    inits = [numpy_helper.from_array(np.asarray(t.data), t.name)
             for t in g.tensors.values() if t.is_const and t.name in used]
    produced = {o for n in g.nodes for o in n.outputs}
    known = [vi(name) for name, t in g.tensors.items()
             if with_value_info and not t.is_const and name in produced and name not in g.outputs
             and all(d >= 0 for d in t.shape) and t.shape != (-1,)]
    graph = helper.make_graph(nodes, g.name, [vi(i) for i in g.inputs], [vi(o) for o in g.outputs],
                              inits, value_info=known)
    opsets = [helper.make_opsetid(d, v) for d, v in g.opsets.items()]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = max(g.ir_version, 3)
    return model
