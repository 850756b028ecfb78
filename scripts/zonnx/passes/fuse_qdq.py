"""QDQ fusion: the float islands of a QDQ model (as written by onnxruntime's
`quantize_static(..., quant_format=QuantFormat.QDQ)`) become integer nodes.

    DequantizeLinear(x_q) ----------------------\
    DequantizeLinear(w_q, constant) -------------> Conv -> [Relu | Clip] -> QuantizeLinear
    [DequantizeLinear(b_q int32, constant)] -----/
        ==>  QLinearConv(x_q, w_q, b_q) [-> Clip on the integer output]

    DequantizeLinear(a_q) -> MatMul <- DequantizeLinear(b_q) -> [Relu | Clip] -> QuantizeLinear
        ==>  QLinearMatMul [-> Clip on the integer output]

which is what onnxruntime itself executes for these patterns (its QDQ
transformers fuse them into integer kernels before running).

Conditions (otherwise the island is left as it is: float op between its
DequantizeLinear / QuantizeLinear, which the existing lowerings run):

* x / a and y are quantized per tensor with constant scales and zero points,
  8-bit; weights are int8/uint8, per tensor or per output channel (Conv: axis
  0; MatMul: the last axis of B) with constant scales and zero points;
* a Conv bias is DequantizeLinear of a constant int32 [M] with zero point 0
  and scale x_scale * w_scale (float32 product, per channel, within 1e-6
  relative): then the int32 values are exactly the bias in accumulator units
  and become QLinearConv's bias input. Any other bias rejects the fusion;
* the producer's output (and the activation's) has no other reader and is no
  graph output.

Activations: QuantizeLinear is monotone, so Q(max(v, lo)) = max(Q(v), Q(lo))
and likewise for min: Relu becomes a clamp at Q(0) = zp_y and Clip with
constant bounds a clamp at [Q(lo), Q(hi)] of the integer result. A clamp that
the output range already implies (zp_y == qmin for Relu, as in every model
onnxruntime's quantizer writes) is dropped; otherwise it is a Clip on the
integer tensor (ONNX Clip on int8/uint8, opset >= 12; before that the island
stays float).

Data movement: DequantizeLinear -> Reshape / Flatten / Squeeze / Unsqueeze /
Transpose / MaxPool -> QuantizeLinear with equal per-tensor scale and zero
point runs the op on the integer tensor (exact: Q(DQ(v)) == v and DQ is
increasing, so it commutes with max), as onnxruntime does.

Fused nodes carry the attribute `_quant = "int8"` (an annotation, dropped
when the graph is written back as ONNX).

Order: this pass runs before fold-constants. From opset 19 on, onnx.reference
evaluates DequantizeLinear, so fold-constants would turn DequantizeLinear of
the constant weights into float weights and the pattern (and its scales) would
be gone. It runs before fold-batchnorm and fuse-activations so that the Relu /
Clip between the producer and QuantizeLinear is still a node here (the float
islands left behind get their activations fused afterwards).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._names import add_const, fresh_name
from ..ir import DTYPE_BY_NAME, FLOAT32, Graph, Node, Tensor

_QRANGE = {"int8": (-128, 127), "uint8": (0, 255)}
_FLT_MAX = float(np.finfo(np.float32).max)
_BIAS_RTOL = 1e-6

Tensors = dict[str, Tensor]


# -- small helpers ---------------------------------------------------------------------

def _const(g: Graph, name: str) -> np.ndarray | None:
    return g.const(name) if name else None


def _single(arr: np.ndarray | None):
    """The one value of a per-tensor scale / zero point, or None."""
    if arr is None:
        return None
    flat = np.asarray(arr).reshape(-1)
    if flat.size == 0 or not np.all(flat == flat[0]):
        return None
    return flat[0]


def _plain(n: Node | None, op_type: str) -> bool:
    return n is not None and n.op_type == op_type and n.domain in ("", "ai.onnx")


def _no_blocks(n: Node) -> bool:
    """Opset-21 blocked quantization and explicit output types are not handled."""
    return not n.attr("block_size", 0) and n.attr("output_dtype", 0) == 0


class _Q:
    """One side of a quantized tensor: the integer tensor and its scale / zero point names."""

    def __init__(self, q: str, scale: str, zp: str, dtype: str):
        self.q, self.scale, self.zp, self.dtype = q, scale, zp, dtype


def _int8(g: Graph, name: str) -> str | None:
    t = g.tensors.get(name)
    return t.dtype.name if t is not None and t.dtype.name in _QRANGE else None


def _zero_point(g: Graph, node: Node, i: int, dtype: str, tensors: Tensors, taken: set[str],
                n: int = 1) -> str | None:
    """Name of node's constant zero point input i (of `dtype`), made up as
    zeros when absent; None when run-time or of another type."""
    name = node.input(i)
    if not name:
        return add_const(tensors, taken, f"{node.name or node.outputs[0]}_zero_point",
                          np.zeros(() if n == 1 else (n,), dtype=DTYPE_BY_NAME[dtype].np))
    t = g.tensors.get(name)
    return name if t is not None and t.is_const and t.dtype.name == dtype else None


def _per_tensor_dq(g: Graph, dq: Node | None, tensors: Tensors, taken: set[str]) -> _Q | None:
    """An activation DequantizeLinear quantized per tensor with constant parameters."""
    if not _plain(dq, "DequantizeLinear") or not _no_blocks(dq):
        return None
    dt = _int8(g, dq.input(0))
    s = _const(g, dq.input(1))
    if dt is None or s is None or g.tensors[dq.input(1)].dtype != FLOAT32 or _single(s) is None:
        return None
    if dq.input(2) and _single(_const(g, dq.input(2))) is None:
        return None
    zp = _zero_point(g, dq, 2, dt, tensors, taken)
    return None if zp is None else _Q(dq.input(0), dq.input(1), zp, dt)


def _per_axis_dq(g: Graph, dq: Node | None, axis: int, tensors: Tensors, taken: set[str],
                 need_const: bool) -> tuple[_Q, np.ndarray] | None:
    """A weight DequantizeLinear, per tensor or per `axis` of the (constant)
    weights; returns it and the scales as a float32 vector (1 or n values)."""
    if not _plain(dq, "DequantizeLinear") or not _no_blocks(dq):
        return None
    wname = dq.input(0)
    dt = _int8(g, wname)
    w = g.tensors.get(wname)
    s = _const(g, dq.input(1))
    if dt is None or s is None or g.tensors[dq.input(1)].dtype != FLOAT32 or (need_const and not w.is_const):
        return None
    rank = len(w.shape)
    s = np.asarray(s)
    zp_arr = _const(g, dq.input(2)) if dq.input(2) else np.zeros(1, dtype=DTYPE_BY_NAME[dt].np)
    if zp_arr is None:
        return None
    zp_arr = np.asarray(zp_arr)
    if s.size == 1 and zp_arr.size == 1:
        per = 1
    else:
        if s.ndim != 1 or rank == 0 or dq.attr("axis", 1) % rank != axis % rank:
            return None
        per = w.shape[axis]
        if s.shape != (per,) or zp_arr.size not in (1, per) or zp_arr.ndim > 1:
            return None
    zp = _zero_point(g, dq, 2, dt, tensors, taken)
    if zp is None:
        return None
    return _Q(wname, dq.input(1), zp, dt), s.astype(np.float32).reshape(-1)


# -- the quantized output and the activation before it ------------------------------------

def _quantize(v: float, scale: float, zp: int, dtype: str) -> int:
    """QuantizeLinear of one float value (float32 division, round half to even, saturate)."""
    lo, hi = _QRANGE[dtype]
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


def _clamp(g: Graph, act: Node | None, ys: float, zy: int, dtype: str) -> tuple[int, int] | None:
    """Integer bounds equivalent to the activation (the full range without one);
    None when the activation cannot be folded exactly."""
    lo, hi = _QRANGE[dtype]
    if act is None:
        return lo, hi
    if _plain(act, "Relu"):
        return max(lo, zy), hi
    if _plain(act, "Clip"):
        b = _clip_bounds(g, act)
        if b is None or any(math.isnan(v) for v in b):
            return None
        return _quantize(b[0], ys, zy, dtype), _quantize(b[1], ys, zy, dtype)
    return None


# -- matching ------------------------------------------------------------------------------

class _Match:
    def __init__(self, q: Node, act: Node | None, p: Node, ys: float, zy: int, y: _Q):
        self.q, self.act, self.p, self.ys, self.zy, self.y = q, act, p, ys, zy, y


def _only_reader(g: Graph, name: str, users: dict[str, list[int]]) -> bool:
    return name not in g.outputs and len(users.get(name, ())) == 1


def _match_output(g: Graph, q: Node, producers: dict[str, int], users: dict[str, list[int]],
                  tensors: Tensors, taken: set[str]) -> _Match | None:
    """QuantizeLinear <- [Relu | Clip] <- producer, with a per-tensor constant y scale."""
    if not _plain(q, "QuantizeLinear") or not _no_blocks(q) or len(q.outputs) != 1:
        return None
    dt = _int8(g, q.outputs[0])
    ys = _single(_const(g, q.input(1)))
    if dt is None or ys is None or g.tensors[q.input(1)].dtype != FLOAT32:
        return None
    zy_arr = _const(g, q.input(2)) if q.input(2) else np.zeros(1)
    if _single(zy_arr) is None:
        return None
    zp = _zero_point(g, q, 2, dt, tensors, taken)
    if zp is None:
        return None
    y = _Q(q.outputs[0], q.input(1), zp, dt)
    t = q.input(0)
    j = producers.get(t)
    if j is None or not _only_reader(g, t, users):
        return None
    act: Node | None = None
    p = g.nodes[j]
    if p.op_type in ("Relu", "Clip"):
        act = p
        t = act.input(0)
        j = producers.get(t)
        if j is None or not _only_reader(g, t, users) or len(act.outputs) != 1:
            return None
        p = g.nodes[j]
    if p.domain not in ("", "ai.onnx") or p.op_type not in ("Conv", "MatMul") or len(p.outputs) != 1:
        return None
    if any(k.startswith("_") for k in p.attrs):
        return None
    return _Match(q, act, p, float(ys), int(_single(zy_arr)), y)


def _conv_node(g: Graph, m: _Match, producers: dict[str, int], tensors: Tensors,
               taken: set[str]) -> Node | None:
    p = m.p
    node_of = lambda name: g.nodes[producers[name]] if name in producers else None  # noqa: E731
    x = _per_tensor_dq(g, node_of(p.input(0)), tensors, taken)
    w_dq = node_of(p.input(1))
    wt = g.tensors.get(w_dq.input(0)) if w_dq is not None else None
    if x is None or wt is None or len(wt.shape) < 3:
        return None
    wq = _per_axis_dq(g, w_dq, 0, tensors, taken, need_const=True)
    if wq is None:
        return None
    w, ws = wq
    inputs = [x.q, x.scale, x.zp, w.q, w.scale, w.zp, m.y.scale, m.y.zp]
    if p.input(2):
        bias = _bias(g, node_of(p.input(2)), float(_single(g.const(x.scale))), ws, wt.shape[0])
        if bias is None:
            return None
        inputs.append(bias)
    attrs = {k: v for k, v in p.attrs.items() if not k.startswith("_")}
    return Node(p.name, "QLinearConv", tuple(inputs), (m.y.q,), {**attrs, "_quant": "int8"}, "")


def _bias(g: Graph, dq: Node | None, xs: float, ws: np.ndarray, mch: int) -> str | None:
    """The int32 tensor of a bias DequantizeLinear usable as QLinearConv's bias."""
    if not _plain(dq, "DequantizeLinear") or not _no_blocks(dq):
        return None
    b = g.tensors.get(dq.input(0))
    bs = _const(g, dq.input(1))
    if b is None or not b.is_const or b.dtype.name != "int32" or tuple(b.shape) != (mch,) or bs is None:
        return None
    if dq.input(2):
        bz = _const(g, dq.input(2))
        if bz is None or np.any(np.asarray(bz) != 0):
            return None
    bs = np.asarray(bs, dtype=np.float32).reshape(-1)
    if bs.size not in (1, mch):
        return None
    want = np.float32(xs) * np.broadcast_to(ws, (mch,)).astype(np.float32)
    if not np.allclose(np.broadcast_to(bs, (mch,)), want, rtol=_BIAS_RTOL, atol=0.0):
        return None
    return dq.input(0)


def _matmul_node(g: Graph, m: _Match, producers: dict[str, int], tensors: Tensors,
                 taken: set[str]) -> Node | None:
    p = m.p
    node_of = lambda name: g.nodes[producers[name]] if name in producers else None  # noqa: E731
    a = _per_tensor_dq(g, node_of(p.input(0)), tensors, taken)
    b_dq = node_of(p.input(1))
    bt = g.tensors.get(b_dq.input(0)) if b_dq is not None else None
    if a is None or bt is None or not bt.shape:
        return None
    bq = _per_axis_dq(g, b_dq, len(bt.shape) - 1, tensors, taken, need_const=False)
    if bq is None or (len(bt.shape) == 1 and bq[1].size != 1):
        return None
    b = bq[0]
    inputs = (a.q, a.scale, a.zp, b.q, b.scale, b.zp, m.y.scale, m.y.zp)
    return Node(p.name, "QLinearMatMul", inputs, (m.y.q,), {"_quant": "int8"}, "")


# -- data movement between a DequantizeLinear and a QuantizeLinear -------------------------------

_MOVERS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "MaxPool")


def _same_params(g: Graph, dq: Node, q: Node) -> bool:
    """dq and q quantize per tensor with equal constant (positive) scales and zero points."""
    if not (_no_blocks(dq) and _no_blocks(q)):
        return False
    s1, s2 = _single(_const(g, dq.input(1))), _single(_const(g, q.input(1)))
    if s1 is None or s2 is None or not s1 == s2 or not s1 > 0:
        return False
    dt_in, dt_out = _int8(g, dq.input(0)), _int8(g, q.outputs[0])
    if dt_in is None or dt_in != dt_out:
        return False
    z1 = _single(_const(g, dq.input(2))) if dq.input(2) else 0
    z2 = _single(_const(g, q.input(2))) if q.input(2) else 0
    return z1 is not None and z2 is not None and int(z1) == int(z2)


def _push_through(g: Graph) -> Graph:
    """DequantizeLinear -> Reshape / Flatten / (Un)Squeeze / Transpose / MaxPool ->
    QuantizeLinear with the same scale and zero point: the op runs on the
    integer tensor. Exact: Q(DQ(v)) == v for 8-bit v (the float32 error of
    (v - zp) * s / s is far below 1/2), and DQ is increasing, so it commutes
    with max (MaxPool's padding is never selected either way)."""
    nodes: list[Node | None] = list(g.nodes)
    tensors = dict(g.tensors)
    users = g.consumers()
    producers = g.producers()
    for i, op in enumerate(g.nodes):
        if op.op_type not in _MOVERS or op.domain not in ("", "ai.onnx") or len(op.outputs) != 1:
            continue
        if any(k.startswith("_") for k in op.attrs):
            continue
        j = producers.get(op.input(0))
        dq = g.nodes[j] if j is not None else None
        t = op.outputs[0]
        if not _plain(dq, "DequantizeLinear") or not _only_reader(g, t, users):
            continue
        q = g.nodes[users[t][0]]
        if not _plain(q, "QuantizeLinear") or len(q.outputs) != 1 or not _same_params(g, dq, q):
            continue
        nodes[i] = Node(op.name, op.op_type, (dq.input(0),) + op.inputs[1:], q.outputs,
                        {**op.attrs, "_quant": "int8"}, op.domain)
        nodes[users[t][0]] = None
        tensors.pop(t, None)
    return g.replace(nodes=tuple(n for n in nodes if n is not None), tensors=tensors)


# -- the pass --------------------------------------------------------------------------------

def fuse_qdq(g: Graph) -> Graph:
    return _push_through(_fuse_compute(g))


def _fuse_compute(g: Graph) -> Graph:
    nodes: list[Any] = [[n] for n in g.nodes]      # each slot: the nodes replacing it
    tensors = dict(g.tensors)
    users = g.consumers()
    producers = g.producers()
    taken = set(tensors) | set(g.inputs) | set(g.outputs) | {
        x for n in g.nodes for x in n.inputs + n.outputs if x}
    opset = g.opset("")
    for i, q in enumerate(g.nodes):
        scratch = dict(tensors)            # zero points made up for a match that fails are dropped
        m = _match_output(g, q, producers, users, scratch, taken)
        if m is None:
            continue
        clamp = _clamp(g, m.act, m.ys, m.zy, m.y.dtype)
        if clamp is None:
            continue
        lo, hi = _QRANGE[m.y.dtype]
        needs_clip = clamp != (lo, hi)
        if needs_clip and opset < 12:
            continue                       # Clip on integers needs opset 12
        build = _conv_node if m.p.op_type == "Conv" else _matmul_node
        fused = build(g, m, producers, scratch, taken)
        if fused is None:
            continue
        tensors = scratch
        out_nodes = [fused]
        if needs_clip:
            yt = g.tensors[m.y.q]
            pre = fresh_name(f"{m.y.q}_unclamped", taken)
            tensors[pre] = Tensor(pre, yt.dtype, yt.shape)
            np_t = DTYPE_BY_NAME[m.y.dtype].np
            qlo = add_const(tensors, taken, f"{m.p.name}_clamp_min", np.array(clamp[0], dtype=np_t))
            qhi = add_const(tensors, taken, f"{m.p.name}_clamp_max", np.array(clamp[1], dtype=np_t))
            out_nodes = [Node(fused.name, fused.op_type, fused.inputs, (pre,), fused.attrs, ""),
                         Node(fresh_name(f"{m.p.name}_clamp", taken), "Clip", (pre, qlo, qhi), (m.y.q,),
                              {"_quant": "int8"}, "")]
        for n in (m.p, m.act):
            if n is not None:
                nodes[producers[n.outputs[0]]] = []
                tensors.pop(n.outputs[0], None)
        nodes[i] = out_nodes
    return g.replace(nodes=tuple(n for slot in nodes for n in slot), tensors=tensors)


__all__ = ["fuse_qdq"]
