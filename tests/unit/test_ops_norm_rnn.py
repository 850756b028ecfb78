"""Normalization and recurrent ops beyond what the ONNX backend tests cover.

onnx.reference implements only forward LSTM/GRU/RNN with default activations,
so recurrent cases are checked against onnxruntime (which in turn has no
layout=1: those are checked against the transposed layout=0 result).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from zonnx.errors import ZonnxError
from zonnx.load import LoadOptions
from zonnx.lower import lower_node
from zonnx.onnx_io import from_onnx
from zonnx.oracle import compare
from zonnx.pipeline import GenerateOptions, generate
from zonnx_testing import assert_matches_reference, make_model, run_zonnx

ort = pytest.importorskip("onnxruntime")
RNG = np.random.default_rng(7)


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def ort_outputs(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in model.graph.output]
    return dict(zip(names, sess.run(names, feeds)))


def assert_close(want: dict, got: dict, rtol=1e-3, atol=1e-5):
    for name, w in want.items():
        c = compare(w, got[name], rtol=rtol, atol=atol)
        assert c.ok, f"output {name}: max error {c.max_error} {c.detail}"


def assert_matches_ort(model, feeds, tmp_path, **kw):
    got, report = run_zonnx(model, feeds, tmp_path)
    assert_close(ort_outputs(model, feeds), got, **kw)
    return got, report


def rejects(model, tmp_path, match):
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    with pytest.raises(ZonnxError, match=match):
        generate(path, GenerateOptions(name="m"))


# -- recurrent models -------------------------------------------------------

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def recurrent_model(op, seq, batch, inp, hidden, *, direction="forward", layout=0, bias=True,
                    seq_lens=None, init=False, peep=False, const_weights=True, opset=14,
                    outputs=None, **attrs):
    """One recurrent node; optional inputs become graph inputs (fed by the test)
    except W/R/B/P, which are initializers unless const_weights=False."""
    nd = 2 if direction == "bidirectional" else 1
    g = GATES[op]
    states = 2 if op == "LSTM" else 1
    xshape = [seq, batch, inp] if layout == 0 else [batch, seq, inp]
    sshape = [nd, batch, hidden] if layout == 0 else [batch, nd, hidden]
    yshape = [seq, nd, batch, hidden] if layout == 0 else [batch, seq, nd, hidden]
    weights = {"W": rand(nd, g * hidden, inp, scale=0.5), "R": rand(nd, g * hidden, hidden, scale=0.5)}
    if bias:
        weights["B"] = rand(nd, 2 * g * hidden, scale=0.5)
    if peep:
        weights["P"] = rand(nd, 3 * hidden, scale=0.5)
    names = ["X", "W", "R", "B" if bias else "", "seq_lens" if seq_lens is not None else "",
             "h0" if init else ""]
    if op == "LSTM":
        names += ["c0" if init else "", "P" if peep else ""]
    while not names[-1]:
        names.pop()
    inputs = [("X", np.float32, xshape)]
    feeds = {"X": rand(*xshape)}
    if seq_lens is not None:
        inputs.append(("seq_lens", np.int32, [batch]))
        feeds["seq_lens"] = np.asarray(seq_lens, np.int32)
    if init:
        for k, n in enumerate(["h0", "c0"][:states]):
            inputs.append((n, np.float32, sshape))
            feeds[n] = rand(*sshape)
    inits = weights
    if not const_weights:
        for n, v in weights.items():
            inputs.append((n, np.float32, list(v.shape)))
            feeds[n] = v
        inits = {}
    outs = outputs or ["Y", "Y_h", "Y_c"][:1 + states]
    shapes = {"Y": yshape, "Y_h": sshape, "Y_c": sshape}
    node = helper.make_node(op, names, [o if o in outs else "" for o in ["Y", "Y_h", "Y_c"][:1 + states]],
                            hidden_size=hidden, direction=direction,
                            **({"layout": layout} if layout else {}), **attrs)
    m = make_model([node], inputs, [(o, np.float32, shapes[o]) for o in outs], inits, opset=opset)
    return m, feeds


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_lstm_directions_peepholes_initial_states(tmp_path, direction):
    m, feeds = recurrent_model("LSTM", 4, 2, 3, 5, direction=direction, init=True, peep=True)
    assert_matches_ort(m, feeds, tmp_path)


def test_lstm_clip_input_forget_activations(tmp_path):
    m, feeds = recurrent_model(
        "LSTM", 5, 3, 4, 3, direction="bidirectional", init=True, clip=0.7, input_forget=1,
        activations=["HardSigmoid", "LeakyRelu", "Softsign", "Sigmoid", "Affine", "ScaledTanh"],
        activation_alpha=[0.3, 0.05, 0.9, 1.1], activation_beta=[0.4, 0.1, 0.8])
    assert_matches_ort(m, feeds, tmp_path)


def test_lstm_sequence_lens_at_run_time(tmp_path):
    m, feeds = recurrent_model("LSTM", 4, 4, 2, 3, direction="bidirectional", seq_lens=[4, 1, 3, 0],
                               init=True)
    assert_matches_ort(m, feeds, tmp_path)


def test_lstm_weights_computed_at_run_time(tmp_path):
    m, feeds = recurrent_model("LSTM", 3, 2, 3, 4, peep=True, const_weights=False)
    assert_matches_ort(m, feeds, tmp_path)


@pytest.mark.parametrize("lbr", [0, 1])
@pytest.mark.parametrize("direction", ["reverse", "bidirectional"])
def test_gru_linear_before_reset(tmp_path, lbr, direction):
    m, feeds = recurrent_model("GRU", 4, 2, 3, 5, direction=direction, init=True,
                               linear_before_reset=lbr)
    assert_matches_ort(m, feeds, tmp_path)


@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_clip_activations_sequence_lens(tmp_path, lbr):
    m, feeds = recurrent_model("GRU", 5, 3, 2, 4, direction="bidirectional", seq_lens=[2, 5, 3],
                               clip=0.5, linear_before_reset=lbr,
                               activations=["HardSigmoid", "Relu", "Sigmoid", "Elu"],
                               activation_alpha=[0.25, 0.8], activation_beta=[0.45])
    assert_matches_ort(m, feeds, tmp_path)


def test_rnn_bidirectional_activations_clip(tmp_path):
    m, feeds = recurrent_model("RNN", 4, 2, 3, 4, direction="bidirectional", init=True, clip=0.8,
                               activations=["Relu", "Affine"], activation_alpha=[0.5],
                               activation_beta=[0.1])
    assert_matches_ort(m, feeds, tmp_path)


def test_rnn_reverse_sequence_lens_no_bias(tmp_path):
    m, feeds = recurrent_model("RNN", 3, 3, 2, 4, direction="reverse", bias=False,
                               seq_lens=[1, 3, 2], outputs=["Y_h"])
    assert_matches_ort(m, feeds, tmp_path)


def test_constant_full_sequence_lens_are_dropped(tmp_path):
    m, feeds = recurrent_model("GRU", 3, 2, 2, 3, seq_lens=[3, 3])
    consts = {"seq_lens": feeds.pop("seq_lens")}
    got, _ = run_zonnx(m, feeds, tmp_path,
                       opts=GenerateOptions(name="m", load=LoadOptions(consts=consts)))
    assert_close(ort_outputs(m, {**feeds, **consts}), got)
    assert "x4" not in (tmp_path / "m.c").read_text()     # the kernel never reads them


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_batchwise_layout_matches_sequence_major(tmp_path, op):
    """layout=1 against onnxruntime's layout=0 on transposed data."""
    kw = dict(direction="bidirectional", init=True, opset=14)
    m1, feeds1 = recurrent_model(op, 3, 2, 3, 4, layout=1, **kw)
    m0, _ = recurrent_model(op, 3, 2, 3, 4, layout=0, **kw)
    for init0, init1 in zip(m0.graph.initializer, m1.graph.initializer):
        init0.CopyFrom(init1)           # same weights
    feeds0 = {"X": feeds1["X"].transpose(1, 0, 2).copy()}
    for n in ("h0", "c0"):
        if n in feeds1:
            feeds0[n] = feeds1[n].transpose(1, 0, 2).copy()
    want = ort_outputs(m0, feeds0)
    got, _ = run_zonnx(m1, feeds1, tmp_path)
    assert_close({"Y": want["Y"].transpose(2, 0, 1, 3)}, got)
    for n in ("Y_h", "Y_c"):
        if n in want:
            assert_close({n: want[n].transpose(1, 0, 2)}, got)


def test_recurrent_rejections(tmp_path):
    m, _ = recurrent_model("LSTM", 2, 1, 2, 2, activations=["Sigmoid", "Tanh"])
    rejects(m, tmp_path, "activations lists 2 functions; 3 expected")
    m, _ = recurrent_model("GRU", 2, 1, 2, 2, activations=["Sigmoid", "Gelu"])
    rejects(m, tmp_path, "activation function 'Gelu' is not supported")
    m, _ = recurrent_model("RNN", 2, 1, 2, 2, activations=["Affine"])
    rejects(m, tmp_path, "needs activation_alpha")


def test_lstm_macs_and_scratch(tmp_path):
    m, feeds = recurrent_model("LSTM", 4, 2, 3, 5, direction="bidirectional")
    _, report = assert_matches_ort(m, feeds, tmp_path)
    node = report["nodes"][0]
    assert node["macs"] == 2 * 4 * 2 * 4 * 5 * (3 + 5)     # directions * seq * batch * gates*H * (I+H)
    assert node["scratch_bytes"] == 4 * (2 * 2 * 5 + 4 * 5)  # h, c per batch entry; gate vector


# -- normalization ----------------------------------------------------------

def batchnorm_model(shape, const, opset=15, **attrs):
    c = shape[1]
    params = {"s": rand(c) + 2, "bias": rand(c), "mean": rand(c) * 10, "var": np.abs(rand(c)) + 0.1}
    node = helper.make_node("BatchNormalization", ["x", "s", "bias", "mean", "var"], ["y"], **attrs)
    inputs = [("x", np.float32, list(shape))]
    if not const:
        inputs += [(k, np.float32, [c]) for k in params]
    m = make_model([node], inputs, [("y", np.float32, list(shape))], params if const else {}, opset=opset)
    return m, params


@pytest.mark.parametrize("const", [True, False])
def test_batchnorm_constant_and_runtime_statistics(tmp_path, const):
    m, params = batchnorm_model((2, 3, 4), const, epsilon=1e-3)
    feeds = {"x": rand(2, 3, 4) * 10}
    assert_matches_reference(m, feeds if const else {**feeds, **params}, tmp_path,
                             disabled_passes=("fold-batchnorm",))


def test_batchnorm_opset7_not_spatial(tmp_path):
    """spatial=0: one parameter set per C x D element (onnx.reference would train here)."""
    shape, p = (2, 3, 2, 2), {k: v for k, v in zip(
        ["s", "bias", "mean", "var"], [rand(3, 2, 2) + 2, rand(3, 2, 2), rand(3, 2, 2), np.abs(rand(3, 2, 2)) + .1])}
    node = helper.make_node("BatchNormalization", ["x", "s", "bias", "mean", "var"], ["y"], spatial=0)
    m = make_model([node], [("x", np.float32, list(shape))], [("y", np.float32, list(shape))], p, opset=7)
    x = rand(*shape)
    got, _ = run_zonnx(m, {"x": x}, tmp_path)
    want = (x - p["mean"]) / np.sqrt(p["var"] + 1e-5) * p["s"] + p["bias"]
    assert_close({"y": want}, got)


def test_batchnorm_training_rejected(tmp_path):
    node = helper.make_node("BatchNormalization", ["x", "s", "bias", "mean", "var"],
                            ["y", "m1", "v1"], training_mode=1)
    m = make_model([node], [("x", np.float32, [2, 3])], [("y", np.float32, [2, 3]),
                   ("m1", np.float32, [3]), ("v1", np.float32, [3])],
                   {k: np.ones(3, np.float32) for k in ["s", "bias", "mean", "var"]})
    rejects(m, tmp_path, "training_mode=1")
    stats = ["m1", "v1", "sm", "sv"]
    node = helper.make_node("BatchNormalization", ["x", "s", "bias", "mean", "var"], ["y"] + stats)
    m9 = make_model([node], [("x", np.float32, [2, 3])],
                    [("y", np.float32, [2, 3])] + [(n, np.float32, [3]) for n in stats],
                    {k: np.ones(3, np.float32) for k in ["s", "bias", "mean", "var"]}, opset=9)
    rejects(m9, tmp_path, "training outputs")


def test_layer_norm_stats_outputs_and_partial_scale(tmp_path):
    node = helper.make_node("LayerNormalization", ["x", "sc"], ["y", "mean", "inv"], axis=1, epsilon=1e-3)
    m = make_model([node], [("x", np.float32, [2, 3, 4])],
                   [("y", np.float32, [2, 3, 4]), ("mean", np.float32, [2, 1, 1]),
                    ("inv", np.float32, [2, 1, 1])], {"sc": rand(4)})
    assert_matches_reference(m, {"x": rand(2, 3, 4) + 3}, tmp_path)


def test_layer_norm_runtime_scale_and_bias(tmp_path):
    node = helper.make_node("LayerNormalization", ["x", "sc", "b"], ["y"], axis=-2)
    m = make_model([node], [("x", np.float32, [3, 2, 5]), ("sc", np.float32, [1, 5]),
                            ("b", np.float32, [2, 1])], [("y", np.float32, [3, 2, 5])])
    assert_matches_reference(m, {"x": rand(3, 2, 5), "sc": rand(1, 5), "b": rand(2, 1)}, tmp_path)


def group_norm_model(opset, c=6, groups=3):
    n_par = groups if opset == 18 else c
    node = helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=groups, epsilon=1e-4)
    return make_model([node], [("x", np.float32, [2, c, 3, 2])], [("y", np.float32, [2, c, 3, 2])],
                      {"s": rand(n_par), "b": rand(n_par)}, opset=opset)


def test_group_norm_per_channel(tmp_path):
    assert_matches_reference(group_norm_model(21), {"x": rand(2, 6, 3, 2)}, tmp_path)


def test_group_norm_18_scales_per_group():
    """Opset 18's form fails the ONNX checker (deprecated), so only its lowering is checked."""
    g = from_onnx(onnx.shape_inference.infer_shapes(group_norm_model(18)))
    body = lower_node(g.nodes[0], g).steps[0].fn.body
    assert "x1[i1]" in body and "x2[i1]" in body        # i1 walks the groups


def test_instance_norm_3d(tmp_path):
    node = helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-2)
    m = make_model([node], [("x", np.float32, [2, 3, 7])], [("y", np.float32, [2, 3, 7])],
                   {"s": rand(3), "b": rand(3)})
    assert_matches_reference(m, {"x": rand(2, 3, 7) * 4 + 1}, tmp_path)


@pytest.mark.parametrize("axes", [[1], [0, 2, 3], [2, 3], [0, 1, 2, 3]])
def test_mean_variance_normalization_axes(tmp_path, axes):
    node = helper.make_node("MeanVarianceNormalization", ["x"], ["y"], axes=axes)
    m = make_model([node], [("x", np.float32, [2, 3, 2, 4])], [("y", np.float32, [2, 3, 2, 4])], opset=13)
    assert_matches_reference(m, {"x": rand(2, 3, 2, 4) * 3}, tmp_path)


@pytest.mark.parametrize("p,axis", [(1, 0), (2, 1), (1, -1)])
def test_lp_normalization(tmp_path, p, axis):
    """Checked against numpy: onnx.reference omits the absolute value for p=1."""
    x = rand(3, 4, 2)
    x[1, :, 0] = 0.0                  # a zero norm along axis 1 gives zeros
    x[:, 0, :] = 0.0
    node = helper.make_node("LpNormalization", ["x"], ["y"], p=p, axis=axis)
    m = make_model([node], [("x", np.float32, [3, 4, 2])], [("y", np.float32, [3, 4, 2])])
    got, _ = run_zonnx(m, {"x": x}, tmp_path)
    norm = np.linalg.norm(x, ord=p, axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):
        want = np.where(norm == 0, 0, x / norm)
    assert_close({"y": want.astype(np.float32)}, got)


def lrn_numpy(x, size, alpha, beta, bias):
    """The schema's formula: the window spans floor((size-1)/2) channels before, ceil after."""
    c = x.shape[1]
    sq = np.zeros_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + size // 2)
        sq[:, ch] = (x[:, lo:hi + 1] ** 2).sum(axis=1)
    return x / (bias + alpha / size * sq) ** beta


@pytest.mark.parametrize("size", [1, 2, 4, 5])
def test_lrn_window_sizes(tmp_path, size):
    """numpy: onnx.reference walks the window over the batch axis, onnxruntime takes odd sizes only."""
    node = helper.make_node("LRN", ["x"], ["y"], size=size, alpha=0.01, beta=0.6, bias=1.5)
    m = make_model([node], [("x", np.float32, [2, 6, 3, 2])], [("y", np.float32, [2, 6, 3, 2])])
    x = rand(2, 6, 3, 2) * 3
    got, _ = run_zonnx(m, {"x": x}, tmp_path)
    assert_close({"y": lrn_numpy(x, size, 0.01, 0.6, 1.5)}, got)


def test_norm_rejections(tmp_path):
    node = helper.make_node("LpNormalization", ["x"], ["y"], p=3)
    rejects(make_model([node], [("x", np.float32, [2, 3])], [("y", np.float32, [2, 3])]),
            tmp_path, "p=3")
    node = helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2)
    m = make_model([node], [("x", np.float32, [1, 4, 2])], [("y", np.float32, [1, 4, 2])],
                   {"s": np.ones(2, np.float32), "b": np.zeros(2, np.float32)}, opset=21)
    rejects(m, tmp_path, "expected \\[4\\]")
