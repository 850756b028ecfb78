#!/usr/bin/env python3
"""ONNX backend conformance: every node and pytorch model test shipped in the
installed onnx package, generated, built with ASan/UBSan, run and compared.

    python tests/conformance/run.py [--jobs N] [--filter REGEX] [--json FILE]

A case is `passed` (outputs within rtol 1e-3 / atol 1e-5), `failed` (the
generator accepted it but the result is wrong, the build broke, or the
program crashed) or `rejected` (the generator refused it with a reason).
Cases whose integer inputs decide shapes are retried with those inputs bound
as build-time constants (`--const`) and reported in the "const" group.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import onnx
from onnx import numpy_helper

SUITES = ("node", "pytorch-converted", "pytorch-operator")


def data_root() -> str:
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")


def discover(pattern: str | None = None) -> list[str]:
    cases = []
    for suite in SUITES:
        for d in sorted(glob.glob(os.path.join(data_root(), suite, "*"))):
            if os.path.isfile(os.path.join(d, "model.onnx")):
                cases.append(f"{suite}/{os.path.basename(d)}")
    if pattern:
        rx = re.compile(pattern)
        cases = [c for c in cases if rx.search(c)]
    return cases


def _read_pb(path: str):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def _io_types(model: onnx.ModelProto) -> list[int]:
    vals = list(model.graph.input) + list(model.graph.output)
    inits = {i.name for i in model.graph.initializer}
    return [v.type.tensor_type.elem_type if v.type.HasField("tensor_type") else 0
            for v in vals if v.name not in inits]


def _load_case(case_dir: str, model: onnx.ModelProto):
    sets = sorted(glob.glob(os.path.join(case_dir, "test_data_set_*")))
    inits = {i.name for i in model.graph.initializer}
    in_names = [i.name for i in model.graph.input if i.name not in inits]
    out_names = [o.name for o in model.graph.output]
    data = []
    for s in sets:
        ins = [_read_pb(p) for p in sorted(glob.glob(os.path.join(s, "input_*.pb")),
                                           key=lambda p: int(re.findall(r"(\d+)\.pb$", p)[0]))]
        outs = [_read_pb(p) for p in sorted(glob.glob(os.path.join(s, "output_*.pb")),
                                            key=lambda p: int(re.findall(r"(\d+)\.pb$", p)[0]))]
        data.append((dict(zip(in_names, ins)), dict(zip(out_names, outs))))
    return data


def _execute(target: str, work: str, name: str, report: dict, records: list) -> list[dict]:
    from zonnx.target import cortex_m, host
    if target == "host":
        exe = host.build(work, name, report, work)
        return host.execute(exe, report, records, work, timeout=120).outputs
    board = cortex_m.BOARDS[target]
    elf = cortex_m.build(work, name, report, work, board)
    cortex_m.check_fits(cortex_m.footprint(elf, name, board, work))
    return cortex_m.qemu_run(elf, board, report, records, work, timeout=120, count=False)[0].outputs


_NEEDS_CONST = re.compile(r"input '([^']+)' \(.*\) must be a constant")


def _generate_binding_consts(path: str, name: str, feeds: dict):
    """Generate; where the generator asks for a shape-deciding input as a
    constant (or shape inference fails on integer inputs), bind the case's
    value for it with --const and retry. Returns (generated, bound inputs)."""
    from zonnx.errors import ZonnxError
    from zonnx.load import LoadOptions
    from zonnx.pipeline import GenerateOptions, generate

    consts: dict = {}
    first = None
    for _ in range(len(feeds) + 1):
        try:
            return generate(path, GenerateOptions(name=name, load=LoadOptions(consts=consts))), consts
        except ZonnxError as e:
            first = first or e
            m = _NEEDS_CONST.search(str(e))
            if m and m.group(1) in feeds and m.group(1) not in consts:
                consts[m.group(1)] = feeds[m.group(1)]
            elif not consts and any(v.dtype.kind in "iub" for v in feeds.values()):
                consts = {k: v for k, v in feeds.items() if v.dtype.kind in "iub"}
            else:
                raise first from None
    raise first


def run_case(case: str, target: str = "host") -> dict:
    """Runs one case on `target` (host with ASan/UBSan, or a QEMU board); never raises."""
    from zonnx.errors import ZonnxError
    from zonnx.oracle import compare
    from zonnx.pipeline import write_outputs
    from zonnx.target import DoesNotFit, TargetError

    case_dir = os.path.join(data_root(), case)
    path = os.path.join(case_dir, "model.onnx")
    res = {"case": case, "suite": case.split("/")[0], "status": "failed", "reason": "",
           "max_error": None, "const": False, "float32_only": False}
    try:
        model = onnx.load(path, load_external_data=False)
        res["float32_only"] = all(t == onnx.TensorProto.FLOAT for t in _io_types(model))
        try:
            data = _load_case(case_dir, model)
        except Exception as e:  # sequences, optionals: not tensors
            res.update(status="rejected", reason=f"test data is not plain tensors ({e})")
            return res
        if not data:
            res.update(status="rejected", reason="no test data")
            return res
        feeds0 = data[0][0]
        name = "m"
        gen, consts = _generate_binding_consts(path, name, feeds0)
        res["const"] = bool(consts)
        report = json.loads(gen.files[f"{name}.json"])
        in_names = [t["name"] for t in report["inputs"]]
        records = []
        for feeds, _ in data:
            if res["const"] and any(not np.array_equal(feeds[k], feeds0[k]) for k in feeds
                                    if k not in in_names):
                continue  # a data set with other shape-deciding values needs its own build
            records.append({k: feeds[k] for k in in_names})
        with tempfile.TemporaryDirectory(prefix="zonnx-conf-") as work:
            write_outputs(gen.files, work)
            outputs = _execute(target, work, name, report, records)
        worst, ok, details = 0.0, True, []
        for got, (_, expected) in zip(outputs, data):
            for t in report["outputs"]:
                c = compare(expected[t["name"]], got[t["name"]])
                worst = max(worst, c.max_error)
                if not c.ok:
                    ok = False
                    details.append(f"{t['name']}: max error {c.max_error:.3g} {c.detail}".strip())
        res["max_error"] = worst
        res["status"] = "passed" if ok else "failed"
        res["reason"] = "; ".join(details)[:500]
    except ZonnxError as e:
        res.update(status="rejected", reason=str(e)[:500])
    except DoesNotFit as e:
        res.update(status="rejected", reason=str(e)[:500])
    except TargetError as e:
        res.update(status="failed", reason=str(e)[:1500])
    except Exception:  # a generator bug is a failure, never a rejection
        res.update(status="failed", reason="generator crashed: " + traceback.format_exc()[-1500:])
    return res


def summarize(results: list[dict]) -> dict:
    def count(rs, st):
        return sum(r["status"] == st for r in rs)
    node_f32 = [r for r in results if r["suite"] == "node" and r["float32_only"]]
    torch = [r for r in results if r["suite"] != "node"]
    const = [r for r in results if r["const"]]
    return {
        "passed": count(results, "passed"), "failed": count(results, "failed"),
        "rejected": count(results, "rejected"), "total": len(results),
        "node_float32_passed": count(node_f32, "passed"), "node_float32_total": len(node_f32),
        "pytorch_passed": count(torch, "passed"), "pytorch_total": len(torch),
        "const_bound_passed": count(const, "passed"), "const_bound_total": len(const),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--target", default="host", help="host (ASan/UBSan) or cortex-m3 (QEMU)")
    ap.add_argument("--filter", help="regex over 'suite/case' names")
    ap.add_argument("--json", help="write the per-case report here")
    ap.add_argument("--min-node-float32", type=int, default=0,
                    help="fail unless at least this many float32-only node cases pass")
    ap.add_argument("--min-pytorch", type=int, default=0,
                    help="fail unless at least this many pytorch model cases pass")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case")
    args = ap.parse_args(argv)

    cases = discover(args.filter)
    if not cases:
        print("conformance: no cases matched", file=sys.stderr)
        return 2
    results = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        for r in ex.map(run_case, cases, [args.target] * len(cases), chunksize=4):
            results.append(r)
            if args.verbose or r["status"] == "failed":
                print(f"{r['status']:<8} {r['case']}" + (f"  {r['reason'][:300]}" if r["reason"] else ""),
                      flush=True)
    s = summarize(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": s, "cases": results}, f, indent=1)
    print(f"float32-only node cases: {s['node_float32_passed']} of {s['node_float32_total']} passed")
    print(f"pytorch models: {s['pytorch_passed']} of {s['pytorch_total']} passed")
    print(f"const-bound inputs: {s['const_bound_passed']} of {s['const_bound_total']} passed")
    print(f"conformance: {s['passed']} passed, {s['failed']} failed, {s['rejected']} rejected")
    bad = s["failed"] > 0
    if s["node_float32_passed"] < args.min_node_float32:
        print(f"below the bar: {s['node_float32_passed']} < {args.min_node_float32} node cases")
        bad = True
    if s["pytorch_passed"] < args.min_pytorch:
        print(f"below the bar: {s['pytorch_passed']} < {args.min_pytorch} pytorch cases")
        bad = True
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
