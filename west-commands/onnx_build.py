# SPDX-License-Identifier: Apache-2.0
"""`west onnx-build`: check an ONNX model with zonnx, build a Zephyr application
with it (`west build` plus the CONFIG_ZONNX_MODEL* options) and report where
the image's flash and RAM go.

The model is checked in this process first, with the same generator the build
runs, so an unsupported operator is reported in one line before CMake starts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import NamedTuple

from west.commands import WestCommand

# The generator next to this file is the one the module's CMake runs
# (PYTHONPATH=<module>/scripts): check the model with that very copy.
_SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts")
if os.path.isdir(os.path.join(_SCRIPTS, "zonnx")):
    sys.path.insert(0, os.path.abspath(_SCRIPTS))

from zonnx.backend_report import backend_summary  # noqa: E402
from zonnx.cgen import sanitize, validate_name  # noqa: E402
from zonnx.cli import _parse_shape  # noqa: E402
from zonnx.errors import EXIT_REJECTED, ZonnxError  # noqa: E402
from zonnx.footprint import Footprint, measure_image, quantized_saving  # noqa: E402
from zonnx.load import LoadOptions  # noqa: E402
from zonnx.ops.base import LowerOptions  # noqa: E402
from zonnx.pipeline import GenerateOptions, generate  # noqa: E402

REPORT_FILE = "zonnx-footprint.json"

USAGE = """\
west onnx-build [-h] --model FILE.onnx [--name NAME] [--shape NAME=DIMS ...] [--kernels K]
                       [-b BOARD] [-d BUILD_DIR] [-p {auto,always,never}]
                       [-S SNIPPET] [--shield SHIELD] [--extra-conf FILE.conf]
                       [source_dir] [-- cmake_opt ...]
"""

DESCRIPTION = """\
Checks an ONNX model with the zonnx generator, then runs `west build` for the
application with CONFIG_ZONNX=y, CONFIG_ZONNX_MODEL, CONFIG_ZONNX_MODEL_NAME and
CONFIG_ZONNX_MODEL_SHAPES set, and prints the image's flash/RAM footprint
(weights, model tables, arena, kernels, runtime, rest of image) against the
board's CONFIG_FLASH_SIZE/CONFIG_SRAM_SIZE. The report is also written to
BUILD_DIR/zonnx-footprint.json.

positional arguments:
  source_dir            application source directory (default: as west build)
  cmake_opt             extra options for CMake, after "--"
"""

# west build options passed on as given: (flags, argparse keywords).
PASSED_ON = (
    (("-b", "--board"), dict(help="board to build for")),
    (("-p", "--pristine"), dict(choices=["auto", "always", "never"], nargs="?", const="always",
                                help="pristine build folder setting (bare -p: always)")),
    (("-S", "--snippet"), dict(dest="snippets", action="append", default=[], metavar="SNIPPET",
                               help="add a snippet; may be given more than once")),
    (("--shield",), dict(dest="shields", action="append", default=[], metavar="SHIELD",
                         help="add a shield; may be given more than once")),
    (("--extra-conf",), dict(dest="extra_confs", action="append", default=[], metavar="FILE",
                             help="add a Kconfig fragment; may be given more than once")),
)


class ModelJob(NamedTuple):
    """The model to build (not a dataclass: those need their module in
    sys.modules, and west loads this file without putting it there)."""
    model: str                              # absolute path
    name: str                               # C prefix of the generated symbols
    shapes: dict[str, tuple[int, ...]]
    kernels: str = "zonnx"                  # or "cmsis-nn" (CONFIG_ZONNX_KERNELS_CMSIS_NN)


class OnnxBuild(WestCommand):

    def __init__(self):
        super().__init__("onnx-build",
                         "check an ONNX model with zonnx, build an app with it, report its footprint",
                         DESCRIPTION,
                         accepts_unknown_args=True)   # source_dir and "-- cmake args", as west build

    def do_add_parser(self, parser_adder):
        parser = parser_adder.add_parser(self.name, help=self.help, description=self.description,
                                         usage=USAGE,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.add_argument("--model", required=True, metavar="FILE.onnx", help="the ONNX model")
        parser.add_argument("--name", help="C identifier prefixing every generated symbol "
                                           "(default: the model file's name)")
        parser.add_argument("--shape", action="append", default=[], metavar="NAME=DIMS",
                            help="fix a dynamic input shape, e.g. input=1x1x8x8")
        parser.add_argument("--kernels", choices=["zonnx", "cmsis-nn"], default="zonnx",
                            help="cmsis-nn: int8 nodes on CMSIS-NN where they fit "
                                 "(sets CONFIG_ZONNX_KERNELS_CMSIS_NN; Cortex-M boards)")
        parser.add_argument("-d", "--build-dir", default="build",
                            help="build directory to create or use (default: build)")
        for flags, kwargs in PASSED_ON:
            parser.add_argument(*flags, **kwargs)
        return parser

    def do_run(self, args, unknown_args):
        try:
            source_dir, cmake_opts = split_remainder(unknown_args)
        except ValueError as e:
            self.parser.error(str(e))
        try:
            job = model_job(args.model, args.name, args.shape, args.kernels)
            generated = check_model(job)
        except ZonnxError as e:
            self.die(str(e), exit_code=EXIT_REJECTED)
        self.inf(f"zonnx: {job.model}: supported; weights {generated['weights_bytes']} bytes, "
                 f"arena {generated['arena_bytes']} bytes, {generated['macs']} MACs")
        if summary := backend_summary(generated):
            self.inf(summary)
        rc = run_west(west_build_argv(args, source_dir, job, cmake_opts))
        if rc:
            self.die(f"west build failed (exit code {rc})", exit_code=rc)
        self.report_footprint(args.build_dir, job, generated)

    def report_footprint(self, build_dir: str, job: ModelJob, generated: dict) -> None:
        try:
            fp, report = footprint_report(build_dir, job, generated)
        except FileNotFoundError as e:
            self.wrn(f"no footprint report: {e}")
            return
        path = os.path.join(build_dir, REPORT_FILE)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
        self.inf(fp.table())
        if saving := quantized_saving(generated):
            self.inf(saving)
        if not (fp.flash_size and fp.ram_size):
            self.inf("(the build's .config has no CONFIG_FLASH_SIZE/CONFIG_SRAM_SIZE, as on "
                     "native_sim: totals without percentages)")
        self.inf(f"footprint report: {path}")


def split_remainder(unknown: list[str]) -> tuple[str | None, list[str]]:
    """The source directory and the CMake options after "--" (west leaves both
    unparsed); anything else is a mistyped option."""
    head, cmake_opts = list(unknown), []
    if "--" in head:
        cut = head.index("--")
        head, cmake_opts = head[:cut], head[cut + 1:]
    options = [a for a in head if a.startswith("-")]
    if options:
        raise ValueError(f"unknown option(s): {' '.join(options)} (CMake options go after '--')")
    if len(head) > 1:
        raise ValueError(f"more than one source directory: {' '.join(head)}")
    return (head[0] if head else None), cmake_opts


def model_job(model: str, name: str | None, shapes: list[str], kernels: str = "zonnx") -> ModelJob:
    """Validates the options that name and shape the model; ZonnxError if one is bad."""
    if not os.path.isfile(model):
        raise ZonnxError(f"model file {model} not found", hint="pass --model FILE.onnx")
    name = validate_name(name if name is not None else default_name(model))
    parsed = dict(_parse_shape(s) for s in shapes)
    for inp in parsed:
        if "," in inp or ";" in inp:
            raise ZonnxError(f"--shape {inp}: an input name with ',' or ';' cannot be passed in "
                             f"CONFIG_ZONNX_MODEL_SHAPES")
    return ModelJob(os.path.abspath(model), name, parsed, kernels)


def default_name(model: str) -> str:
    return sanitize(os.path.splitext(os.path.basename(model))[0])


def check_model(job: ModelJob) -> dict:
    """Runs the whole generator in memory; its NAME.json report, or ZonnxError."""
    gen = generate(job.model, GenerateOptions(name=job.name, load=LoadOptions(shapes=job.shapes),
                                              lowering=LowerOptions(job.kernels)))
    return json.loads(gen.files[f"{job.name}.json"])


def kconfig_string(value: str) -> str:
    """Zephyr writes -DCONFIG_X=<value> into a Kconfig fragment verbatim, so a
    string symbol's value must carry its quotes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def shapes_option(shapes: dict[str, tuple[int, ...]]) -> str:
    return ",".join(f"{n}={'x'.join(str(d) for d in dims)}" for n, dims in shapes.items())


def zonnx_cmake_opts(job: ModelJob) -> list[str]:
    # SHAPES and the backend are always given: Zephyr caches command-line
    # CONFIG_ values, and an earlier run's must not stick to this model.
    return ["-DCONFIG_ZONNX=y",
            f"-DCONFIG_ZONNX_MODEL={kconfig_string(job.model)}",
            f"-DCONFIG_ZONNX_MODEL_NAME={kconfig_string(job.name)}",
            f"-DCONFIG_ZONNX_MODEL_SHAPES={kconfig_string(shapes_option(job.shapes))}",
            f"-DCONFIG_ZONNX_KERNELS_CMSIS_NN={'y' if job.kernels == 'cmsis-nn' else 'n'}"]


def west_build_argv(args: argparse.Namespace, source_dir: str | None, job: ModelJob,
                    cmake_opts: list[str]) -> list[str]:
    """`west build` arguments: the passed-on options, then the zonnx options and
    the user's own after "--" (the user's come last, so they win)."""
    argv = ["build", "-d", args.build_dir]
    if args.board:
        argv += ["-b", args.board]
    if args.pristine:
        argv += ["-p", args.pristine]
    for flag, values in (("-S", args.snippets), ("--shield", args.shields),
                         ("--extra-conf", args.extra_confs)):
        for v in values:
            argv += [flag, v]
    if source_dir:
        argv.append(source_dir)
    return argv + ["--", *zonnx_cmake_opts(job), *cmake_opts]


def run_west(argv: list[str]) -> int:
    """Runs `west <argv>` in a child process with this west; its exit code."""
    return subprocess.run([sys.executable, "-m", "west", *argv]).returncode


def read_dotconfig(path: str) -> dict[str, str]:
    """CONFIG_* values of a Kconfig .config, string quotes removed."""
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, sep, val = line.strip().partition("=")
            if sep and key.startswith("CONFIG_"):
                values[key] = val[1:-1] if len(val) >= 2 and val[0] == val[-1] == '"' else val
    return values


def kib_option(config: dict[str, str], key: str) -> int | None:
    """A size in KiB from .config, in bytes; None when absent or 0 (unknown)."""
    try:
        return int(config[key], 0) * 1024 or None
    except (KeyError, ValueError):
        return None


def image_dir(build_dir: str) -> str:
    """The application's build directory: build_dir itself, or with sysbuild
    the default domain's, from domains.yaml."""
    domains_file = os.path.join(build_dir, "domains.yaml")
    if os.path.isfile(domains_file):
        import yaml
        with open(domains_file, encoding="utf-8") as f:
            domains = yaml.safe_load(f) or {}
        for d in domains.get("domains", []):
            if d.get("name") == domains.get("default") and d.get("build_dir"):
                return d["build_dir"]
    return build_dir


def footprint_report(build_dir: str, job: ModelJob, generated: dict) -> tuple[Footprint, dict]:
    """The image's footprint against the board's memories, and the JSON report
    (generator numbers next to the measured ones, as `zonnx run --report`)."""
    zephyr_dir = os.path.join(image_dir(build_dir), "zephyr")
    dotconfig = os.path.join(zephyr_dir, ".config")
    if not os.path.isfile(dotconfig):
        raise FileNotFoundError(f"{dotconfig} not found")
    config = read_dotconfig(dotconfig)
    elf = os.path.join(zephyr_dir, config.get("CONFIG_KERNEL_BIN_NAME", "zephyr") + ".elf")
    if not os.path.isfile(elf):
        raise FileNotFoundError(f"{elf} not found")
    board = config.get("CONFIG_BOARD_TARGET") or config.get("CONFIG_BOARD") or "unknown board"
    fp = measure_image(elf, job.name, board, kib_option(config, "CONFIG_FLASH_SIZE"),
                       kib_option(config, "CONFIG_SRAM_SIZE"))
    report = {"model": job.model, "name": job.name, "elf": os.path.abspath(elf),
              **{k: generated[k] for k in ("weights_bytes", "arena_bytes", "macs")},
              "footprint": fp.as_dict()}
    return fp, report
