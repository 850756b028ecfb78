"""GRU (inference): both linear_before_reset forms, all directions, clip,
custom activations, layout 0/1, sequence_lens, Y/Y_h."""

from __future__ import annotations

from ._rnn_util import RnnSpec, gate_rows, lower_recurrent, parse_rnn
from .base import LowerCtx, Lowered, Op, register


def _cell(spec: RnnSpec, d: int, linear_before_reset: bool) -> str:
    """Gate order z, r, h. g holds z, r, then the candidate's input part, then
    either r * H_{t-1} (reset applied before R_h) or R_h.H_{t-1} + Rb_h (after)."""
    h = spec.hidden
    f, g = spec.acts[d]
    cl = spec.clamp
    lines = [gate_rows(spec, d, 0, 2 * h, 0, x=True, hvec="hb", biases="WR")]
    if linear_before_reset:
        lines += [gate_rows(spec, d, 2 * h, 3 * h, 2 * h, x=True, hvec=None, biases="W"),
                  gate_rows(spec, d, 2 * h, 3 * h, 3 * h, x=False, hvec="hb", biases="R")]
        pre_n = cl(f"g[{2 * h} + j] + {f('ar')} * g[{3 * h} + j]")
        cand = [f"    const float ar = {cl(f'g[{h} + j]')};",
                f"    const float an = {pre_n};"]
    else:
        lines += [f"float *rh = g + {3 * h};",
                  f"for (int32_t j = 0; j < {h}; j++) {{",
                  f"    const float ar = {cl(f'g[{h} + j]')};",
                  f"    rh[j] = {f('ar')} * hb[j];",
                  "}",
                  gate_rows(spec, d, 2 * h, 3 * h, 2 * h, x=True, hvec="rh", biases="WR")]
        cand = [f"    const float an = {cl(f'g[{2 * h} + j]')};"]
    lines += [f"for (int32_t j = 0; j < {h}; j++) {{",
              f"    const float az = {cl('g[j]')};",
              f"    const float z = {f('az')};",
              *cand,
              f"    hb[j] = (1.0f - z) * {g('an')} + z * hb[j];",
              "}"]
    return "\n".join(lines)


@register
class GRU(Op):
    op_types = ("GRU",)
    since = 7
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        spec = parse_rnn(ctx, 3, ("Sigmoid", "Tanh"))
        lbr = bool(ctx.attr("linear_before_reset", 0))
        return lower_recurrent(ctx, spec, "gru", lambda d: _cell(spec, d, lbr),
                               n_states=1, gate_floats=4 * spec.hidden)
