"""The CMSIS-NN backend against the zonnx int8 kernels and onnxruntime.

For every case the same model is built three ways: `--kernels cmsis-nn`
(arm_* calls, linked with a real CMSIS-NN tree), zonnx kernels with
`--rounding cmsis-nn`, and zonnx kernels with the default exact rounding.
The first two must agree bit for bit (on the host under ASan/UBSan, on
cortex-m3 where CMSIS-NN takes its plain C paths, and on cortex-m4f where it
takes the DSP-extension paths); against onnxruntime the outputs must be
within 1 LSB everywhere and equal on >= 99 % of the elements.

CMSIS-NN is on no package registry: these tests run when $ZONNX_CMSIS_NN
names a CMSIS-NN tree (or $ZEPHYR_BASE sits in a west workspace with
modules/lib/cmsis-nn) and skip otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from zonnx import datasets
from zonnx.ops.base import LowerOptions
from zonnx.ops._quant_util import cmsis_requant_reference, multiplier, requant_lines
from zonnx.pipeline import GenerateOptions, generate, write_outputs
from zonnx.target import cortex_m, host
from zonnx.target.cmsis_nn import find_tree, include_flag

ort = pytest.importorskip("onnxruntime")
TREE = find_tree()
pytestmark = pytest.mark.skipif(
    TREE is None, reason="CMSIS-NN not found: set ZONNX_CMSIS_NN to a CMSIS-NN source tree "
                         "(https://github.com/ARM-software/CMSIS-NN; see DEVELOPERS.md)")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RNG = np.random.default_rng(11)
I8 = np.int8
TARGETS = ["host", "cortex-m3", "cortex-m4f"]
CMSIS = LowerOptions("cmsis-nn")
ZONNX_CMSIS_ROUNDING = LowerOptions("zonnx", "cmsis-nn")


# -- running -----------------------------------------------------------------------------

def _build_run(path: str, records: list[dict], target: str, lowering: LowerOptions, work: str):
    name = "m"
    gen = generate(path, GenerateOptions(name=name, lowering=lowering))
    report = json.loads(gen.files[f"{name}.json"])
    os.makedirs(work, exist_ok=True)
    write_outputs(gen.files, work)
    tree = TREE if lowering.kernels == "cmsis-nn" else None
    if target == "host":
        exe = host.build(work, name, report, work, cmsis_nn=tree)
        outs = host.execute(exe, report, records, work).outputs
    else:
        board = cortex_m.BOARDS[target]
        elf = cortex_m.build(work, name, report, work, board, cmsis_nn=tree)
        outs = cortex_m.qemu_run(elf, board, report, records, work, timeout=120, count=False)[0].outputs
    return outs, report


def _ort(path: str, records: list[dict]) -> list[dict]:
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return [dict(zip(names, sess.run(None, r))) for r in records]


def _stack(outs: list[dict], key: str) -> np.ndarray:
    return np.stack([np.asarray(o[key]).astype(np.float64).reshape(-1) for o in outs])


def _check(path: str, records: list[dict], target: str, tmp, want_backend: dict[str, str],
           lsb: float = 1.0):
    """Runs the three builds; returns the cmsis-nn build's report. `lsb`: the
    output's quantization step (1 for integer outputs, the scale of a final
    DequantizeLinear for float ones)."""
    got, rep = _build_run(path, records, target, CMSIS, str(tmp / "cmsis"))
    ref, ref_rep = _build_run(path, records, target, ZONNX_CMSIS_ROUNDING, str(tmp / "zonnx"))
    assert rep["macs"] == ref_rep["macs"]          # both count the taps inside the input
    backends = {n["op"]: n["note"] for n in rep["nodes"] if n["backend"] == "cmsis-nn"}
    assert backends == want_backend, rep["nodes"]
    oracle = _ort(path, records)
    for t in rep["outputs"]:
        a, b = _stack(got, t["name"]), _stack(ref, t["name"])
        assert np.array_equal(a, b), f"{np.sum(a != b)} elements differ from the zonnx kernels"
        o = _stack(oracle, t["name"])
        diff = np.rint(np.abs(a - o) / lsb)
        assert diff.max() <= 1, f"max {diff.max()} LSB from onnxruntime"
        assert np.mean(diff == 0) >= 0.99, f"only {np.mean(diff == 0):.3%} equal to onnxruntime"
    return rep


# -- requantization ------------------------------------------------------------------------

@pytest.mark.parametrize("single", [True, False], ids=["single-rounding", "double-rounding"])
def test_cmsis_rounding_equals_arm_nn_requantize(tmp_path, single):
    """zonnx's "cmsis-nn" requantization (generated C and the Python model of
    it) against CMSIS-NN's own arm_nn_requantize, compiled from the tree, with
    and without CMSIS_NN_USE_SINGLE_ROUNDING."""
    cases = []
    for _ in range(400):
        real = float(np.float32(10 ** RNG.uniform(-9, -0.01)))
        m0, sh = multiplier(real)
        acc = int(RNG.integers(-2 ** 24, 2 ** 24))
        cases.append((acc, m0, sh))
    cases += [(acc, 1 << 30, sh) for acc in (-3, -2, -1, 1, 2, 3, 5, -5) for sh in (31, 32, 33)]  # ties
    lines = requant_lines("acc", "m0", "sh", "0", "int32", "out", bounds=(-2 ** 31, 2 ** 31 - 1),
                          rounding="cmsis-nn")
    src = tmp_path / "rq.c"
    src.write_text("\n".join([
        "#include <stdio.h>", "#include <stdint.h>", '#include "arm_nnsupportfunctions.h"',
        "static int32_t zonnx_rq(int32_t acc, int32_t m0, int32_t sh) {", "    int32_t out;",
        *("    " + s for s in lines), "    return out;", "}",
        "int main(void) {", "    long acc, m0, sh;",
        "    while (scanf(\"%ld %ld %ld\", &acc, &m0, &sh) == 3) {",
        "        printf(\"%ld %ld\\n\", (long)arm_nn_requantize((int32_t)acc, (int32_t)m0, (int32_t)(31 - sh)),",
        "               (long)zonnx_rq((int32_t)acc, (int32_t)m0, (int32_t)sh));",
        "    }", "    return 0;", "}", ""]))
    exe = tmp_path / "rq"
    subprocess.run([host.compiler(), "-std=c99", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined",
                    "-fno-sanitize-recover=all", include_flag(TREE), str(src), "-o", str(exe),
                    *(["-DCMSIS_NN_USE_SINGLE_ROUNDING"] if single else [])], check=True)
    p = subprocess.run([str(exe)], input="\n".join(f"{a} {m} {s}" for a, m, s in cases),
                       capture_output=True, text=True, check=True)
    got = np.array([[int(v) for v in line.split()] for line in p.stdout.splitlines()])
    model = np.array([cmsis_requant_reference(np.array([a]), m, s, single)[0] for a, m, s in cases])
    assert np.array_equal(got[:, 0], got[:, 1])
    assert np.array_equal(got[:, 0], model)
    err = np.abs(got[:, 0] - np.array([a * m / 2.0 ** s for a, m, s in cases]))
    if single:
        assert err.max() <= 0.5             # a correct rounding (ties up instead of to even)
    else:
        # Double rounding is not a correct rounding (1 * 2^-2 becomes 1: the high
        # multiply rounds 0.5 up, the divide rounds 0.5 away), but stays within a step.
        assert 0.5 < err.max() < 1


# -- single nodes ----------------------------------------------------------------------------

def _qconv_model(x_shape, w_shape, attrs, bias=True, per_channel=True, zx=-3, zy=5):
    m = w_shape[0]
    w = RNG.integers(-127, 128, size=w_shape).astype(I8)
    ws = (RNG.uniform(0.002, 0.01, size=m) if per_channel else np.array([0.005])).astype(np.float32)
    xs, ys = np.float32(0.02), np.float32(0.05 * np.sqrt(np.prod(w_shape[1:])) / 3)
    inits = [helper.make_tensor("xs", TensorProto.FLOAT, [], [xs]),
             helper.make_tensor("xz", TensorProto.INT8, [], [zx]),
             onnx.numpy_helper.from_array(w, "w"),
             onnx.numpy_helper.from_array(ws if per_channel else ws.reshape(()), "ws"),
             onnx.numpy_helper.from_array(np.zeros(ws.shape if per_channel else (), I8), "wz"),
             helper.make_tensor("ys", TensorProto.FLOAT, [], [ys]),
             helper.make_tensor("yz", TensorProto.INT8, [], [zy])]
    ins = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"]
    if bias:
        inits.append(onnx.numpy_helper.from_array(RNG.integers(-3000, 3000, size=m).astype(np.int32), "b"))
        ins.append("b")
    node = helper.make_node("QLinearConv", ins, ["y"], name="qconv", **attrs)
    g = helper.make_graph([node], "t", [helper.make_tensor_value_info("x", TensorProto.INT8, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.INT8, None)], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    return onnx.shape_inference.infer_shapes(model)


CONV_CASES = {
    "3x3_pad1": ((1, 3, 8, 8), (4, 3, 3, 3), dict(pads=[1, 1, 1, 1])),
    "asym_pad_stride2": ((1, 2, 9, 7), (5, 2, 3, 3), dict(pads=[0, 1, 2, 0], strides=[2, 2])),
    "dilation2_batch2": ((2, 3, 9, 9), (4, 3, 3, 3), dict(dilations=[2, 2], pads=[2, 2, 2, 2])),
    "1x1": ((1, 8, 5, 5), (6, 8, 1, 1), {}),
    "1x1_stride2": ((1, 4, 6, 6), (3, 4, 1, 1), dict(strides=[2, 2])),
    "conv1d": ((1, 4, 16), (6, 4, 3), dict(pads=[1, 1])),
    "groups2": ((1, 4, 6, 6), (6, 2, 3, 3), dict(group=2, pads=[1, 1, 1, 1])),
    "depthwise_3x3": ((1, 8, 7, 7), (8, 1, 3, 3), dict(group=8, pads=[1, 1, 1, 1])),
    "depthwise_5x5_mult2": ((1, 4, 9, 9), (8, 1, 5, 5), dict(group=4, pads=[2, 2, 2, 2])),
    "one_channel_in": ((1, 1, 8, 8), (4, 1, 3, 3), dict(pads=[1, 1, 1, 1])),
}
WANT_FN = {"groups2": "arm_convolve_wrapper_s8", "depthwise_3x3": "arm_depthwise_conv_wrapper_s8",
           "depthwise_5x5_mult2": "arm_depthwise_conv_wrapper_s8"}


def _int8_records(shape, n=3):
    return [{"x": RNG.integers(-128, 128, size=shape).astype(I8)} for _ in range(n)]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_qlinearconv_on_cmsis_nn(tmp_path, case, target):
    x_shape, w_shape, attrs = CONV_CASES[case]
    path = str(tmp_path / "m.onnx")
    onnx.save(_qconv_model(x_shape, w_shape, attrs, per_channel=case != "1x1"), path)
    _check(path, _int8_records(x_shape), target, tmp_path,
           {"QLinearConv": WANT_FN.get(case, "arm_convolve_wrapper_s8")})


def _qgemm_model(m, k, n, per_channel, bias):
    ms = "com.microsoft"
    b = RNG.integers(-127, 128, size=(n, k)).astype(I8)
    bs = (RNG.uniform(0.002, 0.01, size=n) if per_channel else np.array([0.004])).astype(np.float32)
    inits = [helper.make_tensor("as", TensorProto.FLOAT, [], [0.03]),
             helper.make_tensor("az", TensorProto.INT8, [], [7]),
             onnx.numpy_helper.from_array(b, "b"),
             onnx.numpy_helper.from_array(bs if per_channel else bs.reshape(()), "bs"),
             onnx.numpy_helper.from_array(np.zeros(bs.shape if per_channel else (), I8), "bz"),
             helper.make_tensor("ys", TensorProto.FLOAT, [], [0.03 * 0.006 * np.sqrt(k) * 40]),
             helper.make_tensor("yz", TensorProto.INT8, [], [-4])]
    ins = ["a", "as", "az", "b", "bs", "bz", "", "ys", "yz"]
    if bias:
        inits.append(onnx.numpy_helper.from_array(RNG.integers(-5000, 5000, size=n).astype(np.int32), "c"))
        ins[6] = "c"
    node = helper.make_node("QGemm", ins, ["y"], name="qgemm", domain=ms, transB=1)
    g = helper.make_graph([node], "t", [helper.make_tensor_value_info("a", TensorProto.INT8, [m, k])],
                          [helper.make_tensor_value_info("y", TensorProto.INT8, [m, n])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(ms, 1)])


def _qmatmul_model(a_shape, n):
    k = a_shape[-1]
    b = RNG.integers(-127, 128, size=(k, n)).astype(I8)
    inits = [helper.make_tensor("as", TensorProto.FLOAT, [], [0.03]),
             helper.make_tensor("az", TensorProto.INT8, [], [-9]),
             onnx.numpy_helper.from_array(b, "b"),
             helper.make_tensor("bs", TensorProto.FLOAT, [], [0.005]),
             helper.make_tensor("bz", TensorProto.INT8, [], [0]),
             helper.make_tensor("ys", TensorProto.FLOAT, [], [0.03 * 0.005 * np.sqrt(k) * 40]),
             helper.make_tensor("yz", TensorProto.INT8, [], [3])]
    node = helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"],
                            name="qmatmul")
    g = helper.make_graph([node], "t", [helper.make_tensor_value_info("a", TensorProto.INT8, a_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.INT8, None)], inits)
    return onnx.shape_inference.infer_shapes(
        helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]))


FC_CASES = {
    "qgemm_per_channel_bias": (lambda: _qgemm_model(2, 37, 10, True, True), (2, 37),
                               "QGemm", "arm_fully_connected_per_channel_s8"),
    "qgemm_per_tensor": (lambda: _qgemm_model(1, 64, 12, False, False), (1, 64),
                         "QGemm", "arm_fully_connected_s8"),
    "qlinearmatmul_3d": (lambda: _qmatmul_model((2, 3, 20), 7), (2, 3, 20),
                         "QLinearMatMul", "arm_fully_connected_s8"),
}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", sorted(FC_CASES))
def test_matrix_products_on_cmsis_nn(tmp_path, case, target):
    build, shape, op, fn = FC_CASES[case]
    path = str(tmp_path / "m.onnx")
    onnx.save(build(), path)
    name = "a"
    recs = [{name: r["x"]} for r in _int8_records(shape)]
    _check(path, recs, target, tmp_path, {op: fn})


def test_nodes_that_do_not_fit_fall_back_with_the_reason(tmp_path):
    """uint8 activations and asymmetric weights stay on zonnx kernels, and the
    report says why; the fallback output still equals the zonnx-only build."""
    model = _qconv_model((1, 3, 6, 6), (4, 3, 3, 3), dict(pads=[1, 1, 1, 1]))
    wz = [i for i in model.graph.initializer if i.name == "wz"][0]
    wz.CopyFrom(onnx.numpy_helper.from_array(np.full(4, 2, I8), "wz"))
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    rep = json.loads(generate(path, GenerateOptions(name="m", lowering=CMSIS)).files["m.json"])
    (node,) = rep["nodes"]
    assert node["backend"] == "zonnx"
    assert "weight zero point is not 0" in node["fallback"]
    rep = json.loads(generate(os.path.join(REPO, "models", "digits_cnn_int8_qop.onnx"),
                              GenerateOptions(name="m", lowering=CMSIS)).files["m.json"])
    heavy = [n for n in rep["nodes"] if n["op"] in ("QLinearConv", "QGemm")]
    assert heavy and all(n["backend"] == "zonnx" and "is uint8" in n["fallback"] for n in heavy)


# -- the shipped symmetric int8 model --------------------------------------------------------

S8_MODELS = ["digits_cnn_int8_s8_qop.onnx", "digits_cnn_int8_s8_qdq.onnx"]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("model", S8_MODELS)
def test_digits_cnn_s8_on_cmsis_nn(tmp_path, model, target):
    """The digits CNN quantized as CMSIS-NN wants it (int8 activations,
    symmetric per-channel int8 weights): every Conv and the Gemm call
    CMSIS-NN; over the held-out test set the outputs equal the zonnx kernels
    bit for bit and onnxruntime's within 1 LSB; top-1 agrees with onnxruntime."""
    records, labels = datasets.test_records("digits", "image", [1, 1, 8, 8])
    if target != "host":
        records, labels = records[:150], labels[:150]      # QEMU: a third of the set is plenty
    path = os.path.join(REPO, "models", model)
    m = onnx.load(path)
    (dq,) = [n for n in m.graph.node if n.output[0] == m.graph.output[0].name]
    scale = float([onnx.numpy_helper.to_array(i) for i in m.graph.initializer if i.name == dq.input[1]][0])
    rep = _check(path, records, target, tmp_path,
                 {"QLinearConv": "arm_convolve_wrapper_s8", "QGemm": "arm_fully_connected_per_channel_s8"},
                 lsb=scale)
    assert sum(n["backend"] == "cmsis-nn" for n in rep["nodes"]) == 3
    got = _ort(path, records)
    print(f"{model} on {target} with CMSIS-NN: onnxruntime accuracy "
          f"{np.mean([np.argmax(g['logits']) == y for g, y in zip(got, labels)]):.4f}")


def test_stack_bound_follows_cmsis_nn_call_graph(tmp_path):
    """The bare-metal stack bound adds the deepest CMSIS-NN call chain from GCC's
    call graphs: at least the wrapper's and arm_convolve_s8's own frames."""
    from zonnx.footprint import callgraph_depth
    board = cortex_m.BOARDS["cortex-m4f"]
    graphs = os.path.join(os.path.dirname(cortex_m.cmsis_library(board, TREE)), "callgraph")
    import re
    frames = {}
    for f in os.listdir(graphs):
        text = open(os.path.join(graphs, f)).read()
        for fn in ("arm_convolve_wrapper_s8", "arm_convolve_s8"):
            m = re.search(rf'node: {{ title: "{fn}" label: "[^"]*\\n(\d+) bytes \(static', text)
            if m:
                frames[fn] = int(m.group(1))
    assert set(frames) == {"arm_convolve_wrapper_s8", "arm_convolve_s8"}
    depth = callgraph_depth(graphs, ["arm_convolve_wrapper_s8"])
    assert depth >= sum(frames.values())
    path = os.path.join(REPO, "models", "digits_cnn_int8_s8_qop.onnx")
    plain, _ = _footprint(path, board, tmp_path / "plain", LowerOptions())
    with_cmsis, _ = _footprint(path, board, tmp_path / "cmsis", CMSIS)
    assert with_cmsis.stack_includes_cmsis and not plain.stack_includes_cmsis
    assert with_cmsis.stack_static >= depth


def _footprint(path, board, work, lowering):
    gen = generate(path, GenerateOptions(name="m", lowering=lowering))
    report = json.loads(gen.files["m.json"])
    os.makedirs(work)
    write_outputs(gen.files, str(work))
    tree = TREE if lowering.kernels == "cmsis-nn" else None
    elf = cortex_m.build(str(work), "m", report, str(work), board, cmsis_nn=tree)
    return cortex_m.footprint(elf, "m", board, str(work), tree), report


@pytest.mark.parametrize("target", ["host", "cortex-m4f"])
def test_too_small_a_buffer_is_an_error_not_an_overrun(tmp_path, monkeypatch, target):
    """If CMSIS-NN asks for a larger buffer than the generator planned (here: a
    plan of 0 bytes), the kernel returns ZONNX_ERR_BACKEND before the call
    (under ASan on the host) and the run reports it."""
    from zonnx.ops import _cmsis_nn
    from zonnx.target import TargetError
    monkeypatch.setattr(_cmsis_nn, "conv_buffer_bytes", lambda *a: 0)
    x_shape, w_shape, attrs = CONV_CASES["3x3_pad1"]
    path = str(tmp_path / "m.onnx")
    onnx.save(_qconv_model(x_shape, w_shape, attrs), path)
    with pytest.raises(TargetError, match="CMSIS-NN kernel refused the call"):
        _build_run(path, _int8_records(x_shape, 1), target, CMSIS, str(tmp_path / "w"))


def test_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch):
    from zonnx.target import TargetError
    from zonnx.target.cmsis_nn import library
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.raises(TargetError, match="cannot build CMSIS-NN into .*XDG_CACHE_HOME"):
        library(TREE, host.compiler(), ["-std=c99"], "ar")
