"""Pattern-matching helpers of the fuse-qdq pass (passes/fuse_qdq.py): the
quantization parameters of DequantizeLinear / QuantizeLinear nodes, exact
folding of Relu / Clip into integer bounds, and the rewrite in progress."""

from __future__ import annotations

import math

import numpy as np

from ._names import add_const
from ..ir import DTYPE_BY_NAME, FLOAT32, Graph, Node, Tensor

QRANGE = {"int8": (-128, 127), "uint8": (0, 255)}
MS = "com.microsoft"
ZONNX = "zonnx"          # zonnx-private ops (ops/lookup.py)
_FLT_MAX = float(np.finfo(np.float32).max)

Tensors = dict[str, Tensor]


def const(g: Graph, name: str) -> np.ndarray | None:
    return g.const(name) if name else None


def single(arr: np.ndarray | None):
    """The one value of a per-tensor scale / zero point, or None."""
    if arr is None:
        return None
    flat = np.asarray(arr).reshape(-1)
    if flat.size == 0 or not np.all(flat == flat[0]):
        return None
    return flat[0]


def plain(n: Node | None, op_type: str) -> bool:
    return n is not None and n.op_type == op_type and n.domain in ("", "ai.onnx")


def no_blocks(n: Node) -> bool:
    """Opset-21 blocked quantization and explicit output types are not handled."""
    return not n.attr("block_size", 0) and n.attr("output_dtype", 0) == 0


def annotated(n: Node) -> bool:
    """The node already carries zonnx annotations (fused activation...)."""
    return any(k.startswith("_") for k in n.attrs)


class QParams:
    """One side of a quantized tensor: the integer tensor and its scale / zero point names."""

    def __init__(self, q: str, scale: str, zp: str, dtype: str):
        self.q, self.scale, self.zp, self.dtype = q, scale, zp, dtype

    def values(self, g: Graph) -> tuple[float, int]:
        """(scale, zero point) of a per-tensor parameter pair."""
        return float(single(g.const(self.scale))), int(single(g.const(self.zp)))


def int8(g: Graph, name: str) -> str | None:
    t = g.tensors.get(name)
    return t.dtype.name if t is not None and t.dtype.name in QRANGE else None


def zero_point(g: Graph, node: Node, i: int, dtype: str, tensors: Tensors, taken: set[str],
               n: int = 1) -> str | None:
    """Name of node's constant zero point input i (of `dtype`), made up as
    zeros when absent; None when run-time or of another type."""
    name = node.input(i)
    if not name:
        return add_const(tensors, taken, f"{node.name or node.outputs[0]}_zero_point",
                         np.zeros(() if n == 1 else (n,), dtype=DTYPE_BY_NAME[dtype].np))
    t = g.tensors.get(name)
    return name if t is not None and t.is_const and t.dtype.name == dtype else None


def per_tensor_dq(g: Graph, dq: Node | None, tensors: Tensors, taken: set[str]) -> QParams | None:
    """An activation DequantizeLinear quantized per tensor with constant parameters."""
    if not plain(dq, "DequantizeLinear") or not no_blocks(dq):
        return None
    dt = int8(g, dq.input(0))
    s = const(g, dq.input(1))
    if dt is None or s is None or g.tensors[dq.input(1)].dtype != FLOAT32 or single(s) is None:
        return None
    if not single(s) > 0:
        return None
    if dq.input(2) and single(const(g, dq.input(2))) is None:
        return None
    zp = zero_point(g, dq, 2, dt, tensors, taken)
    return None if zp is None else QParams(dq.input(0), dq.input(1), zp, dt)


def per_axis_dq(g: Graph, dq: Node | None, axis: int, tensors: Tensors, taken: set[str],
                need_const: bool) -> tuple[QParams, np.ndarray] | None:
    """A weight DequantizeLinear, per tensor or per `axis` of the (constant)
    weights; returns it and the scales as a float32 vector (1 or n values)."""
    if not plain(dq, "DequantizeLinear") or not no_blocks(dq):
        return None
    wname = dq.input(0)
    dt = int8(g, wname)
    w = g.tensors.get(wname)
    s = const(g, dq.input(1))
    if dt is None or s is None or g.tensors[dq.input(1)].dtype != FLOAT32 or (need_const and not w.is_const):
        return None
    rank = len(w.shape)
    s = np.asarray(s)
    zp_arr = const(g, dq.input(2)) if dq.input(2) else np.zeros(1, dtype=DTYPE_BY_NAME[dt].np)
    if zp_arr is None:
        return None
    zp_arr = np.asarray(zp_arr)
    if s.size == 1 and zp_arr.size == 1:
        pass
    else:
        if s.ndim != 1 or rank == 0 or dq.attr("axis", 1) % rank != axis % rank:
            return None
        per = w.shape[axis]
        if s.shape != (per,) or zp_arr.size not in (1, per) or zp_arr.ndim > 1:
            return None
    zp = zero_point(g, dq, 2, dt, tensors, taken)
    if zp is None:
        return None
    return QParams(wname, dq.input(1), zp, dt), s.astype(np.float32).reshape(-1)


def bias_dq(g: Graph, dq: Node | None, xs: float, ws: np.ndarray, n: int, rtol: float = 1e-6) -> str | None:
    """The int32 tensor of a bias DequantizeLinear whose values are exactly
    the bias in accumulator units: a constant int32 [n], zero point 0, scale
    x_scale * w_scale (float32 product, per channel, within `rtol`)."""
    if not plain(dq, "DequantizeLinear") or not no_blocks(dq):
        return None
    b = g.tensors.get(dq.input(0))
    bs = const(g, dq.input(1))
    if b is None or not b.is_const or b.dtype.name != "int32" or tuple(b.shape) != (n,) or bs is None:
        return None
    if dq.input(2):
        bz = const(g, dq.input(2))
        if bz is None or np.any(np.asarray(bz) != 0):
            return None
    bs = np.asarray(bs, dtype=np.float32).reshape(-1)
    if bs.size not in (1, n):
        return None
    want = np.float32(xs) * np.broadcast_to(ws, (n,)).astype(np.float32)
    if not np.allclose(np.broadcast_to(bs, (n,)), want, rtol=rtol, atol=0.0):
        return None
    return dq.input(0)


def same_params(g: Graph, dq: Node, q: Node) -> bool:
    """dq and q quantize per tensor with equal constant (positive) scales and zero points."""
    if not (no_blocks(dq) and no_blocks(q)):
        return False
    s1, s2 = single(const(g, dq.input(1))), single(const(g, q.input(1)))
    if s1 is None or s2 is None or not s1 == s2 or not s1 > 0:
        return False
    dt_in, dt_out = int8(g, dq.input(0)), int8(g, q.outputs[0])
    if dt_in is None or dt_in != dt_out:
        return False
    z1 = single(const(g, dq.input(2))) if dq.input(2) else 0
    z2 = single(const(g, q.input(2))) if q.input(2) else 0
    return z1 is not None and z2 is not None and int(z1) == int(z2)


# -- the quantized output and the activation before it ------------------------------------

def quantize(v: float, scale: float, zp: int, dtype: str) -> int:
    """QuantizeLinear of one float value (float32 division, round half to even, saturate)."""
    lo, hi = QRANGE[dtype]
    if math.isinf(v):
        return lo if v < 0 else hi
    with np.errstate(all="ignore"):
        r = float(np.float32(v) / np.float32(scale))
    if not math.isfinite(r):
        return lo if r < 0 else hi
    return int(min(max(np.rint(r) + zp, lo), hi))


def _clip_bounds(g: Graph, act: Node) -> tuple[float, float] | None:
    if g.opset("") < 11:
        return float(act.attr("min", -_FLT_MAX)), float(act.attr("max", _FLT_MAX))
    out = []
    for i, default in ((1, -math.inf), (2, math.inf)):
        if not act.input(i):
            out.append(default)
            continue
        t = g.tensors.get(act.input(i))
        if t is None or not t.is_const or t.dtype != FLOAT32 or t.size != 1:
            return None
        out.append(float(np.asarray(t.data).reshape(())))
    return out[0], out[1]


def clamp(g: Graph, act: Node | None, ys: float, zy: int, dtype: str) -> tuple[int, int] | None:
    """Integer bounds equivalent to the activation (the full range without one);
    None when the activation cannot be folded exactly. QuantizeLinear is
    monotone, so Q(max(v, lo)) = max(Q(v), Q(lo)), likewise for min."""
    lo, hi = QRANGE[dtype]
    if act is None:
        return lo, hi
    if plain(act, "Relu"):
        return max(lo, zy), hi
    if plain(act, "Clip"):
        b = _clip_bounds(g, act)
        if b is None or any(math.isnan(v) for v in b):
            return None
        lo, hi = quantize(b[0], ys, zy, dtype), quantize(b[1], ys, zy, dtype)
        return (lo, hi) if lo <= hi else None      # min > max: left to the float Clip
    return None


# -- matching ------------------------------------------------------------------------------

def only_reader(g: Graph, name: str, users: dict[str, list[int]]) -> bool:
    return name not in g.outputs and len(users.get(name, ())) == 1


class Match:
    """QuantizeLinear q <- [activation act] <- producer p; y: q's output side."""

    def __init__(self, q: Node, act: Node | None, p: Node, ys: float, zy: int, y: QParams):
        self.q, self.act, self.p, self.ys, self.zy, self.y = q, act, p, ys, zy, y


def match_output(g: Graph, q: Node, producers: dict[str, int], users: dict[str, list[int]],
                 tensors: Tensors, taken: set[str]) -> Match | None:
    """QuantizeLinear <- [Relu | Clip] <- producer (a plain ONNX node with one
    output read only here), with a per-tensor constant y scale."""
    if not plain(q, "QuantizeLinear") or not no_blocks(q) or len(q.outputs) != 1:
        return None
    dt = int8(g, q.outputs[0])
    ys = single(const(g, q.input(1)))
    if dt is None or ys is None or g.tensors[q.input(1)].dtype != FLOAT32 or not ys > 0:
        return None
    zy_arr = const(g, q.input(2)) if q.input(2) else np.zeros(1)
    if single(zy_arr) is None:
        return None
    zp = zero_point(g, q, 2, dt, tensors, taken)
    if zp is None:
        return None
    y = QParams(q.outputs[0], q.input(1), zp, dt)
    t = q.input(0)
    j = producers.get(t)
    if j is None or not only_reader(g, t, users):
        return None
    act: Node | None = None
    p = g.nodes[j]
    if plain(p, "Relu") or plain(p, "Clip"):
        act = p
        t = act.input(0)
        j = producers.get(t)
        if j is None or not only_reader(g, t, users) or len(act.outputs) != 1:
            return None
        p = g.nodes[j]
    if p.domain not in ("", "ai.onnx") or len(p.outputs) != 1 or annotated(p):
        return None
    return Match(q, act, p, float(ys), int(single(zy_arr)), y)


class Rewrite:
    """The rewrite in progress: each original node's slot holds the nodes
    replacing it; new constants go to `tensors`, new domains to `opsets`."""

    def __init__(self, g: Graph):
        self.g = g
        self.slots: list[list[Node]] = [[n] for n in g.nodes]
        self.tensors = dict(g.tensors)
        self.users = g.consumers()
        self.producers = g.producers()
        self.opsets = dict(g.opsets)
        self.taken = set(self.tensors) | set(g.inputs) | set(g.outputs) | {
            x for n in g.nodes for x in n.inputs + n.outputs if x}

    def node_of(self, name: str) -> Node | None:
        j = self.producers.get(name)
        return self.g.nodes[j] if j is not None else None

    def remove(self, n: Node) -> None:
        """Drops a node (and its output tensor) the fused node replaces."""
        self.slots[self.producers[n.outputs[0]]] = []
        self.tensors.pop(n.outputs[0], None)

    def graph(self) -> Graph:
        return self.g.replace(nodes=tuple(n for slot in self.slots for n in slot),
                              tensors=self.tensors, opsets=self.opsets)


def lowers(node: Node, g: Graph, tensors: Tensors, opsets: dict[str, int]) -> bool:
    """Whether zonnx's kernel for `node` accepts it (attributes, shapes,
    scales): a fusion is only made where the integer kernel exists."""
    from ..errors import ZonnxError
    from ..lower import lower_node
    try:
        lower_node(node, g.replace(nodes=(node,), tensors=tensors, opsets=opsets))
    except ZonnxError:
        return False
    return True
