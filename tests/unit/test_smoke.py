import numpy as np
from onnx import helper

from zonnx_testing import assert_matches_reference, make_model


def test_relu_sigmoid_reshape_chain(tmp_path):
    m = make_model([helper.make_node("Relu", ["x"], ["r"]),
                    helper.make_node("Sigmoid", ["r"], ["s"]),
                    helper.make_node("Reshape", ["s", "shape"], ["y"])],
                   [("x", np.float32, [2, 3])], [("y", np.float32, [6])],
                   {"shape": np.array([6], dtype=np.int64)})
    x = np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3)
    got, report = assert_matches_reference(m, {"x": x}, tmp_path)
    assert report["arena_bytes"] == report["arena_lower_bound"] == 32
