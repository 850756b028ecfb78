"""Stage 1: read an ONNX file into the IR with every shape resolved.

Checker, shape inference (with data propagation), `--shape` overrides for
dynamic dimensions and `--const` bindings for inputs whose values decide shapes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from .errors import ZonnxError
from .ir import Graph, Tensor
from .onnx_io import from_onnx, to_onnx


@dataclass(frozen=True)
class LoadOptions:
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)  # --shape NAME=1x3x8x8
    consts: dict[str, np.ndarray] = field(default_factory=dict)       # --const NAME=FILE.npy


def read_model(path: str) -> tuple[onnx.ModelProto, str]:
    """Parse `path` (external data next to it is loaded); returns (model, sha256)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ZonnxError(f"cannot read model: {e.strerror}", file=path) from None
    sha = hashlib.sha256(raw).hexdigest()
    try:
        model = onnx.load_model_from_string(raw)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ZonnxError(f"not an ONNX model (protobuf parse failed: {e})", file=path,
                         hint="is the file truncated?") from None
    if not model.graph.node and not model.graph.output:
        raise ZonnxError("not an ONNX model (no graph)", file=path)
    try:
        onnx.load_external_data_for_model(model, os.path.dirname(os.path.abspath(path)))
    except (OSError, ValueError) as e:
        raise ZonnxError(f"cannot load external weight data: {e}", file=path) from None
    return model, sha


def _override_inputs(model: onnx.ModelProto, opts: LoadOptions, path: str) -> None:
    graph = model.graph
    names = [i.name for i in graph.input]
    for name in list(opts.shapes) + list(opts.consts):
        if name not in names:
            raise ZonnxError(f"no graph input named '{name}' (inputs: {', '.join(names)})", file=path)
    for name, value in opts.consts.items():
        vi = next(i for i in graph.input if i.name == name)
        want = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        arr = np.asarray(value).astype(want, copy=False)
        for init in list(graph.initializer):
            if init.name == name:
                graph.initializer.remove(init)
        graph.initializer.append(numpy_helper.from_array(arr, name))
        graph.input.remove(vi)
    for name, dims in opts.shapes.items():
        vi = next(i for i in graph.input if i.name == name)
        shape = vi.type.tensor_type.shape
        if len(shape.dim) not in (0, len(dims)) and shape.dim:
            raise ZonnxError(f"--shape {name}: model input has rank {len(shape.dim)}, "
                             f"got {len(dims)} dimensions", file=path)
        del shape.dim[:]
        for d in dims:
            shape.dim.add().dim_value = d


_CONST_ATTRS = {"value": None, "value_float": np.float32, "value_floats": np.float32,
                "value_int": np.int64, "value_ints": np.int64}


def _constants_to_initializers(model: onnx.ModelProto) -> None:
    """Constant nodes become initializers: inference then types them at every
    opset (old Constant-1/6 outputs stay untyped otherwise)."""
    graph = model.graph
    keep = []
    for node in graph.node:
        attr = node.attribute[0] if len(node.attribute) == 1 else None
        if (node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or attr is None
                or attr.name not in _CONST_ATTRS):
            keep.append(node)
            continue
        value = onnx.helper.get_attribute_value(attr)
        arr = (numpy_helper.to_array(value) if attr.name == "value"
               else np.array(value, dtype=_CONST_ATTRS[attr.name]))
        graph.initializer.append(numpy_helper.from_array(arr, node.output[0]))
        if model.ir_version < 4:   # IR 3 types initializers through graph inputs only
            graph.input.append(onnx.helper.make_tensor_value_info(
                node.output[0], onnx.helper.np_dtype_to_tensor_dtype(arr.dtype), arr.shape))
    del graph.node[:]
    graph.node.extend(keep)


def _fill_function_defaults(model: onnx.ModelProto) -> None:
    """Spell out defaulted attributes of function-defined ops (MeanVarianceNormalization...):
    strict shape inference expands their bodies and fails on a missing one."""
    opsets = {o.domain or "": o.version for o in model.opset_import}
    for node in model.graph.node:
        try:
            schema = onnx.defs.get_schema(node.op_type, opsets.get(node.domain or "", 1),
                                          node.domain or "")
        except Exception:
            continue
        if not (schema.has_function or schema.has_context_dependent_function):
            continue
        present = {a.name for a in node.attribute}
        for name, attr in schema.attributes.items():
            if name not in present and attr.default_value.name:
                node.attribute.append(attr.default_value)


def infer_shapes(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=True,
                                                 data_prop=True)
    except Exception as e:  # onnx raises InferenceError and plain RuntimeErrors
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ZonnxError(f"shape inference failed: {first}", file=path) from None


def _known_types(model: onnx.ModelProto) -> dict:
    types: dict = {}
    for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.elem_type and tt.HasField("shape") and all(
                d.HasField("dim_value") for d in tt.shape.dim):
            types[vi.name] = (tt.elem_type, tuple(d.dim_value for d in tt.shape.dim))
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        types[init.name] = (init.data_type, tuple(arr.shape))
        types[("value", init.name)] = arr
    return types


def infer_custom_ops(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    """Types the outputs of custom-domain ops (com.microsoft...) through their
    zonnx op's `infer`, then lets ONNX inference carry on from there."""
    from .ops import REGISTRY
    for _ in range(len(model.graph.node)):
        types = _known_types(model)
        added = []
        for node in model.graph.node:
            domain = "" if node.domain == "ai.onnx" else node.domain
            op = REGISTRY.get((domain, node.op_type)) if domain else None
            if op is None or all(o in types for o in node.output if o):
                continue
            if not all(i in types for i in node.input if i):
                continue
            outs = op.infer(node, types)
            for name, (elem, shape) in zip([o for o in node.output if o], outs or []):
                if name not in types:
                    added.append(onnx.helper.make_tensor_value_info(name, elem, list(shape)))
        if not added:
            return model
        model.graph.value_info.extend(added)
        model = infer_shapes(model, path)
    return model


def load(path: str, opts: LoadOptions = LoadOptions()) -> Graph:
    model, sha = read_model(path)
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, Exception) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ZonnxError(f"model fails the ONNX checker: {first}", file=path) from None
    _override_inputs(model, opts, path)
    _constants_to_initializers(model)
    _fill_function_defaults(model)
    model = infer_custom_ops(infer_shapes(model, path), path)
    graph = from_onnx(model, source=path, sha256=sha)
    for name in graph.inputs:
        t = graph.tensors.get(name)
        if t is None or any(d < 0 for d in t.shape):
            raise ZonnxError(f"input '{name}' has a dynamic or unknown shape "
                             f"{_fmt_shape(t)}", file=path,
                             hint=f"give it one with --shape {name}=1x3x32x32")
    return graph


def reinfer(g: Graph) -> Graph:
    """Re-run ONNX shape inference on a transformed graph; constants are kept."""
    model = infer_shapes(to_onnx(g), g.source)
    fresh = from_onnx(model, g.source, g.sha256)
    tensors = dict(fresh.tensors)
    for name, t in g.tensors.items():
        if t.is_const or name not in tensors or any(d < 0 for d in tensors[name].shape):
            tensors[name] = t
    return g.replace(tensors=tensors)


def _fmt_shape(t: Tensor | None) -> str:
    if t is None:
        return "(no type information)"
    return "[" + ", ".join("?" if d < 0 else str(d) for d in t.shape) + "]"
