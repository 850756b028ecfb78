"""Stage 2: graph passes, each a pure function Graph -> Graph in its own module.

The manager runs them in a fixed order; `--disable-pass NAME` skips one.
"""

from __future__ import annotations

from typing import Callable, Iterable

from ..errors import ZonnxError
from ..ir import Graph
from .constant_fold import fold_constants
from .dead_code import eliminate_dead_code
from .fold_batchnorm import fold_batchnorm
from .fuse_activation import fuse_activations
from .fuse_qdq import fuse_qdq
from .remove_identity import remove_identity

Pass = Callable[[Graph], Graph]

# fuse-qdq comes first: from opset 19 fold-constants would fold the weights'
# DequantizeLinear into float constants (see passes/fuse_qdq.py).
PASSES: tuple[tuple[str, Pass], ...] = (
    ("fuse-qdq", fuse_qdq),
    ("fold-constants", fold_constants),
    ("remove-identity", remove_identity),
    ("fold-batchnorm", fold_batchnorm),
    ("fuse-activations", fuse_activations),
    ("eliminate-dead-code", eliminate_dead_code),
)
PASS_NAMES = tuple(name for name, _ in PASSES)


def run_passes(g: Graph, disabled: Iterable[str] = ()) -> Graph:
    disabled = set(disabled)
    unknown = disabled - set(PASS_NAMES)
    if unknown:
        raise ZonnxError(f"unknown pass {', '.join(sorted(unknown))}",
                         hint=f"passes: {', '.join(PASS_NAMES)}")
    for name, fn in PASSES:
        if name not in disabled:
            g = fn(g)
    return g
