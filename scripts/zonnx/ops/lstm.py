"""LSTM (inference): forward, reverse, bidirectional; peepholes, clip,
input_forget, custom activations, layout 0/1, sequence_lens, Y/Y_h/Y_c."""

from __future__ import annotations

from typing import Callable

from ._rnn_util import RnnSpec, act_decl, gate_rows, lin_expr, lower_recurrent, parse_rnn
from .base import LowerCtx, Lowered, Op, register


def _in_loop(text: str) -> list[str]:
    return ["    " + ln for ln in text.splitlines()]


def lstm_cell(spec: RnnSpec, d: int, peep: bool, input_forget: bool, gates: str | None = None,
              bias: Callable[[int], str] | None = None) -> str:
    """Gate order in W/R/B is i, o, f, c; in P it is i, o, f.

    `gates` (C filling g[0, 4*hidden)) and `bias(k)` (a term added to gate
    k after the peephole) let DynamicQuantizeLSTM reuse the cell; by default
    the biases are part of the float gate rows."""
    h = spec.hidden
    f, g, hh = spec.acts[d]
    cl = spec.clamp

    def p(k: int, state: str) -> str:
        return f" + x7[{lin_expr(d * 3 * h + k * h, ('j', 1))}] * {state}" if peep else ""

    def b(k: int) -> str:
        return bias(k) if bias else ""

    pre_i = cl(f"g[j]{p(0, 'cp')}{b(0)}")
    pre_f = cl(f"g[{2 * h} + j]{p(2, 'cp')}{b(2)}")
    pre_o = cl(f"g[{h} + j]{p(1, 'cn')}{b(1)}")
    pre_c = cl(f"g[{3 * h} + j]{b(3)}")
    forget = (["const float gf = 1.0f - gi;"] if input_forget else
              [f"const float af = {pre_f};", act_decl(f, "gf", "af")])
    if gates is None:
        gates = gate_rows(spec, d, 0, 4 * h, 0, x=True, hvec="hb", biases="WR")
    return "\n".join([
        gates,
        f"for (int32_t j = 0; j < {h}; j++) {{",
        "    const float cp = cb[j];",
        f"    const float ai = {pre_i};",
        *_in_loop(act_decl(f, "gi", "ai")),
        *_in_loop("\n".join(forget)),
        f"    const float ac = {pre_c};",
        *_in_loop(act_decl(g, "gc", "ac")),
        "    const float cn = gf * cp + gi * gc;",
        f"    const float ao = {pre_o};",
        *_in_loop(act_decl(f, "go", "ao")),
        *_in_loop(act_decl(hh, "hc", "cn")),
        "    cb[j] = cn;",
        "    hb[j] = go * hc;",
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
        return lower_recurrent(ctx, spec, "lstm", lambda d: lstm_cell(spec, d, peep, input_forget),
                               n_states=2, gate_floats=4 * spec.hidden, extra_ins=(7,))
