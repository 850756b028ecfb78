"""The data sets the shipped models were trained on, split exactly as in
models/build_models.py (scikit-learn ships them; nothing is downloaded)."""

from __future__ import annotations

import numpy as np

from .errors import ZonnxError


def _sklearn():
    try:
        from sklearn import datasets
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ZonnxError("scikit-learn is needed for the shipped data sets",
                         hint="pip install scikit-learn (or pip install -e .[test])") from None
    return datasets, train_test_split


def digits_split():
    """8x8 digits scaled to [0, 1] as float32 [N, 1, 8, 8]; 25% held out for test."""
    datasets, split = _sklearn()
    d = datasets.load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = split(x, y, test_size=0.25, random_state=0, stratify=y)
    return (xtr, ytr), (xte, yte)


def iris_split():
    """Iris features standardised with the training mean/std; 30% held out."""
    datasets, split = _sklearn()
    d = datasets.load_iris()
    x = d.data.astype(np.float32)
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = split(x, y, test_size=0.3, random_state=0, stratify=y)
    mu, sd = xtr.mean(0), xtr.std(0)
    return ((xtr - mu) / sd, ytr), ((xte - mu) / sd, yte)


DATASETS = {"digits": lambda: digits_split()[1], "iris": lambda: iris_split()[1]}


def test_records(name: str, input_name: str, shape: list[int]) -> tuple[list[dict], np.ndarray]:
    """The held-out set of `name`, each sample reshaped to the model's input."""
    if name not in DATASETS:
        raise ZonnxError(f"unknown data set '{name}'", hint=f"data sets: {', '.join(DATASETS)}")
    x, y = DATASETS[name]()
    per = int(np.prod(shape))
    if x[0].size != per:
        raise ZonnxError(f"data set '{name}' samples have {x[0].size} values, model input "
                         f"'{input_name}' takes {per} ({'x'.join(map(str, shape))})")
    return [{input_name: s.reshape(shape)} for s in x], y
