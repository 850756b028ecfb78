"""`zonnx` command line: generate, inspect, ops, run."""

from __future__ import annotations

import argparse
import shlex
import sys

import numpy as np

from . import __version__
from .errors import EXIT_OK, EXIT_REJECTED, ZonnxError
from .load import LoadOptions
from .ops.base import KERNEL_BACKENDS, ROUNDINGS, LowerOptions
from .passes import PASS_NAMES


def _parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, dims = text.rpartition("=")
    try:
        if not sep or not name:
            raise ValueError
        shape = tuple(int(d) for d in dims.lower().split("x")) if dims else ()
        if any(d < 0 for d in shape):
            raise ValueError
    except ValueError:
        raise ZonnxError(f"bad --shape '{text}'", hint="write NAME=1x3x32x32") from None
    return name, shape


def _parse_const(text: str) -> tuple[str, np.ndarray]:
    name, sep, path = text.rpartition("=")
    if not sep or not name:
        raise ZonnxError(f"bad --const '{text}'", hint="write NAME=FILE.npy")
    try:
        return name, np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ZonnxError(f"--const {name}: cannot read {path}: {e}") from None


def load_options(args: argparse.Namespace) -> LoadOptions:
    return LoadOptions(shapes=dict(_parse_shape(s) for s in args.shape),
                       consts=dict(_parse_const(c) for c in args.const))


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="the .onnx file")
    p.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                   help="fix a dynamic input shape, e.g. input=1x3x32x32")
    p.add_argument("--const", action="append", default=[], metavar="NAME=FILE.npy",
                   help="bind an input to a constant at build time (for inputs that decide shapes)")
    p.add_argument("--disable-pass", action="append", default=[], choices=PASS_NAMES,
                   metavar="PASS", help=f"skip a graph pass ({', '.join(PASS_NAMES)})")


def _add_kernel_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernels", choices=KERNEL_BACKENDS, default=None,
                   help="cmsis-nn: call CMSIS-NN's arm_* functions for the int8 convolutions and "
                        "matrix products whose parameters fit, zonnx kernels elsewhere "
                        "(default zonnx)")
    p.add_argument("--rounding", choices=ROUNDINGS, default=None,
                   help="requantization of the int8 convolutions and matrix products: half-even "
                        "(exact, as ONNX; default) or cmsis-nn (as CMSIS-NN; implied by "
                        "--kernels cmsis-nn)")


def _lower_options(args: argparse.Namespace) -> LowerOptions:
    kernels = getattr(args, "kernels", None) or (
        "cmsis-nn" if getattr(args, "cmsis_nn", None) else "zonnx")
    rounding = getattr(args, "rounding", None)
    if kernels == "cmsis-nn" and rounding == "half-even":
        raise ZonnxError("--kernels cmsis-nn requantizes as CMSIS-NN does; --rounding half-even "
                         "cannot apply")
    return LowerOptions(kernels, rounding or ("cmsis-nn" if kernels == "cmsis-nn" else "half-even"))


def _gen_options(args: argparse.Namespace, name: str):
    from .pipeline import GenerateOptions
    return GenerateOptions(name=name, load=load_options(args),
                           disabled_passes=tuple(args.disable_pass),
                           command="zonnx " + " ".join(shlex.quote(a) for a in args.argv),
                           lowering=_lower_options(args))


def cmd_generate(args: argparse.Namespace) -> int:
    import json

    from .golden import emit_golden, golden_records
    from .pipeline import generate, write_outputs
    opts = _gen_options(args, args.name)
    gen = generate(args.model, opts)
    files = dict(gen.files)
    if args.golden or args.golden_dataset:
        report = json.loads(files[f"{args.name}.json"])
        recs, outs, labels = golden_records(args.model, report, args.golden or 16,
                                            args.golden_dataset, args.seed, dict(opts.load.consts))
        files.update(emit_golden(gen.program, args.name, report, recs, outs, labels, opts.command))
    for path in write_outputs(files, args.output):
        print(path)
    from .backend_report import backend_summary
    backend = backend_summary(json.loads(files[f"{args.name}.json"]))
    if backend:
        print(backend)
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    from .inspect import inspect_model
    return inspect_model(args.model, load_options(args), tuple(args.disable_pass), args.json,
                         _lower_options(args))


def cmd_ops(args: argparse.Namespace) -> int:
    from .optable import markdown, text_table
    if args.markdown is not None:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(markdown())
        print(args.markdown)
    else:
        print(text_table())
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import run_model
    return run_model(args, _gen_options(args, args.name))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="zonnx", description="ONNX models to C for microcontrollers")
    ap.add_argument("--version", action="version", version=f"zonnx {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="write NAME.c, NAME.h and NAME.json for a model")
    _add_model_args(p)
    p.add_argument("--name", required=True, help="C identifier prefixing every generated symbol")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--golden", type=int, default=0, metavar="N",
                   help="also write NAME_golden.c/.h: N inputs with onnx.reference outputs")
    p.add_argument("--golden-dataset", choices=["digits", "iris"],
                   help="take golden inputs (and labels) from a data set's held-out samples")
    p.add_argument("--seed", type=int, default=0, help="seed for random golden inputs")
    _add_kernel_args(p)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("inspect", help="ops, shapes, support, parameter and arena bytes")
    _add_model_args(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_kernel_args(p)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("ops", help="list the supported operators")
    p.add_argument("--markdown", nargs="?", const="docs/operators.md", default=None, metavar="FILE",
                   help="write the table as Markdown (default docs/operators.md)")
    p.set_defaults(func=cmd_ops)

    p = sub.add_parser("run", help="generate, build and run a model, compared with onnx.reference")
    _add_model_args(p)
    p.add_argument("--target", default="host",
                   help="where to run: host, cortex-m3 (lm3s6965, soft float), "
                        "cortex-m4f (mps2-an386, FPU and DSP)")
    p.add_argument("--name", default="model", help="C name for the generated model")
    p.add_argument("--inputs", help=".npz with one array per model input (default: random)")
    p.add_argument("--outputs", help="write the outputs to this .npz")
    p.add_argument("--dataset", choices=["digits", "iris"],
                   help="run the data set's held-out samples and report accuracy")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs")
    p.add_argument("--keep", metavar="DIR", help="keep generated files and binaries in DIR")
    p.add_argument("--report", metavar="FILE.json",
                   help="write footprint, instruction counts and errors as JSON")
    p.add_argument("--no-icount", action="store_true",
                   help="skip instruction counting (QEMU plugin / valgrind callgrind)")
    _add_kernel_args(p)
    p.add_argument("--cmsis-nn", metavar="PATH",
                   help="a CMSIS-NN source tree to build and link (implies --kernels cmsis-nn)")
    p.set_defaults(func=cmd_run)
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except ZonnxError as e:
        print(f"zonnx: error: {e}", file=sys.stderr)
        return EXIT_REJECTED
    except KeyboardInterrupt:
        return 130


__all__ = ["main"]
