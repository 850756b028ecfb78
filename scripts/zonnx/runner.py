"""`zonnx run`: generate, build for a target, run, compare with the oracle."""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import numpy as np

from .errors import EXIT_MISMATCH, EXIT_OK, ZonnxError
from .ir import DTYPE_BY_NAME
from .oracle import compare, reference_outputs
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


def run_model(args: argparse.Namespace, gen_opts) -> int:
    from .pipeline import generate, write_outputs

    target = get_target(args.target)
    gen = generate(args.model, gen_opts)
    report = json.loads(gen.files[f"{gen_opts.name}.json"])
    feeds = load_inputs(args.inputs, report) if args.inputs else random_inputs(report, args.seed)
    with tempfile.TemporaryDirectory(prefix="zonnx-run-") as tmp:
        work = args.keep or tmp
        os.makedirs(work, exist_ok=True)
        write_outputs(gen.files, work)
        try:
            result = target.run(work, gen_opts.name, report, [feeds], work)
        except TargetError as e:
            print(f"zonnx run: {target.name}: {e}")
            return EXIT_MISMATCH
    got = result.outputs[0]
    consts = {k: v for k, v in gen_opts.load.consts.items()}
    expected = reference_outputs(args.model, {**feeds, **consts})
    worst, ok = 0.0, True
    for t in report["outputs"]:
        c = compare(expected[t["name"]], got[t["name"]])
        ok &= c.ok
        worst = max(worst, c.max_error)
        status = "ok" if c.ok else "MISMATCH"
        print(f"output '{t['name']}' {t['dtype']} {t['shape']}: max error {c.max_error:.3g} "
              f"{status}{' ' + c.detail if c.detail else ''}")
    if args.outputs:
        np.savez(args.outputs, **got)
    print(f"{target.name}: {'match' if ok else 'mismatch'} against onnx.reference "
          f"(max error {worst:.3g})")
    return EXIT_OK if ok else EXIT_MISMATCH
