"""Reference results and the comparison every test and `zonnx run` use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RTOL = 1e-3   # onnxruntime's backend-test tolerances
ATOL = 1e-5


def reference_outputs(model_path: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs of onnx.reference for `feeds` (graph inputs and --const bindings)."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    model = onnx.load(model_path)
    names = [o.name for o in model.graph.output]
    sess = ReferenceEvaluator(model)
    wanted = {i for i in sess.input_names}
    res = sess.run(None, {k: v for k, v in feeds.items() if k in wanted})
    return dict(zip(names, (np.asarray(r) for r in res)))


def _onnxruntime_outputs(model_path: str, records: list[dict], consts: dict) -> list[dict]:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}
    return [dict(zip(names, sess.run(None, {k: v for k, v in {**r, **consts}.items() if k in wanted})))
            for r in records]


def oracle_outputs(model_path: str, records: list[dict], consts: dict,
                   prefer: str = "onnx.reference") -> tuple[str, list[dict]]:
    """(engine, outputs per record) from `prefer` ("onnx.reference" or
    "onnxruntime"), or from the other when it fails: onnx.reference lacks some
    op versions (DequantizeLinear before opset 19, com.microsoft ops),
    onnxruntime may be absent or reject a valid model."""
    engines = {"onnx.reference": lambda: [reference_outputs(model_path, {**r, **consts}) for r in records],
               "onnxruntime": lambda: _onnxruntime_outputs(model_path, records, consts)}
    order = [prefer] + [e for e in engines if e != prefer]
    try:
        return order[0], engines[order[0]]()
    except Exception as first:  # noqa: BLE001 - any failure: try the second oracle
        try:
            return order[1], engines[order[1]]()
        except Exception as second:  # noqa: BLE001
            from .errors import ZonnxError
            raise ZonnxError(f"no oracle can run the model: {order[0]} failed "
                             f"({str(first).splitlines()[0][:200]}), {order[1]} failed "
                             f"({str(second).splitlines()[0][:200]})", file=model_path) from None


@dataclass(frozen=True)
class Comparison:
    ok: bool
    max_error: float
    detail: str = ""


def compare(expected: np.ndarray, got: np.ndarray, rtol: float = RTOL, atol: float = ATOL) -> Comparison:
    expected = np.asarray(expected)
    got = np.asarray(got)
    if expected.shape != got.shape:
        return Comparison(False, float("inf"), f"shape {list(got.shape)} != {list(expected.shape)}")
    if expected.size == 0:
        return Comparison(True, 0.0)
    if expected.dtype.kind in "fc" or got.dtype.kind in "fc":
        e = expected.astype(np.float64)
        g = got.astype(np.float64)
        both_nan = np.isnan(e) & np.isnan(g)
        same_inf = np.isinf(e) & (e == g)
        with np.errstate(invalid="ignore", over="ignore"):   # inf - inf is handled below
            diff = np.where(both_nan | same_inf, 0.0, np.abs(e - g))
        diff = np.where(np.isnan(diff), np.inf, diff)
        ok = bool(np.all(diff <= atol + rtol * np.abs(np.where(np.isfinite(e), e, 0.0))))
        return Comparison(ok, float(diff.max()))
    diff = np.abs(expected.astype(np.int64) - got.astype(np.int64))
    return Comparison(bool(np.all(diff == 0)), float(diff.max()))
