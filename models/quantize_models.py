#!/usr/bin/env python3
"""Builds int8 versions of the shipped float models with onnxruntime's
quantizers: static ones calibrated on their own training split (scikit-learn
digits/iris; the DCGAN generator on seeded latent vectors, what it is fed),
dynamic ones (weights only; activations quantized at run time).

    python models/quantize_models.py

Writes (next to this file):

* digits_cnn_int8_qdq.onnx    QDQ format, per-channel QInt8 weights, QUInt8 activations
* digits_cnn_int8_qop.onnx    QOperator format (QLinearConv, QLinearMatMul/QGemm, ...)
* iris_mlp_int8_qop.onnx      QOperator format (Gemm -> QGemm)
* iris_mlp_int8_dyn.onnx      quantize_dynamic (DynamicQuantizeLinear, MatMulInteger)
* digits_dcgan_int8_qdq.onnx  QDQ format, Tanh output quantized too (a lookup
                              table after fuse-qdq); ConvTranspose stays float
* digits_cnn_dynamo_int8_qdq.onnx  the dynamo export of the same CNN, QDQ as above
* digits_cnn_int8_s8_qop.onnx QOperator, QInt8 activations and symmetric per-channel
                              QInt8 weights: what CMSIS-NN's s8 kernels take
* digits_cnn_int8_s8_qdq.onnx the same scheme in QDQ format
* digits_lstm_int8_dyn.onnx   quantize_dynamic: the LSTM becomes com.microsoft
                              DynamicQuantizeLSTM (int8 W, R), the final Gemm
                              MatMulInteger

Calibration uses a fixed, ordered slice of the training split (MinMax), so a
rerun with the same onnxruntime gives the same file. For each model it prints
onnxruntime's accuracy on the test split for the float and the int8 model
(for the generator: the mean absolute difference of the images) and the file
sizes. Users and CI need none of this: the .onnx files are committed.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
from zonnx.datasets import digits_split, iris_split  # noqa: E402

N_CALIB = 300  # training samples used for calibration (the first ones, in split order)


def latent_samples(n: int, seed: int = 0) -> np.ndarray:
    """The DCGAN generator's inputs: standard normal [n, 16, 1, 1], seeded."""
    return np.random.default_rng(seed).standard_normal((n, 16, 1, 1)).astype(np.float32)


class Reader(CalibrationDataReader):
    def __init__(self, name: str, x: np.ndarray):
        self.name, self.x, self.i = name, x, 0

    def get_next(self):
        if self.i >= len(self.x):
            return None
        self.i += 1
        return {self.name: self.x[self.i - 1:self.i]}


def accuracy(path: str, x: np.ndarray, y: np.ndarray) -> float:
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    pred = [int(np.argmax(sess.run(None, {name: s[None]})[0])) for s in x]
    return float(np.mean(np.array(pred) == y))


def outputs(path: str, x: np.ndarray) -> np.ndarray:
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.stack([sess.run(None, {name: s[None]})[0] for s in x])


def quantize(src: str, dst: str, xtr: np.ndarray, fmt: QuantFormat | None, **kw) -> None:
    """fmt None: quantize_dynamic (xtr unused)."""
    name = onnx.load(src).graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        quant_pre_process(src, pre, skip_symbolic_shape=True)
        if fmt is None:
            quantize_dynamic(pre, dst, weight_type=QuantType.QInt8, **kw)
        else:
            kw.setdefault("activation_type", QuantType.QUInt8)
            quantize_static(pre, dst, Reader(name, xtr[:N_CALIB]), quant_format=fmt,
                            weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax, **kw)
    m = onnx.load(dst)
    m.producer_name, m.producer_version = "zonnx models/quantize_models.py", ort.__version__
    onnx.save(m, dst)


def main() -> int:
    (dtr, _), (dte, dyte) = digits_split()
    (itr, _), (ite, iyte) = iris_split()
    ztr, zte = latent_samples(N_CALIB), latent_samples(64, seed=1)
    jobs = [
        ("digits_cnn.onnx", "digits_cnn_int8_qdq.onnx", dtr, dte, dyte,
         dict(fmt=QuantFormat.QDQ, per_channel=True)),
        ("digits_cnn.onnx", "digits_cnn_int8_qop.onnx", dtr, dte, dyte,
         dict(fmt=QuantFormat.QOperator, per_channel=False)),
        ("digits_cnn_dynamo.onnx", "digits_cnn_dynamo_int8_qdq.onnx", dtr, dte, dyte,
         dict(fmt=QuantFormat.QDQ, per_channel=True)),
        ("digits_cnn.onnx", "digits_cnn_int8_s8_qop.onnx", dtr, dte, dyte,
         dict(fmt=QuantFormat.QOperator, per_channel=True, activation_type=QuantType.QInt8)),
        ("digits_cnn.onnx", "digits_cnn_int8_s8_qdq.onnx", dtr, dte, dyte,
         dict(fmt=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QInt8)),
        ("iris_mlp.onnx", "iris_mlp_int8_qop.onnx", itr, ite, iyte,
         dict(fmt=QuantFormat.QOperator, per_channel=False)),
        ("iris_mlp.onnx", "iris_mlp_int8_dyn.onnx", itr, ite, iyte, dict(fmt=None)),
        ("digits_dcgan.onnx", "digits_dcgan_int8_qdq.onnx", ztr, zte, None,
         dict(fmt=QuantFormat.QDQ, per_channel=True,
              op_types_to_quantize=["ConvTranspose", "BatchNormalization", "LeakyRelu", "Tanh"])),
        ("digits_lstm.onnx", "digits_lstm_int8_dyn.onnx", dtr[:, 0], dte[:, 0], dyte,
         dict(fmt=None, op_types_to_quantize=["Gemm", "MatMul", "LSTM"])),
    ]
    for src, dst, xtr, xte, yte, kw in jobs:
        src, dst = os.path.join(HERE, src), os.path.join(HERE, dst)
        quantize(src, dst, xtr, **kw)
        if yte is None:
            d = float(np.abs(outputs(src, xte) - outputs(dst, xte)).mean())
            quality = f"mean |int8 - float| {d:.4f} over {len(xte)} latent vectors"
        else:
            fa, qa = accuracy(src, xte, yte), accuracy(dst, xte, yte)
            quality = f"accuracy int8 {qa:.4f} vs float {fa:.4f} ({len(yte)} test samples)"
        fs, qs = os.path.getsize(src), os.path.getsize(dst)
        ops = sorted({n.op_type for n in onnx.load(dst).graph.node})
        print(f"{os.path.basename(dst)}: {quality}; size {qs} vs {fs} bytes ({qs / fs:.2f}x); "
              f"ops {', '.join(ops)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
