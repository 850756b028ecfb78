"""Shared emitters for the data-movement ops (Transpose, Slice, Concat, Split,
Tile, Pad, Gather, DepthToSpace/SpaceToDepth, nearest Resize).

Each of them is an index map computed in Python: output element (i0, ..., ik)
copies the input element at flat offset map0[i0] + map1[i1] + ... + mapk[ik].
Axes whose map is affine become loops with literal strides (adjacent
contiguous axes are merged, a contiguous innermost run becomes one memcpy);
only irregular maps (reflect padding, nearest resize) need a small per-axis
table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..cgen import c_float, strides
from ..errors import Unsupported
from .base import LowerCtx, Step

INT32_MAX = 2 ** 31 - 1


def axis_map(n: int, stride: int, start: int = 0, step: int = 1) -> np.ndarray:
    """Source offsets of indices 0..n-1 along an axis: (start + i*step) * stride."""
    return (start + step * np.arange(n, dtype=np.int64)) * stride


def contiguous_maps(shape: Sequence[int]) -> list[np.ndarray]:
    """Maps reading a contiguous tensor of `shape` in order."""
    return [axis_map(n, s) for n, s in zip(shape, strides(shape))]


def transpose_maps(shape: Sequence[int], perm: Sequence[int]) -> tuple[list[int], list[np.ndarray]]:
    """Output shape and maps of a transpose of a contiguous tensor of `shape`."""
    st = strides(shape)
    return [shape[p] for p in perm], [axis_map(shape[p], st[p]) for p in perm]


def norm_axis(axis: int, rank: int) -> int:
    a = int(axis)
    if not -rank <= a < rank:
        raise Unsupported(f"axis {a} is out of range for rank {rank}")
    return a + rank if a < 0 else a


def check_index_range(*sizes: int) -> None:
    """Generated index arithmetic is int32_t."""
    if max(sizes, default=0) > INT32_MAX:
        raise Unsupported("tensor has more than 2^31-1 elements")


@dataclass
class _Axis:
    n: int
    src: int | np.ndarray   # affine source stride, or a table of offsets
    dst: int                # destination stride

    @property
    def affine(self) -> bool:
        return not isinstance(self.src, np.ndarray)


def _repeat(m: np.ndarray) -> int:
    """r > 1 when m is an affine sequence with every value repeated r times, else 0."""
    r = int(np.argmax(m != m[0])) if np.any(m != m[0]) else 0
    if r < 2 or len(m) % r:
        return 0
    rows = m.reshape(-1, r)
    heads = rows[:, 0]
    d = np.diff(heads)
    return r if np.all(rows == heads[:, None]) and np.all(d == d[0]) else 0


def _simplify(out_shape: Sequence[int], maps: Sequence[np.ndarray],
              dst_strides: Sequence[int]) -> tuple[int, list[_Axis]]:
    """Constant source offset and the remaining loop axes, outermost first."""
    base = 0
    axes: list[_Axis] = []
    for n, m, ds in zip(out_shape, maps, dst_strides):
        m = np.asarray(m, dtype=np.int64).reshape(-1)
        d = np.diff(m)
        r = _repeat(m)
        if n == 1 or np.all(d == d[0]):
            base += int(m[0])
            if n > 1:
                axes.append(_Axis(n, int(d[0]), ds))
        elif r:     # each index repeated r times (integer nearest upsampling)
            base += int(m[0])
            axes += [_Axis(n // r, int(m[r] - m[0]), ds * r), _Axis(r, 0, ds)]
        else:
            lo = int(m.min())
            base += lo
            axes.append(_Axis(n, m - lo, ds))
    merged: list[_Axis] = []
    for ax in axes:
        prev = merged[-1] if merged else None
        if (prev is not None and prev.affine and ax.affine
                and prev.src == ax.src * ax.n and prev.dst == ax.dst * ax.n):
            merged[-1] = _Axis(prev.n * ax.n, ax.src, ax.dst)
        else:
            merged.append(ax)
    return base, merged


def _expr(const: int, terms: Sequence[tuple[str, int]]) -> str:
    """`const + v0 * c0 + ...` with unit coefficients and zero terms elided."""
    parts = [] if const == 0 and terms else [str(const)]
    for var, c in terms:
        if c == 0:
            continue
        t = var if abs(c) == 1 else f"{var} * {abs(c)}"
        if not parts:
            parts.append(t if c > 0 else f"-{t}")
        else:
            parts.append(("+ " if c > 0 else "- ") + t)
    return " ".join(parts) if parts else "0"


def _ptr(name: str, idx: str) -> str:
    return name if idx == "0" else f"{name} + {idx}"


def table_ctype(values: np.ndarray) -> str:
    hi = int(values.max()) if values.size else 0
    lo = int(values.min()) if values.size else 0
    if lo >= 0 and hi < 256:
        return "uint8_t"
    if lo >= 0 and hi < 65536:
        return "uint16_t"
    return "int32_t"


def c_table(name: str, values: np.ndarray, ctype: str | None = None) -> str:
    """`static const T name[n] = {...};` (static: in flash, not on the stack)."""
    flat = np.asarray(values).reshape(-1)
    ctype = ctype or table_ctype(flat)
    per_line = 16 if "int" in ctype else 6
    items = ([str(int(v)) for v in flat.tolist()] if "int" in ctype
             else [c_float(v, ctype) for v in flat.tolist()])
    rows = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return (f"static const {ctype} {name}[{len(items)}] = {{\n"
            + "".join(f"    {r},\n" for r in rows) + "};")


def copy_block(out_shape: Sequence[int], maps: Sequence[np.ndarray], esize: int,
               dst_strides: Sequence[int] | None = None, dst_off: int = 0,
               src: str = "x0", dst: str = "y0") -> str:
    """C statements copying `dst[dst_off + sum(i_d * dst_strides[d])] =
    src[sum(maps[d][i_d])]` over `out_shape` (dst contiguous by default).
    Returns "" when there is nothing to copy."""
    if any(n == 0 for n in out_shape):
        return ""
    if dst_strides is None:
        dst_strides = strides(out_shape)
    check_index_range(sum(int(np.max(m)) for m in maps) + 1,
                      dst_off + sum((n - 1) * d for n, d in zip(out_shape, dst_strides)) + 1)
    base, axes = _simplify(out_shape, maps, dst_strides)
    run = 1
    if axes and axes[-1].affine and axes[-1].src == 1 and axes[-1].dst == 1:
        run = axes.pop().n
    ivars = [f"i{d}" for d in range(len(axes))]
    tables = [c_table(f"t{d}", a.src) for d, a in enumerate(axes) if not a.affine]
    s_terms = [(v, a.src) for v, a in zip(ivars, axes) if a.affine]
    s_tabs = [f"t{d}[{v}]" for d, (v, a) in enumerate(zip(ivars, axes)) if not a.affine]
    s_idx = _expr(base, s_terms)
    if s_tabs:
        s_idx = " + ".join(s_tabs if s_idx == "0" else [s_idx] + s_tabs)
    d_idx = _expr(dst_off, [(v, a.dst) for v, a in zip(ivars, axes)])
    if run > 1:
        stmt = f"memcpy({_ptr(dst, d_idx)}, {_ptr(src, s_idx)}, {run * esize}u);"
    else:
        stmt = f"{dst}[{d_idx}] = {src}[{s_idx}];"
    lines = []
    for d, (v, a) in enumerate(zip(ivars, axes)):
        lines.append("    " * d + f"for (int32_t {v} = 0; {v} < {a.n}; {v}++) {{")
    lines.append("    " * len(axes) + stmt)
    lines += ["    " * d + "}" for d in range(len(axes) - 1, -1, -1)]
    text = "\n".join(tables + lines)
    if tables:
        text = "{\n" + _indent(text) + "\n}"
    return _indent(text)


def is_plain_copy(out_shape: Sequence[int], maps: Sequence[np.ndarray]) -> bool:
    """True when the map reads the whole input in order (the output is a view)."""
    if any(n == 0 for n in out_shape):
        return True
    base, axes = _simplify(out_shape, maps, strides(out_shape))
    return base == 0 and all(a.affine and a.src == 1 and a.dst == 1 for a in axes)


def fill_block(n: int, value: str, esize: int, zero: bool, dst: str = "y0") -> str:
    """Set n elements of dst to `value` (memset when its bytes are all zero)."""
    if n == 0:
        return ""
    if zero:
        return f"    memset({dst}, 0, {n * esize}u);"
    return f"    for (int32_t i = 0; i < {n}; i++) {{ {dst}[i] = {value}; }}"


def is_zero_bytes(value, np_dtype) -> bool:
    return not np.asarray(value, dtype=np_dtype).tobytes().strip(b"\0")


def _indent(text: str) -> str:
    return "\n".join("    " + ln if ln else ln for ln in text.splitlines())


def kernel_step(ctx: LowerCtx, hint: str, blocks: Sequence[str], ins: Sequence[int],
                outs: Sequence[int]) -> Step:
    """A step from statement blocks; parameters the body never names are (void)ed."""
    body = "\n".join(b for b in blocks if b)
    names = [f"x{i}" for i in ins] + [f"y{j}" for j in outs]
    unused = [f"    (void){n};" for n in names if not re.search(rf"\b{n}\b", body)]
    return ctx.step(hint, "\n".join(unused + ([body] if body else [])), ins=ins, outs=outs)


def check_out_shape(ctx: LowerCtx, shape: Sequence[int], j: int = 0) -> None:
    got = tuple(ctx.tout(j).shape)
    if tuple(int(d) for d in shape) != got:
        raise ctx.reject(f"computed output shape {list(shape)} differs from the inferred {list(got)}")
