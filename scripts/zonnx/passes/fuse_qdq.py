"""QDQ fusion: the float islands of a QDQ model (as written by onnxruntime's
`quantize_static(..., quant_format=QuantFormat.QDQ)`) become integer nodes,
which is what onnxruntime itself executes for these patterns (its QDQ
transformers fuse them into integer kernels before running).

    DequantizeLinear(x_q) ----------------------\
    DequantizeLinear(w_q, constant) -------------> Conv -> [Relu | Clip] -> QuantizeLinear
    [DequantizeLinear(b_q int32, constant)] -----/
        ==>  QLinearConv(x_q, w_q, b_q) [-> Clip on the integer output]

    DQ(a_q) -> MatMul <- DQ(b_q) -> [Relu | Clip] -> Q   ==>  QLinearMatMul [-> Clip]
    DQ(a_q) -> Gemm <- DQ(b_q constant) [, DQ(c int32)] -> [Relu | Clip] -> Q
                                                        ==>  com.microsoft QGemm [-> Clip]

(passes/_qdq_linear.py), the com.microsoft QLinear* ops onnxruntime uses
for Add, Mul, AveragePool, GlobalAveragePool, Concat, Softmax, Sigmoid and
LeakyRelu (passes/_qdq_ms.py), a zonnx QLookup table for any other
element-wise function (Tanh, HardSwish, Gelu...; passes/_qdq_lookup.py) and
data movement on the integer tensor (Reshape, Transpose, MaxPool...;
passes/_qdq_move.py).

Conditions (otherwise the island is left as it is: float op between its
DequantizeLinear / QuantizeLinear, which the existing lowerings run):

* activations (x, a, y) are quantized per tensor with constant positive
  scales and constant zero points, 8-bit; weights are int8/uint8, per tensor
  or per output channel (Conv: axis 0; MatMul: the last axis of B; Gemm: the
  axis of N) with constant scales and zero points;
* a Conv / Gemm bias is DequantizeLinear of a constant int32 [M] with zero
  point 0 and scale x_scale * w_scale (Gemm: times alpha; float32 product,
  per channel, within 1e-6 relative): then the int32 values are exactly the
  bias in accumulator units and become the fused node's bias input. Any
  other bias rejects the fusion;
* the producer's output (and the activation's) has no other reader and is no
  graph output.

Activations: QuantizeLinear is monotone, so Q(max(v, lo)) = max(Q(v), Q(lo))
and likewise for min: Relu becomes a clamp at Q(0) = zp_y and Clip with
constant bounds a clamp at [Q(lo), Q(hi)] of the integer result. A clamp that
the output range already implies (zp_y == qmin for Relu, as in every model
onnxruntime's quantizer writes) is dropped; otherwise, after Conv / MatMul /
Gemm it is a Clip on the integer tensor (ONNX Clip on int8/uint8, opset >= 12;
before that the island stays float), folded into a lookup table, and after
the com.microsoft ops the island stays float (as onnxruntime leaves it).

Fused nodes carry the attribute `_quant = "int8"` (an annotation, dropped
when the graph is written back as ONNX); fused com.microsoft / zonnx nodes
add their domain (version 1) to the graph's opsets.

Order: this pass runs before fold-constants. From opset 19 on, onnx.reference
evaluates DequantizeLinear, so fold-constants would turn DequantizeLinear of
the constant weights into float weights and the pattern (and its scales) would
be gone. It runs before fold-batchnorm and fuse-activations so that the Relu /
Clip between the producer and QuantizeLinear is still a node here (the float
islands left behind get their activations fused afterwards).
"""

from __future__ import annotations

import numpy as np

from ._names import add_const, fresh_name
from ._qdq_linear import fuse_linear
from ._qdq_lookup import fuse_lookup
from ._qdq_move import push_through
from ._qdq_ms import fuse_ms
from ._qdq_util import QRANGE, Match, Rewrite, clamp, match_output
from ..ir import DTYPE_BY_NAME, Graph, Node, Tensor


def fuse_qdq(g: Graph) -> Graph:
    return push_through(_fuse_islands(g))


def _with_clamp(st: Rewrite, m: Match, fused: Node, bounds: tuple[int, int]) -> list[Node]:
    """The fused node, then a Clip to `bounds` on its integer output unless
    the output type's range is already that."""
    if bounds == QRANGE[m.y.dtype]:
        return [fused]
    yt = st.g.tensors[m.y.q]
    pre = fresh_name(f"{m.y.q}_unclamped", st.taken)
    st.tensors[pre] = Tensor(pre, yt.dtype, yt.shape)
    np_t = DTYPE_BY_NAME[m.y.dtype].np
    qlo = add_const(st.tensors, st.taken, f"{m.p.name}_clamp_min", np.array(bounds[0], dtype=np_t))
    qhi = add_const(st.tensors, st.taken, f"{m.p.name}_clamp_max", np.array(bounds[1], dtype=np_t))
    return [Node(fused.name, fused.op_type, fused.inputs, (pre,), fused.attrs, fused.domain),
            Node(fresh_name(f"{m.p.name}_clamp", st.taken), "Clip", (pre, qlo, qhi), (m.y.q,),
                 {"_quant": "int8"}, "")]


def _fuse_islands(g: Graph) -> Graph:
    st = Rewrite(g)
    for i, q in enumerate(g.nodes):
        scratch = dict(st.tensors)         # zero points made up for a match that fails are dropped
        m = match_output(g, q, st.producers, st.users, scratch, st.taken)
        if m is None:
            continue
        fused: Node | None = None
        bounds = clamp(g, m.act, m.ys, m.zy, m.y.dtype)
        if bounds is not None and (bounds == QRANGE[m.y.dtype] or g.opset("") >= 12):
            fused = fuse_linear(st, m, scratch)    # Clip on integers needs opset 12
        fused = fused or fuse_ms(st, m, scratch) or fuse_lookup(st, m, scratch)
        if fused is None:
            continue
        st.tensors = scratch
        out = _with_clamp(st, m, fused, bounds) if fused.op_type in ("QLinearConv", "QLinearMatMul",
                                                                     "QGemm") else [fused]
        for n in (m.p, m.act):
            if n is not None:
                st.remove(n)
        st.slots[i] = out
        if fused.domain:
            st.opsets.setdefault(fused.domain, 1)
    return st.graph()


__all__ = ["fuse_qdq"]
