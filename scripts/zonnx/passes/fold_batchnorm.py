"""Inference BatchNormalization folded into the Conv, ConvTranspose or Gemm before it.

Per output channel BN(y) = s * y + t with s = scale / sqrt(var + eps) and
t = B - mean * s, so the producer's weights are scaled by s along its output
channels and its bias becomes s * bias + t. Folding is computed in float64 and
stored as float32; the folded node keeps the producer's name and takes the
BN's output name.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import numpy as np

from ._names import add_const
from ..ir import FLOAT32, Graph, Node, Tensor

Tensors = dict[str, Tensor]
# (weights, bias, attribute updates) for the folded node, or None when it cannot fold
Folded = Optional[tuple[np.ndarray, np.ndarray, dict[str, Any]]]


def _const_f32(tensors: Tensors, name: str) -> np.ndarray | None:
    t = tensors.get(name) if name else None
    if t is None or not t.is_const or t.dtype != FLOAT32:
        return None
    return np.asarray(t.data, dtype=np.float64)


def _is_inference_bn(bn: Node, opset: int) -> bool:
    if bn.op_type != "BatchNormalization" or bn.domain != "":
        return False
    if not bn.output(0) or any(bn.outputs[1:]):
        return False            # running statistics requested: training form
    if opset < 7 and not bn.attr("is_test", 0):
        return False            # before opset 7, is_test=0 means batch statistics
    if opset < 9 and bn.attr("spatial", 1) != 1:
        return False            # per-activation statistics, not per channel
    return not bn.attr("training_mode", 0)


def _bn_affine(bn: Node, tensors: Tensors) -> tuple[np.ndarray, np.ndarray] | None:
    """(s, t) with BN(y) = s * y + t per channel, when all four parameters are constant."""
    params = [_const_f32(tensors, bn.input(i)) for i in range(1, 5)]
    if any(p is None or p.ndim != 1 for p in params) or len({p.shape for p in params}) != 1:
        return None
    scale, beta, mean, var = params
    s = scale / np.sqrt(var + float(bn.attr("epsilon", 1e-5)))
    return s, beta - mean * s


def _bias(tensors: Tensors, name: str, m: int) -> np.ndarray | None:
    """A Conv/ConvTranspose bias as float64 [m]; zeros when absent, None if not constant."""
    if not name:
        return np.zeros(m)
    b = _const_f32(tensors, name)
    return b if b is not None and b.shape == (m,) else None


def _per_axis(s: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """s reshaped to broadcast along `axis` of an ndim-dimensional array."""
    shape = [1] * ndim
    shape[axis] = s.size
    return s.reshape(shape)


def _fold_conv(p: Node, s: np.ndarray, t: np.ndarray, tensors: Tensors) -> Folded:
    w = _const_f32(tensors, p.input(1))          # [M, C/group, k...]
    if w is None or w.ndim < 3 or w.shape[0] != s.size:
        return None
    b = _bias(tensors, p.input(2), s.size)
    if b is None:
        return None
    return w * _per_axis(s, w.ndim, 0), b * s + t, {}


def _fold_conv_transpose(p: Node, s: np.ndarray, t: np.ndarray, tensors: Tensors) -> Folded:
    w = _const_f32(tensors, p.input(1))          # [C, M/group, k...]
    group = int(p.attr("group", 1))
    if w is None or w.ndim < 3 or group < 1 or w.shape[0] % group or w.shape[1] * group != s.size:
        return None
    b = _bias(tensors, p.input(2), s.size)
    if b is None:
        return None
    # output channel group*(M/group) + m lives at axis 1 of each group's block of rows
    c, mg = w.shape[:2]
    blocks = w.reshape(group, c // group, mg, *w.shape[2:])
    scale = s.reshape(group, 1, mg, *([1] * (w.ndim - 2)))
    return (blocks * scale).reshape(w.shape), b * s + t, {}


def _gemm_bias(p: Node, tensors: Tensors, m: int) -> np.ndarray | None:
    """beta * C as float64 [m]; C may be absent, a scalar, [1], [m], [1, 1] or [1, m]."""
    if not p.input(2):
        return np.zeros(m)
    c = _const_f32(tensors, p.input(2))
    if c is None or c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1):
        return None                              # absent, or varies along N
    row = c.reshape(c.shape[-1:] if c.ndim else (1,))
    if row.shape[0] not in (1, m):
        return None
    return np.broadcast_to(row, (m,)) * float(p.attr("beta", 1.0))


def _fold_gemm(p: Node, s: np.ndarray, t: np.ndarray, tensors: Tensors) -> Folded:
    w = _const_f32(tensors, p.input(1))          # [K, M], or [M, K] with transB
    if w is None or w.ndim != 2:
        return None
    out_axis = 0 if p.attr("transB", 0) else 1
    if w.shape[out_axis] != s.size:
        return None
    c = _gemm_bias(p, tensors, s.size)
    if c is None:
        return None
    # alpha stays on the product; beta is folded into the new bias
    return w * _per_axis(s, 2, out_axis), c * s + t, {"beta": 1.0}


_FOLDERS: dict[str, Callable[[Node, np.ndarray, np.ndarray, Tensors], Folded]] = {
    "Conv": _fold_conv,
    "ConvTranspose": _fold_conv_transpose,
    "Gemm": _fold_gemm,
}


def _foldable_producer(p: Node, x: str, g: Graph, users: dict[str, list[int]],
                       tensors: Tensors) -> bool:
    out = tensors.get(x)
    return (p.op_type in _FOLDERS and p.domain == "" and len(p.outputs) == 1
            and "_activation" not in p.attrs         # BN after a fused activation is not affine in y
            and x not in g.outputs and len(users.get(x, ())) == 1
            and out is not None and out.dtype == FLOAT32)


def fold_batchnorm(g: Graph) -> Graph:
    nodes: list[Node | None] = list(g.nodes)
    tensors = dict(g.tensors)
    users = g.consumers()
    producers = g.producers()
    taken = set(tensors) | set(g.inputs) | set(g.outputs) | {
        x for n in g.nodes for x in n.inputs + n.outputs if x}
    opset = g.opset("")
    for i, bn in enumerate(g.nodes):
        if not _is_inference_bn(bn, opset):
            continue
        x = bn.inputs[0]
        j = producers.get(x)
        p = nodes[j] if j is not None else None
        if p is None or not _foldable_producer(p, x, g, users, tensors):
            continue
        affine = _bn_affine(bn, tensors)
        folded = _FOLDERS[p.op_type](p, *affine, tensors) if affine is not None else None
        if folded is None:
            continue
        w, b, attrs = folded
        w_name = add_const(tensors, taken, f"{p.input(1)}_bnfold", w.astype(np.float32))
        b_name = add_const(tensors, taken, f"{p.name}_bnfold_bias", b.astype(np.float32))
        nodes[j] = dataclasses.replace(p, inputs=(p.inputs[0], w_name, b_name),
                                       outputs=(bn.outputs[0],), attrs={**p.attrs, **attrs})
        nodes[i] = None
        producers[bn.outputs[0]] = j          # a second BN may fold into the result
        del tensors[x]
    return g.replace(nodes=tuple(n for n in nodes if n is not None), tensors=tensors)


__all__ = ["fold_batchnorm"]
