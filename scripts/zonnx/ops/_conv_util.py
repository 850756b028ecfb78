"""Sliding-window geometry shared by Conv, ConvTranspose and the pooling ops,
and the C loop nests that walk each window without per-tap padding checks.

Along one spatial axis every window is an arithmetic progression of taps
j in [lo, hi): input coordinate `coord + j * coord_step`, kernel tap
`tap + j * tap_step`. `lo`/`hi` are clipped to the input at each output
position, so the inner loop never tests or reads padding. Each per-position
quantity is a `Val`: its C expression together with its value at every output
index (numpy), so a bound that is the same everywhere becomes a literal, and
MAC counts and empty-window checks come from the same numbers as the C.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..cgen import numel, strides as row_strides
from .activation import activation_expr
from .base import LowerCtx

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


# -- attributes and geometry ---------------------------------------------------

@dataclass(frozen=True)
class Axis:
    """One spatial axis of a sliding-window op."""
    size: int         # input extent
    kernel: int
    stride: int
    dilation: int
    pad: int          # padding before the first element (begin)
    pad_end: int      # after the last (negative: output cropped / extended, ConvTranspose)
    out: int          # output extent

    @property
    def extent(self) -> int:
        """Span of one dilated window."""
        return (self.kernel - 1) * self.dilation + 1


def read_ints(ctx: LowerCtx, key: str, n: int, default: int, minimum: int | None = None) -> list[int]:
    """An INTS attribute with one value per spatial axis (`default` when absent)."""
    v = ctx.attr(key)
    if v is None:
        return [default] * n
    vals = [int(a) for a in v]
    if len(vals) != n:
        raise ctx.reject(f"{key} has {len(vals)} values for {n} spatial axes")
    if minimum is not None and any(a < minimum for a in vals):
        raise ctx.reject(f"{key} {vals} must be >= {minimum}")
    return vals


def read_kernel(ctx: LowerCtx, n: int, weight_shape: Sequence[int] | None = None) -> list[int]:
    """kernel_shape, inferred from the weights' spatial dims when absent."""
    if ctx.attr("kernel_shape") is None:
        if weight_shape is None:
            raise ctx.reject("kernel_shape is required")
        return [int(k) for k in weight_shape]
    ks = read_ints(ctx, "kernel_shape", n, 1, minimum=1)
    if weight_shape is not None and list(weight_shape) != ks:
        raise ctx.reject(f"kernel_shape {ks} disagrees with the weights' spatial shape "
                         f"{list(weight_shape)}")
    return ks


def read_auto_pad(ctx: LowerCtx) -> str:
    mode = ctx.attr("auto_pad", "NOTSET") or "NOTSET"
    if mode not in AUTO_PADS:
        raise ctx.reject(f"auto_pad '{mode}' is not one of {', '.join(AUTO_PADS)}")
    return mode


def read_pads(ctx: LowerCtx, n: int) -> list[tuple[int, int]]:
    """Explicit `pads` [b1.., e1..] as (begin, end) per axis."""
    pads = ctx.attr("pads")
    if pads is None:
        return [(0, 0)] * n
    pads = [int(p) for p in pads]
    if len(pads) != 2 * n:
        raise ctx.reject(f"pads has {len(pads)} values for {n} spatial axes")
    if any(p < 0 for p in pads):
        raise ctx.reject(f"negative pads {pads} are not supported")
    return list(zip(pads[:n], pads[n:]))


def _split(total: int, upper: bool) -> int:
    """Begin padding of `total`: SAME_UPPER puts the odd one at the end."""
    return total // 2 if upper else total - total // 2


def _forward_out(size: int, ext: int, stride: int, pb: int, pe: int, ceil_mode: bool) -> int:
    span = size + pb + pe - ext
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pb:    # the last window must start inside input or begin pad
        out -= 1
    return out


def forward_axes(ctx: LowerCtx, sizes: Sequence[int], kernel: Sequence[int],
                 ceil_mode: bool = False) -> list[Axis]:
    """Geometry of Conv and the pools from strides, dilations, pads / auto_pad
    (attributes a schema version lacks are absent, so their defaults apply)."""
    n = len(sizes)
    strides = read_ints(ctx, "strides", n, 1, minimum=1)
    dils = read_ints(ctx, "dilations", n, 1, minimum=1)
    mode = read_auto_pad(ctx)
    if mode != "NOTSET" and ceil_mode:
        raise ctx.reject(f"ceil_mode with auto_pad {mode} is not defined")
    if mode == "NOTSET":
        pads = read_pads(ctx, n)
    elif mode == "VALID":
        pads = [(0, 0)] * n
    else:
        pads = []
        for size, k, s, d in zip(sizes, kernel, strides, dils):
            out = -(-size // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
            pb = _split(total, mode == "SAME_UPPER")
            pads.append((pb, total - pb))
    axes = []
    for size, k, s, d, (pb, pe) in zip(sizes, kernel, strides, dils, pads):
        out = _forward_out(size, (k - 1) * d + 1, s, pb, pe, ceil_mode)
        axes.append(Axis(size, k, s, d, pb, pe, out))
    return axes


def transpose_axes(ctx: LowerCtx, sizes: Sequence[int], kernel: Sequence[int]) -> list[Axis]:
    """Geometry of ConvTranspose. Follows onnx.reference where the spec is loose:
    SAME_UPPER puts the odd padding at the end; with output_shape and no auto_pad
    the output starts at the first full position."""
    n = len(sizes)
    strides = read_ints(ctx, "strides", n, 1, minimum=1)
    dils = read_ints(ctx, "dilations", n, 1, minimum=1)
    outpad = read_ints(ctx, "output_padding", n, 0, minimum=0)
    mode = read_auto_pad(ctx)
    full = [s * (i - 1) + op + (k - 1) * d + 1
            for i, k, s, d, op in zip(sizes, kernel, strides, dils, outpad)]
    shape = ctx.attr("output_shape")
    if shape is not None:
        shape = [int(v) for v in shape][-n:]
        if len(shape) != n:
            raise ctx.reject(f"output_shape {shape} has fewer than {n} spatial values")
    elif mode in ("SAME_UPPER", "SAME_LOWER"):
        shape = [i * s for i, s in zip(sizes, strides)]
    if shape is None:
        pads = read_pads(ctx, n) if mode == "NOTSET" else [(0, 0)] * n
        begins = [pb for pb, _ in pads]
        shape = [f - pb - pe for f, (pb, pe) in zip(full, pads)]
    elif mode in ("SAME_UPPER", "SAME_LOWER"):
        begins = [_split(f - o, mode == "SAME_UPPER") for f, o in zip(full, shape)]
    else:
        if ctx.attr("pads") is not None:
            raise ctx.reject("both pads and output_shape are given (the spec ignores pads, "
                             "onnx.reference does not)")
        if any(f > o for f, o in zip(full, shape)):
            raise ctx.reject(f"output_shape {shape} crops the full output {full} without "
                             "auto_pad (spec, onnx.reference and onnxruntime disagree on where)",
                             hint="give explicit pads instead")
        begins = [0] * n
    if any(b < 0 for b in begins):
        raise ctx.reject(f"output_shape {shape} needs negative begin padding")
    return [Axis(i, k, s, d, b, f - o - b, o)
            for i, k, s, d, b, f, o in zip(sizes, kernel, strides, dils, begins, full, shape)]


def check_output(ctx: LowerCtx, lead: Sequence[int], axes: Sequence[Axis], j: int = 0) -> None:
    """The computed output shape must be what shape inference recorded."""
    want = tuple(lead) + tuple(a.out for a in axes)
    got = tuple(ctx.tout(j).shape)
    if got != want:
        hint = None
        if ctx.attr("ceil_mode", 0):
            hint = ("with ceil_mode a last window starting in the end padding is dropped "
                    "(onnx.reference, onnxruntime, PyTorch); ONNX shape inference keeps it")
        raise ctx.reject(f"output shape {list(got)} disagrees with the computed {list(want)}", hint)
    if any(a.out <= 0 for a in axes) or numel(want) == 0:
        raise ctx.reject(f"empty output {list(want)}")


def fused_activation(ctx: LowerCtx) -> Callable[[str], str]:
    """Store expression for the activation the fusion pass attached (identity if none)."""
    act: dict[str, Any] | None = ctx.attr("_activation")
    if not act:
        return lambda v: v
    op, attrs = act["op"], dict(act.get("attrs") or {})
    activation_expr(op, attrs, "v")     # rejects an activation with no float expression
    return lambda v: activation_expr(op, attrs, v)


# -- per-output-position integers --------------------------------------------

@dataclass(frozen=True)
class Val:
    """An integer per output index along one axis: its values and C expression."""
    arr: np.ndarray
    expr: str

    @property
    def const(self) -> int | None:
        return int(self.arr[0]) if self.arr.size and np.all(self.arr == self.arr[0]) else None

    @property
    def c(self) -> str:
        k = self.const
        return str(k) if k is not None else self.expr

    def lin(self, mul: int = 1, add: int = 0) -> "Val":
        """self * mul + add."""
        e = self.c if mul == 1 else f"{self.c} * {mul}"
        if add:
            e = f"({e} {'+' if add > 0 else '-'} {abs(add)})"
        return Val(self.arr * mul + add, e)

    def negplus(self, add: int) -> "Val":
        """add - self."""
        return Val(add - self.arr, f"({add} - {self.c})" if add else f"(-{self.c})")

    def cdiv(self, k: int) -> "Val":
        """C division (truncating toward zero)."""
        if k == 1:
            return self
        q = np.sign(self.arr) * (np.abs(self.arr) // k)
        return Val(q, f"({self.c} / {k})")

    def mod(self, k: int) -> "Val":
        """C remainder; callers keep the operand non-negative."""
        return Val(self.arr % k, f"({self.c} % {k})")


def ternary(mask: np.ndarray, cond: str, a: Val, b: Val | int) -> Val:
    """`cond ? a : b`, with `mask` the condition's value per output index."""
    if isinstance(b, int):
        b = Val(np.full_like(a.arr, b), str(b))
    if mask.all():
        return a
    if not mask.any():
        return b
    return Val(np.where(mask, a.arr, b.arr), f"({cond} ? {a.c} : {b.c})")


class Setup:
    """Statements of one output loop level: named temporaries for its Vals."""

    def __init__(self, indent: str):
        self.indent = indent
        self.lines: list[str] = []

    def bind(self, name: str, v: Val) -> Val:
        if v.const is not None or v.c.isidentifier():
            return v
        self.lines.append(f"{self.indent}const int32_t {name} = {v.c};")
        return Val(v.arr, name)

    def min(self, name: str, a: Val, b: Val) -> Val:
        """min(a, b), binding the operands only when neither always wins."""
        if np.all(a.arr <= b.arr):
            return a
        if np.all(b.arr <= a.arr):
            return b
        a, b = self.bind(f"{name}a", a), self.bind(f"{name}b", b)
        return ternary(a.arr < b.arr, f"{a.c} < {b.c}", a, b)

    def lookup(self, name: str, values: Sequence[int], index: Val) -> Val:
        """`values[index]` through a static table (none when the result is constant)."""
        v = Val(np.asarray(values)[index.arr], f"{name}[{index.c}]")
        if v.const is None:
            self.lines.append(f"{self.indent}static const int32_t {name}[{len(values)}] = "
                              f"{{{', '.join(str(int(t)) for t in values)}}};")
        return v


# -- window walks --------------------------------------------------------------

@dataclass(frozen=True)
class Walk:
    """How the loop over one output axis visits its window."""
    lo: Val            # first tap index j
    hi: Val            # end tap index
    coord: Val         # input coordinate at j = 0
    coord_step: int    # input coordinate per j
    tap: Val           # kernel tap at j = 0
    tap_step: int      # kernel tap per j
    bounds: tuple[Val, Val] | None = None   # taps inside the padded input (count_include_pad)

    @property
    def count(self) -> np.ndarray:
        """Taps visited at each output position."""
        return np.maximum(self.hi.arr - self.lo.arr, 0)


WalkFn = Callable[[Axis, int, Setup], Walk]


def forward_walk(a: Axis, d: int, st: Setup) -> Walk:
    """Conv and pools: window starts at o * stride - pad, taps step by dilation."""
    o = Val(np.arange(a.out), f"o{d}")
    b = st.bind(f"b{d}", o.lin(a.stride, -a.pad))
    dl = a.dilation
    lo = ternary(b.arr < 0, f"{b.c} < 0", b.negplus(dl - 1).cdiv(dl), 0)
    last = a.size - 1 - (a.kernel - 1) * dl     # the last start whose window fits
    hi = ternary(b.arr > last, f"{b.c} > {last}", b.negplus(a.size + dl - 1).cdiv(dl), a.kernel)
    # Taps inside [-pad, size + pad_end): the window never starts before -pad,
    # but with ceil_mode it may run past the end padding.
    last_p = a.size + a.pad_end - 1 - (a.kernel - 1) * dl
    hi_p = ternary(b.arr > last_p, f"{b.c} > {last_p}",
                   b.negplus(a.size + a.pad_end + dl - 1).cdiv(dl), a.kernel)
    zero = Val(np.zeros(a.out, dtype=np.int64), "0")
    return Walk(st.bind(f"lo{d}", lo), st.bind(f"hi{d}", hi), b, dl, zero, 1,
                (zero, hi_p))    # unbound: only a count may use it


def transpose_walk(a: Axis, d: int, st: Setup) -> Walk:
    """ConvTranspose as a gather: output o takes input i through tap t when
    i * stride + t * dilation == o + pad. Those taps form a progression with
    step stride/g (g = gcd(stride, dilation)) along which i falls by dilation/g."""
    s, dl, k = a.stride, a.dilation, a.kernel
    g = math.gcd(s, dl)
    ts, ist = s // g, dl // g
    q = st.bind(f"q{d}", Val(np.arange(a.out), f"o{d}").lin(1, a.pad))
    if s == 1:
        t0, i0 = Val(np.zeros(a.out, dtype=np.int64), "0"), q
    else:
        r = q.mod(s)
        if dl == 1:
            t0 = st.bind(f"t{d}", r)
        else:
            # first tap of each residue of (o + pad) mod stride; k (none) if unreachable
            first = [next((t for t in range(k) if (t * dl - rr) % s == 0), k) for rr in range(s)]
            t0 = st.bind(f"t{d}", st.lookup(f"first{d}", first, r))
        i0 = st.bind(f"i{d}", Val(q.arr - t0.arr * dl, f"({q.c} - {t0.c} * {dl})").cdiv(s)
                     if dl != 1 else q.cdiv(s))
    lo = ternary(i0.arr >= a.size, f"{i0.c} >= {a.size}", i0.lin(1, ist - a.size).cdiv(ist), 0)
    by_input = ternary(i0.arr >= 0, f"{i0.c} >= 0", i0.cdiv(ist).lin(1, 1), 0)
    by_kernel = t0.negplus(k + ts - 1).cdiv(ts)
    return Walk(st.bind(f"lo{d}", lo), st.bind(f"hi{d}", st.min(f"h{d}", by_input, by_kernel)),
                i0, -ist, t0, ts)


@dataclass(frozen=True)
class Offset:
    """A flat index the window loops maintain: `coord`-based (input, indices) or
    `tap`-based (weights), with the element stride of each spatial axis."""
    name: str
    source: str                  # "coord" or "tap"
    strides: tuple[int, ...]


def _simple(expr: str) -> bool:
    """An identifier or an integer literal (no temporary needed)."""
    return expr.isidentifier() or expr.lstrip("-").isdigit() or not expr


def scaled(v: str, k: int) -> str:
    """`v * k` as C ("" when zero)."""
    if v.lstrip("-").isdigit():
        return str(int(v) * k) if int(v) * k else ""
    if k == 0:
        return ""
    if k < 0:
        return f"-{v}" if k == -1 else f"-{v} * {-k}"
    return v if k == 1 else f"{v} * {k}"


def plus(a: str, b: str) -> str:
    """`a + b` as C, dropping zero or empty terms."""
    if not a or a == "0":
        return b or "0"
    if not b or b == "0":
        return a
    return f"{a} - {b[1:]}" if b.startswith("-") else f"{a} + {b}"


@dataclass
class Window:
    """A window-op loop nest: output loops (with the per-axis setup), then the
    taps of one window; `init`, `visit` and `finish` are the op's statements."""
    axes: Sequence[Axis]
    walk: WalkFn
    offsets: Sequence[Offset]
    depth: int = 1           # indentation level of the nest

    def build(self, init: Callable[[list[Walk]], str], visit: Callable[[dict[str, str]], str],
              finish: Callable[[list[Walk]], str]) -> tuple[str, list[Walk]]:
        """The nest's C text and the walks (for counts and MACs)."""
        lines, walks, base = self._output_loops()
        inner = "    " * (self.depth + len(self.axes))
        lines += [inner + s for s in init(walks).splitlines()]
        taps, offsets, opened = self._tap_loops(walks, base, inner)
        lines += taps
        pad = inner + "    " * opened
        lines += [pad + s for s in visit(offsets).splitlines()]
        lines += [inner + "    " * i + "}" for i in range(opened - 1, -1, -1)]
        lines += [inner + s for s in finish(walks).splitlines()]
        lines += ["    " * (self.depth + d) + "}" for d in range(len(self.axes) - 1, -1, -1)]
        return "\n".join(lines), walks

    def _output_loops(self) -> tuple[list[str], list[Walk], dict[str, str]]:
        """One loop per output axis with its walk's setup and each offset's base."""
        lines: list[str] = []
        walks: list[Walk] = []
        base = {o.name: "" for o in self.offsets}
        for d, a in enumerate(self.axes):
            pad = "    " * (self.depth + d)
            lines.append(f"{pad}for (int32_t o{d} = 0; o{d} < {a.out}; o{d}++) {{")
            st = Setup(pad + "    ")
            w = self.walk(a, d, st)
            walks.append(w)
            for o in self.offsets:
                src = w.coord if o.source == "coord" else w.tap
                expr = plus(base[o.name], scaled(src.c, o.strides[d]))
                if not _simple(expr):
                    st.lines.append(f"{st.indent}const int32_t {o.name}b{d} = {expr};")
                    expr = f"{o.name}b{d}"
                base[o.name] = expr
            lines += st.lines
        return lines, walks, base

    def _tap_loops(self, walks: list[Walk], base: dict[str, str],
                   inner: str) -> tuple[list[str], dict[str, str], int]:
        """Loops over the window's taps (none for an axis with a single tap);
        returns their opening lines, the innermost offsets and how many opened."""
        lines: list[str] = []
        cur = dict(base)
        opened = 0
        for d, w in enumerate(walks):
            steps = {o.name: (w.coord_step if o.source == "coord" else w.tap_step) * o.strides[d]
                     for o in self.offsets}
            lo, hi = w.lo.const, w.hi.const
            if lo is not None and hi is not None and hi - lo == 1:
                for o in self.offsets:
                    cur[o.name] = plus(cur[o.name], str(lo * steps[o.name]) if lo else "")
                continue
            pad = inner + "    " * opened
            lines.append(f"{pad}for (int32_t j{d} = {w.lo.c}; j{d} < {w.hi.c}; j{d}++) {{")
            for o in self.offsets:
                lines.append(f"{pad}    const int32_t {o.name}{d} = "
                             f"{plus(cur[o.name], scaled(f'j{d}', steps[o.name]))};")
                cur[o.name] = f"{o.name}{d}"
            opened += 1
        return lines, {k: v or "0" for k, v in cur.items()}, opened


def window_counts(walks: Sequence[Walk]) -> np.ndarray:
    """Taps per output position over all axes (outer product of the per-axis counts)."""
    out = np.ones((), dtype=np.int64)
    for w in walks:
        out = np.multiply.outer(out, w.count)
    return out


def visited_taps(walks: Sequence[Walk]) -> int:
    """Sum over output positions of the taps visited (exact MACs per channel pair)."""
    return int(np.prod([int(w.count.sum()) for w in walks], dtype=object))


def count_expr(vals: Sequence[tuple[Val, Val]]) -> tuple[str, np.ndarray]:
    """C expression and per-position values of prod(hi - lo) over axes."""
    terms, arr = [], np.ones((), dtype=np.int64)
    const = 1
    for lo, hi in vals:
        n = Val(hi.arr - lo.arr, f"({hi.c} - {lo.c})" if lo.c != "0" else hi.c)
        arr = np.multiply.outer(arr, n.arr)
        if n.const is not None:
            const *= n.const
        else:
            terms.append(n.c)
    if const != 1 or not terms:
        terms.insert(0, str(const))
    return " * ".join(terms), arr


def spatial_strides(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(row_strides(list(shape)))


def conv_groups(ctx, x, w) -> tuple[int, int, int]:
    """(batch, channels, group) after the checks every convolution shares:
    N, C and a spatial axis, weights of the input's rank, group dividing C."""
    if len(x.shape) < 3:
        raise ctx.reject(f"input rank {len(x.shape)}: needs N, C and at least one spatial axis")
    if len(w.shape) != len(x.shape):
        raise ctx.reject(f"weights rank {len(w.shape)} differs from input rank {len(x.shape)}")
    group = int(ctx.attr("group", 1))
    n, c = x.shape[:2]
    if group < 1 or c % group:
        raise ctx.reject(f"group {group} does not divide the {c} input channels")
    return n, c, group


def window_taps(axes: Sequence[Axis]) -> int:
    """Kernel taps inside the input, summed over all output positions (the
    MACs per output channel and input channel of a padded convolution)."""
    total = 1
    for a in axes:
        o = np.arange(a.out)[:, None] * a.stride - a.pad + np.arange(a.kernel)[None, :] * a.dilation
        total *= int(np.sum((o >= 0) & (o < a.size)))
    return total
