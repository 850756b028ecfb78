"""Conv, ConvTranspose and pooling beyond what the conformance suite covers:
every padding/stride/dilation/group form in 1, 2 and 3 spatial dimensions,
old opsets, MaxPool Indices in both storage orders, fused activations and the
cases that must be rejected.

Several independent nodes share one model so that each test builds once.
"""

import dataclasses
import glob
import json
import os

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from zonnx.emit import EmitOptions, emit
from zonnx.errors import ZonnxError
from zonnx.load import load
from zonnx.lower import lower
from zonnx.memplan import plan_memory
from zonnx.oracle import compare
from zonnx.pipeline import GenerateOptions, generate, write_outputs
from zonnx.target import host
from zonnx_testing import assert_matches_reference, make_model, rand_ints, run_zonnx

F32 = np.float32
RNG = np.random.default_rng(7)


def _rand(*shape):
    return RNG.uniform(-1.0, 1.0, size=shape).astype(F32)


class Cases:
    """Independent single-node cases collected into one model: case i reads
    `x{i}` and writes `y{i}` (and `i{i}` for MaxPool Indices)."""

    def __init__(self):
        self.nodes, self.inputs, self.outputs, self.inits, self.feeds = [], [], [], {}, {}

    def add(self, op, shape, attrs=None, weights=None, bias=None, dtype=F32, indices=False,
            out_shape=None):
        i = len(self.nodes)
        ins, outs = [f"x{i}"], [f"y{i}"]
        for tag, arr in (("w", weights), ("b", bias)):
            if arr is not None:
                self.inits[f"{tag}{i}"] = arr
                ins.append(f"{tag}{i}")
        self.outputs.append((f"y{i}", dtype, out_shape or [None] * len(shape)))
        if indices:
            outs.append(f"i{i}")
            self.outputs.append((f"i{i}", np.int64, [None] * len(shape)))
        self.nodes.append(helper.make_node(op, ins, outs, name=f"{op}_{i}", **(attrs or {})))
        self.inputs.append((f"x{i}", dtype, list(shape)))
        if np.dtype(dtype).kind == "f":
            self.feeds[f"x{i}"] = _rand(*shape)
        else:
            self.feeds[f"x{i}"] = rand_ints(RNG, dtype, shape)
        return self

    def model(self, opset):
        return make_model(self.nodes, self.inputs, self.outputs, self.inits, opset=opset)


def _conv(cases, x_shape, m, kernel, group=1, bias=True, **attrs):
    c = x_shape[1]
    w = _rand(m, c // group, *kernel)
    return cases.add("Conv", x_shape, dict(group=group, **attrs), w, _rand(m) if bias else None)


# -- Conv -----------------------------------------------------------------------

@pytest.mark.parametrize("opset", [7, 11, 22])
def test_conv_forms(tmp_path, opset):
    cs = Cases()
    _conv(cs, [1, 3, 11], 4, [3], strides=[2], pads=[1, 2], dilations=[2])
    _conv(cs, [2, 4, 7, 6], 8, [3, 3], group=4, strides=[2, 2], pads=[1, 1, 1, 1])  # depthwise x2
    _conv(cs, [1, 4, 6, 7], 6, [2, 3], group=2, bias=False, pads=[0, 1, 2, 0], dilations=[2, 1])
    _conv(cs, [1, 4, 3, 5, 4], 4, [2, 3, 1], group=2, strides=[1, 2, 1], pads=[1, 0, 0, 0, 1, 0])
    _conv(cs, [1, 8, 5, 5], 3, [1, 1])                             # pointwise
    _conv(cs, [1, 2, 3, 2], 2, [5, 3], pads=[2, 1, 2, 1])          # kernel wider than the input
    _conv(cs, [1, 3, 5], 3, [3], group=3, bias=False, kernel_shape=[3], pads=[1, 1])
    assert_matches_reference(cs.model(opset), cs.feeds, tmp_path)


def _assert_matches_onnxruntime(model, feeds, tmp_path):
    """For forms where onnx.reference is wrong (Conv auto_pad: SAME pads come from
    the batch and channel dims, VALID pads like SAME; ConvTranspose with groups)."""
    ort = pytest.importorskip("onnxruntime")
    got, _ = run_zonnx(model, feeds, tmp_path)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for o, want in zip(sess.get_outputs(), sess.run(None, feeds)):
        c = compare(want, got[o.name])
        assert c.ok, f"{o.name}: {c}"


def test_conv_auto_pad(tmp_path):
    cs = Cases()
    _conv(cs, [1, 2, 7, 9], 2, [3, 3], strides=[2, 1], auto_pad="VALID")
    _conv(cs, [1, 2, 8, 8], 3, [3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
    _conv(cs, [1, 2, 7, 9], 3, [3, 2], strides=[3, 2], auto_pad="SAME_LOWER")
    _conv(cs, [1, 4, 6, 5, 4], 2, [2, 3, 2], group=2, strides=[2, 1, 3], auto_pad="SAME_UPPER")
    _assert_matches_onnxruntime(cs.model(17), cs.feeds, tmp_path)


def test_conv_macs_count_visited_taps(tmp_path):
    cs = Cases()
    _conv(cs, [1, 2, 6, 6], 3, [3, 3])                     # no padding: N*M*OH*OW*C*KH*KW
    _conv(cs, [1, 1, 4], 1, [3], pads=[1, 1])              # taps in the padding are not counted
    _, report = assert_matches_reference(cs.model(13), cs.feeds, tmp_path)
    macs = {n["name"]: n["macs"] for n in report["nodes"]}
    assert macs["Conv_0"] == 3 * 4 * 4 * 2 * 9
    assert macs["Conv_1"] == 2 + 3 + 3 + 2


NODE_CONV_CASES = ["test_basic_conv_with_padding", "test_basic_conv_without_padding",
                   "test_conv_with_autopad_same", "test_conv_with_strides_and_asymmetric_padding",
                   "test_conv_with_strides_no_padding", "test_conv_with_strides_padding"]


@pytest.mark.parametrize("case", NODE_CONV_CASES)
def test_node_conv_cases_with_constant_weights(tmp_path, case):
    """The backend node cases feed W at run time, which Conv rejects; bound as
    a constant they must match the recorded outputs."""
    d = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node", case)
    model = onnx.load(os.path.join(d, "model.onnx"))
    names = [i.name for i in model.graph.input]
    ins = {}
    for p in sorted(glob.glob(os.path.join(d, "test_data_set_0", "input_*.pb"))):
        t = onnx.TensorProto()
        with open(p, "rb") as f:
            t.ParseFromString(f.read())
        ins[names[int(p.rsplit("_", 1)[1][:-3])]] = numpy_helper.to_array(t)
    x_name, w_name = names[0], names[1]
    assert_matches_reference(os.path.join(d, "model.onnx"), {x_name: ins[x_name]}, tmp_path,
                             consts={w_name: ins[w_name]})


# -- ConvTranspose --------------------------------------------------------------

def _convt(cases, x_shape, m_per_group, kernel, group=1, bias=True, **attrs):
    w = _rand(x_shape[1], m_per_group, *kernel)
    b = _rand(m_per_group * group) if bias else None
    return cases.add("ConvTranspose", x_shape, dict(group=group, **attrs), w, b)


@pytest.mark.parametrize("opset", [7, 22])
def test_conv_transpose_forms(tmp_path, opset):
    cs = Cases()
    _convt(cs, [1, 2, 4], 3, [3], strides=[3], dilations=[2], pads=[1, 2])
    _convt(cs, [1, 2, 3, 4], 2, [4, 2], strides=[4, 2], dilations=[2, 3], pads=[3, 0, 1, 2])
    _convt(cs, [2, 2, 3, 3], 3, [3, 3], strides=[2, 2], output_padding=[1, 0], pads=[1, 1, 0, 1])
    _convt(cs, [1, 2, 3, 2, 3], 2, [2, 3, 2], bias=False, strides=[2, 1, 2], pads=[0, 1, 1, 1, 0, 0])
    _convt(cs, [1, 1, 3, 4], 2, [3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
    _convt(cs, [1, 1, 3, 4], 2, [3, 3], strides=[2, 2], auto_pad="SAME_LOWER")
    _convt(cs, [1, 1, 3, 3], 1, [3, 3], strides=[2, 2], output_shape=[6, 5], auto_pad="SAME_UPPER")
    _convt(cs, [1, 1, 3, 3], 1, [3, 3], strides=[2, 2], output_shape=[6, 5], auto_pad="SAME_LOWER")
    _convt(cs, [1, 2, 3], 2, [3], strides=[2], auto_pad="VALID")
    assert_matches_reference(cs.model(opset), cs.feeds, tmp_path)


@pytest.mark.parametrize("group,cg,mg,strides,dilations,pads,outpad", [
    (2, 2, 3, [2, 2], [1, 1], [1, 0, 1, 1], [1, 0]),
    (3, 1, 2, [3, 1], [2, 2], [0, 1, 2, 0], [0, 0]),     # depthwise with multiplier
    (2, 3, 1, [1, 2], [1, 3], [0, 0, 0, 0], [0, 1]),
])
def test_conv_transpose_groups(tmp_path, group, cg, mg, strides, dilations, pads, outpad):
    cs = Cases()
    _convt(cs, [2, cg * group, 4, 3], mg, [3, 2], group=group, strides=strides,
           dilations=dilations, pads=pads, output_padding=outpad)
    _assert_matches_onnxruntime(cs.model(17), cs.feeds, tmp_path)


# -- fused activations ------------------------------------------------------------

def _run_graph(g, feeds, tmp_path, name="m"):
    prog = lower(g)
    files = emit(prog, plan_memory(prog), EmitOptions(name))
    report = json.loads(files[f"{name}.json"])
    write_outputs(files, str(tmp_path))
    exe = host.build(str(tmp_path), name, report, str(tmp_path))
    return host.execute(exe, report, [feeds], str(tmp_path)).outputs[0]


@pytest.mark.parametrize("op,act,attrs", [
    ("Conv", "Relu", {}),
    ("Conv", "LeakyRelu", {"alpha": 0.2}),
    ("ConvTranspose", "HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
])
def test_fused_activation_applied_on_store(tmp_path, op, act, attrs):
    x, b = _rand(1, 2, 5, 5), _rand(3)
    w = _rand(3, 2, 3, 3) if op == "Conv" else _rand(2, 3, 3, 3)
    conv = helper.make_node(op, ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2])
    ins, out = [("x", F32, [1, 2, 5, 5])], [("y", F32, [None] * 4)]
    ref = make_model([conv, helper.make_node(act, ["c"], ["y"], **attrs)], ins, out, {"w": w, "b": b})
    ref_path = tmp_path / "ref.onnx"
    onnx.save(ref, ref_path)
    want = onnx.reference.ReferenceEvaluator(ref).run(None, {"x": x})[0]

    alone = make_model([helper.make_node(op, ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1],
                                         strides=[2, 2])], ins, out, {"w": w, "b": b})
    path = tmp_path / "alone.onnx"
    onnx.save(alone, path)
    g = load(str(path))
    node = dataclasses.replace(g.nodes[0], attrs={**g.nodes[0].attrs,
                                                   "_activation": {"op": act, "attrs": attrs}})
    got = _run_graph(g.replace(nodes=(node,)), {"x": x}, tmp_path)["y"]
    c = compare(want, got)
    assert c.ok, c
    if act == "Relu":
        assert got.min() >= 0.0


# -- pooling ------------------------------------------------------------------------

def test_maxpool_indices_both_storage_orders(tmp_path):
    cs = Cases()
    for order in (0, 1):
        cs.add("MaxPool", [2, 2, 9], dict(kernel_shape=[3], strides=[2], pads=[1, 1],
                                          storage_order=order), indices=True)
        cs.add("MaxPool", [1, 2, 5, 7], dict(kernel_shape=[3, 2], strides=[2, 3], pads=[1, 0, 1, 1],
                                             dilations=[1, 2], ceil_mode=1, storage_order=order),
               indices=True)
        cs.add("MaxPool", [1, 1, 4, 5, 3], dict(kernel_shape=[2, 2, 2], strides=[2, 1, 2],
                                                pads=[0, 1, 1, 1, 0, 0], storage_order=order),
               indices=True)
    assert_matches_reference(cs.model(12), cs.feeds, tmp_path)


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")   # onnx.reference pads uint8 with NaN
def test_maxpool_forms_and_integer_types(tmp_path):
    cs = Cases()
    cs.add("MaxPool", [1, 3, 6, 6], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
           dtype=np.int8)
    cs.add("MaxPool", [1, 2, 5, 5], dict(kernel_shape=[2, 2], auto_pad="SAME_LOWER"), dtype=np.uint8)
    cs.add("MaxPool", [1, 2, 7, 8], dict(kernel_shape=[3, 3], strides=[3, 2], auto_pad="SAME_UPPER"))
    cs.add("MaxPool", [1, 1, 6, 5, 7], dict(kernel_shape=[2, 3, 2], strides=[2, 2, 3],
                                            dilations=[2, 1, 2], ceil_mode=1))
    assert_matches_reference(cs.model(12), cs.feeds, tmp_path)


def test_pools_at_old_opsets(tmp_path):
    """MaxPool-8 (Indices), AveragePool-7 and LpPool-2 (p an int)."""
    cs = Cases()
    cs.add("MaxPool", [1, 2, 6, 5], dict(kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1]),
           indices=True)
    cs.add("AveragePool", [1, 2, 6, 5], dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    cs.add("AveragePool", [1, 2, 6, 5], dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                             count_include_pad=1))
    cs.add("LpPool", [1, 2, 6, 5], dict(kernel_shape=[2, 2], strides=[2, 2], p=3))
    assert_matches_reference(cs.model(8), cs.feeds, tmp_path)


def test_version_1_pools(tmp_path):
    """MaxPool-1, AveragePool-1 (excludes the padding, as its spec says; onnx.reference
    includes it) and LpPool-1 (p a float), checked against the opset-8 forms."""
    cs = Cases()
    cs.add("MaxPool", [1, 2, 6, 5], dict(kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1]))
    cs.add("AveragePool", [1, 2, 6, 5], dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    cs.add("LpPool", [1, 2, 6, 5], dict(kernel_shape=[2, 2], strides=[2, 2], p=3.0),
           out_shape=[1, 2, 3, 2])
    got, _ = run_zonnx(cs.model(1), cs.feeds, tmp_path)
    cs.nodes[2] = helper.make_node("LpPool", ["x2"], ["y2"], kernel_shape=[2, 2], strides=[2, 2], p=3)
    want = onnx.reference.ReferenceEvaluator(cs.model(8)).run(None, cs.feeds)
    for i, w in enumerate(want):
        c = compare(w, got[f"y{i}"])
        assert c.ok, (i, c)


def test_average_and_lp_pool_forms(tmp_path):
    cs = Cases()
    cs.add("AveragePool", [1, 2, 9], dict(kernel_shape=[4], strides=[3], pads=[2, 1], ceil_mode=1))
    cs.add("AveragePool", [1, 2, 9], dict(kernel_shape=[4], strides=[3], pads=[2, 1], ceil_mode=1,
                                          count_include_pad=1))
    cs.add("AveragePool", [1, 1, 7, 6, 5], dict(kernel_shape=[2, 3, 2], dilations=[2, 1, 2],
                                                pads=[1, 1, 0, 1, 1, 1], count_include_pad=1))
    cs.add("AveragePool", [1, 2, 7, 8], dict(kernel_shape=[3, 3], strides=[2, 3], auto_pad="SAME_LOWER"))
    cs.add("LpPool", [1, 2, 7, 6], dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 1, 1, 0], p=1))
    cs.add("LpPool", [1, 2, 7, 7], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                        ceil_mode=1, dilations=[1, 2], p=3))
    cs.add("LpPool", [1, 1, 4, 5, 6], dict(kernel_shape=[2, 2, 3], strides=[2, 2, 3], p=2))
    cs.add("GlobalAveragePool", [2, 3, 4, 5])
    cs.add("GlobalMaxPool", [1, 2, 3, 4])
    assert_matches_reference(cs.model(19), cs.feeds, tmp_path)


@pytest.mark.parametrize("opset", [1, 2, 22])
def test_global_pools(tmp_path, opset):
    """Against numpy: onnx.reference has no GlobalLpPool and reduces the wrong axes
    in GlobalMaxPool beyond rank 4; GlobalLpPool-1 takes a float p."""
    cs = Cases()
    for j, p in enumerate((1.0, 2.0, 3.0)):
        shape = [[1, 2, 3, 5, 2], [1, 2, 3, 5], [2, 3, 4]][j]
        cs.add("GlobalLpPool", shape, dict(p=p if opset == 1 else int(p)),
               out_shape=shape[:2] + [1] * (len(shape) - 2))
    cs.add("GlobalLpPool", [2, 3, 4], out_shape=[2, 3, 1])
    cs.add("GlobalMaxPool", [1, 2, 3, 2, 4])
    cs.add("GlobalMaxPool", [2, 3, 5])
    cs.add("GlobalAveragePool", [2, 3, 7])
    cs.add("GlobalAveragePool", [1, 2, 3, 2, 2])
    got, _ = run_zonnx(cs.model(opset), cs.feeds, tmp_path)
    for i, node in enumerate(cs.nodes):
        x = cs.feeds[f"x{i}"].astype(np.float64)
        axes = tuple(range(2, x.ndim))
        if node.op_type == "GlobalLpPool":
            p = next((a.f or a.i for a in node.attribute if a.name == "p"), 2)
            want = (np.abs(x) ** p).sum(axis=axes, keepdims=True) ** (1.0 / p)
        elif node.op_type == "GlobalMaxPool":
            want = x.max(axis=axes, keepdims=True)
        else:
            want = x.mean(axis=axes, keepdims=True)
        c = compare(want.astype(F32), got[f"y{i}"])
        assert c.ok, (node.op_type, i, c)


def test_average_pool_ceil_mode_with_wide_strides(tmp_path):
    """With ceil_mode and stride >= 3 onnx.reference moves half of the extra end
    padding to the front, shifting every window; onnxruntime (and PyTorch) start
    window o at o * stride - pad, as zonnx does."""
    cs = Cases()
    cs.add("AveragePool", [1, 2, 9, 2], dict(kernel_shape=[4, 1], strides=[3, 1], dilations=[2, 1],
                                             pads=[1, 0, 1, 0], ceil_mode=1))
    cs.add("AveragePool", [1, 2, 9], dict(kernel_shape=[3], strides=[4], ceil_mode=1))
    cs.add("MaxPool", [1, 2, 9], dict(kernel_shape=[3], strides=[4], ceil_mode=1))
    _assert_matches_onnxruntime(cs.model(19), cs.feeds, tmp_path)


# -- rejections ---------------------------------------------------------------------

def _generate(model, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    return generate(str(path), GenerateOptions(name="m"))


def _single(op, x_shape, attrs, inits=None, extra_inputs=(), opset=17):
    ins = ["x"] + [n for n in (inits or {})] + [n for n, _, _ in extra_inputs]
    return make_model([helper.make_node(op, ins, ["y"], **attrs)],
                      [("x", F32, x_shape), *extra_inputs], [("y", F32, [None] * len(x_shape))],
                      inits or {}, opset=opset)


def test_conv_runtime_weights(tmp_path):
    m = _single("Conv", [1, 2, 5, 5], dict(pads=[1, 1, 1, 1]), extra_inputs=[("w", F32, [3, 2, 3, 3])])
    rng = np.random.default_rng(3)
    feeds = {"x": rng.standard_normal((1, 2, 5, 5)).astype(np.float32),
             "w": rng.standard_normal((3, 2, 3, 3)).astype(np.float32)}
    assert_matches_reference(m, feeds, tmp_path)


@pytest.mark.parametrize("model,match", [
    (_single("ConvTranspose", [1, 1, 3, 3], dict(strides=[2, 2], output_shape=[5, 5]),
             {"w": _rand(1, 1, 3, 3)}), "crops the full output"),
    (_single("ConvTranspose", [1, 1, 3, 3], dict(strides=[2, 2], output_shape=[8, 8],
                                                 pads=[0, 0, 0, 0]), {"w": _rand(1, 1, 3, 3)}),
     "both pads and output_shape"),
    (_single("AveragePool", [1, 1, 5, 5], dict(kernel_shape=[2, 2], pads=[2, 2, 0, 0])),
     "entirely in the padding"),
    (_single("MaxPool", [1, 1, 5, 5], dict(kernel_shape=[2, 2], auto_pad="SAME_UPPER", ceil_mode=1)),
     "ceil_mode with auto_pad"),
    (_single("Conv", [1, 2, 5], dict(kernel_shape=[2]), {"w": _rand(3, 2, 3)}),
     "disagrees with the weights"),
    (_single("AveragePool", [1, 1, 8], dict(kernel_shape=[2], strides=[3], pads=[1, 0], ceil_mode=1)),
     "disagrees with the computed"),
    (_single("LpPool", [1, 1, 9], dict(kernel_shape=[4], strides=[3], pads=[1, 1], ceil_mode=1),
             opset=18), "cuts a window short"),
])
def test_rejections(tmp_path, model, match):
    with pytest.raises(ZonnxError, match=match):
        _generate(model, tmp_path)
