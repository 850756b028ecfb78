"""The cortex-m3 target (lm3s6965evb under QEMU): shipped models, a seeded
sample of conformance cases, footprint and instruction reports, bad input."""

import json
import os
import random
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import onnx
import pytest
from onnx import helper

from zonnx.cli import main
from zonnx.footprint import Footprint
from zonnx.target import DoesNotFit, TargetError, cortex_m
from zonnx_testing import make_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "conformance"))
import run as conformance  # noqa: E402

MODELS = os.path.join(REPO, "models")
SHIPPED = [("digits_cnn.onnx", "digits"), ("digits_cnn_dynamo.onnx", "digits"),
           ("digits_lstm.onnx", "digits"), ("iris_mlp.onnx", "iris"), ("digits_dcgan.onnx", None)]


def _run(tmp_path, model, target, dataset=None, extra=()):
    rep = tmp_path / f"{target}.json"
    args = ["run", os.path.join(MODELS, model), "--target", target, "--report", str(rep), *extra]
    if dataset:
        args += ["--dataset", dataset]
    rc = main(args)
    return rc, json.loads(rep.read_text()) if rep.exists() else None


@pytest.mark.parametrize("target", ["host", "cortex-m3"])
@pytest.mark.parametrize("model,dataset", SHIPPED)
def test_shipped_model_matches_oracle(tmp_path, model, dataset, target):
    # run() exits 0 only when every output of every sample matches the oracle
    extra = [] if target == "cortex-m3" else ["--no-icount"]
    rc, rep = _run(tmp_path, model, target, dataset, extra)
    assert rc == 0 and rep["match"]
    if dataset:
        assert rep["top1_agreement"] == 1.0
        assert rep["accuracy"] == rep["oracle_accuracy"]
    if model.startswith("digits_cnn"):
        assert rep["accuracy"] >= 0.95


def test_footprint_and_instruction_counts(tmp_path):
    rc, rep = _run(tmp_path, "digits_cnn.onnx", "cortex-m3", "digits")
    assert rc == 0
    fp = rep["footprint"]
    # weights in flash are the generator's weights, padded to 16-byte alignment at most
    assert rep["weights_bytes"] <= fp["flash"]["weights"] <= rep["weights_bytes"] + 16 * 16
    assert fp["ram"]["arena"] >= rep["arena_bytes"]
    assert fp["flash_total"] <= fp["flash_size"] == 256 * 1024
    assert fp["ram_total"] <= fp["ram_size"] == 64 * 1024
    assert fp["kernels"] and all(k.startswith("model_") for k in fp["kernels"])
    counts = rep["instructions"]
    assert len(counts) == 450 and min(counts) > rep["macs"]   # at least one instruction per MAC
    rc2, rep2 = _run(tmp_path, "digits_cnn.onnx", "cortex-m3", "digits")
    assert rep2["instructions"] == counts                     # reproducible, exactly


def _float_cases():
    import onnx as _onnx
    cases = []
    for c in conformance.discover():
        m = _onnx.load(os.path.join(conformance.data_root(), c, "model.onnx"), load_external_data=False)
        if all(t == _onnx.TensorProto.FLOAT for t in conformance._io_types(m)):
            cases.append(c)
    return cases


def test_conformance_sample_on_cortex_m3():
    cases = random.Random(20261204).sample(_float_cases(), 200)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as ex:
        results = list(ex.map(conformance.run_case, cases, ["cortex-m3"] * len(cases)))
    failed = [(r["case"], r["reason"][:300]) for r in results if r["status"] == "failed"]
    passed = sum(r["status"] == "passed" for r in results)
    assert failed == []
    assert passed >= 100, f"only {passed} of the sample ran on cortex-m3"


def test_model_too_big_fails_before_qemu(tmp_path, capsys, monkeypatch):
    w = np.random.default_rng(0).standard_normal((256, 300)).astype(np.float32)   # 300 KB
    m = make_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", np.float32, [1, 256])],
                   [("y", np.float32, [1, 300])], {"w": w})
    p = tmp_path / "big.onnx"
    onnx.save(m, p)
    monkeypatch.setattr(cortex_m, "qemu_run", lambda *a, **k: pytest.fail("QEMU started"))
    assert main(["run", str(p), "--target", "cortex-m3"]) == 1
    out = capsys.readouterr().out
    assert "weights 300.0 KB" in out and "256 KB flash of lm3s6965" in out


def test_fit_check_names_the_biggest_part():
    fp = Footprint("lm3s6965", 256 * 1024, 64 * 1024, {"weights": 301 * 1024, "C library": 5000},
                            {"arena": 1000})
    with pytest.raises(DoesNotFit, match=r"weights 301.0 KB, total .* > 256 KB flash of lm3s6965"):
        cortex_m.check_fits(fp)


def test_missing_qemu_names_the_package(tmp_path, monkeypatch):
    real = cortex_m.shutil.which
    monkeypatch.setattr(cortex_m.shutil, "which",
                        lambda name: None if name == "qemu-system-arm" else real(name))
    with pytest.raises(TargetError, match="install the Debian package qemu-system-arm"):
        cortex_m.qemu_run("fw.elf", cortex_m.BOARDS["cortex-m3"], {"inputs": [], "outputs": []}, [],
                          str(tmp_path))


def test_missing_cross_compiler_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(cortex_m.shutil, "which", lambda name: None)
    with pytest.raises(TargetError, match="gcc-arm-none-eabi"):
        cortex_m.build(str(tmp_path), "m", {"inputs": [], "outputs": []}, str(tmp_path),
                       cortex_m.BOARDS["cortex-m3"])


def test_hardfault_is_reported(tmp_path):
    # A firmware whose model hits an undefined instruction must fault, print
    # the fault registers and exit non-zero rather than hang.
    src = tmp_path / "m.c"
    src.write_text(
        '#include "zonnx/zonnx.h"\n'
        "static int bad(const void *const *in, void *const *out)\n"
        "{ (void)in; (void)out; __builtin_trap(); }\n"
        'const struct zonnx_model m_model = {"m", 0, 0, 0, 0, 0, 0, bad, 0, 0, 0};\n')
    report = {"inputs": [], "outputs": []}
    board = cortex_m.BOARDS["cortex-m3"]
    elf = cortex_m.build(str(tmp_path), "m", report, str(tmp_path), board)
    with pytest.raises(TargetError, match="HardFault") as e:
        cortex_m.qemu_run(elf, board, report, [{}], str(tmp_path), timeout=60, count=False)
    assert "CFSR" in str(e.value) and "PC" in str(e.value)
