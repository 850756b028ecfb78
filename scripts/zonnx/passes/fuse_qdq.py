"""QDQ fusion: the float islands of a QDQ model (as written by onnxruntime's
`quantize_static(..., quant_format=QuantFormat.QDQ)`) become integer nodes,
which is what onnxruntime itself executes for these patterns (its QDQ
transformers fuse them into integer kernels before running).

    DequantizeLinear(x_q) ----------------------\
    DequantizeLinear(w_q, constant) -------------> Conv -> [Relu | Clip] -> QuantizeLinear
    [DequantizeLinear(b_q int32, constant)] -----/
        ==>  QLinearConv(x_q, w_q, b_q) [_clamp = integer bounds of the activation]

    DQ(a_q) -> MatMul <- DQ(b_q) -> [Relu | Clip] -> Q   ==>  QLinearMatMul [_clamp]
    DQ(a_q) -> Gemm <- DQ(b_q constant) [, DQ(c int32)] -> [Relu | Clip] -> Q
                                                        ==>  com.microsoft QGemm [_clamp]

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
Gemm it becomes the fused node's attribute `_clamp = [lo, hi]`, the bounds its
kernel saturates to (so the CMSIS-NN kernels get it as activation min/max),
in a lookup table it is folded into the table, and after the com.microsoft
ops the island stays float (as onnxruntime leaves it).

Fused nodes carry the attribute `_quant = "int8"`; `_quant` and `_clamp` are
annotations, dropped when the graph is written back as ONNX (only zonnx's
lowerings read them). Fused com.microsoft / zonnx nodes add their domain
(version 1) to the graph's opsets.

Order: this pass runs before fold-constants. From opset 19 on, onnx.reference
evaluates DequantizeLinear, so fold-constants would turn DequantizeLinear of
the constant weights into float weights and the pattern (and its scales) would
be gone. It runs before fold-batchnorm and fuse-activations so that the Relu /
Clip between the producer and QuantizeLinear is still a node here (the float
islands left behind get their activations fused afterwards).
"""

from __future__ import annotations

from dataclasses import replace

from ._qdq_linear import fuse_linear
from ._qdq_lookup import fuse_lookup
from ._qdq_move import push_through
from ._qdq_ms import fuse_ms
from ._qdq_util import QRANGE, Rewrite, clamp, match_output
from ..ir import Graph, Node


def fuse_qdq(g: Graph) -> Graph:
    return push_through(_fuse_islands(g))


def _fuse_islands(g: Graph) -> Graph:
    st = Rewrite(g)
    for i, q in enumerate(g.nodes):
        scratch = dict(st.tensors)         # zero points made up for a match that fails are dropped
        m = match_output(g, q, st.producers, st.users, scratch, st.taken)
        if m is None:
            continue
        fused: Node | None = None
        bounds = clamp(g, m.act, m.ys, m.zy, m.y.dtype)
        if bounds is not None:
            fused = fuse_linear(st, m, scratch)
            if fused is not None and bounds != QRANGE[m.y.dtype]:
                fused = replace(fused, attrs={**fused.attrs, "_clamp": list(bounds)})
        fused = fused or fuse_ms(st, m, scratch) or fuse_lookup(st, m, scratch)
        if fused is None:
            continue
        st.tensors = scratch
        for n in (m.p, m.act):
            if n is not None:
                st.remove(n)
        st.slots[i] = [fused]
        if fused.domain:
            st.opsets.setdefault(fused.domain, 1)
    return st.graph()


__all__ = ["fuse_qdq"]
