"""The host target: the system C compiler, optionally with ASan/UBSan."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np

from .. import paths
from . import RunResult, Target, TargetError, register
from . import cmsis_nn as cmsis
from .records import io_bytes, pack, unpack

CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise TargetError("no host C compiler found (install gcc)")
    return cc


def build(gen_dir: str, name: str, report: dict, work: str, *, sanitize: bool = True,
          opt: str = "-O1", extra: list[str] | None = None, cmsis_nn: str | None = None) -> str:
    exe = os.path.join(work, f"{name}_host")
    libs: list[str] = []
    if cmsis_nn:      # the library is built with the same sanitizers: they check its accesses too
        lib_flags = ["-std=c99", opt, "-g", *(SANITIZE if sanitize else [])]
        libs = [cmsis.library(cmsis_nn, compiler(), lib_flags, shutil.which("ar") or "ar")]
        extra = [*(extra or []), cmsis.include_flag(cmsis_nn)]
    srcs = [os.path.join(gen_dir, f"{name}.c"), *paths.runtime_sources(),
            os.path.join(paths.HARNESS_DIR, "io_loop.c"), os.path.join(paths.HARNESS_DIR, "host_main.c")]
    extra = [*(extra or []), *cmsis.model_flags(report)]
    cmd = [compiler(), *CFLAGS, opt, *(SANITIZE if sanitize else []),
           f"-I{paths.INCLUDE_DIR}", f"-I{gen_dir}", f"-I{paths.HARNESS_DIR}",
           f"-DZONNX_MODEL_SYM={name}_model", f"-DZONNX_IO_BYTES={io_bytes(report)}",
           *(extra or []), *srcs, *libs, "-lm", "-o", exe]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise TargetError("host compile failed:\n" + p.stderr[-4000:])
    return exe


def execute(exe: str, report: dict, records: list[dict[str, np.ndarray]], work: str,
            timeout: float = 120.0, wrapper: list[str] | None = None) -> RunResult:
    fin, fout = os.path.join(work, "in.bin"), os.path.join(work, "out.bin")
    with open(fin, "wb") as f:
        f.write(pack(report, records))
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    try:
        p = subprocess.run([*(wrapper or []), exe, fin, fout], capture_output=True, text=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise TargetError(f"host run timed out after {timeout:.0f} s") from None
    if p.returncode != 0:
        raise TargetError(f"host run failed (exit {p.returncode}):\n{p.stderr[-4000:]}")
    with open(fout, "rb") as f:
        return RunResult(unpack(report, f.read(), len(records)), p.stderr)


ICOUNT_RECORDS = 8   # callgrind is ~50x slower than native: count a few inferences


def instructions(gen_dir: str, name: str, report: dict, records: list[dict[str, np.ndarray]],
                 work: str, cmsis_nn: str | None = None) -> list[int] | None:
    """Instructions per inference under callgrind (None without valgrind): an
    optimised, sanitizer-free build, counting inside zonnx_model_run only."""
    valgrind = shutil.which("valgrind")
    if not valgrind or not records:
        return None
    sub = os.path.join(work, "icount")
    os.makedirs(sub, exist_ok=True)
    exe = build(gen_dir, name, report, sub, sanitize=False, opt="-O2", cmsis_nn=cmsis_nn)
    out = os.path.join(sub, "callgrind.out")
    recs = records[:ICOUNT_RECORDS]
    execute(exe, report, recs, sub, timeout=600,
            wrapper=[valgrind, "--tool=callgrind", "--toggle-collect=zonnx_model_run",
                     f"--callgrind-out-file={out}", "-q"])
    with open(out) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
                return [total // len(recs)] * len(recs)
    return None


def run(gen_dir: str, name: str, report: dict, records: list[dict[str, np.ndarray]],
        work: str, **kw) -> RunResult:
    cm = kw.get("cmsis_nn")
    exe = build(gen_dir, name, report, work, sanitize=kw.get("sanitize", True), cmsis_nn=cm)
    res = execute(exe, report, records, work)
    counts = instructions(gen_dir, name, report, records, work, cm) if kw.get("icount", True) else None
    if not counts:
        return res
    macs = report.get("macs", 0)
    per_mac = f", {counts[0] / macs:.2f} per MAC ({macs} MACs)" if macs else ""
    log = (f"instructions per inference on the host (valgrind callgrind, -O2, mean of "
           f"{min(len(records), ICOUNT_RECORDS)}): {counts[0]}{per_mac}")
    return RunResult(res.outputs, log, {"instructions": counts})


TARGET = register(Target("host", "this machine's C compiler, ASan/UBSan on", run))
