"""Element-wise arithmetic, comparisons, logic, casts, Clip, Where and Expand:
behaviour the ONNX node tests do not pin down (integer edge cases, NaN,
broadcast layouts, legacy broadcasting, run-time bounds, dtypes)."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from zonnx.errors import ZonnxError
from zonnx.pipeline import GenerateOptions, generate
from zonnx_testing import assert_matches_reference, make_model, run_zonnx

I32_MIN, I32_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max

# the reference warns on the integer divisions by zero these tests make on purpose
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning",
                                        "ignore:overflow encountered:RuntimeWarning",
                                        "ignore:invalid value encountered:RuntimeWarning")


def binary_model(op, dt, a_shape, b_shape, out_shape, out_dt=None, opset=17, **attrs):
    return make_model([helper.make_node(op, ["a", "b"], ["y"], **attrs)],
                      [("a", dt, a_shape), ("b", dt, b_shape)], [("y", out_dt or dt, out_shape)],
                      opset=opset)


@pytest.mark.parametrize("a_shape,b_shape,out_shape", [
    ([2, 3, 4, 5], [3, 1, 1], [2, 3, 4, 5]),     # per-channel
    ([2, 1, 4], [3, 1], [2, 3, 4]),               # both sides stretch
    ([], [2, 3], [2, 3]),                          # scalar first
    ([1, 5], [5], [1, 5]),                         # same elements, different rank
])
def test_add_broadcast_layouts(tmp_path, a_shape, b_shape, out_shape):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape).astype(np.float32)
    assert_matches_reference(binary_model("Sub", np.float32, a_shape, b_shape, out_shape),
                             {"a": a, "b": b}, tmp_path)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
@pytest.mark.parametrize("dt", [np.int32, np.int64, np.uint16, np.int8])
def test_integer_arithmetic_wraps(tmp_path, op, dt):
    info = np.iinfo(dt)
    a = np.array([info.max, info.min, info.max, 7, -3 if info.min < 0 else 3], dtype=dt)
    b = np.array([info.max, info.max, 1, info.min, 2], dtype=dt)
    assert_matches_reference(binary_model(op, dt, [5], [5], [5]), {"a": a, "b": b}, tmp_path)


@pytest.mark.parametrize("dt", [np.int32, np.int8, np.uint8, np.int64])
def test_integer_div_truncates(tmp_path, dt):
    info = np.iinfo(dt)
    a = np.array([7, -7, 7, -7, 5, info.min, 0, info.max], dtype=dt) if info.min < 0 else \
        np.array([7, 200, 9, 0, 5, 255, 1, 3], dtype=dt)
    b = np.array([2, 2, -2, -2, 0, -1, 3, 1], dtype=dt) if info.min < 0 else \
        np.array([2, 7, 0, 3, 5, 2, 1, 2], dtype=dt)
    assert_matches_reference(binary_model("Div", dt, [8], [8], [8]), {"a": a, "b": b}, tmp_path)


@pytest.mark.parametrize("fmod", [0, 1])
@pytest.mark.parametrize("dt", [np.int32, np.int16, np.uint8])
def test_integer_mod_signs(tmp_path, fmod, dt):
    if np.iinfo(dt).min < 0:
        a = np.array([7, -7, 7, -7, 5, 0, -6, 6], dtype=dt)
        b = np.array([3, 3, -3, -3, 0, 4, 3, -4], dtype=dt)
    else:
        a = np.array([7, 200, 9, 0, 5, 255, 1, 3], dtype=dt)
        b = np.array([3, 7, 0, 3, 5, 2, 1, 2], dtype=dt)
    assert_matches_reference(binary_model("Mod", dt, [8], [8], [8], fmod=fmod),
                             {"a": a, "b": b}, tmp_path)


def test_float_mod(tmp_path):
    a = np.array([5.5, -5.5, 5.5, -5.5, 1.0], dtype=np.float32)
    b = np.array([2.0, 2.0, -2.0, -2.0, 0.0], dtype=np.float32)
    assert_matches_reference(binary_model("Mod", np.float32, [5], [5], [5], fmod=1),
                             {"a": a, "b": b}, tmp_path)


@pytest.mark.parametrize("base_dt,exp_dt", [
    (np.float32, np.int32), (np.float32, np.int64), (np.int32, np.int32),
    (np.int64, np.int32), (np.int32, np.float32), (np.float64, np.float32), (np.uint8, np.uint8),
])
def test_pow_mixed_types(tmp_path, base_dt, exp_dt):
    a = np.array([2, -3, 5, 0, 1, -1, 3, 7]).astype(base_dt)
    b = np.array([3, 3, 0, 2, 9, 5, 4, 11], dtype=exp_dt)
    m = make_model([helper.make_node("Pow", ["a", "b"], ["y"])],
                   [("a", base_dt, [8]), ("b", exp_dt, [8])], [("y", base_dt, [8])])
    assert_matches_reference(m, {"a": a, "b": b}, tmp_path)


def test_pow_integer_wraps_and_negative_exponent(tmp_path):
    m = make_model([helper.make_node("Pow", ["a", "b"], ["y"])],
                   [("a", np.int32, [5]), ("b", np.int32, [5])], [("y", np.int32, [5])])
    a = np.array([3, 2, 1, -1, -1], dtype=np.int32)
    b = np.array([40, -2, -5, -3, -4], dtype=np.int32)
    got, _ = run_zonnx(m, {"a": a, "b": b}, tmp_path)
    want = np.array([np.int32(np.uint32(3 ** 40 % 2 ** 32).astype(np.int32)), 0, 1, -1, 1], dtype=np.int32)
    np.testing.assert_array_equal(got["y"], want)


def test_pow_const_square(tmp_path):
    m = make_model([helper.make_node("Pow", ["a", "two"], ["y"])],
                   [("a", np.float32, [2, 3])], [("y", np.float32, [2, 3])],
                   {"two": np.array(2.0, dtype=np.float32)})
    a = np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3)
    assert_matches_reference(m, {"a": a}, tmp_path)
    gen = generate(str(tmp_path / "m.onnx"), GenerateOptions(name="m"))
    assert "powf" not in gen.files["m.c"]


@pytest.mark.parametrize("op", ["Max", "Min"])
def test_max_min_nan_and_variadic_broadcast(tmp_path, op):
    m = make_model([helper.make_node(op, ["a", "b", "c"], ["y"])],
                   [("a", np.float32, [2, 3]), ("b", np.float32, [3]), ("c", np.float32, [2, 1])],
                   [("y", np.float32, [2, 3])])
    a = np.array([[1, np.nan, 3], [4, 5, -6]], dtype=np.float32)
    b = np.array([0, 2, np.nan], dtype=np.float32)
    c = np.array([[2], [-1]], dtype=np.float32)
    got, _ = assert_matches_reference(m, {"a": a, "b": b, "c": c}, tmp_path)
    np.testing.assert_array_equal(np.isnan(got["y"]), np.isnan(a) | np.isnan(b))


@pytest.mark.parametrize("dt", [np.int64, np.uint8, np.int8])
def test_integer_max(tmp_path, dt):
    info = np.iinfo(dt)
    a = np.array([info.min, info.max, 0, 5], dtype=dt)
    b = np.array([0, 1, info.max, info.min], dtype=dt)
    assert_matches_reference(binary_model("Max", dt, [4], [4], [4]), {"a": a, "b": b}, tmp_path)


@pytest.mark.parametrize("op", ["Sum", "Mean", "Max"])
def test_variadic_one_and_three_inputs(tmp_path, op):
    rng = np.random.default_rng(1)
    feeds = {k: rng.standard_normal([2, 3]).astype(np.float32) for k in "abc"}
    m3 = make_model([helper.make_node(op, ["a", "b", "c"], ["y"])],
                    [(k, np.float32, [2, 3]) for k in "abc"], [("y", np.float32, [2, 3])])
    assert_matches_reference(m3, feeds, tmp_path, name="m3")
    m1 = make_model([helper.make_node(op, ["a"], ["y"])], [("a", np.float32, [2, 3])],
                    [("y", np.float32, [2, 3])])
    assert_matches_reference(m1, {"a": feeds["a"]}, tmp_path, name="m1")


def test_prelu_channel_slope_and_int(tmp_path):
    m = make_model([helper.make_node("PRelu", ["x", "s"], ["y"])],
                   [("x", np.float32, [2, 3, 2, 2])], [("y", np.float32, [2, 3, 2, 2])],
                   {"s": np.array([0.1, 0.2, 0.3], dtype=np.float32).reshape(3, 1, 1)})
    x = np.linspace(-2, 2, 24, dtype=np.float32).reshape(2, 3, 2, 2)
    assert_matches_reference(m, {"x": x}, tmp_path, name="f")
    mi = make_model([helper.make_node("PRelu", ["x", "s"], ["y"])],
                    [("x", np.int32, [4]), ("s", np.int32, [1])], [("y", np.int32, [4])])
    assert_matches_reference(mi, {"x": np.array([-3, 0, 4, -1], np.int32), "s": np.array([2], np.int32)},
                             tmp_path, name="i")


def test_legacy_axis_broadcast(tmp_path):
    """Add-6 with broadcast=1, axis=1: B [3,4] lines up with A's dims 1 and 2,
    where numpy rules (the reference) would fail."""
    m = make_model([helper.make_node("Add", ["a", "b"], ["y"], broadcast=1, axis=1)],
                   [("a", np.float32, [2, 3, 4, 5]), ("b", np.float32, [3, 4])],
                   [("y", np.float32, [2, 3, 4, 5])], opset=6)
    rng = np.random.default_rng(2)
    a = rng.standard_normal([2, 3, 4, 5]).astype(np.float32)
    b = rng.standard_normal([3, 4]).astype(np.float32)
    got, _ = run_zonnx(m, {"a": a, "b": b}, tmp_path)
    np.testing.assert_allclose(got["y"], a + b.reshape(1, 3, 4, 1), rtol=1e-6)


def test_legacy_shapes_must_match_without_broadcast(tmp_path):
    m = make_model([helper.make_node("Mul", ["a", "b"], ["y"])],
                   [("a", np.float32, [2, 3]), ("b", np.float32, [3])],
                   [("y", np.float32, [2, 3])], opset=6)
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    with pytest.raises(ZonnxError, match="broadcast=0"):
        generate(str(path), GenerateOptions(name="m"))


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"])
def test_comparisons_broadcast_int64(tmp_path, op):
    a = np.array([[1, 5, -3], [2, 2, 9]], dtype=np.int64)
    b = np.array([2, 5, -4], dtype=np.int64)
    assert_matches_reference(binary_model(op, np.int64, [2, 3], [3], [2, 3], out_dt=np.bool_),
                             {"a": a, "b": b}, tmp_path)


def test_float_compare_nan(tmp_path):
    a = np.array([np.nan, 1.0, np.inf, -0.0], dtype=np.float32)
    b = np.array([np.nan, np.nan, np.inf, 0.0], dtype=np.float32)
    for op in ("Equal", "Less", "GreaterOrEqual"):
        assert_matches_reference(binary_model(op, np.float32, [4], [4], [4], out_dt=np.bool_),
                                 {"a": a, "b": b}, tmp_path, name=op.lower())


@pytest.mark.parametrize("op", ["And", "Or", "Xor", "Equal"])
def test_bool_logic(tmp_path, op):
    a = np.array([[True, False], [True, True]])
    b = np.array([True, False])
    assert_matches_reference(binary_model(op, np.bool_, [2, 2], [2], [2, 2]), {"a": a, "b": b}, tmp_path)


def test_not_isnan_isinf(tmp_path):
    m = make_model([helper.make_node("IsNaN", ["x"], ["n"]),
                    helper.make_node("IsInf", ["x"], ["i"]),
                    helper.make_node("IsInf", ["x"], ["p"], detect_negative=0),
                    helper.make_node("IsInf", ["x"], ["q"], detect_positive=0),
                    helper.make_node("Not", ["n"], ["nn"])],
                   [("x", np.float32, [5])],
                   [(k, np.bool_, [5]) for k in ("n", "i", "p", "q", "nn")])
    x = np.array([np.nan, np.inf, -np.inf, 0.0, 3.0], dtype=np.float32)
    assert_matches_reference(m, {"x": x}, tmp_path)


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("dt", [np.uint8, np.uint16, np.uint64])
def test_bitshift_wide_shifts(tmp_path, direction, dt):
    bits = 8 * np.dtype(dt).itemsize
    a = np.array([1, 255, 3, 7], dtype=dt)
    b = np.array([bits - 1, 3, bits, bits + 5], dtype=dt)
    got, _ = run_zonnx(binary_model("BitShift", dt, [4], [4], [4], direction=direction),
                       {"a": a, "b": b}, tmp_path)
    fn = np.left_shift if direction == "LEFT" else np.right_shift
    want = np.where(b < bits, fn(a, np.minimum(b, bits - 1).astype(dt)), 0).astype(dt)
    np.testing.assert_array_equal(got["y"], want)


def test_where_broadcast_three_ways(tmp_path):
    m = make_model([helper.make_node("Where", ["c", "x", "y"], ["z"])],
                   [("c", np.bool_, [2, 1, 3]), ("x", np.int64, [4, 1]), ("y", np.int64, [])],
                   [("z", np.int64, [2, 4, 3])])
    c = np.array([True, False, True, False, False, True]).reshape(2, 1, 3)
    assert_matches_reference(m, {"c": c, "x": np.arange(4, dtype=np.int64).reshape(4, 1) - 2,
                                 "y": np.array(99, dtype=np.int64)}, tmp_path)


@pytest.mark.parametrize("src,dst", [
    (np.float32, np.int32), (np.float32, np.int8), (np.float32, np.uint8), (np.float32, np.bool_),
    (np.float64, np.float32), (np.int64, np.int8), (np.int32, np.float32), (np.bool_, np.float32),
    (np.int64, np.bool_), (np.float32, np.int64), (np.uint16, np.int16),
])
def test_cast_in_range(tmp_path, src, dst):
    if np.dtype(src).kind == "f":
        x = np.array([2.9, -2.9, 0.5, -0.5, 0.0, 100.0, 7.0, -100.0], dtype=src)
        if np.dtype(dst).kind == "u":
            x = np.abs(x)
    elif src == np.bool_:
        x = np.array([True, False] * 4)
    else:
        x = np.array([0, 1, 127, 128, 255, 300, 40000, 5], dtype=src)
    to = helper.np_dtype_to_tensor_dtype(np.dtype(dst))
    m = make_model([helper.make_node("Cast", ["x"], ["y"], to=to)], [("x", src, [8])], [("y", dst, [8])])
    assert_matches_reference(m, {"x": x}, tmp_path)


def test_cast_float_out_of_range_saturates(tmp_path):
    """ONNX leaves these undefined; zonnx saturates, and NaN gives 0."""
    x = np.array([1e10, -1e10, np.nan, np.inf, -np.inf, 300.0, -300.0, 2.5], dtype=np.float32)
    m = make_model([helper.make_node("Cast", ["x"], ["i"], to=TensorProto.INT32),
                    helper.make_node("Cast", ["x"], ["u"], to=TensorProto.UINT8)],
                   [("x", np.float32, [8])], [("i", np.int32, [8]), ("u", np.uint8, [8])])
    got, _ = run_zonnx(m, {"x": x}, tmp_path)
    np.testing.assert_array_equal(got["i"], [I32_MAX, I32_MIN, 0, I32_MAX, I32_MIN, 300, -300, 2])
    np.testing.assert_array_equal(got["u"], [255, 0, 0, 255, 0, 255, 0, 2])


def test_cast_legacy_string_to_and_castlike(tmp_path):
    m1 = make_model([helper.make_node("Cast", ["x"], ["y"], to="INT32")],
                    [("x", np.float32, [3])], [("y", np.int32, [3])], opset=5)
    x = np.array([1.7, -1.7, 3.0], dtype=np.float32)
    got, _ = run_zonnx(m1, {"x": x}, tmp_path, name="c1")
    np.testing.assert_array_equal(got["y"], [1, -1, 3])
    m2 = make_model([helper.make_node("CastLike", ["x", "like"], ["y"])],
                    [("x", np.float32, [3]), ("like", np.int64, [1])], [("y", np.int64, [3])])
    assert_matches_reference(m2, {"x": x, "like": np.zeros(1, np.int64)}, tmp_path, name="c2")


def test_clip6_defaults_clip_infinities(tmp_path):
    m = make_model([helper.make_node("Clip", ["x"], ["y"], min=-1.0)],
                   [("x", np.float32, [4])], [("y", np.float32, [4])], opset=6)
    x = np.array([-np.inf, np.inf, 0.5, -3.0], dtype=np.float32)
    assert_matches_reference(m, {"x": x}, tmp_path)


def test_clip_runtime_and_const_bounds(tmp_path):
    m = make_model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"]),
                    helper.make_node("Clip", ["x", "", "hi"], ["z"])],
                   [("x", np.float32, [2, 3]), ("hi", np.float32, [])],
                   [("y", np.float32, [2, 3]), ("z", np.float32, [2, 3])],
                   {"lo": np.array(-0.5, dtype=np.float32)})
    x = np.array([[-2, -0.25, 0], [np.nan, 1, 3]], dtype=np.float32)
    assert_matches_reference(m, {"x": x, "hi": np.array(0.75, dtype=np.float32)}, tmp_path)


@pytest.mark.parametrize("dt,lo", [(np.int8, -2), (np.int64, 2), (np.uint16, 0)])
def test_clip_integers(tmp_path, dt, lo):
    m = make_model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
                   [("x", dt, [5])], [("y", dt, [5])],
                   {"lo": np.array(lo, dtype=dt), "hi": np.array(9, dtype=dt)}, opset=13)
    assert_matches_reference(m, {"x": np.array([0, 2, 5, 9, 100], dtype=dt)}, tmp_path)


def test_expand_broadcast_and_view(tmp_path):
    m = make_model([helper.make_node("Expand", ["x", "s"], ["y"]),
                    helper.make_node("Expand", ["x", "r"], ["z"])],
                   [("x", np.int32, [3, 1])], [("y", np.int32, [2, 3, 4]), ("z", np.int32, [1, 3, 1])],
                   {"s": np.array([2, 1, 4], dtype=np.int64), "r": np.array([1, 1, 1], dtype=np.int64)})
    assert_matches_reference(m, {"x": np.array([[1], [2], [3]], dtype=np.int32)}, tmp_path)


def test_expand_needs_constant_shape(tmp_path):
    m = make_model([helper.make_node("Expand", ["x", "s"], ["y"])],
                   [("x", np.float32, [3, 1]), ("s", np.int64, [2])], [("y", np.float32, [3, 4])])
    onnx.save(m, tmp_path / "m.onnx")
    with pytest.raises(ZonnxError):
        generate(str(tmp_path / "m.onnx"), GenerateOptions(name="m"))


def test_chain_runs_in_place(tmp_path):
    m = make_model([helper.make_node("Mul", ["x", "k"], ["a"]),
                    helper.make_node("Add", ["a", "x"], ["b"]),
                    helper.make_node("Max", ["b", "zero"], ["y"])],
                   [("x", np.float32, [4, 8])], [("y", np.float32, [4, 8])],
                   {"k": np.array([2.0], np.float32), "zero": np.array(0.0, np.float32)})
    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(4, 8)
    _, report = assert_matches_reference(m, {"x": x}, tmp_path)
    assert report["arena_bytes"] == 4 * 8 * 4   # a and b share one buffer


def test_empty_tensor(tmp_path):
    m = binary_model("Add", np.float32, [0, 3], [3], [0, 3])
    got, _ = run_zonnx(m, {"a": np.zeros([0, 3], np.float32), "b": np.ones(3, np.float32)}, tmp_path)
    assert got["y"].shape == (0, 3)
