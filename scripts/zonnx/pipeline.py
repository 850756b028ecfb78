"""The whole generator: load -> passes -> lower -> plan -> emit, in memory.

Nothing touches the disk here except reading the model; `write_outputs`
moves finished files into place so a failure leaves no half-written output.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field

from .cgen import validate_name
from .emit import EmitOptions, emit
from .ir import Graph
from .load import LoadOptions, load
from .lower import Program, lower
from .ops.base import LowerOptions
from .memplan import MemoryPlan, plan_memory
from .passes import run_passes


@dataclass(frozen=True)
class GenerateOptions:
    name: str
    load: LoadOptions = field(default_factory=LoadOptions)
    disabled_passes: tuple[str, ...] = ()
    command: str = ""
    lowering: LowerOptions = field(default_factory=LowerOptions)


@dataclass(frozen=True)
class Generated:
    graph: Graph
    program: Program
    plan: MemoryPlan
    files: dict[str, str]


def optimize(path: str, opts: GenerateOptions) -> Graph:
    return run_passes(load(path, opts.load), opts.disabled_passes)


def generate(path: str, opts: GenerateOptions) -> Generated:
    validate_name(opts.name)
    g = optimize(path, opts)
    prog = lower(g, opts.lowering)
    plan = plan_memory(prog)
    files = emit(prog, plan, EmitOptions(opts.name, opts.command))
    return Generated(g, prog, plan, files)


def write_outputs(files: dict[str, str], out_dir: str) -> list[str]:
    """Write all files or none: stage in a sibling temp dir, then rename in."""
    os.makedirs(out_dir, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=".zonnx-", dir=out_dir)
    try:
        for name, text in files.items():
            with open(os.path.join(stage, name), "w", encoding="utf-8") as f:
                f.write(text)
        paths = []
        for name in files:
            dst = os.path.join(out_dir, name)
            os.replace(os.path.join(stage, name), dst)
            paths.append(dst)
        return paths
    finally:
        shutil.rmtree(stage, ignore_errors=True)
