"""The op registry and the contract between an op's lowering and the emitter.

One op (or one family of ops with the same kernel shape) per module under
`zonnx/ops/`. A lowering reads attributes, checks shapes and dtypes, precomputes
parameters and returns C kernel functions with the model's shapes baked in.
Kernels with identical text are emitted once, so specialising costs flash only
where shapes really differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import numpy as np
import onnx.defs

from ..errors import Unsupported
from ..ir import DType, Graph, Node, Tensor


KERNEL_BACKENDS = ("zonnx", "cmsis-nn")
ROUNDINGS = ("half-even", "cmsis-nn")


@dataclass(frozen=True)
class LowerOptions:
    """Model-wide lowering choices.

    kernels: "zonnx" (portable C only) or "cmsis-nn" (arm_* calls where a
    node's parameters fit, zonnx kernels elsewhere).
    rounding: how the int8 convolution / matrix-product kernels requantize:
    "half-even" (exact, as the ONNX spec and onnxruntime) or "cmsis-nn"
    (CMSIS-NN's arm_nn_requantize, so that zonnx fallback kernels and arm_*
    kernels of one model agree bit for bit). kernels="cmsis-nn" implies it.
    """
    kernels: str = "zonnx"
    rounding: str = "half-even"

    def __post_init__(self):
        if self.kernels not in KERNEL_BACKENDS:
            raise ValueError(f"kernels must be one of {KERNEL_BACKENDS}, not {self.kernels!r}")
        if self.rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be one of {ROUNDINGS}, not {self.rounding!r}")
        if self.kernels == "cmsis-nn" and self.rounding != "cmsis-nn":
            object.__setattr__(self, "rounding", "cmsis-nn")


@dataclass(frozen=True)
class KernelFn:
    """A static C function: `static void <prefix>_<hint>_<n>(params) { body }`;
    with `status`, `static int ...` returning ZONNX_OK or an error that the
    run function passes on (for library calls that can refuse, e.g. CMSIS-NN)."""
    hint: str
    params: tuple[str, ...]
    body: str
    status: bool = False


@dataclass(frozen=True)
class Scratch:
    """Reference to the node's k-th scratch buffer in a Step's arguments."""
    index: int


@dataclass(frozen=True)
class Step:
    fn: KernelFn
    args: tuple[str | Scratch, ...]   # one per param: a tensor name or a Scratch


@dataclass
class Lowered:
    steps: list[Step]
    scratch: list[int] = field(default_factory=list)      # bytes per scratch buffer
    macs: int = 0                                          # multiply-accumulates per inference
    # Output 0 may share input 0's bytes; steps[0] is then the copy fallback,
    # skipped when the memory plan makes the alias.
    alias: bool = False
    inplace: tuple[tuple[int, int], ...] = ()   # (input, output) pairs the kernel may share
    backend: str = "zonnx"
    note: str = ""
    includes: tuple[str, ...] = ()   # headers the kernels need, e.g. "arm_nnfunctions.h"
    fallback: str = ""               # why the backend asked for (CMSIS-NN) does not run this node
    consts: dict[str, Tensor] = field(default_factory=dict)   # derived constants (set by lowering)


class LowerCtx:
    """What a lowering sees: the node, the graph, and the opset version in effect."""

    def __init__(self, node: Node, graph: Graph, version: int, options: LowerOptions | None = None):
        self.node = node
        self.graph = graph
        self.version = version      # since_version of the schema the model uses
        self.options = options or LowerOptions()
        self.derived: dict[str, Tensor] = {}

    def derived_const(self, hint: str, value: np.ndarray) -> str:
        """A new constant (e.g. transposed or pre-scaled weights) usable as a step
        argument; it is emitted to flash like any weight. Returns its name."""
        from ..ir import dtype_of_numpy
        arr = np.ascontiguousarray(value)
        dt = dtype_of_numpy(arr)
        if dt is None:
            raise Unsupported(f"derived constant '{hint}' has unsupported dtype {arr.dtype}")
        name = f"{self.node.name}/{hint}"
        self.derived[name] = Tensor(name, dt, tuple(arr.shape), arr)
        return name

    # -- tensors -----------------------------------------------------------
    def has_input(self, i: int) -> bool:
        return bool(self.node.input(i))

    def tin(self, i: int) -> Tensor:
        return self.graph.tensors[self.node.inputs[i]]

    def tout(self, i: int = 0) -> Tensor:
        return self.graph.tensors[self.node.outputs[i]]

    def const(self, i: int) -> np.ndarray | None:
        return self.graph.const(self.node.input(i))

    def require_const(self, i: int, what: str) -> np.ndarray:
        v = self.const(i)
        if v is None:
            name = self.node.input(i)
            raise Unsupported(f"input '{name}' ({what}) must be a constant",
                              hint=f"bind it at build time with --const {name}=FILE.npy")
        return v

    def attr(self, key: str, default=None):
        return self.node.attrs.get(key, default)

    def reject(self, why: str, hint: str | None = None) -> Unsupported:
        return Unsupported(why, hint=hint)

    def require_dtype(self, t: Tensor, allowed: Sequence[str]) -> DType:
        if t.dtype.name not in allowed:
            raise Unsupported(f"tensor '{t.name}' has dtype {t.dtype.name}; "
                              f"supported: {', '.join(allowed)}")
        return t.dtype

    # -- building kernels ----------------------------------------------------
    def params_for(self, ins: Sequence[int], outs: Sequence[int],
                   scratch: Sequence[str] = ()) -> tuple[tuple[str, ...], tuple[str | Scratch, ...]]:
        """C parameters `x<i>` (inputs), `y<j>` (outputs), `s<k>` (scratch, given ctypes)."""
        params: list[str] = []
        args: list[str | Scratch] = []
        for i in ins:
            params.append(f"const {self.tin(i).dtype.ctype} *x{i}")
            args.append(self.node.inputs[i])
        for j in outs:
            params.append(f"{self.tout(j).dtype.ctype} *y{j}")
            args.append(self.node.outputs[j])
        for k, ctype in enumerate(scratch):
            params.append(f"{ctype} *s{k}")
            args.append(Scratch(k))
        return tuple(params), tuple(args)

    def step(self, hint: str, body: str, ins: Sequence[int] | None = None,
             outs: Sequence[int] | None = None, scratch: Sequence[str] = ()) -> Step:
        """One kernel call over the given inputs/outputs (default: all present ones)."""
        if ins is None:
            ins = [i for i, n in enumerate(self.node.inputs) if n]
        if outs is None:
            outs = [j for j, n in enumerate(self.node.outputs) if n]
        params, args = self.params_for(ins, outs, scratch)
        return Step(KernelFn(hint, params, body.strip("\n")), args)


class Op:
    """Base class: subclasses set `op_types` and implement `lower`."""
    op_types: ClassVar[tuple[str, ...]] = ()
    domain: ClassVar[str] = ""
    since: ClassVar[int] = 1            # oldest schema version handled
    dtypes: ClassVar[str] = "float32"   # for the operator table

    def lower(self, ctx: LowerCtx) -> Lowered:  # pragma: no cover - abstract
        raise NotImplementedError

    def infer(self, node, types: dict) -> list | None:
        """Output types for ops ONNX shape inference does not know (custom
        domains such as com.microsoft): `types` maps tensor names to
        (onnx elem_type, shape tuple) and, for constants, the value under
        ("value", name); return one (elem_type, shape) per output, or None."""
        return None


REGISTRY: dict[tuple[str, str], Op] = {}


def register(cls: type[Op]) -> type[Op]:
    inst = cls()
    for op_type in cls.op_types:
        key = (cls.domain, op_type)
        if key in REGISTRY:
            raise RuntimeError(f"op {op_type} registered twice")
        REGISTRY[key] = inst
    return cls


def schema_version(op_type: str, domain: str, opset: int) -> int | None:
    """since_version of the schema a model with `opset` uses, None if undefined."""
    try:
        return onnx.defs.get_schema(op_type, opset, domain).since_version
    except Exception:
        return None


def newest_version(op_type: str, domain: str) -> int | None:
    try:
        return onnx.defs.get_schema(op_type, domain=domain).since_version
    except Exception:
        return None
