"""Small helpers for writing C99 text: literals, arrays, loops, identifiers."""

from __future__ import annotations

import math
import re
from typing import Callable, Sequence

import numpy as np

from .errors import ZonnxError
from .ir import DType

C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto
if inline int long register restrict return short signed sizeof static struct switch
typedef union unsigned void volatile while _Bool _Complex _Imaginary _Alignas _Alignof
_Atomic _Generic _Noreturn _Static_assert _Thread_local bool true false NULL asm main
""".split())
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def validate_name(name: str) -> str:
    """A model name becomes the prefix of every generated symbol: it must be a
    C identifier, not a keyword, and not one of the reserved spellings."""
    if not _IDENT.match(name or ""):
        raise ZonnxError(f"model name '{name}' is not a C identifier",
                         hint="use letters, digits and '_', not starting with a digit")
    if name in C_KEYWORDS:
        raise ZonnxError(f"model name '{name}' is a C keyword", hint="pick another --name")
    if name.startswith("__") or re.match(r"_[A-Z]", name) or name.lower().startswith("zonnx"):
        raise ZonnxError(f"model name '{name}' is reserved (leading '__', '_X' or 'zonnx')",
                         hint="pick another --name")
    if len(name) > 40:
        raise ZonnxError(f"model name '{name}' is longer than 40 characters")
    return name


def sanitize(name: str) -> str:
    """A C identifier derived from an arbitrary tensor name (for readability only)."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", name) or "t"
    if s[0].isdigit():
        s = "t" + s
    return s[:32]


def c_float(v: float, ctype: str = "float") -> str:
    """An exact C literal for a float32 (or double) value."""
    v = float(v)
    if math.isnan(v):
        return "ZONNX_NAN"
    if math.isinf(v):
        return "ZONNX_INF" if v > 0 else "(-ZONNX_INF)"
    if ctype == "double":
        return repr(v)
    s = "%.9g" % np.float32(v)
    if not any(c in s for c in ".en"):
        s += ".0"
    return s + "f"


def c_int(v: int, ctype: str = "int32_t") -> str:
    v = int(v)
    if ctype == "int64_t":
        if v == -(2 ** 63):
            return "INT64_MIN"
        return f"INT64_C({v})"
    if ctype == "uint64_t":
        return f"UINT64_C({v})"
    if ctype in ("int32_t", "int") and v == -(2 ** 31):
        return "INT32_MIN"
    if ctype == "uint32_t":
        return f"{v}u"
    return str(v)


def c_literal(v, dt: DType) -> str:
    if dt.is_float:
        return c_float(v, dt.ctype)
    if dt.name == "bool":
        return "1" if v else "0"
    return c_int(v, dt.ctype)


def c_array_body(values: np.ndarray, dt: DType, per_line: int = 8) -> str:
    flat = np.asarray(values).reshape(-1)
    if dt.is_float:
        items = [c_float(x, dt.ctype) for x in flat.tolist()]
    else:
        items = [c_literal(x, dt) for x in flat.tolist()]
    lines = []
    for i in range(0, len(items), per_line):
        lines.append("    " + ", ".join(items[i:i + per_line]) + ",")
    return "\n".join(lines) if lines else "    0"


def strides(shape: Sequence[int]) -> list[int]:
    out = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        out[i] = out[i + 1] * shape[i + 1]
    return out


def numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def broadcast_shape(*shapes: Sequence[int]) -> tuple[int, ...]:
    return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))


def broadcast_index(in_shape: Sequence[int], out_shape: Sequence[int], ivars: Sequence[str]) -> str:
    """Flat index into a tensor of `in_shape` broadcast (numpy rules) against
    `out_shape`, given loop variables over the output dimensions."""
    rank = len(out_shape)
    in_shape = [1] * (rank - len(in_shape)) + list(in_shape)
    st = strides(in_shape)
    terms = []
    for d in range(rank):
        if in_shape[d] == 1:
            continue
        terms.append(ivars[d] if st[d] == 1 else f"{ivars[d]} * {st[d]}")
    return " + ".join(terms) if terms else "0"


def loop_nest(shape: Sequence[int], body: Callable[[list[str]], str], prefix: str = "i",
              indent: int = 1) -> str:
    """Nested for-loops over `shape`; `body(ivars)` returns the innermost statements."""
    ivars = [f"{prefix}{d}" for d in range(len(shape))]
    pad = "    " * indent
    lines = []
    for d, n in enumerate(shape):
        lines.append(f"{pad}{'    ' * d}for (int32_t {ivars[d]} = 0; {ivars[d]} < {n}; {ivars[d]}++) {{")
    inner = pad + "    " * len(shape)
    for stmt in body(ivars).splitlines():
        lines.append(inner + stmt)
    for d in range(len(shape) - 1, -1, -1):
        lines.append(f"{pad}{'    ' * d}}}")
    return "\n".join(lines)


def indent(text: str, levels: int = 1) -> str:
    pad = "    " * levels
    return "\n".join(pad + line if line.strip() else line for line in text.splitlines())


def math_fn(name: str, dt: DType) -> str:
    """libm function for the element type: expf for float, exp for double."""
    return name if dt.ctype == "double" else name + "f"
