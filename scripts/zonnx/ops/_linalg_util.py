"""The 2-D matrix product kernel shared by Gemm and MatMul (float32).

y[M,N] = alpha * A[M,K] @ B[K,N] + bias, an optional fused activation on store.
The loop order follows B's layout so the weights are read front to back:

* B stored [N,K] (Gemm transB=1, or N == 1): one dot product per output, A's
  row and B's row both contiguous, four partial sums to break the FPU
  dependency chain;
* B stored [K,N]: each output row accumulates alpha*A[m,k] * B[k,:], walking
  B's rows in order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from ..cgen import broadcast_shape, c_float
from ._reduce_util import scaled
from .activation import activation_expr
from .base import LowerCtx

_UNROLL = 4


@dataclass(frozen=True)
class MatmulSpec:
    m: int
    n: int
    k: int
    trans_a: bool = False      # A stored [K,M]
    trans_b: bool = False      # B stored [N,K]
    alpha: float = 1.0
    # C expression of the bias at loop variables (m, n), or None.
    bias: Callable[[str, str], str] | None = None
    activation: tuple[str, dict[str, Any]] | None = None

    def normalized(self) -> "MatmulSpec":
        # A vector is stored the same way whichever way it is transposed.
        return replace(self, trans_a=self.trans_a and self.m > 1,
                       trans_b=self.trans_b or self.n == 1)


def fused_activation(ctx: LowerCtx) -> tuple[str, dict[str, Any]] | None:
    """The activation the fusion pass attached to this node, if any."""
    act = ctx.attr("_activation")
    if not act:
        return None
    op, attrs = act["op"], dict(act.get("attrs", {}))
    activation_expr(op, attrs, "v")     # rejects an activation with no float expression
    return op, attrs


def _store(spec: MatmulSpec, value: str) -> str:
    return activation_expr(spec.activation[0], spec.activation[1], value) if spec.activation else value


def _scale(alpha: float, x: str) -> str:
    return x if alpha == 1.0 else f"{c_float(alpha)} * {x}"


def _elem(ptr: str, idx: str, stride: int) -> str:
    """`ptr[idx * stride]` as C."""
    if stride == 1:
        return f"{ptr}[{idx}]"
    return f"{ptr}[({idx}) * {stride}]" if "+" in idx else f"{ptr}[{idx} * {stride}]"


def _a_row(spec: MatmulSpec) -> tuple[str, int]:
    """Pointer to A's row m and the stride between its elements."""
    if spec.trans_a:
        return "a + m", spec.m
    return f"a + {scaled('m', spec.k)}", 1


def _dot_form(spec: MatmulSpec) -> str:
    arow, sa = _a_row(spec)
    k, k4 = spec.k, spec.k - spec.k % _UNROLL

    def prod(u: int) -> str:
        idx = f"k + {u}" if u else "k"
        return f"{_elem('ar', idx, sa)} * br[{idx}]"
    if k4 >= 2 * _UNROLL:
        dot = ["float acc0 = 0.0f, acc1 = 0.0f, acc2 = 0.0f, acc3 = 0.0f;",
               "int32_t k = 0;",
               f"for (; k < {k4}; k += {_UNROLL}) {{",
               *[f"    acc{u} += {prod(u)};" for u in range(_UNROLL)],
               "}"]
        if k4 < k:
            dot.append(f"for (; k < {k}; k++) {{ acc0 += {prod(0)}; }}")
        dot.append("const float acc = (acc0 + acc1) + (acc2 + acc3);")
    else:
        dot = ["float acc = 0.0f;",
               f"for (int32_t k = 0; k < {k}; k++) {{ acc += {prod(0)}; }}"]
    value = _scale(spec.alpha, "acc")
    if spec.bias:
        value += f" + {spec.bias('m', 'n')}"
    body = [f"const float *br = b + {scaled('n', spec.k)};", *dot,
            f"const float v = {value};", f"yr[n] = {_store(spec, 'v')};"]
    return "\n".join([f"    for (int32_t m = 0; m < {spec.m}; m++) {{",
                      f"        const float *ar = {arow};",
                      f"        float *yr = y + {scaled('m', spec.n)};",
                      f"        for (int32_t n = 0; n < {spec.n}; n++) {{",
                      *["            " + line for line in body],
                      "        }",
                      "    }"])


def _axpy_form(spec: MatmulSpec) -> str:
    arow, sa = _a_row(spec)
    n = spec.n
    init = spec.bias("m", "n") if spec.bias else "0.0f"
    lines = [f"    for (int32_t m = 0; m < {spec.m}; m++) {{",
             f"        const float *ar = {arow};",
             f"        float *yr = y + {scaled('m', n)};",
             f"        for (int32_t n = 0; n < {n}; n++) {{ yr[n] = {init}; }}",
             f"        for (int32_t k = 0; k < {spec.k}; k++) {{",
             f"            const float av = {_scale(spec.alpha, _elem('ar', 'k', sa))};",
             f"            const float *br = b + {scaled('k', n)};",
             f"            for (int32_t n = 0; n < {n}; n++) {{ yr[n] += av * br[n]; }}",
             "        }"]
    if spec.activation:
        lines.append(f"        for (int32_t n = 0; n < {n}; n++) {{ const float v = yr[n]; "
                     f"yr[n] = {_store(spec, 'v')}; }}")
    lines.append("    }")
    return "\n".join(lines)


def matmul_2d(spec: MatmulSpec) -> str:
    """Statements computing `y` from pointers `a`, `b` (and whatever `bias` reads)."""
    spec = spec.normalized()
    return _dot_form(spec) if spec.trans_b else _axpy_form(spec)


# -- shapes of a matrix product (numpy matmul rules) -------------------------------

@dataclass(frozen=True)
class MatmulShapes:
    batch: tuple[int, ...]
    batch_a: tuple[int, ...]
    batch_b: tuple[int, ...]
    m: int
    n: int
    k: int


def matmul_shapes(ctx: LowerCtx, ai: int, bi: int) -> MatmulShapes:
    sa, sb = tuple(ctx.tin(ai).shape), tuple(ctx.tin(bi).shape)
    if not sa or not sb:
        raise ctx.reject("matrix product operands must have rank >= 1")
    m, k = (1, sa[0]) if len(sa) == 1 else sa[-2:]
    k2, n = (sb[0], 1) if len(sb) == 1 else sb[-2:]
    batch_a, batch_b = sa[:-2], sb[:-2]
    try:
        batch = broadcast_shape(batch_a, batch_b)
    except ValueError:
        raise ctx.reject(f"batch dimensions of {list(sa)} and {list(sb)} do not broadcast") from None
    want = batch + ((m,) if len(sa) > 1 else ()) + ((n,) if len(sb) > 1 else ())
    if k != k2 or tuple(ctx.tout().shape) != want:
        raise ctx.reject(f"shapes {list(sa)} @ {list(sb)} -> {list(ctx.tout().shape)} do not match")
    return MatmulShapes(batch, batch_a, batch_b, m, n, k)
