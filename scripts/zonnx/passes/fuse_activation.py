"""Activation fusion: Conv/ConvTranspose/Gemm/MatMul followed by an element-wise
activation become the producer alone, carrying `_activation = {"op", "attrs"}`
which its kernel applies on store (see ops/activation.activation_expr).

Clip fuses when its bounds are known at build time (opset-6 attributes or
constant min/max inputs); they are passed as attrs {"min": lo, "max": hi}.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ..ir import FLOAT32, Graph, Node, Tensor
from ..ops.activation import FUSABLE

_PRODUCERS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
_FLT_MAX = float(np.finfo(np.float32).max)    # opset-6 Clip attribute defaults


def _clip_bound(g: Graph, name: str, default: float) -> float | None:
    """A Clip min/max input: `default` when absent, None when not a constant scalar."""
    if not name:
        return default
    t = g.tensors.get(name)
    if t is None or not t.is_const or t.dtype != FLOAT32 or t.size != 1:
        return None
    return float(np.asarray(t.data).reshape(()))


def _clip_activation(act: Node, g: Graph) -> dict[str, Any] | None:
    if g.opset("") < 11:
        lo, hi = act.attr("min", -_FLT_MAX), act.attr("max", _FLT_MAX)
    else:
        lo, hi = _clip_bound(g, act.input(1), -math.inf), _clip_bound(g, act.input(2), math.inf)
        if lo is None or hi is None:
            return None
    return {"op": "Clip", "attrs": {"min": float(lo), "max": float(hi)}}


def _activation(act: Node, g: Graph) -> dict[str, Any] | None:
    """The `_activation` annotation equivalent to node `act`, or None."""
    if act.domain != "" or act.op_type not in FUSABLE or len(act.outputs) != 1:
        return None
    out = g.tensors.get(act.outputs[0])
    if out is None or out.dtype != FLOAT32:
        return None
    if act.op_type == "Clip":
        return _clip_activation(act, g)
    return {"op": act.op_type, "attrs": dict(act.attrs)}


def _fusable_producer(p: Node, g: Graph, users: dict[str, list[int]]) -> bool:
    if p.op_type not in _PRODUCERS or p.domain != "" or len(p.outputs) != 1:
        return False
    x = p.outputs[0]
    out: Tensor | None = g.tensors.get(x)
    return ("_activation" not in p.attrs and x not in g.outputs
            and len(users.get(x, ())) == 1 and out is not None and out.dtype == FLOAT32)


def fuse_activations(g: Graph) -> Graph:
    nodes: list[Node | None] = list(g.nodes)
    tensors = dict(g.tensors)
    users = g.consumers()
    for j, p in enumerate(g.nodes):
        if not _fusable_producer(p, g, users):
            continue
        i = users[p.outputs[0]][0]
        act = g.nodes[i]
        spec = _activation(act, g) if act.input(0) == p.outputs[0] else None
        if spec is None:
            continue
        nodes[j] = dataclasses.replace(p, outputs=act.outputs, attrs={**p.attrs, "_activation": spec})
        nodes[i] = None
        del tensors[p.outputs[0]]
    return g.replace(nodes=tuple(n for n in nodes if n is not None), tensors=tensors)


__all__ = ["fuse_activations"]
