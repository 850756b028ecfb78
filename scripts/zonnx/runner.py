"""`zonnx run`: generate, build for a target, run, compare with the oracle."""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import numpy as np

from .errors import EXIT_MISMATCH, EXIT_OK, ZonnxError
from .ir import DTYPE_BY_NAME
from .datasets import test_records
from .oracle import compare, oracle_outputs
from .target import TargetError, get_target


def random_inputs(report: dict, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for t in report["inputs"]:
        dt = DTYPE_BY_NAME[t["dtype"]]
        shape = t["shape"]
        if dt.is_float:
            out[t["name"]] = rng.standard_normal(shape).astype(dt.np)
        elif dt.name == "bool":
            out[t["name"]] = rng.integers(0, 2, shape).astype(bool)
        else:
            out[t["name"]] = rng.integers(0, 10, shape).astype(dt.np)
    return out


def load_inputs(path: str, report: dict) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise ZonnxError(f"cannot read inputs {path}: {e}") from None
    missing = [t["name"] for t in report["inputs"] if t["name"] not in data]
    if missing:
        raise ZonnxError(f"{path} lacks model inputs: {', '.join(missing)} "
                         f"(has {', '.join(data) or 'nothing'})")
    return data


def _records(args: argparse.Namespace, report: dict) -> tuple[list[dict], np.ndarray | None]:
    if args.dataset:
        if len(report["inputs"]) != 1:
            raise ZonnxError("--dataset needs a model with exactly one input")
        t = report["inputs"][0]
        return test_records(args.dataset, t["name"], t["shape"])
    feeds = load_inputs(args.inputs, report) if args.inputs else random_inputs(report, args.seed)
    return [feeds], None


def run_model(args: argparse.Namespace, gen_opts) -> int:
    from .pipeline import generate, write_outputs

    target = get_target(args.target)
    cmsis_tree = None
    if gen_opts.lowering.kernels == "cmsis-nn":
        from .target.cmsis_nn import check_tree, find_tree
        try:
            cmsis_tree = check_tree(args.cmsis_nn) if args.cmsis_nn else find_tree()
        except TargetError as e:
            raise ZonnxError(str(e)) from None
        if cmsis_tree is None:
            raise ZonnxError("--kernels cmsis-nn needs a CMSIS-NN source tree",
                             hint="pass --cmsis-nn PATH (or set ZONNX_CMSIS_NN)")
    gen = generate(args.model, gen_opts)
    report = json.loads(gen.files[f"{gen_opts.name}.json"])
    from .backend_report import backend_summary
    if summary := backend_summary(report):
        print(summary)
    records, labels = _records(args, report)
    with tempfile.TemporaryDirectory(prefix="zonnx-run-") as tmp:
        work = args.keep or tmp
        os.makedirs(work, exist_ok=True)
        write_outputs(gen.files, work)
        try:
            result = target.run(work, gen_opts.name, report, records, work,
                                icount=not args.no_icount, cmsis_nn=cmsis_tree)
        except TargetError as e:
            print(f"zonnx run: {target.name}: {e}")
            return EXIT_MISMATCH
    if result.log:
        print(result.log.rstrip())
    engine = "onnxruntime" if labels is not None else "onnx.reference"
    # onnxruntime is fast on whole data sets; either falls back to the other
    oracle, expected = oracle_outputs(args.model, records, dict(gen_opts.load.consts), engine)
    ok = True
    for t in report["outputs"]:
        cs = [compare(e[t["name"]], g[t["name"]]) for e, g in zip(expected, result.outputs)]
        bad = sum(not c.ok for c in cs)
        ok &= bad == 0
        worst = max(c.max_error for c in cs)
        detail = next((c.detail for c in cs if c.detail), "")
        print(f"output '{t['name']}' {t['dtype']} {t['shape']}: max error {worst:.3g} over "
              f"{len(cs)} run(s) {'ok' if not bad else f'MISMATCH in {bad}'} {detail}".rstrip())
    scores = {}
    if labels is not None:
        first = report["outputs"][0]["name"]
        ours = np.array([np.argmax(g[first]) for g in result.outputs])
        theirs = np.array([np.argmax(e[first]) for e in expected])
        scores = {"accuracy": float(np.mean(ours == labels)),
                  "oracle_accuracy": float(np.mean(theirs == labels)),
                  "top1_agreement": float(np.mean(ours == theirs))}
        print(f"accuracy on {args.dataset} test set ({len(labels)} samples): "
              f"zonnx/{target.name} {np.mean(ours == labels):.4f}, {oracle} "
              f"{np.mean(theirs == labels):.4f}; top-1 agreement {np.mean(ours == theirs):.4f}")
    if args.outputs:
        np.savez(args.outputs, **result.outputs[0])
    if args.report:
        with open(args.report, "w") as f:
            json.dump({"model": args.model, "target": target.name, "match": bool(ok),
                       "oracle": oracle, "records": len(records), "macs": report.get("macs", 0),
                       "arena_bytes": report["arena_bytes"], "weights_bytes": report["weights_bytes"],
                       **scores, **result.metrics}, f, indent=2)
    print(f"{target.name}: {'match' if ok else 'mismatch'} against {oracle}")
    return EXIT_OK if ok else EXIT_MISMATCH
