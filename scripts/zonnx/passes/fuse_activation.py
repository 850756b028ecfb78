"""Activation fusion into Conv/Gemm (placeholder until implemented)."""

from __future__ import annotations

from ..ir import Graph


def fuse_activations(g: Graph) -> Graph:
    return g
