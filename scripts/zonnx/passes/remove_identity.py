"""Identity and inference-mode Dropout removal: readers are rewired to the input.

A node whose output is a graph output stays (the output name is part of the
model's interface); its lowering is then a plain copy or an alias.
"""

from __future__ import annotations

import dataclasses

from ..ir import Graph


def _is_noop(node, g: Graph) -> bool:
    if node.op_type == "Identity" and node.domain == "":
        return True
    if node.op_type == "Dropout" and node.domain == "":
        # training_mode (opset 12+) must be absent or a constant false
        tm = g.const(node.input(2))
        mask_used = bool(node.output(1))
        return not mask_used and (not node.input(2) or (tm is not None and not bool(tm)))
    return False


def remove_identity(g: Graph) -> Graph:
    rename: dict[str, str] = {}
    keep = []
    for node in g.nodes:
        node = dataclasses.replace(node, inputs=tuple(rename.get(i, i) for i in node.inputs))
        if _is_noop(node, g) and node.outputs[0] not in g.outputs and node.inputs[0]:
            rename[node.outputs[0]] = node.inputs[0]
            continue
        keep.append(node)
    return g.replace(nodes=tuple(keep))
