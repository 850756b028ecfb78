"""Bare-metal Cortex-M targets run under QEMU: cross-compile model + runtime +
start-up with arm-none-eabi-gcc, check the footprint, boot once for all
records over semihosting, and count instructions with a TCG plugin.

A board is data (CPU flags, memory map, QEMU machine); adding one is adding an
entry to BOARDS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from .. import paths
from ..footprint import Footprint, measure, quantized_saving
from . import DoesNotFit, RunResult, Target, TargetError, register
from . import cmsis_nn as cmsis
from .records import io_bytes, pack, unpack

ARM_DIR = os.path.join(paths.HARNESS_DIR, "arm")
EXIT_CODES = {3: "model run failed", 4: "semihosting I/O failed", 5: "HardFault"}


@dataclass(frozen=True)
class Board:
    target: str
    soc: str
    cpu_flags: tuple[str, ...]
    qemu_machine: str
    qemu_cpu: str
    flash_origin: int
    flash_size: int
    ram_origin: int
    ram_size: int
    stack_size: int = 8 * 1024


BOARDS = {
    "cortex-m3": Board("cortex-m3", "lm3s6965", ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"),
                       "lm3s6965evb", "cortex-m3", 0x00000000, 256 * 1024, 0x20000000, 64 * 1024),
    # MPS2 AN386 (Zephyr's mps2/an386): Cortex-M4 with FPU and DSP extension,
    # 4 MB code SSRAM at 0, 4 MB data SRAM at 0x20000000.
    "cortex-m4f": Board("cortex-m4f", "mps2-an386",
                        ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
                        "mps2-an386", "cortex-m4", 0x00000000, 4 * 1024 * 1024,
                        0x20000000, 4 * 1024 * 1024, stack_size=16 * 1024),
}

CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Os", "-g",
          "-ffunction-sections", "-fdata-sections", "-fstack-usage", "-fno-common"]


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        raise TargetError(f"{name} not found: install the Debian package {package} "
                          f"(scripts/setup.sh does)")
    return path


def link_script(board: Board, work: str) -> str:
    with open(os.path.join(ARM_DIR, "link.ld.in")) as f:
        text = f.read()
    for key, val in (("FLASH_ORIGIN", board.flash_origin), ("RAM_ORIGIN", board.ram_origin),
                     ("RAM_SIZE", board.ram_size), ("STACK_SIZE", board.stack_size)):
        text = text.replace(f"@{key}@", hex(val))
    path = os.path.join(work, "link.ld")
    with open(path, "w") as f:
        f.write(text)
    return path


CMSIS_NN_CFLAGS = ["-std=c99", "-O2", "-g", "-ffunction-sections", "-fdata-sections"]  # as Zephyr: fast


def cmsis_library(board: Board, root: str) -> str:
    """libcmsis-nn.a for the board's CPU (built once, cached)."""
    cc = _tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    ar = _tool("arm-none-eabi-ar", "binutils-arm-none-eabi")
    return cmsis.library(root, cc, [*board.cpu_flags, *CMSIS_NN_CFLAGS], ar)


def build(gen_dir: str, name: str, report: dict, work: str, board: Board,
          extra: list[str] | None = None, cmsis_nn: str | None = None) -> str:
    cc = _tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")
    elf = os.path.join(work, f"{name}_{board.target}.elf")
    libs: list[str] = []
    if cmsis_nn:
        libs = [cmsis_library(board, cmsis_nn)]
        extra = [*(extra or []), cmsis.include_flag(cmsis_nn)]
    srcs = [os.path.join(gen_dir, f"{name}.c"), *paths.runtime_sources(),
            os.path.join(paths.HARNESS_DIR, "io_loop.c"),
            *(os.path.join(ARM_DIR, f) for f in ("arm_main.c", "semihost.c", "startup.c"))]
    extra = [*(extra or []), *cmsis.model_flags(report)]
    cmd = [cc, *board.cpu_flags, *CFLAGS, f"-I{paths.INCLUDE_DIR}", f"-I{gen_dir}",
           f"-DZONNX_MODEL_SYM={name}_model", f"-DZONNX_IO_BYTES={io_bytes(report)}",
           *(extra or []), *srcs, *libs, "--specs=nano.specs", "-nostartfiles",
           f"-T{link_script(board, work)}", "-Wl,--gc-sections",
           f"-Wl,-Map={os.path.join(work, name + '.map')}", "-lm", "-o", elf]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    if p.returncode != 0:
        if "newlib" in p.stderr or "nano.specs" in p.stderr:
            raise TargetError("cross compile failed: install the Debian package "
                              "libnewlib-arm-none-eabi\n" + p.stderr[-2000:])
        raise TargetError("cross compile failed:\n" + p.stderr[-4000:])
    return elf


def footprint(elf: str, name: str, board: Board, work: str, cmsis_nn: str | None = None) -> Footprint:
    graphs = cmsis.callgraph_dir(cmsis_library(board, cmsis_nn)) if cmsis_nn else None
    return measure(elf, name, board.soc, board.flash_size, board.ram_size, su_dir=work,
                   cmsis_callgraph=graphs)


def check_fits(fp: Footprint) -> None:
    """Fails before QEMU starts, naming the biggest consumer."""
    for kind, total, size, parts in (("flash", fp.flash_total, fp.flash_size, fp.flash),
                                     ("RAM", fp.ram_total, fp.ram_size, fp.ram)):
        if total > size:
            big, n = max(parts.items(), key=lambda kv: kv[1])
            raise DoesNotFit(f"model does not fit: {big} {n / 1024:.1f} KB, total "
                              f"{total / 1024:.1f} KB > {size // 1024} KB {kind} of {fp.board}")


def plugin(work: str) -> str:
    """Builds the instruction-count plugin for the host once per work dir."""
    so = os.path.join(work, "libzonnx_icount.so")
    if not os.path.exists(so):
        cc = shutil.which("gcc") or shutil.which("cc")
        if not cc:
            raise TargetError("a host C compiler is needed for the QEMU plugin (install gcc)")
        p = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror",
                            os.path.join(paths.HARNESS_DIR, "qemu_icount_plugin.c"), "-o", so],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise TargetError("QEMU plugin build failed:\n" + p.stderr[-2000:])
    return so


def symbol_address(elf: str, symbol: str) -> int:
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as f:
        tab = ELFFile(f).get_section_by_name(".symtab")
        syms = tab.get_symbol_by_name(symbol) if tab else None
        if not syms:
            raise TargetError(f"{symbol} missing from {elf}")
        return syms[0]["st_value"] & ~1      # Thumb bit


def qemu_run(elf: str, board: Board, report: dict, records: list[dict[str, np.ndarray]],
             work: str, timeout: float = 600.0, count: bool = True) -> tuple[RunResult, list[int]]:
    qemu = _tool("qemu-system-arm", "qemu-system-arm")
    with open(os.path.join(work, "in.bin"), "wb") as f:
        f.write(pack(report, records))
    out_bin = os.path.join(work, "out.bin")
    if os.path.exists(out_bin):
        os.remove(out_bin)
    cmd = [qemu, "-M", board.qemu_machine, "-cpu", board.qemu_cpu, "-nographic", "-monitor", "none",
           "-serial", "none", "-semihosting-config", "enable=on,target=native", "-kernel", elf]
    counts_file = os.path.join(work, "icount.txt")
    if count:
        cmd[1:1] = ["-plugin", f"{plugin(work)},mark={hex(symbol_address(elf, 'zonnx_mark'))},"
                               f"out={counts_file}"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=work)
    except subprocess.TimeoutExpired:
        raise TargetError(f"QEMU run timed out after {timeout:.0f} s (hang?)") from None
    log = (p.stdout + p.stderr).strip()
    if p.returncode != 0:
        what = EXIT_CODES.get(p.returncode, f"exit {p.returncode}")
        raise TargetError(f"firmware failed on {board.qemu_machine}: {what}\n{log[-3000:]}")
    with open(out_bin, "rb") as f:
        result = RunResult(unpack(report, f.read(), len(records)), log)
    per_inference = []
    if count:
        with open(counts_file) as f:
            marks = [int(line.split()[1]) for line in f if line.startswith("mark")]
        per_inference = [b - a for a, b in zip(marks[0::2], marks[1::2])]
    return result, per_inference


def make_target(board: Board) -> Target:
    def run(gen_dir: str, name: str, report: dict, records, work: str, **kw) -> RunResult:
        elf = build(gen_dir, name, report, work, board, cmsis_nn=kw.get("cmsis_nn"))
        fp = footprint(elf, name, board, work, kw.get("cmsis_nn"))
        check_fits(fp)
        result, counts = qemu_run(elf, board, report, records, work, count=kw.get("icount", True))
        macs = report.get("macs", 0)
        lines = [fp.table()] + [line for line in (quantized_saving(report),) if line]
        if counts:
            mean = sum(counts) / len(counts)
            per_mac = f", {mean / macs:.2f} per MAC ({macs} MACs)" if macs else ""
            lines.append(f"instructions per inference on {board.qemu_machine} (QEMU TCG plugin, "
                         f"exact count): {mean:.0f} (min {min(counts)}, max {max(counts)}){per_mac}")
        return RunResult(result.outputs, "\n".join(lines),
                         {"footprint": fp.as_dict(), "instructions": counts})
    return Target(board.target, f"{board.soc} under qemu-system-arm -M {board.qemu_machine}", run)


for _b in BOARDS.values():
    register(make_target(_b))
