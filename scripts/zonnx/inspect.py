"""`zonnx inspect`: what a model needs and whether zonnx can build it."""

from __future__ import annotations

import json
import re

from .backend_report import node_backend
from .errors import EXIT_OK, EXIT_REJECTED, ZonnxError
from .ir import Graph, Node
from .load import LoadOptions, load
from .emit import EmitOptions, emit
from .lower import Program, lower, lower_node
from .memplan import plan_memory
from .ops import Lowered
from .ops.base import LowerOptions
from .passes import run_passes

# Ops converting between the float and the integer parts of a quantized model.
_BOUNDARY = ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear")
_FLOAT_C = re.compile(r"\b(float|double)\b")


def _fmt(shape) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def precision(node: Node, g: Graph, lowered: Lowered | None) -> str:
    """"boundary" for the quantize / dequantize ops (and Casts between integer
    and float tensors), else "float" when the node's generated kernels touch
    a float type (parameters or body), "integer" when they do not. Without a
    lowering (unsupported node), from the dtypes of its run-time tensors."""
    data = [g.tensors[t] for t in node.inputs + node.outputs
            if t and t in g.tensors and not g.tensors[t].is_const]
    if node.domain == "" and node.op_type in _BOUNDARY:
        return "boundary"
    if node.domain == "" and node.op_type == "Cast" and len(data) == 2 and \
            data[0].dtype.is_float != data[1].dtype.is_float:
        return "boundary"
    if lowered is not None:
        text = [p for s in lowered.steps for p in s.fn.params] + [s.fn.body for s in lowered.steps]
        return "float" if any(_FLOAT_C.search(t) for t in text) else "integer"
    return "integer" if data and all(not t.dtype.is_float for t in data) else "float"


def inspect_model(path: str, opts: LoadOptions, disabled: tuple[str, ...], as_json: bool,
                  lowering: LowerOptions | None = None) -> int:
    lowering = lowering or LowerOptions()
    g = run_passes(load(path, opts), disabled)
    found = []
    for node in g.nodes:
        try:
            found.append((node, None, lower_node(node, g, lowering)))
        except ZonnxError as e:
            found.append((node, e, None))
    params = sum(t.nbytes for t in g.tensors.values() if t.is_const)   # upper bound until lowered
    report = {
        "model": path, "opsets": g.opsets,
        "inputs": [{"name": n, "dtype": g.tensors[n].dtype.name, "shape": list(g.tensors[n].shape)}
                   for n in g.inputs],
        "outputs": [{"name": n, "dtype": g.tensors[n].dtype.name, "shape": list(g.tensors[n].shape)}
                    for n in g.outputs],
        "kernels": lowering.kernels, "rounding": lowering.rounding,
        "nodes": [], "parameter_bytes": params, "arena_bytes": None, "supported": True,
    }
    for node, err, lowered in found:
        report["nodes"].append({
            "precision": precision(node, g, lowered),
            "name": node.name, "op": node.op_type, "domain": node.domain,
            "outputs": [{"name": o, "shape": list(g.tensors[o].shape) if o in g.tensors else None}
                        for o in node.outputs if o],
            "supported": err is None, "reason": None if err is None else err.message,
            "backend": lowered.backend if lowered else None, "note": lowered.note if lowered else "",
            "fallback": lowered.fallback if lowered else ""})
        report["supported"] &= err is None
    if report["supported"]:
        # The emitter knows which constants end up in flash (shape inputs and
        # folded values consumed at build time do not).
        prog: Program = lower(g, lowering)
        plan = plan_memory(prog)
        emitted = json.loads(emit(prog, plan, EmitOptions("inspect"))["inspect.json"])
        report["parameter_bytes"] = params = emitted["weights_bytes"]
        report["arena_bytes"] = plan.arena_size
        report["arena_lower_bound"] = plan.lower_bound
        report["macs"] = emitted["macs"]
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(f"model: {path}  opsets: {g.opsets}")
        for kind in ("inputs", "outputs"):
            for t in report[kind]:
                print(f"  {kind[:-1]:<6} {t['name']}: {t['dtype']} {_fmt(t['shape'])}")
        for n in report["nodes"]:
            outs = ", ".join(_fmt(o["shape"]) if o["shape"] is not None else "?" for o in n["outputs"])
            state = "ok" if n["supported"] else f"UNSUPPORTED: {n['reason']}"
            if lowering.kernels == "cmsis-nn" and node_backend(n):
                state += f" ({node_backend(n)})"
            print(f"  {n['op']:<20} {n['name'][:32]:<32} -> {outs:<16} {n['precision']:<9} {state}")
        print(f"parameters: {params} bytes")
        if report["arena_bytes"] is not None:
            print(f"arena: {report['arena_bytes']} bytes (lower bound {report['arena_lower_bound']}), "
                  f"MACs: {report['macs']}")
        print("supported" if report["supported"] else
              f"not supported: {sum(not n['supported'] for n in report['nodes'])} node(s)")
    return EXIT_OK if report["supported"] else EXIT_REJECTED
