"""Shared test helpers: build a model with onnx.helper, run it through zonnx on
the host (ASan/UBSan) and compare with onnx.reference."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
from onnx import helper

from zonnx.load import LoadOptions
from zonnx.oracle import compare, reference_outputs
from zonnx.pipeline import GenerateOptions, generate, write_outputs
from zonnx.target import host


def make_model(nodes, inputs, outputs, initializers=(), opset=17, extra_opsets=()):
    """inputs/outputs: [(name, np.dtype or TensorProto type, shape)]."""
    def vi(name, dt, shape):
        code = dt if isinstance(dt, int) else helper.np_dtype_to_tensor_dtype(np.dtype(dt))
        return helper.make_tensor_value_info(name, code, shape)
    graph = helper.make_graph(list(nodes), "test", [vi(*i) for i in inputs],
                              [vi(*o) for o in outputs],
                              [onnx.numpy_helper.from_array(np.asarray(v), k)
                               for k, v in dict(initializers).items()])
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    return helper.make_model(graph, opset_imports=opsets)


def run_zonnx(model_or_path, feeds: dict, tmp_path, name: str = "m", opts: GenerateOptions | None = None,
              sanitize: bool = True):
    """Generate, build and run on the host; returns (outputs dict, report dict)."""
    path = model_or_path
    if not isinstance(model_or_path, (str, os.PathLike)):
        path = os.path.join(str(tmp_path), f"{name}.onnx")
        onnx.save(model_or_path, path)
    gen = generate(str(path), opts or GenerateOptions(name=name))
    report = json.loads(gen.files[f"{name}.json"])
    work = str(tmp_path)
    write_outputs(gen.files, work)
    exe = host.build(work, name, report, work, sanitize=sanitize)
    res = host.execute(exe, report, [{t["name"]: feeds[t["name"]] for t in report["inputs"]}], work)
    return res.outputs[0], report


def assert_matches_reference(model, feeds: dict, tmp_path, consts: dict | None = None,
                             rtol: float = 1e-3, atol: float = 1e-5, **kw):
    """Runs the model through zonnx and onnx.reference; asserts every output matches."""
    opts = GenerateOptions(name=kw.pop("name", "m"), load=LoadOptions(consts=consts or {}),
                           disabled_passes=tuple(kw.pop("disabled_passes", ())))
    got, report = run_zonnx(model, feeds, tmp_path, name=opts.name, opts=opts, **kw)
    path = os.path.join(str(tmp_path), f"{opts.name}.onnx")
    if not isinstance(model, (str, os.PathLike)):
        onnx.save(model, path)
    else:
        path = str(model)
    expected = reference_outputs(path, {**feeds, **(consts or {})})
    for name, want in expected.items():
        c = compare(want, got[name], rtol=rtol, atol=atol)
        assert c.ok, f"output {name}: max error {c.max_error} {c.detail}"
    return got, report


def rand_ints(rng: np.random.Generator, dtype, shape, lo=None, hi=None) -> np.ndarray:
    """Uniform integers of `dtype` in [lo, hi] (default: the type's whole range)."""
    info = np.iinfo(dtype)
    lo = info.min if lo is None else lo
    hi = info.max if hi is None else hi
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)


class GraphBuilder:
    """Independent nodes of one test model: graph inputs with their feeds,
    constants, and outputs given as (dtype, shape or None)."""

    def __init__(self):
        self.nodes, self.inputs, self.outputs, self.inits, self.feeds = [], [], [], {}, {}

    def inp(self, name, arr):
        arr = np.asarray(arr)
        self.inputs.append((name, arr.dtype, list(arr.shape)))
        self.feeds[name] = arr
        return name

    def const(self, name, arr):
        self.inits[name] = np.asarray(arr)
        return name

    def add(self, op, ins, outs, out_types, domain="", **attrs):
        self.nodes.append(helper.make_node(op, ins, outs, name=f"{op}_{len(self.nodes)}",
                                           domain=domain, **attrs))
        for o, (dt, shape) in zip(outs, out_types):
            if o:
                self.outputs.append((o, dt, shape))

