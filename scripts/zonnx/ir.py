"""The generator's intermediate representation: small, plain dataclasses.

Stages never mutate a Graph they were given; they build a new one
(`Graph.replace`), so every stage is a pure function of its input.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DType:
    name: str        # zonnx name, also the enum suffix in C (ZONNX_FLOAT32)
    onnx: int        # onnx.TensorProto data type
    ctype: str       # C type
    np: Any          # numpy dtype
    size: int        # bytes per element

    @property
    def supported(self) -> bool:
        return self.np is not None

    @property
    def is_float(self) -> bool:
        return self.name.startswith("float")

    @property
    def is_signed(self) -> bool:
        return self.name.startswith(("int", "float"))


_DTYPES = [
    DType("float32", 1, "float", np.float32, 4),
    DType("uint8", 2, "uint8_t", np.uint8, 1),
    DType("int8", 3, "int8_t", np.int8, 1),
    DType("uint16", 4, "uint16_t", np.uint16, 2),
    DType("int16", 5, "int16_t", np.int16, 2),
    DType("int32", 6, "int32_t", np.int32, 4),
    DType("int64", 7, "int64_t", np.int64, 8),
    DType("bool", 9, "uint8_t", np.bool_, 1),
    DType("float64", 11, "double", np.float64, 8),
    DType("uint32", 12, "uint32_t", np.uint32, 4),
    DType("uint64", 13, "uint64_t", np.uint64, 8),
]
DTYPE_BY_ONNX = {d.onnx: d for d in _DTYPES}
DTYPE_BY_NAME = {d.name: d for d in _DTYPES}
FLOAT32 = DTYPE_BY_NAME["float32"]
INT64 = DTYPE_BY_NAME["int64"]
INT32 = DTYPE_BY_NAME["int32"]
BOOL = DTYPE_BY_NAME["bool"]


def unsupported_dtype(onnx_code: int) -> DType:
    """Placeholder for a data type zonnx cannot represent (string, float16...).

    Loading keeps it so that lowering can reject the node that uses it by name.
    """
    return DType(f"onnx_type_{onnx_code}", onnx_code, "", None, 0)


def dtype_of_numpy(arr: np.ndarray) -> DType | None:
    for d in _DTYPES:
        if np.dtype(d.np) == arr.dtype:
            return d
    return None


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: DType
    shape: tuple[int, ...]
    data: np.ndarray | None = None      # set for constants (initializers, folded values)
    quant: tuple[Any, Any] | None = None  # (scale, zero_point) where known (M4)

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.size


@dataclass(frozen=True)
class Node:
    name: str
    op_type: str
    inputs: tuple[str, ...]            # "" marks an omitted optional input
    outputs: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""

    def input(self, i: int) -> str:
        """Name of input i, or "" when absent."""
        return self.inputs[i] if i < len(self.inputs) else ""

    def output(self, i: int) -> str:
        return self.outputs[i] if i < len(self.outputs) else ""

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


@dataclass(frozen=True)
class Graph:
    name: str
    nodes: tuple[Node, ...]
    tensors: dict[str, Tensor]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    opsets: dict[str, int]
    source: str = ""                    # model path, for messages
    sha256: str = ""
    ir_version: int = 8

    def replace(self, **changes: Any) -> "Graph":
        return dataclasses.replace(self, **changes)

    def tensor(self, name: str) -> Tensor:
        return self.tensors[name]

    def const(self, name: str) -> np.ndarray | None:
        """The constant value of tensor `name`, or None."""
        if not name:
            return None
        t = self.tensors.get(name)
        return None if t is None else t.data

    def opset(self, domain: str = "") -> int:
        if domain in ("", "ai.onnx"):
            return self.opsets.get("", self.opsets.get("ai.onnx", 1))
        return self.opsets.get(domain, 1)

    def consumers(self) -> dict[str, list[int]]:
        """tensor name -> indices of the nodes reading it."""
        users: dict[str, list[int]] = {}
        for i, n in enumerate(self.nodes):
            for name in n.inputs:
                if name:
                    users.setdefault(name, []).append(i)
        return users

    def producers(self) -> dict[str, int]:
        return {o: i for i, n in enumerate(self.nodes) for o in n.outputs if o}
