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
