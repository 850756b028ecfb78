"""Fresh tensor names and new constants for passes that rewrite the graph."""

from __future__ import annotations

import numpy as np

from ..ir import Tensor, dtype_of_numpy


def fresh_name(base: str, taken: set[str]) -> str:
    """`base`, or `base_<k>` for the first k not in `taken`; reserves it."""
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def add_const(tensors: dict[str, Tensor], taken: set[str], base: str, value: np.ndarray) -> str:
    """A new constant tensor (dtype kept) under a fresh name; returns the name."""
    name = fresh_name(base, taken)
    arr = np.ascontiguousarray(value)
    tensors[name] = Tensor(name, dtype_of_numpy(arr), tuple(arr.shape), arr)
    return name
