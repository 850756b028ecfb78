"""Golden data: inputs with onnx.reference outputs, emitted as C next to a model
(`zonnx generate --golden N [--golden-dataset digits]`), so tests and firmware
can check the generated kernels on the device against the oracle."""

from __future__ import annotations

import numpy as np

from .cgen import c_array_body
from .emit import banner
from .errors import ZonnxError
from .ir import DTYPE_BY_NAME
from .lower import Program
from .oracle import ATOL, RTOL, oracle_outputs


def golden_records(model_path: str, report: dict, count: int, dataset: str | None, seed: int,
                   consts: dict) -> tuple[list[dict], list[dict], np.ndarray | None]:
    from .datasets import test_records
    from .runner import random_inputs
    if count < 1:
        raise ZonnxError("--golden needs at least one record")
    labels = None
    if dataset:
        if len(report["inputs"]) != 1:
            raise ZonnxError("--golden-dataset needs a model with exactly one input")
        t = report["inputs"][0]
        records, y = test_records(dataset, t["name"], t["shape"])
        records, labels = records[:count], y[:count]
    else:
        records = [random_inputs(report, seed + i) for i in range(count)]
    return records, oracle_outputs(model_path, records, consts)[1], labels


def golden_atol(prog: Program, report: dict) -> float:
    """Absolute tolerance of the golden check. The oracle rounds as ONNX does;
    a model requantized as CMSIS-NN (rounding "cmsis-nn") may differ from it by
    one output step, which for an int8 output is 1 and for a float output
    written by DequantizeLinear its scale (float32 slack included)."""
    if report.get("rounding") != "cmsis-nn":
        return ATOL
    g, atol = prog.graph, ATOL
    producers = g.producers()
    for name in g.outputs:
        t = g.tensors[name]
        if not t.dtype.is_float:
            atol = max(atol, 1.0)
            continue
        j = producers.get(name)
        n = g.nodes[j] if j is not None else None
        s = g.const(n.input(1)) if n is not None and n.op_type == "DequantizeLinear" else None
        if s is not None and np.asarray(s).size == 1:
            atol = max(atol, float(np.asarray(s).reshape(-1)[0]) * (1 + 1e-3))
    return atol


def emit_golden(prog: Program, name: str, report: dict, records: list[dict], outputs: list[dict],
                labels: np.ndarray | None, command: str = "") -> dict[str, str]:
    from .emit import EmitOptions
    head = banner(prog, EmitOptions(name, command))
    n = len(records)
    P = name.upper()
    src = [head, f'#include "{name}_golden.h"', ""]
    arrays = {"in": [], "out": []}
    for kind, tensors, recs in (("in", report["inputs"], records), ("out", report["outputs"], outputs)):
        for i, t in enumerate(tensors):
            dt = DTYPE_BY_NAME[t["dtype"]]
            data = np.stack([np.asarray(r[t["name"]]).astype(dt.np).reshape(t["shape"]) for r in recs])
            sym = f"{name}_golden_{kind}{i}"
            arrays[kind].append(sym)
            src.append(f"/* '{t['name']}' {t['dtype']} {n} x {t['shape']} */")
            src.append(f"static const {dt.ctype} {sym}[{max(data.size, 1)}] ZONNX_ALIGNED(16) = {{")
            src.append(c_array_body(data, dt) if data.size else "    0")
            src.append("};")
    for kind in ("in", "out"):
        items = ", ".join(arrays[kind]) or "NULL"
        src.append(f"static const void *const {name}_golden_{kind}puts[] = {{{items}}};")
    lab = "NULL"
    if labels is not None:
        src.append(f"static const int32_t {name}_golden_labels[{n}] = {{")
        src.append(c_array_body(np.asarray(labels, np.int32), DTYPE_BY_NAME["int32"]))
        src.append("};")
        lab = f"{name}_golden_labels"
    src += [f"const struct zonnx_golden {name}_golden = {{",
            f"    &{name}_model, {P}_GOLDEN_COUNT, {name}_golden_inputs, {name}_golden_outputs,",
            f"    {lab}, {RTOL!r}f, {golden_atol(prog, report)!r}f,", "};", ""]
    hdr = [head, f"#ifndef {P}_GOLDEN_H_", f"#define {P}_GOLDEN_H_", "",
           '#include "zonnx/golden.h"', f'#include "{name}.h"', "",
           f"/* {n} records: inputs and onnx.reference outputs"
           f"{', with data-set labels' if labels is not None else ''}. */",
           f"#define {P}_GOLDEN_COUNT {n}u",
           f"extern const struct zonnx_golden {name}_golden;", "", f"#endif /* {P}_GOLDEN_H_ */", ""]
    return {f"{name}_golden.c": "\n".join(src), f"{name}_golden.h": "\n".join(hdr)}
