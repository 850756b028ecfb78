"""BatchNormalization folded into a preceding Conv, ConvTranspose or Gemm (placeholder until implemented)."""

from __future__ import annotations

from ..ir import Graph


def fold_batchnorm(g: Graph) -> Graph:
    return g
