"""Stage 3: every node to kernel calls through the op registry.

All problems are collected before any C is written, so `inspect` can list every
unsupported node and `generate` fails on the first with its name, op and opset.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Unsupported, ZonnxError
from .ir import Graph, Node
from .ops import REGISTRY, LowerCtx, Lowered
from .ops.base import LowerOptions, schema_version


@dataclass(frozen=True)
class LoweredNode:
    node: Node
    lowered: Lowered


@dataclass(frozen=True)
class Program:
    graph: Graph
    nodes: tuple[LoweredNode, ...]
    options: LowerOptions = LowerOptions()


def _check_tensors(node: Node, g: Graph) -> None:
    for name in [n for n in node.inputs + node.outputs if n]:
        t = g.tensors.get(name)
        if t is None:
            raise Unsupported(f"tensor '{name}' has no type information")
        if not t.dtype.supported:
            raise Unsupported(f"tensor '{name}' has a data type zonnx does not support "
                              f"(ONNX type {t.dtype.onnx})")
        if any(d < 0 for d in t.shape):
            raise Unsupported(f"tensor '{name}' has a shape unknown at build time",
                              hint="give graph inputs fixed shapes with --shape, "
                                   "or bind shape-deciding inputs with --const")


def lower_node(node: Node, g: Graph, options: LowerOptions | None = None) -> Lowered:
    opset = g.opset(node.domain)
    where = dict(node=node.name, op=node.op_type, opset=opset, file=g.source or None)
    op = REGISTRY.get((node.domain, node.op_type))
    if op is None:
        dom = f" in domain '{node.domain}'" if node.domain else ""
        raise ZonnxError(f"operator {node.op_type}{dom} is not supported",
                         hint="see `zonnx ops` for the supported operators", **where)
    version = schema_version(node.op_type, node.domain, opset)
    if version is None and node.domain == "":
        raise ZonnxError(f"{node.op_type} is not defined at opset {opset}", **where)
    version = version or opset
    if version < op.since:
        raise ZonnxError(f"{node.op_type}-{version} is not supported (zonnx handles "
                         f"versions from {op.since})", **where)
    try:
        _check_tensors(node, g)
        ctx = LowerCtx(node, g, version, options)
        low = op.lower(ctx)
        low.consts.update(ctx.derived)
        return low
    except ZonnxError as e:
        e.node, e.op, e.opset = node.name, node.op_type, opset
        e.file = e.file or g.source or None
        raise


def problems(g: Graph, options: LowerOptions | None = None) -> list[tuple[Node, ZonnxError | None]]:
    """Every node with its rejection (None when it lowers)."""
    out = []
    for node in g.nodes:
        try:
            lower_node(node, g, options)
            out.append((node, None))
        except ZonnxError as e:
            out.append((node, e))
    return out


def lower(g: Graph, options: LowerOptions | None = None) -> Program:
    nodes = tuple(LoweredNode(n, lower_node(n, g, options)) for n in g.nodes)
    derived = {k: t for ln in nodes for k, t in ln.lowered.consts.items()}
    if derived:   # constants the lowerings made (transposed weights...) join the graph
        g = g.replace(tensors={**g.tensors, **derived})
    return Program(g, nodes, options or LowerOptions())
