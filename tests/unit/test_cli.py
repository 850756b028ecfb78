"""The CLI's outputs and error paths: exit 2, one clear line, nothing written."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper

from zonnx.cli import main
from zonnx_testing import make_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def relu_model(tmp_path):
    m = make_model([helper.make_node("Relu", ["x"], ["y"], name="act")],
                   [("x", np.float32, [1, 4])], [("y", np.float32, [1, 4])])
    path = tmp_path / "relu.onnx"
    onnx.save(m, path)
    return str(path)


def _err(capsys):
    return capsys.readouterr().err.strip().splitlines()


def test_generate_writes_three_files(relu_model, tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["generate", relu_model, "--name", "net", "-o", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["net.c", "net.h", "net.json"]
    src = (out / "net.c").read_text()
    assert "DO NOT EDIT" in src and "sha256" in src and "zonnx 0.1.0" in src
    # every external symbol starts with the model name
    hdr = (out / "net.h").read_text()
    for sym in re.findall(r"^(?:extern const struct zonnx_model|int) (\w+)", hdr, re.M):
        assert sym.startswith("net_")
    for macro in re.findall(r"^#define (\w+)", hdr, re.M):
        assert macro.startswith("NET_")
    report = json.loads((out / "net.json").read_text())
    assert report["inputs"][0]["shape"] == [1, 4]


def test_run_host_matches(relu_model, tmp_path, capsys):
    out = tmp_path / "o.npz"
    x = np.array([[-1, 2, -3, 4]], np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    assert main(["run", relu_model, "--inputs", str(tmp_path / "in.npz"), "--outputs", str(out)]) == 0
    with np.load(out) as z:
        np.testing.assert_array_equal(z["y"], np.maximum(x, 0))


def test_truncated_file(relu_model, tmp_path, capsys):
    raw = open(relu_model, "rb").read()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(raw[: len(raw) // 2])
    out = tmp_path / "gen"
    assert main(["generate", str(bad), "--name", "m", "-o", str(out)]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "bad.onnx" in err[0]
    assert not out.exists() or os.listdir(out) == []


def test_not_onnx(tmp_path, capsys):
    p = tmp_path / "text.onnx"
    p.write_text("hello, I am not a model\n" * 20)
    assert main(["inspect", str(p)]) == 2
    assert "text.onnx" in _err(capsys)[0]


def test_missing_file(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope.onnx")]) == 2
    assert "cannot read" in _err(capsys)[0]


def test_unsupported_op_names_node_op_opset(tmp_path, capsys):
    m = make_model([helper.make_node("Det", ["x"], ["y"], name="the_det")],
                   [("x", np.float32, [3, 3])], [("y", np.float32, [])], opset=17)
    p = tmp_path / "det.onnx"
    onnx.save(m, p)
    out = tmp_path / "gen"
    assert main(["generate", str(p), "--name", "m", "-o", str(out)]) == 2
    err = _err(capsys)
    assert len(err) == 1
    assert "det.onnx" in err[0] and "'the_det'" in err[0] and "Det" in err[0] and "opset 17" in err[0]
    assert not out.exists() or os.listdir(out) == []


def test_unsupported_attribute_rejected(tmp_path, capsys):
    m = make_model([helper.make_node("Dropout", ["x", "r", "t"], ["y"], name="drop")],
                   [("x", np.float32, [4]), ("t", onnx.TensorProto.BOOL, [])],
                   [("y", np.float32, [4])], {"r": np.array(0.5, np.float32)})
    p = tmp_path / "drop.onnx"
    onnx.save(m, p)
    assert main(["generate", str(p), "--name", "m", "-o", str(tmp_path / "g")]) == 2
    assert "training_mode" in _err(capsys)[0]


def test_dynamic_dim_needs_shape(tmp_path, capsys):
    m = make_model([helper.make_node("Relu", ["x"], ["y"])],
                   [("x", np.float32, ["N", 4])], [("y", np.float32, ["N", 4])])
    p = tmp_path / "dyn.onnx"
    onnx.save(m, p)
    assert main(["generate", str(p), "--name", "m", "-o", str(tmp_path / "g")]) == 2
    err = _err(capsys)
    assert "--shape x=" in err[0] and "dyn.onnx" in err[0]
    capsys.readouterr()
    assert main(["generate", str(p), "--name", "m", "-o", str(tmp_path / "g"),
                 "--shape", "x=2x4"]) == 0
    assert "M_INPUT0_SIZE 8u" in (tmp_path / "g" / "m.h").read_text()


def test_bad_shape_and_const_options(relu_model, tmp_path, capsys):
    assert main(["generate", relu_model, "--name", "m", "-o", str(tmp_path), "--shape", "x=1xq"]) == 2
    assert main(["generate", relu_model, "--name", "m", "-o", str(tmp_path), "--shape", "zz=1x4"]) == 2
    assert "no graph input named 'zz'" in capsys.readouterr().err
    assert main(["generate", relu_model, "--name", "m", "-o", str(tmp_path),
                 "--const", "x=/nonexistent.npy"]) == 2


@pytest.mark.parametrize("name", ["1net", "int", "my-net", "__n"])
def test_bad_name(relu_model, tmp_path, capsys, name):
    out = tmp_path / "gen"
    assert main(["generate", relu_model, "--name", name, "-o", str(out)]) == 2
    assert name in _err(capsys)[0]
    assert not out.exists()


def test_const_binding_makes_shape_static(tmp_path, capsys):
    m = make_model([helper.make_node("Reshape", ["x", "shape"], ["y"])],
                   [("x", np.float32, [2, 3]), ("shape", np.int64, [2])],
                   [("y", np.float32, ["a", "b"])])
    p = tmp_path / "rs.onnx"
    onnx.save(m, p)
    assert main(["generate", str(p), "--name", "m", "-o", str(tmp_path / "a")]) == 2
    assert "--const" in capsys.readouterr().err
    np.save(tmp_path / "s.npy", np.array([3, 2], np.int64))
    assert main(["run", str(p), "--const", f"shape={tmp_path / 's.npy'}"]) == 0


def test_inspect_lists_unsupported(tmp_path, capsys):
    m = make_model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Det", ["r"], ["y"])],
                   [("x", np.float32, [3, 3])], [("y", np.float32, [])])
    p = tmp_path / "m.onnx"
    onnx.save(m, p)
    assert main(["inspect", str(p)]) == 2
    out = capsys.readouterr().out
    assert "UNSUPPORTED" in out and "Det" in out
    assert main(["inspect", str(p), "--json"]) == 2
    rep = json.loads(capsys.readouterr().out)
    assert [n["supported"] for n in rep["nodes"]] == [True, False]


def test_python_m_entry_point(relu_model):
    p = subprocess.run([sys.executable, "-m", "zonnx", "inspect", relu_model],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "supported" in p.stdout


def test_operator_table_is_current():
    from zonnx.optable import markdown
    with open(os.path.join(REPO, "docs", "operators.md")) as f:
        assert f.read() == markdown(), "docs/operators.md is stale: run `zonnx ops --markdown`"


MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "models")


def test_generate_with_cmsis_nn_says_what_calls_cmsis_nn(tmp_path, capsys):
    """No CMSIS-NN tree is needed to generate: the report and the summary name
    the arm_* function per node (and the JSON the rounding the kernels use)."""
    out = tmp_path / "g"
    model = os.path.join(MODELS_DIR, "digits_cnn_int8_s8_qop.onnx")
    assert main(["generate", model, "--name", "q", "-o", str(out), "--kernels", "cmsis-nn"]) == 0
    text = capsys.readouterr().out
    assert "cmsis-nn: 3 node(s) call CMSIS-NN, 0 fall back" in text
    assert text.count("arm_convolve_wrapper_s8") == 2 and "arm_fully_connected_per_channel_s8" in text
    rep = json.loads((out / "q.json").read_text())
    assert rep["kernels"] == "cmsis-nn" and rep["rounding"] == "cmsis-nn"
    src = (out / "q.c").read_text()
    assert '#include "arm_nnfunctions.h"' in src and "ZONNX_ERR_BACKEND" in src


def test_cmsis_nn_option_errors(tmp_path, capsys, monkeypatch):
    model = os.path.join(MODELS_DIR, "digits_cnn_int8_s8_qop.onnx")
    out = tmp_path / "g"
    assert main(["generate", model, "--name", "q", "-o", str(out), "--kernels", "cmsis-nn",
                 "--rounding", "half-even"]) == 2
    assert "--rounding half-even cannot apply" in capsys.readouterr().err
    assert not out.exists()
    monkeypatch.delenv("ZONNX_CMSIS_NN", raising=False)
    monkeypatch.delenv("ZEPHYR_BASE", raising=False)
    assert main(["run", model, "--kernels", "cmsis-nn"]) == 2
    assert "needs a CMSIS-NN source tree" in capsys.readouterr().err
    assert main(["run", model, "--cmsis-nn", str(tmp_path)]) == 2
    assert "is not a CMSIS-NN tree" in capsys.readouterr().err
