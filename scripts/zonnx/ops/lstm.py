"""LSTM (inference): forward, reverse, bidirectional; peepholes, clip,
input_forget, custom activations, layout 0/1, sequence_lens, Y/Y_h/Y_c."""

from __future__ import annotations

from ._rnn_util import RnnSpec, gate_rows, lin_expr, lower_recurrent, parse_rnn
from .base import LowerCtx, Lowered, Op, register


def _cell(spec: RnnSpec, d: int, peep: bool, input_forget: bool) -> str:
    """Gate order in W/R/B is i, o, f, c; in P it is i, o, f."""
    h = spec.hidden
    f, g, hh = spec.acts[d]
    cl = spec.clamp

    def p(k: int, state: str) -> str:
        return f" + x7[{lin_expr(d * 3 * h + k * h, ('j', 1))}] * {state}" if peep else ""

    pre_i = cl(f"g[j]{p(0, 'cp')}")
    pre_f = cl(f"g[{2 * h} + j]{p(2, 'cp')}")
    pre_o = cl(f"g[{h} + j]{p(1, 'cn')}")
    forget = ("const float gf = 1.0f - gi;" if input_forget else
              f"const float af = {pre_f};\n    const float gf = {f('af')};")
    return "\n".join([
        gate_rows(spec, d, 0, 4 * h, 0, x=True, hvec="hb", biases="WR"),
        f"for (int32_t j = 0; j < {h}; j++) {{",
        "    const float cp = cb[j];",
        f"    const float ai = {pre_i};",
        f"    const float gi = {f('ai')};",
        f"    {forget}",
        f"    const float ac = {cl(f'g[{3 * h} + j]')};",
        f"    const float cn = gf * cp + gi * {g('ac')};",
        f"    const float ao = {pre_o};",
        f"    const float go = {f('ao')};",
        "    cb[j] = cn;",
        f"    hb[j] = go * {hh('cn')};",
        "}",
    ])


@register
class LSTM(Op):
    op_types = ("LSTM",)
    since = 7
    dtypes = "float32"

    def lower(self, ctx: LowerCtx) -> Lowered:
        spec = parse_rnn(ctx, 4, ("Sigmoid", "Tanh", "Tanh"), n_states=2)
        peep = ctx.has_input(7)
        if peep and tuple(ctx.tin(7).shape) != (spec.ndir, 3 * spec.hidden):
            raise ctx.reject(f"P has shape {list(ctx.tin(7).shape)}; "
                             f"expected [{spec.ndir}, {3 * spec.hidden}]")
        input_forget = bool(ctx.attr("input_forget", 0))
        return lower_recurrent(ctx, spec, "lstm", lambda d: _cell(spec, d, peep, input_forget),
                               n_states=2, gate_floats=4 * spec.hidden, extra_ins=(7,))
