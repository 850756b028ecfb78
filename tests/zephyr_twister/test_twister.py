"""Twister over the module's Zephyr suites and samples, on native_sim and
qemu_cortex_m3 (and native_sim/native/64).

Zephyr is on no package registry: this runs when ZEPHYR_BASE points at a
Zephyr 4.x tree (see DEVELOPERS.md) and is skipped, saying so, otherwise.
Extra Twister arguments (for a tree with local quirks) come from
ZONNX_TWISTER_ARGS.
"""

import json
import os
import re
import shlex
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZEPHYR_BASE = os.environ.get("ZEPHYR_BASE")
PLATFORMS = ["native_sim", "qemu_cortex_m3", "native_sim/native/64"]

pytestmark = pytest.mark.skipif(
    not ZEPHYR_BASE or not os.path.isfile(os.path.join(ZEPHYR_BASE or "", "scripts", "twister")),
    reason="ZEPHYR_BASE is not set to a Zephyr tree: the Twister suites need Zephyr "
           "(not on any package registry; see DEVELOPERS.md)")


@pytest.fixture(scope="module")
def twister(tmp_path_factory):
    out = tmp_path_factory.mktemp("twister")
    cmd = [os.path.join(ZEPHYR_BASE, "scripts", "twister"), "-T", os.path.join(REPO, "tests", "zephyr"),
           "-T", os.path.join(REPO, "samples"), "-O", str(out), "-j", str(os.cpu_count() or 1),
           "--inline-logs"]
    for p in PLATFORMS:
        cmd += ["-p", p]
    cmd += shlex.split(os.environ.get("ZONNX_TWISTER_ARGS", ""))
    env = dict(os.environ, EXTRA_ZEPHYR_MODULES=REPO)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=5400)
    summary = [line for line in p.stdout.splitlines() + p.stderr.splitlines()
               if re.search(r"executed test (configurations|cases)", line)]
    print("\n".join(summary))
    return p, out, summary


def test_twister_passes(twister):
    p, out, summary = twister
    assert p.returncode == 0, "\n".join(summary) + "\n" + p.stdout[-4000:]
    with open(out / "twister.json") as f:
        suites = json.load(f)["testsuites"]
    ran = {(s["name"].split("/")[-1] if "/" in s["name"] else s["name"], s["platform"])
           for s in suites if s.get("status") == "passed"}
    for scenario in ("zonnx.runtime", "zonnx.models", "zonnx.kernels", "zonnx.multi_model", "zonnx.int8",
                     "zonnx.shell", "sample.zonnx.hello_onnx", "sample.zonnx.digits",
                     "sample.zonnx.run_model"):
        for plat in ("native_sim", "qemu_cortex_m3"):
            assert any(scenario in name and plat in pf for name, pf in ran), (scenario, plat)
    cmsis = [s for s in suites if s["name"].endswith("sample.zonnx.run_model.cmsis_nn")]
    if cmsis and all(s.get("status") != "filtered" for s in cmsis):   # the cmsis-nn module is there
        assert any(s["status"] == "passed" and "qemu_cortex_m3" in s["platform"] for s in cmsis), cmsis


def test_arena_section_is_applied(twister):
    from elftools.elf.elffile import ELFFile
    _, out, _ = twister
    images = []
    for d, _, _ in os.walk(out):
        if d.endswith("zonnx.runtime.arena_section"):
            # native_sim links zephyr.elf into zephyr.exe; Cortex-M boots zephyr.elf
            found = [os.path.join(d, "zephyr", f) for f in ("zephyr.exe", "zephyr.elf")
                     if os.path.isfile(os.path.join(d, "zephyr", f))]
            images += found[:1]
    assert len(images) == len(PLATFORMS), images
    for image in images:
        with open(image, "rb") as f:
            e = ELFFile(f)
            sym = e.get_section_by_name(".symtab").get_symbol_by_name("m_arena")[0]
            sec = e.get_section(sym["st_shndx"])
            assert "noinit" in sec.name, (image, sec.name)
            assert sym["st_value"] % 64 == 0, image     # CONFIG_ZONNX_ARENA_ALIGN=64


def test_regenerates_only_when_model_or_generator_change(tmp_path):
    """Plain CMake + ninja on native_sim: a second build does nothing; touching
    the model or a generator source re-runs the generator; touching the app's
    own source does not."""
    import shutil
    app = tmp_path / "app"
    shutil.copytree(os.path.join(REPO, "samples", "digits"), app)
    model = tmp_path / "digits_cnn.onnx"
    shutil.copy(os.path.join(REPO, "models", "digits_cnn.onnx"), model)
    cml = app / "CMakeLists.txt"
    cml.write_text(cml.read_text().replace("${CMAKE_CURRENT_SOURCE_DIR}/../../models/digits_cnn.onnx",
                                           str(model)).replace("GOLDEN 100", "GOLDEN 4"))
    build = tmp_path / "build"
    env = dict(os.environ, EXTRA_ZEPHYR_MODULES=REPO)
    subprocess.run(["cmake", "-GNinja", "-B", str(build), "-DBOARD=native_sim", str(app)],
                   check=True, capture_output=True, env=env)

    def ninja() -> str:
        p = subprocess.run(["ninja", "-C", str(build)], capture_output=True, text=True, env=env)
        assert p.returncode == 0, p.stdout[-3000:]
        return p.stdout

    assert "zonnx: generating digits" in ninja()
    assert "zonnx: generating" not in ninja()
    (app / "src" / "main.c").touch()
    assert "zonnx: generating" not in ninja()
    model.touch()
    assert "zonnx: generating digits" in ninja()
    gen_src = os.path.join(REPO, "scripts", "zonnx", "cgen.py")
    os.utime(gen_src)
    assert "zonnx: generating digits" in ninja()


def _boot(elf: str, machine: str, log: str, timeout: float = 120.0) -> str:
    """Boots a Zephyr image in qemu-system-arm until ztest prints its verdict."""
    import time
    proc = subprocess.Popen(["qemu-system-arm", "-M", machine, "-display", "none", "-monitor", "none",
                             "-serial", f"file:{log}", "-kernel", elf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    text = ""
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    text = f.read()
                if "PROJECT EXECUTION" in text:
                    break
    finally:
        proc.kill()
        proc.wait()
    return text


def test_cmsis_nn_suite_on_m3_and_m4(tmp_path):
    """The CMSIS-NN backend suite: Twister builds it for qemu_cortex_m3 (and runs
    it) and for mps2/an386, whose Zephyr board file knows only Arm's FVP; the
    Cortex-M4 image then boots in QEMU's mps2-an386 machine, so CMSIS-NN's
    DSP-extension kernels really run."""
    out = tmp_path / "twister"
    cmd = [os.path.join(ZEPHYR_BASE, "scripts", "twister"), "-T",
           os.path.join(REPO, "tests", "zephyr", "cmsis_nn"), "-O", str(out),
           "-j", str(os.cpu_count() or 1), "--inline-logs", "-p", "qemu_cortex_m3", "-p", "mps2/an386"]
    cmd += shlex.split(os.environ.get("ZONNX_TWISTER_ARGS", ""))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600,
                       env=dict(os.environ, EXTRA_ZEPHYR_MODULES=REPO))
    assert p.returncode == 0, p.stdout[-4000:]
    with open(out / "twister.json") as f:
        suites = json.load(f)["testsuites"]
    if all(s.get("status") in ("filtered", "skipped") for s in suites):
        pytest.skip("the cmsis-nn module is not in this Zephyr workspace (west update fetches it)")
    m3 = [s for s in suites if s["platform"].startswith("qemu_cortex_m3")]
    assert m3 and m3[0]["status"] == "passed"
    assert sorted(t["status"] for t in m3[0]["testcases"]) == ["passed", "passed"]
    elfs = [os.path.join(d, "zephyr", "zephyr.elf") for d, _, _ in os.walk(out / "mps2_an386")
            if d.endswith("zonnx.cmsis_nn")]
    assert len(elfs) == 1 and os.path.isfile(elfs[0]), elfs
    # The DSP path widens operands with arm_s8_to_s16_unordered_with_offset (SIMD
    # halfword packing); the plain C path of the Cortex-M3 image does not have it.
    from elftools.elf.elffile import ELFFile

    def has(elf: str, sym: str) -> bool:
        with open(elf, "rb") as f:
            return bool(ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(sym))
    m3_elf = [os.path.join(d, "zephyr", "zephyr.elf") for d, _, _ in os.walk(out)
              if d.endswith("zonnx.cmsis_nn") and "qemu_cortex_m3" in d][0]
    assert has(elfs[0], "arm_s8_to_s16_unordered_with_offset")
    assert not has(m3_elf, "arm_s8_to_s16_unordered_with_offset")
    text = _boot(elfs[0], "mps2-an386", str(tmp_path / "an386.log"))
    print(text)
    assert "PROJECT EXECUTION SUCCESSFUL" in text
    assert text.count(" PASS - test_cmsis_nn_") == 2
