"""com.microsoft DynamicQuantizeLSTM from onnxruntime's quantize_dynamic:
zonnx on the host against onnxruntime (single-threaded, the arithmetic the
kernel follows) for forward, reverse and bidirectional LSTMs, batch > 1,
initial states, peepholes, clip, per-channel and uint8 weights; unsupported
variants are rejected with their reason."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from zonnx.errors import ZonnxError
from zonnx.load import load
from zonnx.pipeline import GenerateOptions, generate
from zonnx_testing import make_model, run_zonnx

ort = pytest.importorskip("onnxruntime")
quantization = pytest.importorskip("onnxruntime.quantization")


def _float_lstm(seed, seq, batch, inp, hidden, direction="forward", init=False, peep=False,
                outputs=("Y", "Y_h", "Y_c"), **attrs):
    """A float LSTM with random weights; X (and initial_h, initial_c) are inputs."""
    rng = np.random.default_rng(seed)
    nd = 2 if direction == "bidirectional" else 1
    inits = {"W": rng.uniform(-0.6, 0.6, (nd, 4 * hidden, inp)).astype(np.float32),
             "R": rng.uniform(-0.6, 0.6, (nd, 4 * hidden, hidden)).astype(np.float32),
             "B": rng.uniform(-0.3, 0.3, (nd, 8 * hidden)).astype(np.float32)}
    ins = ["X", "W", "R", "B", ""]
    inputs = [("X", np.float32, [seq, batch, inp])]
    if init:
        ins += ["h0", "c0"]
        inputs += [(n, np.float32, [nd, batch, hidden]) for n in ("h0", "c0")]
    if peep:
        ins += [""] * (7 - len(ins)) + ["P"]
        inits["P"] = rng.uniform(-0.5, 0.5, (nd, 3 * hidden)).astype(np.float32)
    shapes = {"Y": [seq, nd, batch, hidden], "Y_h": [nd, batch, hidden], "Y_c": [nd, batch, hidden]}
    node = helper.make_node("LSTM", ins, [o if o in outputs else "" for o in ("Y", "Y_h", "Y_c")],
                            hidden_size=hidden, direction=direction, **attrs)
    return make_model([node], inputs, [(o, np.float32, shapes[o]) for o in outputs], inits)


def _quantize(model, tmp_path, per_channel=False) -> str:
    src, dst = (os.path.join(str(tmp_path), n) for n in ("float.onnx", "dq.onnx"))
    onnx.save(model, src)
    quantization.quantize_dynamic(src, dst, weight_type=quantization.QuantType.QInt8,
                                  per_channel=per_channel, op_types_to_quantize=["LSTM"])
    assert [n.op_type for n in onnx.load(dst).graph.node] == ["DynamicQuantizeLSTM"]
    return dst


def _feeds(model_path, seed):
    rng = np.random.default_rng(seed)
    sess = _session(model_path)
    return {i.name: rng.normal(0, 1.2, i.shape).astype(np.float32) for i in sess.get_inputs()}


def _session(path):
    so = ort.SessionOptions()
    # one thread: onnxruntime quantizes h over all batch rows only when it
    # does not split the batch between threads
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def _check(path, feeds, tmp_path, ops=("DynamicQuantizeLSTM",)):
    got, report = run_zonnx(path, feeds, tmp_path)
    sess = _session(path)
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    for name, w in want.items():
        g = np.asarray(got[name]).reshape(w.shape)
        exact = np.mean(g == w)
        print(f"{name}: max |zonnx - onnxruntime| {np.abs(g - w).max():.3g}, {exact:.2%} identical")
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=name)
        # bit for bit where onnxruntime's MLAS uses fused multiply-adds (x86-64
        # FMA3/AVX-512, ARM64); exp-based Sigmoid/Tanh would match none exactly
        assert exact >= 0.99, f"{name}: only {exact:.2%} identical to onnxruntime"
    assert [n["op"] for n in report["nodes"]] == list(ops)
    return got


@pytest.mark.parametrize("direction,batch,init,per_channel", [
    ("forward", 1, False, False),
    ("forward", 3, True, True),
    ("reverse", 2, True, False),
    ("reverse", 1, False, True),
    ("bidirectional", 2, True, False),
    ("bidirectional", 3, False, True),
], ids=["fwd", "fwd_batch3_init_per_channel", "rev_batch2_init", "rev_per_channel",
        "bidi_batch2_init", "bidi_batch3_per_channel"])
def test_matches_onnxruntime(tmp_path, direction, batch, init, per_channel):
    model = _float_lstm(1, seq=6, batch=batch, inp=5, hidden=7, direction=direction, init=init)
    path = _quantize(model, tmp_path, per_channel)
    _check(path, _feeds(path, 2), tmp_path)


def test_peepholes_clip_input_forget(tmp_path):
    model = _float_lstm(3, seq=5, batch=2, inp=4, hidden=6, init=True, peep=True,
                        clip=1.5, input_forget=1)
    path = _quantize(model, tmp_path)
    _check(path, _feeds(path, 4), tmp_path)


def test_only_final_states(tmp_path):
    model = _float_lstm(5, seq=4, batch=2, inp=3, hidden=5, direction="bidirectional",
                        outputs=("Y_h", "Y_c"))
    path = _quantize(model, tmp_path)
    _check(path, _feeds(path, 6), tmp_path)


def _edit(path, fn) -> str:
    """Rewrites the quantized model's initializers with fn(name, array) -> array."""
    m = onnx.load(path)
    for i, init in enumerate(m.graph.initializer):
        m.graph.initializer[i].CopyFrom(numpy_helper.from_array(fn(init.name, numpy_helper.to_array(init)),
                                                                init.name))
    out = path.replace(".onnx", "_edited.onnx")
    onnx.save(m, out)
    return out


def test_uint8_weights_with_zero_point(tmp_path):
    """The same model with W, R as uint8 + 128 and zero points 128."""
    path = _quantize(_float_lstm(7, seq=5, batch=2, inp=4, hidden=5, init=True), tmp_path)

    def to_u8(name, a):
        if a.dtype == np.int8:
            return (a.astype(np.int16) + 128).astype(np.uint8)
        return a
    edited = _edit(path, to_u8)
    m = onnx.load(edited)
    types = {i.name: i.data_type for i in m.graph.initializer}
    assert {types[n] for n in m.graph.node[0].input[1:3]} == {TensorProto.UINT8}
    got = _check(edited, _feeds(path, 8), tmp_path)
    assert np.abs(got["Y"]).max() > 0.05     # a real sequence, not zeros


def test_output_shapes_inferred(tmp_path):
    """Y_h feeding another node is typed through the op's infer."""
    model = _float_lstm(9, seq=3, batch=2, inp=3, hidden=4, direction="bidirectional")
    path = _quantize(model, tmp_path)
    m = onnx.load(path)
    lstm = m.graph.node[0]
    lstm.output[1] = "hidden"
    m.graph.node.append(helper.make_node("Relu", ["hidden"], ["Y_h"]))
    edited = os.path.join(str(tmp_path), "relu.onnx")
    onnx.save(m, edited)
    assert load(edited).tensors["hidden"].shape == (2, 2, 4)
    _check(edited, _feeds(edited, 10), tmp_path, ops=("DynamicQuantizeLSTM", "Relu"))


def _rejects(path, match, tmp_path):
    with pytest.raises(ZonnxError, match=match):
        generate(path, GenerateOptions(name="m"))


def test_rejects_short_sequence_lens(tmp_path):
    path = _quantize(_float_lstm(11, seq=4, batch=2, inp=3, hidden=4), tmp_path)
    m = onnx.load(path)
    m.graph.node[0].input[4] = "lens"
    m.graph.initializer.append(numpy_helper.from_array(np.array([4, 2], np.int32), "lens"))
    edited = os.path.join(str(tmp_path), "lens.onnx")
    onnx.save(m, edited)
    _rejects(edited, "sequence_lens below seq_length", tmp_path)


def test_rejects_nonzero_per_column_int8_zero_point(tmp_path):
    path = _quantize(_float_lstm(12, seq=3, batch=1, inp=3, hidden=4), tmp_path, per_channel=True)

    def bump(name, a):
        return (a + 1).astype(np.int8) if name.endswith("zero_point") else a
    _rejects(_edit(path, bump), "per-column W_zero_point must be all zero", tmp_path)
