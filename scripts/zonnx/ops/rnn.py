"""RNN (inference): H_t = f(W.X_t + R.H_{t-1} + Wb + Rb), all directions,
clip, custom activation, layout 0/1, sequence_lens, Y/Y_h."""

from __future__ import annotations

from ._rnn_util import RnnSpec, gate_rows, lower_recurrent, parse_rnn
from .base import LowerCtx, Lowered, Op, register


def _cell(spec: RnnSpec, d: int) -> str:
    h = spec.hidden
    (f,) = spec.acts[d]
    return "\n".join([
        gate_rows(spec, d, 0, h, 0, x=True, hvec="hb", biases="WR"),
        f"for (int32_t j = 0; j < {h}; j++) {{",
        f"    const float a = {spec.clamp('g[j]')};",
        f"    hb[j] = {f('a')};",
        "}",
    ])


@register
class RNN(Op):
    op_types = ("RNN",)
    since = 7
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        spec = parse_rnn(ctx, 1, ("Tanh",))
        return lower_recurrent(ctx, spec, "rnn", lambda d: _cell(spec, d),
                               n_states=1, gate_floats=spec.hidden)
