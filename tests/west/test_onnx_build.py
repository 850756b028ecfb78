"""`west onnx-build` (west-commands/onnx_build.py) without Zephyr: the `west build`
command line it produces, its rejections before anything is built, and the
footprint report on a real Cortex-M ELF laid out like a Zephyr build directory."""

import argparse
import importlib.util
import json
import os
import shutil

import numpy as np
import onnx
import pytest
from onnx import helper

from zonnx.pipeline import GenerateOptions, generate, write_outputs
from zonnx.target import cortex_m
from zonnx_testing import make_model

pytest.importorskip("west")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IRIS = os.path.join(REPO, "models", "iris_mlp.onnx")


def _load_command_module():
    # west-commands/ is not a package: load the file as west does (which
    # leaves it out of sys.modules).
    spec = importlib.util.spec_from_file_location(
        "zonnx_west_onnx_build", os.path.join(REPO, "west-commands", "onnx_build.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


onnx_build = _load_command_module()


class _Config:
    """What WestCommand's printing asks of west's configuration."""

    def getboolean(self, option, default=None):
        return False


def run_command(argv, monkeypatch, rc=0, layout=None, calls=None):
    """Runs `west onnx-build ARGV` with `west build` replaced by one exiting
    with `rc`; returns the argv lists it was called with (also appended to
    `calls`). `layout(build_dir)` plays the build's outputs."""
    cmd = onnx_build.OnnxBuild()
    cmd.config = _Config()
    ap = argparse.ArgumentParser(prog="west")
    cmd.add_parser(ap.add_subparsers())
    args, unknown = ap.parse_known_args(["onnx-build", *argv])
    calls = [] if calls is None else calls

    def fake_west(west_argv):
        calls.append(west_argv)
        if layout and rc == 0:
            layout(west_argv[west_argv.index("-d") + 1])
        return rc
    monkeypatch.setattr(onnx_build, "run_west", fake_west)
    cmd.do_run(args, unknown)
    return calls


@pytest.fixture
def dyn_model(tmp_path, monkeypatch):
    """Two Relus on inputs with dynamic dimensions; cwd is tmp_path (the default build dir)."""
    monkeypatch.chdir(tmp_path)
    m = make_model([helper.make_node("Relu", ["x"], ["x1"]), helper.make_node("Relu", ["y"], ["y1"])],
                   [("x", np.float32, ["N", 4]), ("y", np.float32, ["M"])],
                   [("x1", np.float32, ["N", 4]), ("y1", np.float32, ["M"])])
    onnx.save(m, tmp_path / "tiny_relu.onnx")
    return str(tmp_path / "tiny_relu.onnx")


def _zonnx_opts(model, name, shapes="", cmsis_nn="n"):
    return ["-DCONFIG_ZONNX=y", f'-DCONFIG_ZONNX_MODEL="{model}"',
            f'-DCONFIG_ZONNX_MODEL_NAME="{name}"', f'-DCONFIG_ZONNX_MODEL_SHAPES="{shapes}"',
            f"-DCONFIG_ZONNX_KERNELS_CMSIS_NN={cmsis_nn}"]


@pytest.mark.parametrize("argv,before,shapes,after", [
    # board, source dir and CMake options after "--"
    (["-b", "qemu_cortex_m3", "app", "--", "-DEXTRA_CONF_FILE=x.conf", "-DFOO=1"],
     ["-d", "build", "-b", "qemu_cortex_m3", "app"], "x=1x4,y=1",
     ["-DEXTRA_CONF_FILE=x.conf", "-DFOO=1"]),
    # build dir, bare -p (always), several shapes, no source dir: west build's default
    (["-d", "out", "-p", "--shape", "x=2x4", "--shape", "y=3"],
     ["-d", "out", "-p", "always"], "x=2x4,y=3", []),
    (["--pristine=auto", "--board", "native_sim", "--", "-DCONF_FILE=prj.conf"],
     ["-d", "build", "-b", "native_sim", "-p", "auto"], "x=1x4,y=1", ["-DCONF_FILE=prj.conf"]),
    # options after the source dir, a second "--" belongs to CMake
    (["app", "-p", "never", "-S", "rtt-console", "--shield", "s1", "--extra-conf", "e.conf",
      "--", "-DA=1", "--", "-DB=2"],
     ["-d", "build", "-p", "never", "-S", "rtt-console", "--shield", "s1", "--extra-conf",
      "e.conf", "app"], "x=1x4,y=1", ["-DA=1", "--", "-DB=2"]),
])
def test_west_build_command_line(dyn_model, monkeypatch, argv, before, shapes, after):
    if "--shape" not in argv:
        argv = ["--shape", "x=1x4", "--shape", "y=1", *argv]
    calls = run_command(["--model", dyn_model, "--name", "net", *argv], monkeypatch)
    assert calls == [["build", *before, "--", *_zonnx_opts(dyn_model, "net", shapes), *after]]


def test_relative_model_becomes_absolute_and_names_the_model(dyn_model, monkeypatch, capsys):
    calls = run_command(["--model", "tiny_relu.onnx", "--shape", "x=1x4", "--shape", "y=2"],
                        monkeypatch)
    assert calls[0][-5:] == _zonnx_opts(os.path.abspath("tiny_relu.onnx"), "tiny_relu", "x=1x4,y=2")
    out, err = capsys.readouterr()
    assert "supported" in out
    assert "no footprint report" in err         # the faked build left no zephyr.elf


def test_cmsis_nn_kernels_set_the_option_and_say_what_runs_where(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    model = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         "models", "digits_cnn_int8_s8_qop.onnx")
    calls = run_command(["--model", model, "--name", "q", "--kernels", "cmsis-nn", "-b", "mps2/an386"],
                        monkeypatch)
    assert calls[0][-5:] == _zonnx_opts(model, "q", "", "y")
    out = capsys.readouterr().out
    assert "cmsis-nn: 3 node(s) call CMSIS-NN, 0 fall back" in out


def test_kconfig_strings_are_quoted():
    assert onnx_build.kconfig_string('C:\\m "1".onnx') == '"C:\\\\m \\"1\\".onnx"'


def test_unknown_option_is_not_passed_on(dyn_model, monkeypatch, capsys):
    calls = []
    with pytest.raises(SystemExit) as e:
        run_command(["--model", dyn_model, "--bogus", "app"], monkeypatch, calls=calls)
    assert e.value.code == 2 and calls == []
    assert "--bogus" in capsys.readouterr().err


def test_unsupported_op_dies_before_the_build(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    m = make_model([helper.make_node("Det", ["x"], ["y"], name="the_det")],
                   [("x", np.float32, [3, 3])], [("y", np.float32, [])], opset=17)
    onnx.save(m, tmp_path / "det.onnx")
    calls = []
    with pytest.raises(SystemExit) as e:
        run_command(["--model", "det.onnx", "--name", "m"], monkeypatch, calls=calls)
    assert e.value.code == 2 and calls == []
    err = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(err) == 1
    assert "det.onnx" in err[0] and "'the_det'" in err[0] and "Det" in err[0] and "opset 17" in err[0]


@pytest.mark.parametrize("extra,expect", [
    (["--model", "nope.onnx"], "nope.onnx not found"),
    ([], "input 'x' has a dynamic or unknown shape"),     # the generator's own check
    (["--shape", "x=1xq"], "bad --shape 'x=1xq'"),
    (["--shape", "1x4"], "bad --shape '1x4'"),
    (["--shape", "a,b=1x4"], "cannot be passed in CONFIG_ZONNX_MODEL_SHAPES"),
    (["--name", "int"], "'int' is a C keyword"),
    (["--name", "9lives"], "not a C identifier"),
    (["--name", "zonnx_net"], "reserved"),
])
def test_bad_options_die_before_the_build(dyn_model, monkeypatch, capsys, extra, expect):
    calls = []
    with pytest.raises(SystemExit) as e:
        run_command(["--model", dyn_model, *extra], monkeypatch, calls=calls)
    assert e.value.code == 2 and calls == []
    assert expect in capsys.readouterr().err


def test_default_name_from_a_reserved_file_name_is_rejected(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(IRIS, tmp_path / "zonnx_iris.onnx")
    calls = []
    with pytest.raises(SystemExit) as e:
        run_command(["--model", "zonnx_iris.onnx"], monkeypatch, calls=calls)
    assert e.value.code == 2 and calls == [] and "pick another --name" in capsys.readouterr().err


def test_west_build_failure_keeps_its_exit_code(dyn_model, monkeypatch, capsys):
    with pytest.raises(SystemExit) as e:
        run_command(["--model", dyn_model, "--shape", "x=1x4", "--shape", "y=1"], monkeypatch, rc=3)
    assert e.value.code == 3
    assert "west build failed (exit code 3)" in capsys.readouterr().err
    assert not os.path.exists(os.path.join("build", onnx_build.REPORT_FILE))


# -- the footprint report on a real ELF ---------------------------------------

@pytest.fixture(scope="module")
def iris_elf(tmp_path_factory):
    """iris_mlp built for the lm3s6965 (the SoC of qemu_cortex_m3) by the cortex-m3 target."""
    if not shutil.which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc not installed")
    work = str(tmp_path_factory.mktemp("iris_m3"))
    gen = generate(IRIS, GenerateOptions(name="iris"))
    write_outputs(gen.files, work)
    report = json.loads(gen.files["iris.json"])
    return cortex_m.build(work, "iris", report, work, cortex_m.BOARDS["cortex-m3"]), report


def _zephyr_layout(elf, config_lines):
    def layout(build_dir):
        os.makedirs(os.path.join(build_dir, "zephyr"))
        shutil.copy(elf, os.path.join(build_dir, "zephyr", "zephyr.elf"))
        with open(os.path.join(build_dir, "zephyr", ".config"), "w") as f:
            f.write("# generated\n" + "\n".join(config_lines) + "\n")
    return layout


def _alloc_totals(elf):
    from elftools.elf.elffile import ELFFile
    flash = ram = 0
    with open(elf, "rb") as f:
        for s in ELFFile(f).iter_sections():
            if s["sh_flags"] & 2:                                  # SHF_ALLOC
                flash += s["sh_size"] if s["sh_type"] != "SHT_NOBITS" else 0
                ram += s["sh_size"] if s["sh_flags"] & 1 else 0    # SHF_WRITE
    return flash, ram


def test_footprint_report_against_the_board(iris_elf, tmp_path, monkeypatch, capsys):
    elf, gen = iris_elf
    monkeypatch.chdir(tmp_path)
    config = ['CONFIG_BOARD="qemu_cortex_m3"', "CONFIG_FLASH_SIZE=256", "CONFIG_SRAM_SIZE=64",
              "# CONFIG_ZONNX_SHELL is not set"]
    run_command(["--model", IRIS, "--name", "iris", "-b", "qemu_cortex_m3", "-d", "b"],
                monkeypatch, layout=_zephyr_layout(elf, config))
    rep = json.loads((tmp_path / "b" / onnx_build.REPORT_FILE).read_text())
    fp = rep["footprint"]
    assert rep["weights_bytes"] == gen["weights_bytes"] and rep["arena_bytes"] == gen["arena_bytes"]
    # weights in flash are the generator's, padded to 16-byte alignment at most
    padding = 16 * gen["weights_count"]
    assert gen["weights_bytes"] <= fp["flash"]["weights"] <= gen["weights_bytes"] + padding
    assert fp["ram"]["arena"] >= gen["arena_bytes"]
    assert fp["board"] == "qemu_cortex_m3"
    assert fp["flash_size"] == 256 * 1024 and fp["ram_size"] == 64 * 1024
    assert (fp["flash_total"], fp["ram_total"]) == _alloc_totals(elf)
    assert fp["flash_total"] <= fp["flash_size"] and fp["ram_total"] <= fp["ram_size"]
    assert fp["flash"]["kernels"] > 0 and fp["flash"]["runtime"] > 0 and fp["flash"]["model tables"] > 0
    assert fp["kernels"] and all(k.startswith("iris_") for k in fp["kernels"])
    assert sum(fp["kernels"].values()) == fp["flash"]["kernels"]
    out = capsys.readouterr().out
    assert "footprint on qemu_cortex_m3" in out and "of 256 KB" in out and "of 64 KB" in out
    assert all(k in out for k in fp["kernels"])


def test_footprint_without_board_sizes(iris_elf, tmp_path, monkeypatch, capsys):
    elf, _ = iris_elf
    monkeypatch.chdir(tmp_path)
    config = ['CONFIG_BOARD="native_sim"', 'CONFIG_BOARD_TARGET="native_sim/native"']
    run_command(["--model", IRIS, "--name", "iris"], monkeypatch,
                layout=_zephyr_layout(elf, config))
    fp = json.loads((tmp_path / "build" / onnx_build.REPORT_FILE).read_text())["footprint"]
    assert fp["board"] == "native_sim/native"
    assert fp["flash_size"] is None and fp["ram_size"] is None
    assert fp["flash_total"] > fp["flash"]["weights"] > 0
    out = capsys.readouterr().out
    assert "%" not in out and "no CONFIG_FLASH_SIZE/CONFIG_SRAM_SIZE" in out


def test_sysbuild_image_is_the_default_domain(tmp_path):
    (tmp_path / "domains.yaml").write_text(
        f"default: app\nbuild_dir: {tmp_path}\ndomains:\n"
        f"  - name: mcuboot\n    build_dir: {tmp_path / 'mcuboot'}\n"
        f"  - name: app\n    build_dir: {tmp_path / 'app'}\n")
    assert onnx_build.image_dir(str(tmp_path)) == str(tmp_path / "app")
    assert onnx_build.image_dir(str(tmp_path / "app")) == str(tmp_path / "app")
