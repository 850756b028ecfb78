"""Dead-code elimination: drop nodes none of whose outputs reach a graph output,
and constants nobody reads."""

from __future__ import annotations

from ..ir import Graph


def eliminate_dead_code(g: Graph) -> Graph:
    live = set(g.outputs)
    keep = []
    for node in reversed(g.nodes):
        if any(o in live for o in node.outputs if o):
            keep.append(node)
            live.update(i for i in node.inputs if i)
    keep.reverse()
    tensors = {n: t for n, t in g.tensors.items()
               if n in live or n in g.inputs or any(n in k.outputs for k in keep)}
    return g.replace(nodes=tuple(keep), tensors=tensors)
