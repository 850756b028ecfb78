import pytest

from zonnx.cgen import c_float, validate_name
from zonnx.errors import ZonnxError


@pytest.mark.parametrize("name", ["digits", "m", "_x", "model_v2", "a1"])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", ["", "1abc", "my-model", "int", "static", "__x", "_Foo",
                                  "zonnx_net", "has space", "a" * 41, "main"])
def test_invalid_names(name):
    with pytest.raises(ZonnxError):
        validate_name(name)


def test_float_literals_round_trip():
    import numpy as np
    for v in [0.1, -3.4028235e38, 1e-45, 123456789.0, 1.0, 0.0]:
        lit = c_float(v)
        assert lit.endswith("f")
        assert np.float32(float(lit[:-1])) == np.float32(v)
    assert c_float(float("inf")) == "ZONNX_INF"
    assert c_float(float("nan")) == "ZONNX_NAN"
