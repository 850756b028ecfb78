"""What RNN, GRU and LSTM share: attribute and shape checks, the activation
list, tensor layouts, and the per-direction kernel skeleton.

Each direction becomes one kernel. It keeps the hidden (and cell) state of every
batch entry in scratch, walks the sequence, and for each (time, batch) pair
computes the gate pre-activations into a scratch vector `g` before the
op-specific cell update. Inputs are indexed in place, so W/R/B/P, initial
states and sequence_lens may be constants or computed tensors alike.

Input indices follow the ONNX schema: X=0 W=1 R=2 B=3 sequence_lens=4
initial_h=5 (LSTM: initial_c=6 P=7). Outputs: Y=0 Y_h=1 (LSTM: Y_c=2).

Variants hook in without copying the skeleton: `parse_rnn(quantized=True)`
takes int8/uint8 W [num_directions, input_size, gates*hidden] and R likewise
(com.microsoft DynamicQuantizeLSTM), `KernelHooks` adds C before the time
loop and at each time step, scratch and tables, and an activation may be a
`BlockAct` when it needs temporaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Union

from ..cgen import c_float
from .activation import activation_expr
from .base import KernelFn, LowerCtx, Lowered, Step

F = c_float


@dataclass(frozen=True)
class BlockAct:
    """An activation computed by statements: `block(dst, src)` returns C that
    declares `float dst` = f(src) (for functions that need temporaries)."""
    block: Callable[[str, str], str]


Act = Union[Callable[[str], str], BlockAct]


def act_decl(fn: Act, dst: str, src: str) -> str:
    """C declaring `dst` = fn(src); `src` is a variable name."""
    if isinstance(fn, BlockAct):
        return fn.block(dst, src)
    return f"const float {dst} = {fn(src)};"

# name (lower case) -> (ONNX spelling, uses alpha, uses beta, default alpha, default beta)
_ACTIVATIONS = {
    "relu": ("Relu", False, False, None, None),
    "tanh": ("Tanh", False, False, None, None),
    "sigmoid": ("Sigmoid", False, False, None, None),
    "affine": ("Affine", True, True, None, None),
    "leakyrelu": ("LeakyRelu", True, False, 0.01, None),
    "thresholdedrelu": ("ThresholdedRelu", True, False, 1.0, None),
    "scaledtanh": ("ScaledTanh", True, True, None, None),
    "hardsigmoid": ("HardSigmoid", True, True, 0.2, 0.5),
    "elu": ("Elu", True, False, 1.0, None),
    "softsign": ("Softsign", False, False, None, None),
    "softplus": ("Softplus", False, False, None, None),
}


def _activation(name: str, alpha: float | None, beta: float | None) -> Act:
    if name == "Affine":
        return lambda x: f"({F(alpha)} * {x} + {F(beta)})"
    if name == "ScaledTanh":
        return lambda x: f"({F(alpha)} * tanhf({F(beta)} * {x}))"
    attrs = {} if alpha is None else {"alpha": alpha}
    if beta is not None:
        attrs["beta"] = beta
    return lambda x: activation_expr(name, attrs, x)


def parse_activations(ctx: LowerCtx, defaults: Sequence[str], ndir: int,
                      fixed: dict[str, Act] | None = None) -> list[list[Act]]:
    """Per direction, the functions (f, g, h...) in schema order; `fixed` maps
    ONNX names of parameterless functions to the variant's own implementation.

    activation_alpha/beta are consumed in list order, each value by the next
    function that takes that parameter (the reading onnxruntime implements).
    """
    per_dir = len(defaults)
    names = list(ctx.attr("activations", []) or [])
    if not names:
        names = list(defaults) * ndir
    elif ctx.node.op_type == "RNN" and ndir == 1 and len(names) == 2:
        names = names[:1]        # the schema's default lists two functions
    if len(names) != per_dir * ndir:
        raise ctx.reject(f"activations lists {len(names)} functions; "
                         f"{per_dir * ndir} expected for {ndir} direction(s)")
    alphas = list(ctx.attr("activation_alpha", []) or [])
    betas = list(ctx.attr("activation_beta", []) or [])
    fns: list[Act] = []
    for raw in names:
        entry = _ACTIVATIONS.get(str(raw).lower())
        if entry is None:
            raise ctx.reject(f"activation function '{raw}' is not supported")
        name, uses_a, uses_b, def_a, def_b = entry
        alpha = (alphas.pop(0) if alphas else def_a) if uses_a else None
        beta = (betas.pop(0) if betas else def_b) if uses_b else None
        if (uses_a and alpha is None) or (uses_b and beta is None):
            raise ctx.reject(f"activation {name} needs activation_alpha/activation_beta values")
        fns.append(fixed[name] if fixed and name in fixed else _activation(name, alpha, beta))
    return [fns[d * per_dir:(d + 1) * per_dir] for d in range(ndir)]


@dataclass(frozen=True)
class RnnSpec:
    seq: int
    batch: int
    inp: int
    hidden: int
    gates: int
    directions: tuple[str, ...]          # "forward" / "reverse" per direction
    layout: int
    acts: list[list[Act]]
    clip: float | None
    has_bias: bool
    seq_lens: bool                      # read sequence_lens at run time
    init: tuple[int, ...]               # inputs holding initial states (5, or 5 and 6)
    ins: tuple[int, ...]                # inputs the kernels read

    @property
    def ndir(self) -> int:
        return len(self.directions)

    # Flat element strides of the layout-dependent tensors.
    def x_strides(self) -> tuple[int, int]:                 # (time, batch)
        i = self.inp
        return (self.batch * i, i) if self.layout == 0 else (i, self.seq * i)

    def y_strides(self) -> tuple[int, int, int]:            # (time, batch, direction)
        h, nd = self.hidden, self.ndir
        if self.layout == 0:
            return nd * self.batch * h, h, self.batch * h
        return nd * h, self.seq * nd * h, h

    def state_strides(self) -> tuple[int, int]:             # (batch, direction)
        h = self.hidden
        return (h, self.batch * h) if self.layout == 0 else (self.ndir * h, h)

    def clamp(self, v: str) -> str:
        """Clip applies to every activation input."""
        if self.clip is None:
            return v
        c = F(self.clip)
        return f"fminf(fmaxf({v}, -{c}), {c})"

    def macs(self) -> int:
        return (self.ndir * self.seq * self.batch * self.gates * self.hidden
                * (self.inp + self.hidden))


def _check_shape(ctx: LowerCtx, i: int, want: tuple[int, ...], what: str) -> None:
    got = tuple(ctx.tin(i).shape)
    if got != want:
        raise ctx.reject(f"{what} has shape {list(got)}; expected {list(want)}")


def parse_rnn(ctx: LowerCtx, gates: int, default_acts: Sequence[str], n_states: int = 1,
              quantized: bool = False, fixed_acts: dict[str, Act] | None = None) -> RnnSpec:
    """Validates a recurrent node (gates per hidden unit, number of states: 1, or 2 for LSTM).
    quantized: W and R are int8/uint8 [num_directions, input_size or hidden_size,
    gates*hidden] (the quantization parameters, inputs 8 on, are the caller's).
    fixed_acts: see parse_activations."""
    node = ctx.node
    for i, n in enumerate(node.inputs):
        if quantized and i in (1, 2):
            ctx.require_dtype(ctx.tin(i), ["int8", "uint8"])
        elif n and i != 4 and not (quantized and i >= 8):
            ctx.require_dtype(ctx.tin(i), ["float32"])
    for j, n in enumerate(node.outputs):
        if n:
            ctx.require_dtype(ctx.tout(j), ["float32"])
    direction = ctx.attr("direction", "forward")
    dirs = {"forward": ("forward",), "reverse": ("reverse",),
            "bidirectional": ("forward", "reverse")}.get(direction)
    if dirs is None:
        raise ctx.reject(f"direction '{direction}' is not one of forward, reverse, bidirectional")
    layout = int(ctx.attr("layout", 0)) if ctx.version >= 14 else 0
    if layout not in (0, 1):
        raise ctx.reject(f"layout {layout} is not 0 or 1")
    xs = ctx.tin(0).shape
    if len(xs) != 3:
        raise ctx.reject(f"X must have rank 3, has shape {list(xs)}")
    seq, batch = (xs[0], xs[1]) if layout == 0 else (xs[1], xs[0])
    inp = xs[2]
    wshape = ctx.tin(1).shape
    gate_axis = 2 if quantized else 1
    if len(wshape) != 3 or wshape[gate_axis] % gates:
        want = (f"input_size, {gates}*hidden_size" if quantized else f"{gates}*hidden_size, input_size")
        raise ctx.reject(f"W has shape {list(wshape)}; expected [num_directions, {want}]")
    hidden = wshape[gate_axis] // gates
    if ctx.attr("hidden_size") is not None and int(ctx.attr("hidden_size")) != hidden:
        raise ctx.reject(f"hidden_size {ctx.attr('hidden_size')} does not match W ({hidden})")
    if min(seq, batch, inp, hidden) <= 0:
        raise ctx.reject("empty sequence, batch, input or hidden dimension")
    nd = len(dirs)
    if quantized:
        _check_shape(ctx, 1, (nd, inp, gates * hidden), "W")
        _check_shape(ctx, 2, (nd, hidden, gates * hidden), "R")
    else:
        _check_shape(ctx, 1, (nd, gates * hidden, inp), "W")
        _check_shape(ctx, 2, (nd, gates * hidden, hidden), "R")
    if ctx.has_input(3):
        _check_shape(ctx, 3, (nd, 2 * gates * hidden), "B")
    state_shape = (nd, batch, hidden) if layout == 0 else (batch, nd, hidden)
    init = tuple(i for i in range(5, 5 + n_states) if ctx.has_input(i))
    for i in init:
        _check_shape(ctx, i, state_shape, node.inputs[i])
    seq_lens = ctx.has_input(4) and _uses_seq_lens(ctx, seq, batch)
    _check_outputs(ctx, seq, batch, nd, hidden, layout, n_states)
    clip = ctx.attr("clip")
    if clip is not None and not clip > 0:
        raise ctx.reject(f"clip {clip} must be positive")
    ins = [0, 1, 2] + ([3] if ctx.has_input(3) else []) + ([4] if seq_lens else []) + list(init)
    return RnnSpec(seq, batch, inp, hidden, gates, dirs, layout,
                   parse_activations(ctx, default_acts, nd, fixed_acts),
                   None if clip is None else float(clip), ctx.has_input(3), seq_lens,
                   init, tuple(ins))


def _uses_seq_lens(ctx: LowerCtx, seq: int, batch: int) -> bool:
    """False when sequence_lens is a constant equal to seq_length everywhere."""
    t = ctx.tin(4)
    ctx.require_dtype(t, ["int32"])
    if tuple(t.shape) != (batch,):
        raise ctx.reject(f"sequence_lens has shape {list(t.shape)}; expected [{batch}]")
    v = ctx.const(4)
    if v is None:
        return True       # read at run time, clamped to [0, seq_length]
    if (v < 0).any() or (v > seq).any():
        raise ctx.reject(f"sequence_lens {v.tolist()} outside [0, {seq}]")
    return not (v == seq).all()


def _check_outputs(ctx: LowerCtx, seq: int, batch: int, nd: int, hidden: int,
                   layout: int, n_states: int) -> None:
    y = (seq, nd, batch, hidden) if layout == 0 else (batch, seq, nd, hidden)
    state = (nd, batch, hidden) if layout == 0 else (batch, nd, hidden)
    for j, want in enumerate([y] + [state] * n_states):
        if ctx.node.output(j) and tuple(ctx.tout(j).shape) != want:
            raise ctx.reject(f"output {j} has shape {list(ctx.tout(j).shape)}; expected {list(want)}")
    if not any(ctx.node.outputs):
        raise ctx.reject("no outputs requested")


def lin_expr(const: int, *terms: tuple[str, int]) -> str:
    """C text for const + sum(var * stride), omitting zero parts."""
    parts = [f"{v} * {s}" if s != 1 else v for v, s in terms if s]
    if const or not parts:
        parts.append(str(const))
    return " + ".join(parts)


def gate_rows(spec: RnnSpec, d: int, lo: int, hi: int, dst: int, x: bool, hvec: str | None,
              biases: Sequence[str]) -> str:
    """g[dst + r - lo] = W[r].x_t (if x) + R[r].hvec (if hvec) + Wb[r]/Rb[r] (biases
    'W', 'R') for gate rows r in [lo, hi) of direction d."""
    gh, i, h = spec.gates * spec.hidden, spec.inp, spec.hidden
    terms = []
    if spec.has_bias:
        terms += [f"x3[{lin_expr(d * 2 * gh + (gh if b == 'R' else 0), ('r', 1))}]" for b in biases]
    lines = [f"for (int32_t r = {lo}; r < {hi}; r++) {{",
             f"    float acc = {' + '.join(terms) if terms else '0.0f'};"]
    if x:
        lines += [f"    const float *w = x1 + {lin_expr(d * gh * i, ('r', i))};",
                  f"    for (int32_t k = 0; k < {i}; k++) {{ acc += w[k] * xt[k]; }}"]
    if hvec:
        lines += [f"    const float *u = x2 + {lin_expr(d * gh * h, ('r', h))};",
                  f"    for (int32_t k = 0; k < {h}; k++) {{ acc += u[k] * {hvec}[k]; }}"]
    lines += [f"    g[{lin_expr(dst - lo, ('r', 1))}] = acc;", "}"]
    return "\n".join(lines)


@dataclass(frozen=True)
class KernelHooks:
    """What a variant adds to each direction's kernel: C before the time loop
    (`setup(d)`) and at the start of every time step, before the batch loop
    (`step(d)`); scratch buffers after g, s<n_states + 1>... as (ctype,
    bytes); derived constant tables, parameters c0...; inputs the kernel
    does not read (`drop`, e.g. W and R replaced by tables)."""
    setup: Callable[[int], str] | None = None
    step: Callable[[int], str] | None = None
    scratch: tuple[tuple[str, int], ...] = ()
    tables: tuple[str, ...] = ()
    drop: tuple[int, ...] = ()


def _indent(text: str, levels: int) -> str:
    pad = "    " * levels
    return "\n".join(pad + ln if ln else ln for ln in text.splitlines())


def direction_body(spec: RnnSpec, ctx: LowerCtx, d: int, cell: str, n_states: int = 1,
                   hooks: KernelHooks | None = None) -> str:
    """The kernel for direction d. `cell` is the C for one (time, batch) update:
    it sees `xt` (input row), `hb` (and `cb`) state rows, scratch `g`, and must
    leave the new hidden state in `hb`."""
    hooks = hooks or KernelHooks()
    s, b, h = spec.seq, spec.batch, spec.hidden
    reverse = spec.directions[d] == "reverse"
    xt_s, xb_s = spec.x_strides()
    yt_s, yb_s, yd_s = spec.y_strides()
    sb_s, sd_s = spec.state_strides()
    names = ["h", "c"][:n_states]
    out = [f"    float *{n} = s{k};" for k, n in enumerate(names)]
    out.append(f"    float *g = s{n_states};")
    for k, n in enumerate(names):          # initial states
        if 5 + k not in spec.init:
            out.append(f"    memset({n}, 0, {4 * b * h}u);")
        elif sb_s == h:                    # layout 0: this direction's states are contiguous
            out.append(f"    memcpy({n}, x{5 + k} + {d * sd_s}, {4 * b * h}u);")
        else:
            out.append(f"    for (int32_t b = 0; b < {b}; b++) {{ memcpy({n} + b * {h}, "
                       f"x{5 + k} + {lin_expr(d * sd_s, ('b', sb_s))}, {4 * h}u); }}")
    if hooks.setup:
        out.append(_indent(hooks.setup(d), 1))
    loop = []
    if spec.seq_lens:
        loop += ["int32_t len = x4[b] < 0 ? 0 : x4[b];",
                 f"if (len > {s}) {{ len = {s}; }}"]
        if ctx.node.output(0):
            loop.append(f"if (t >= len) {{ memset(y0 + {lin_expr(d * yd_s, ('t', yt_s), ('b', yb_s))}, "
                        f"0, {4 * h}u); continue; }}")
        else:
            loop.append("if (t >= len) { continue; }")
        ts = "len - 1 - t" if reverse else "t"
    else:
        ts = f"{s - 1} - t" if reverse else "t"
    loop += [f"const int32_t ts = {ts};",
             f"const float *xt = x0 + {lin_expr(0, ('ts', xt_s), ('b', xb_s))};"]
    loop += [f"float *{n}b = {n} + b * {h};" for n in names]
    loop.append(cell)
    if ctx.node.output(0):
        loop.append(f"memcpy(y0 + {lin_expr(d * yd_s, ('ts', yt_s), ('b', yb_s))}, hb, {4 * h}u);")
    out.append(f"    for (int32_t t = 0; t < {s}; t++) {{")
    if hooks.step:
        out.append(_indent(hooks.step(d), 2))
    out += [f"        for (int32_t b = 0; b < {b}; b++) {{",
            _indent("\n".join(loop), 3), "        }", "    }"]
    for k, n in enumerate(names):          # final states; empty sequences give zeros (onnxruntime)
        if not ctx.node.output(1 + k):
            continue
        dst = f"y{1 + k} + {lin_expr(d * sd_s, ('b', sb_s))}"
        if spec.seq_lens:
            out.append(f"    for (int32_t b = 0; b < {b}; b++) {{\n"
                       f"        if (x4[b] > 0) {{ memcpy({dst}, {n} + b * {h}, {4 * h}u); }}\n"
                       f"        else {{ memset({dst}, 0, {4 * h}u); }}\n    }}")
        elif sb_s == h:
            out.append(f"    memcpy(y{1 + k} + {d * sd_s}, {n}, {4 * b * h}u);")
        else:
            out.append(f"    for (int32_t b = 0; b < {b}; b++) {{ memcpy({dst}, {n} + b * {h}, {4 * h}u); }}")
    return "\n".join(out)


def lower_recurrent(ctx: LowerCtx, spec: RnnSpec, hint: str, cell: Callable[[int], str],
                    n_states: int, gate_floats: int, extra_ins: Sequence[int] = (),
                    hooks: KernelHooks | None = None) -> Lowered:
    """One kernel per direction, sharing scratch: states [batch*hidden] each, then g."""
    hooks = hooks or KernelHooks()
    ins = [i for i in list(spec.ins) + [i for i in extra_ins if ctx.has_input(i)]
           if i not in hooks.drop]
    outs = [j for j, n in enumerate(ctx.node.outputs) if n]
    scratch = ["float"] * (n_states + 1) + [ct for ct, _ in hooks.scratch]
    params, args = ctx.params_for(sorted(ins), outs, scratch)
    params += tuple(f"const {ctx.derived[t].dtype.ctype} *c{k}" for k, t in enumerate(hooks.tables))
    args += tuple(hooks.tables)
    steps = [Step(KernelFn(f"{hint}_{spec.directions[d]}",
                           params, direction_body(spec, ctx, d, cell(d), n_states, hooks).strip("\n")), args)
             for d in range(spec.ndir)]
    sizes = ([4 * spec.batch * spec.hidden] * n_states + [4 * gate_floats]
             + [n for _, n in hooks.scratch])
    return Lowered(steps, scratch=sizes, macs=spec.macs())
