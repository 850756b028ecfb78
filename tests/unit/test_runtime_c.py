"""The C runtime on the host under ASan/UBSan: checked entry, error codes,
golden data, input checks."""

import os
import subprocess

import pytest

from zonnx import paths
from zonnx.cli import main
from zonnx.target.host import CFLAGS, SANITIZE, compiler

HERE = os.path.dirname(os.path.abspath(__file__))
COMMON = os.path.join(os.path.dirname(HERE), "common")
MODEL = os.path.join(paths.REPO_ROOT, "models", "iris_mlp.onnx")


@pytest.mark.parametrize("input_checks", [False, True])
def test_runtime_against_golden(tmp_path, input_checks):
    assert main(["generate", MODEL, "--name", "m", "-o", str(tmp_path), "--golden-dataset", "iris",
                 "--golden", "8"]) == 0
    exe = tmp_path / "rt"
    srcs = [str(tmp_path / "m.c"), str(tmp_path / "m_golden.c"), *paths.runtime_sources(),
            os.path.join(HERE, "c", "runtime_test.c"), os.path.join(COMMON, "runtime_checks.c")]
    flags = ["-DZONNX_INPUT_CHECKS=1"] if input_checks else []
    subprocess.run([compiler(), *CFLAGS, "-O1", *SANITIZE, *flags, f"-I{paths.INCLUDE_DIR}",
                    f"-I{tmp_path}", f"-I{COMMON}", *srcs, "-lm", "-o", str(exe)], check=True)
    p = subprocess.run([str(exe)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "runtime_test: ok" in p.stdout


def test_golden_files_carry_labels_and_oracle(tmp_path):
    assert main(["generate", MODEL, "--name", "g", "-o", str(tmp_path), "--golden", "3"]) == 0
    src = (tmp_path / "g_golden.c").read_text()
    assert "g_golden_out0[9]" in src and "NULL, 0.001f, 1e-05f" in src   # 3 x [1, 3], no labels
    assert main(["generate", MODEL, "--name", "g", "-o", str(tmp_path), "--golden-dataset", "iris",
                 "--golden", "4"]) == 0
    assert "g_golden_labels[4]" in (tmp_path / "g_golden.c").read_text()


def test_golden_falls_back_to_onnxruntime(tmp_path):
    # onnx.reference has no DequantizeLinear before opset 19; this QDQ model is opset 17
    model = os.path.join(paths.REPO_ROOT, "models", "digits_cnn_int8_qdq.onnx")
    assert main(["generate", model, "--name", "q", "-o", str(tmp_path), "--golden-dataset", "digits",
                 "--golden", "2"]) == 0
    assert "q_golden_out0[20]" in (tmp_path / "q_golden.c").read_text()
