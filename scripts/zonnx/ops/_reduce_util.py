"""Shared by the softmax, arg-reduction and reduction kernels: axis arithmetic
and the loop skeleton over the 1-D lines along one axis."""

from __future__ import annotations

from typing import Sequence

from ..cgen import numel
from ..errors import Unsupported


def normalize_axis(axis: int, rank: int) -> int:
    a = int(axis)
    if not -rank <= a < rank:
        raise Unsupported(f"axis {a} is out of range for rank {rank}")
    return a + rank if a < 0 else a


def split_at_axis(shape: Sequence[int], axis: int) -> tuple[int, int, int]:
    """(outer, length, inner): the tensor seen as [outer, length, inner] around `axis`."""
    return numel(shape[:axis]), shape[axis], numel(shape[axis + 1:])


def scaled(var: str, stride: int) -> str:
    """`var * stride` as C, without the multiplication when stride is 1."""
    return var if stride == 1 else f"{var} * {stride}"


def offset_expr(ivars: Sequence[str], strides: Sequence[int]) -> str:
    terms = [scaled(v, s) for v, s in zip(ivars, strides) if s != 0]
    return " + ".join(terms) if terms else "0"


def void_body(ins: Sequence[int], outs: Sequence[int]) -> str:
    """Body of a kernel with nothing to compute (empty tensors)."""
    names = [f"x{i}" for i in ins] + [f"y{j}" for j in outs]
    return "\n".join(f"    (void){n};" for n in names)


def line_loops(outer: int, length: int, inner: int, ptrs: Sequence[tuple[str, str, int]],
               body: str) -> str:
    """Loops over every line along the middle axis of an [outer, length, inner] view.

    `ptrs` are (declaration, base, outer stride) triples, e.g.
    ("const float *px", "x0", length * inner): each becomes a pointer to the line's
    first element (consecutive elements of a line are `inner` apart).
    """
    pad = "    "
    lines = []
    ivars = []
    if outer > 1:
        lines.append(f"{pad}for (int32_t o = 0; o < {outer}; o++) {{")
        ivars.append("o")
        pad += "    "
    if inner > 1:
        lines.append(f"{pad}for (int32_t i = 0; i < {inner}; i++) {{")
        ivars.append("i")
        pad += "    "
    for decl, base, ostride in ptrs:
        terms = []
        if outer > 1:
            terms.append(scaled("o", ostride))
        if inner > 1:
            terms.append("i")
        lines.append(f"{pad}{decl} = {base}{''.join(' + ' + t for t in terms)};")
    lines.extend(pad + s if s.strip() else s for s in body.splitlines())
    for _ in ivars:
        pad = pad[:-4]
        lines.append(f"{pad}}}")
    return "\n".join(lines)


def better_cond(kind: str, last: bool, is_float: bool, v: str = "v", best: str = "bv") -> str:
    """C condition for `v` replacing the current best in an arg-max/min scan.

    Matches numpy argmax/argmin (as the ONNX reference uses them): the first
    extreme wins, or the last with select_last_index; NaN counts as the extreme,
    so the first NaN (the last one with select_last_index) wins.
    """
    op = ">" if kind == "max" else "<"
    if last:
        op += "="
    if not is_float:
        return f"{v} {op} {best}"
    if last:
        return f"{v} != {v} || ({best} == {best} && {v} {op} {best})"
    return f"{best} == {best} && ({v} {op} {best} || {v} != {v})"
