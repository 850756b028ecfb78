"""Data-movement ops: opset forms, dtypes and edge cases the ONNX backend
suite does not cover (Transpose, Concat, Split, Slice, Pad, Gather,
GatherElements, Tile, DepthToSpace/SpaceToDepth, Resize/Upsample)."""

import re

import numpy as np
import pytest
from onnx import helper

from zonnx.errors import ZonnxError
from zonnx.pipeline import GenerateOptions, generate
from zonnx_testing import assert_matches_reference, make_model, run_zonnx

RNG = np.random.default_rng(0)


def _run(model, feeds, tmp_path):
    return run_zonnx(model, feeds, tmp_path)


def _generate(model, tmp_path):
    import onnx
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    return generate(path, GenerateOptions(name="m"))


def _kernels(model, tmp_path) -> str:
    """The kernel functions of the generated C (weights and arena excluded)."""
    src = _generate(model, tmp_path).files["m.c"]
    return src[re.search(r"static (\w+ )?void ", src).start():src.index("int m_run")]


# -- Transpose, Concat, Split, Tile ------------------------------------------------

def test_transpose_bool(tmp_path):
    m = make_model([helper.make_node("Transpose", ["x"], ["y"], perm=[2, 0, 1])],
                   [("x", np.bool_, [2, 3, 4])], [("y", np.bool_, [4, 2, 3])])
    assert_matches_reference(m, {"x": RNG.random((2, 3, 4)) > 0.5}, tmp_path)


def test_transpose_moving_unit_axes_is_a_view(tmp_path):
    m = make_model([helper.make_node("Relu", ["x"], ["r"]),
                    helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0, 2]),
                    helper.make_node("Relu", ["t"], ["y"])],
                   [("x", np.float32, [1, 3, 4])], [("y", np.float32, [3, 1, 4])])
    x = RNG.standard_normal((1, 3, 4)).astype(np.float32)
    _, report = assert_matches_reference(m, {"x": x}, tmp_path)
    assert report["nodes"][1]["alias"]


def test_concat_mixed_constant_and_empty_inputs_uint8(tmp_path):
    m = make_model([helper.make_node("Concat", ["a", "c", "e"], ["y"], axis=-1)],
                   [("a", np.uint8, [2, 3]), ("e", np.uint8, [2, 0])], [("y", np.uint8, [2, 5])],
                   {"c": np.array([[7, 8], [9, 10]], dtype=np.uint8)})
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert_matches_reference(m, {"a": a, "e": np.zeros((2, 0), np.uint8)}, tmp_path)


def test_split_attribute_form_opset9(tmp_path):
    m = make_model([helper.make_node("Split", ["x"], ["a", "b"], axis=1, split=[1, 3])],
                   [("x", np.int16, [2, 4])], [("a", np.int16, [2, 1]), ("b", np.int16, [2, 3])],
                   opset=9)
    assert_matches_reference(m, {"x": np.arange(8, dtype=np.int16).reshape(2, 4)}, tmp_path)


def test_split_num_outputs_uneven_opset18(tmp_path):
    m = make_model([helper.make_node("Split", ["x"], ["a", "b", "c"], axis=0, num_outputs=3)],
                   [("x", np.float32, [7, 2])],
                   [("a", np.float32, [3, 2]), ("b", np.float32, [3, 2]), ("c", np.float32, [1, 2])],
                   opset=18)
    assert_matches_reference(m, {"x": RNG.standard_normal((7, 2)).astype(np.float32)}, tmp_path)


def test_tile_int32_has_no_index_table(tmp_path):
    m = make_model([helper.make_node("Tile", ["x", "r"], ["y"])],
                   [("x", np.int32, [2, 3])], [("y", np.int32, [4, 9])],
                   {"r": np.array([2, 3], dtype=np.int64)})
    assert_matches_reference(m, {"x": np.arange(6, dtype=np.int32).reshape(2, 3)}, tmp_path)
    assert "static const" not in _kernels(m, tmp_path)


# -- Slice ---------------------------------------------------------------------------

def test_slice_attribute_form_opset9(tmp_path):
    m = make_model([helper.make_node("Slice", ["x"], ["y"], starts=[1, -3], ends=[100, -1],
                                     axes=[0, 1])],
                   [("x", np.float32, [3, 5])], [("y", np.float32, [2, 2])], opset=9)
    assert_matches_reference(m, {"x": RNG.standard_normal((3, 5)).astype(np.float32)}, tmp_path)


@pytest.mark.parametrize("starts,ends,steps", [
    ([-1, 10], [-100, -100], [-2, -3]),       # backwards, clamped at both ends
    ([4, 0], [0, 5], [-1, 2]),
    ([2, 3], [2, 1], [1, 1]),                 # empty result
])
def test_slice_negative_steps_and_clamping(tmp_path, starts, ends, steps):
    x = np.arange(30, dtype=np.int8).reshape(5, 6)
    want = x[slice(*_py(starts[0], ends[0], steps[0], 5)), slice(*_py(starts[1], ends[1], steps[1], 6))]
    m = make_model([helper.make_node("Slice", ["x", "s", "e", "a", "k"], ["y"])],
                   [("x", np.int8, [5, 6])], [("y", np.int8, list(want.shape))],
                   {"s": np.array(starts, np.int64), "e": np.array(ends, np.int64),
                    "a": np.array([-2, 1], np.int64), "k": np.array(steps, np.int64)})
    got, _ = assert_matches_reference(m, {"x": x}, tmp_path)
    np.testing.assert_array_equal(got["y"], want)


def _py(start, end, step, dim):
    """numpy slice bounds equivalent to ONNX's (which clamps like Python)."""
    return start, (None if end < -dim and step < 0 else end), step


# -- Pad -----------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad_attribute_form_opset9(tmp_path, mode):
    m = make_model([helper.make_node("Pad", ["x"], ["y"], mode=mode, pads=[0, 2, 1, 0, 1, 3],
                                     value=1.5)],
                   [("x", np.float32, [2, 3, 4])], [("y", np.float32, [2, 6, 8])], opset=9)
    assert_matches_reference(m, {"x": RNG.standard_normal((2, 3, 4)).astype(np.float32)}, tmp_path)


def test_pad_negative_pads_crop(tmp_path):
    # onnx.reference (numpy.pad) rejects negative pads; they crop.
    m = make_model([helper.make_node("Pad", ["x", "p", "v"], ["y"], mode="constant")],
                   [("x", np.int32, [3, 5])], [("y", np.int32, [4, 4])],
                   {"p": np.array([-1, 2, 2, -3], np.int64), "v": np.array(-7, np.int32)})
    x = np.arange(15, dtype=np.int32).reshape(3, 5)
    got, _ = _run(m, {"x": x}, tmp_path)
    want = np.pad(x[1:, :2], ((0, 2), (2, 0)), constant_values=-7)
    np.testing.assert_array_equal(got["y"], want)


def test_pad_negative_pads_reflect(tmp_path):
    m = make_model([helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")],
                   [("x", np.float32, [6])], [("y", np.float32, [7])],
                   {"p": np.array([-2, 3], np.int64)})
    x = np.arange(6, dtype=np.float32)
    got, _ = _run(m, {"x": x}, tmp_path)
    np.testing.assert_array_equal(got["y"], np.pad(x[2:], (0, 3), mode="reflect"))


def test_pad_axes_and_runtime_constant_value_opset18(tmp_path):
    m = make_model([helper.make_node("Pad", ["x", "p", "v", "a"], ["y"])],
                   [("x", np.float32, [2, 3, 2]), ("v", np.float32, [1])],
                   [("y", np.float32, [2, 4, 5])],
                   {"p": np.array([1, 0, 2, 1], np.int64), "a": np.array([-1, 1], np.int64)},
                   opset=18)
    x = RNG.standard_normal((2, 3, 2)).astype(np.float32)
    assert_matches_reference(m, {"x": x, "v": np.array([2.5], np.float32)}, tmp_path)


def test_pad_wrap_needs_opset19(tmp_path):
    m = make_model([helper.make_node("Pad", ["x", "p"], ["y"], mode="wrap")],
                   [("x", np.float32, [3, 4])], [("y", np.float32, [3, 7])],
                   {"p": np.array([0, 1, 0, 2], np.int64)}, opset=19)
    assert_matches_reference(m, {"x": RNG.standard_normal((3, 4)).astype(np.float32)}, tmp_path)


# -- Gather, GatherElements ----------------------------------------------------------

def test_gather_constant_indices_axis1_int64(tmp_path):
    m = make_model([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)],
                   [("x", np.int64, [2, 4, 3])], [("y", np.int64, [2, 2, 2, 3])],
                   {"i": np.array([[3, -1], [0, 2]], np.int32)})
    assert_matches_reference(m, {"x": np.arange(24, dtype=np.int64).reshape(2, 4, 3)}, tmp_path)


def test_gather_scalar_constant_index_is_one_copy(tmp_path):
    m = make_model([helper.make_node("Gather", ["x", "i"], ["y"], axis=0)],
                   [("x", np.float32, [3, 4])], [("y", np.float32, [4])],
                   {"i": np.array(-2, np.int64)})
    assert_matches_reference(m, {"x": RNG.standard_normal((3, 4)).astype(np.float32)}, tmp_path)
    body = _kernels(m, tmp_path)
    assert "for" not in body and "memcpy(y0, x0 + 4, 16u);" in body


def test_gather_constant_index_out_of_range_is_rejected(tmp_path):
    m = make_model([helper.make_node("Gather", ["x", "i"], ["y"])],
                   [("x", np.float32, [3])], [("y", np.float32, [1])],
                   {"i": np.array([3], np.int64)})
    with pytest.raises(ZonnxError, match="indices"):
        _generate(m, tmp_path)


def test_gather_runtime_indices_are_clamped(tmp_path):
    # Out-of-range runtime indices must not read out of bounds (ASan is on).
    m = make_model([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)],
                   [("x", np.float32, [2, 3]), ("i", np.int64, [4])], [("y", np.float32, [2, 4])])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    idx = np.array([-1, 5, -9, 1], np.int64)
    got, _ = _run(m, {"x": x, "i": idx}, tmp_path)
    np.testing.assert_array_equal(got["y"], x[:, [2, 2, 0, 1]])


def test_gather_elements_constant_indices_and_clamping(tmp_path):
    m = make_model([helper.make_node("GatherElements", ["x", "i"], ["y"], axis=0)],
                   [("x", np.float32, [3, 3])], [("y", np.float32, [2, 3])],
                   {"i": np.array([[1, -1, 0], [2, 0, -3]], np.int64)})
    assert_matches_reference(m, {"x": RNG.standard_normal((3, 3)).astype(np.float32)}, tmp_path)
    m = make_model([helper.make_node("GatherElements", ["x", "i"], ["y"], axis=1)],
                   [("x", np.int8, [2, 3]), ("i", np.int32, [2, 2])], [("y", np.int8, [2, 2])])
    x = np.arange(6, dtype=np.int8).reshape(2, 3)
    got, _ = _run(m, {"x": x, "i": np.array([[7, -1], [-8, 1]], np.int32)}, tmp_path)
    np.testing.assert_array_equal(got["y"], [[2, 2], [3, 4]])


# -- DepthToSpace, SpaceToDepth ------------------------------------------------------

@pytest.mark.parametrize("opset,mode", [(9, None), (13, "DCR"), (13, "CRD")])
def test_depth_to_space_round_trip_int8(tmp_path, opset, mode):
    attrs = {"blocksize": 2} if mode is None else {"blocksize": 2, "mode": mode}
    m = make_model([helper.make_node("DepthToSpace", ["x"], ["y"], **attrs)],
                   [("x", np.int8, [1, 8, 2, 3])], [("y", np.int8, [1, 2, 4, 6])], opset=opset)
    assert_matches_reference(m, {"x": np.arange(48, dtype=np.int8).reshape(1, 8, 2, 3)}, tmp_path)


def test_space_to_depth_opset9(tmp_path):
    m = make_model([helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=3)],
                   [("x", np.float32, [2, 1, 3, 6])], [("y", np.float32, [2, 9, 1, 2])], opset=9)
    assert_matches_reference(m, {"x": RNG.standard_normal((2, 1, 3, 6)).astype(np.float32)}, tmp_path)


# -- Resize, Upsample ----------------------------------------------------------------

def _resize13(x_shape, out_shape, scales, mode, dtype=np.float32, **attrs):
    return make_model([helper.make_node("Resize", ["x", "", "s"], ["y"], mode=mode, **attrs)],
                      [("x", dtype, x_shape)], [("y", dtype, out_shape)],
                      {"s": np.array(scales, np.float32)}, opset=13)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample7_upsample9_resize10_are_resize13_asymmetric(tmp_path, mode):
    x = RNG.standard_normal((1, 2, 3, 4)).astype(np.float32)
    scales = [1.0, 1.0, 2.0, 1.5]
    shape_in, shape_out = [1, 2, 3, 4], [1, 2, 6, 6]
    s = {"s": np.array(scales, np.float32)}
    ref = make_model([helper.make_node("Resize", ["x", "", "s"], ["y"], mode=mode, nearest_mode="floor",
                                       coordinate_transformation_mode="asymmetric")],
                     [("x", np.float32, shape_in)], [("y", np.float32, shape_out)], s, opset=13)
    want, _ = assert_matches_reference(ref, {"x": x}, _sub(tmp_path, "ref"))
    io = ([("x", np.float32, shape_in)], [("y", np.float32, shape_out)])
    old = [make_model([helper.make_node("Upsample", ["x"], ["y"], mode=mode, scales=scales)], *io, opset=7),
           make_model([helper.make_node("Upsample", ["x", "s"], ["y"], mode=mode)], *io, s, opset=9),
           make_model([helper.make_node("Resize", ["x", "s"], ["y"], mode=mode)], *io, s, opset=10)]
    for k, m in enumerate(old):
        got, _ = _run(m, {"x": x}, _sub(tmp_path, str(k)))
        np.testing.assert_allclose(got["y"], want["y"], rtol=1e-6)


def _sub(path, name):
    d = path / name
    d.mkdir()
    return d


def test_upsample9_nearest_integer_scales_has_no_index_table(tmp_path):
    m = make_model([helper.make_node("Upsample", ["x", "s"], ["y"], mode="nearest")],
                   [("x", np.uint8, [1, 2, 3, 3])], [("y", np.uint8, [1, 2, 6, 9])],
                   {"s": np.array([1, 1, 2, 3], np.float32)}, opset=9)
    assert_matches_reference(m, {"x": np.arange(18, dtype=np.uint8).reshape(1, 2, 3, 3)}, tmp_path)
    assert "static const" not in _kernels(m, tmp_path)


@pytest.mark.parametrize("attrs", [
    dict(mode="linear", coordinate_transformation_mode="align_corners"),
    dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"),
    dict(mode="cubic", coordinate_transformation_mode="half_pixel", exclude_outside=1),
    dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="ceil"),
])
def test_resize_uint8_rounds_and_saturates(tmp_path, attrs):
    x = np.array([[[[0, 255, 10], [255, 0, 128]]]], dtype=np.uint8)
    m = _resize13([1, 1, 2, 3], [1, 1, 3, 7], [1, 1, 1.5, 2.4], dtype=np.uint8, **attrs)
    assert_matches_reference(m, {"x": x}, tmp_path)


def test_resize18_axes_sizes_keep_aspect_ratio_linear_antialias(tmp_path):
    m = make_model([helper.make_node("Resize", ["x", "", "", "z"], ["y"], mode="linear", antialias=1,
                                     axes=[3, 2], keep_aspect_ratio_policy="not_larger")],
                   [("x", np.float32, [1, 2, 8, 6])], [("y", np.float32, [1, 2, 5, 4])],
                   {"z": np.array([4, 5], np.int64)}, opset=18)
    assert_matches_reference(m, {"x": RNG.standard_normal((1, 2, 8, 6)).astype(np.float32)}, tmp_path)


def test_resize_tf_crop_and_resize_nearest_extrapolates(tmp_path):
    m = make_model([helper.make_node("Resize", ["x", "roi", "", "z"], ["y"], mode="nearest",
                                     coordinate_transformation_mode="tf_crop_and_resize",
                                     extrapolation_value=-3.0)],
                   [("x", np.float32, [1, 1, 4, 4])], [("y", np.float32, [1, 1, 3, 5])],
                   {"roi": np.array([0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3], np.float32),
                    "z": np.array([1, 1, 3, 5], np.int64)}, opset=13)
    assert_matches_reference(m, {"x": RNG.standard_normal((1, 1, 4, 4)).astype(np.float32)}, tmp_path)


def test_resize_linear_int32_is_rejected(tmp_path):
    m = _resize13([1, 1, 2, 2], [1, 1, 4, 4], [1, 1, 2, 2], mode="linear", dtype=np.int32)
    with pytest.raises(ZonnxError, match="dtype int32"):
        _generate(m, tmp_path)


def test_resize_runtime_scales_are_rejected_with_hint(tmp_path):
    m = make_model([helper.make_node("Resize", ["x", "", "s"], ["y"], mode="nearest")],
                   [("x", np.float32, [1, 1, 2, 2]), ("s", np.float32, [4])],
                   [("y", np.float32, [1, 1, 4, 4])], opset=13)
    with pytest.raises(ZonnxError, match="constant"):
        _generate(m, tmp_path)


# -- empty and scalar tensors --------------------------------------------------------

def test_empty_slice_feeds_concat_and_scalar_transpose(tmp_path):
    m = make_model([helper.make_node("Slice", ["x", "s", "e"], ["t"]),
                    helper.make_node("Concat", ["t", "x"], ["y"], axis=0),
                    helper.make_node("Transpose", ["c"], ["w"])],
                   [("x", np.float32, [2, 3])], [("y", np.float32, [2, 3]), ("w", np.float32, [])],
                   {"s": np.array([1], np.int64), "e": np.array([1], np.int64),
                    "c": np.array(4.5, np.float32)})
    assert_matches_reference(m, {"x": RNG.standard_normal((2, 3)).astype(np.float32)}, tmp_path)


def test_runtime_gather_with_no_indices(tmp_path):
    # (onnx.reference returns shape [0] here instead of [2, 0])
    m = make_model([helper.make_node("Gather", ["x", "i"], ["z"], axis=1)],
                   [("x", np.float32, [2, 3]), ("i", np.int64, [0])], [("z", np.float32, [2, 0])])
    got, _ = _run(m, {"x": np.ones((2, 3), np.float32), "i": np.zeros(0, np.int64)}, tmp_path)
    assert got["z"].shape == (2, 0)


def test_split_input_form_opset13(tmp_path):
    m = make_model([helper.make_node("Split", ["x", "p"], ["a", "b", "c"], axis=-1)],
                   [("x", np.float64, [2, 5])],
                   [("a", np.float64, [2, 2]), ("b", np.float64, [2, 0]), ("c", np.float64, [2, 3])],
                   {"p": np.array([2, 0, 3], np.int64)}, opset=13)
    assert_matches_reference(m, {"x": RNG.standard_normal((2, 5))}, tmp_path)
