"""Flash and RAM footprint of a linked firmware, from its ELF (pyelftools).

Symbols are attributed by name (`classify`): the generator prefixes everything
it emits with the model name (`<name>_w<k>` weights, `<name>_arena`, kernel
functions `<name>_<op>_<k>`), the runtime uses `zonnx_`. `measure` knows the
bare-metal harness and start-up of the cortex-m targets too, so what is left
there is the C library (libm, libgcc soft-float, newlib); `measure_image`
takes any image (a Zephyr zephyr.elf) and calls what is left "rest of image".
"""

from __future__ import annotations

import glob
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from .errors import ZonnxError

HARNESS_FUNCS = {"main", "rd", "wr", "file_read", "file_write", "zonnx_mark", "zonnx_io_loop"}
STARTUP_FUNCS = {"Reset_Handler", "Default_Handler", "HardFault_Handler", "zonnx_hardfault_report",
                 "semihost"}


@dataclass
class Footprint:
    board: str
    flash_size: int | None                                   # bytes; None when not known
    ram_size: int | None
    flash: dict[str, int] = field(default_factory=dict)
    ram: dict[str, int] = field(default_factory=dict)
    kernels: dict[str, int] = field(default_factory=dict)    # function -> bytes
    stack_static: int = 0                                    # -fstack-usage bound on the model path
    stack_includes_cmsis: bool = False                       # ... with CMSIS-NN's call graph

    @property
    def flash_total(self) -> int:
        return sum(self.flash.values())

    @property
    def ram_total(self) -> int:
        return sum(self.ram.values())

    def as_dict(self) -> dict:
        return {"board": self.board, "flash_size": self.flash_size, "ram_size": self.ram_size,
                "flash": self.flash, "ram": self.ram, "flash_total": self.flash_total,
                "ram_total": self.ram_total, "kernels": self.kernels,
                "stack_static_bytes": self.stack_static}

    def table(self) -> str:
        def kb(n: int) -> str:
            return f"{n / 1024:8.1f} KB"

        def total(n: int, size: int | None) -> str:
            if not size:
                return f"    {'total':<26}{kb(n)} (size of {self.board} not known)"
            return f"    {'total':<26}{kb(n)} of {size // 1024} KB ({100 * n / size:.1f}%)"
        lines = [f"footprint on {self.board}:", f"  {'flash':<28}{'':>11}"]
        for k, v in self.flash.items():
            lines.append(f"    {k:<26}{kb(v)}")
        lines.append(total(self.flash_total, self.flash_size))
        lines.append(f"  {'ram':<28}")
        for k, v in self.ram.items():
            lines.append(f"    {k:<26}{kb(v)}")
        lines.append(total(self.ram_total, self.ram_size))
        if self.stack_static:
            extra = ""
            if self.flash.get("cmsis-nn"):
                extra = (", CMSIS-NN's call graph included" if self.stack_includes_cmsis
                         else "; CMSIS-NN's own frames not counted")
            lines.append(f"  stack used by the model path (static, -fstack-usage{extra}): "
                         f"{self.stack_static} bytes")
        if self.kernels:
            lines.append("  kernel code:")
            for k, v in sorted(self.kernels.items(), key=lambda kv: -kv[1]):
                lines.append(f"    {k:<40}{v:>7} B")
        return "\n".join(lines)


class Symbol(NamedTuple):
    name: str
    is_func: bool
    size: int
    shndx: int | str          # section index, or SHN_ABS/SHN_UNDEF...
    value: int


def _symbols(elf):
    from elftools.elf.sections import SymbolTableSection
    for sec in elf.iter_sections():
        if isinstance(sec, SymbolTableSection):
            for s in sec.iter_symbols():
                if s["st_size"] and s["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT"):
                    yield Symbol(s.name, s["st_info"]["type"] == "STT_FUNC", s["st_size"],
                                 s["st_shndx"], s["st_value"])


def quantized_saving(report: dict) -> str:
    """A line on what 8-bit weights save against float32 (empty for a model
    without any), from a generated model's JSON report: the same tensors
    widened to 4 bytes per element, everything else (int32 biases and
    requantization tables, float weights) as it is."""
    by = report.get("weights_by_dtype") or {}
    small = sum(by.get(k, 0) for k in ("int8", "uint8"))
    if not small:
        return ""
    total = sum(by.values())
    widened = total + 3 * small
    return (f"  8-bit weights: {total / 1024:.1f} KB in flash, {widened / 1024:.1f} KB as float32 "
            f"({widened / total:.1f}x; {(widened - total) / 1024:.1f} KB saved)")


CMSIS_NN_PREFIXES = ("arm_nn_", "arm_convolve", "arm_depthwise", "arm_fully_connected",
                     "arm_vector_sum", "arm_q7_to_q15", "arm_s8_to_s16", "arm_memset_s8",
                     "arm_memcpy_s8")


def classify(name: str, is_func: bool, model: str) -> str | None:
    """zonnx's part of an image a symbol belongs to, by its name; None for the rest."""
    if is_func:
        if name.startswith(f"{model}_run"):
            return "model run"
        if name.startswith(f"{model}_"):
            return "kernels"
        if name.startswith(CMSIS_NN_PREFIXES):      # the CMSIS-NN backend's library
            return "cmsis-nn"
        return "runtime" if name.startswith("zonnx_") else None
    if name == f"{model}_arena":
        return "arena"
    if re.match(rf"{re.escape(model)}_w\d+$", name):
        return "weights"
    return "model tables" if name.startswith(f"{model}_") else None


def kernel_name(symbol: str) -> str:
    """The kernel a (possibly compiler-cloned) function symbol is."""
    return re.sub(r"\.(constprop|isra|part)\.\d+$", "", symbol)


@contextmanager
def _open_elf(elf_path: str):
    try:
        from elftools.elf.elffile import ELFFile
    except ImportError:
        raise ZonnxError("pyelftools is needed for footprint reports",
                         hint="pip install pyelftools") from None
    with open(elf_path, "rb") as f:
        yield ELFFile(f)


def measure(elf_path: str, model: str, board: str, flash_size: int, ram_size: int,
            su_dir: str | None = None, cmsis_callgraph: str | None = None) -> Footprint:
    """Footprint of a bare-metal firmware linked with the cortex-m harness."""
    fp = Footprint(board, flash_size, ram_size)
    with _open_elf(elf_path) as elf:
        secs = {s.name: s for s in elf.iter_sections()}
        sec_by_index = {i: s.name for i, s in enumerate(elf.iter_sections())}
        flash_cats = {"weights": 0, "model tables": 0, "kernels": 0, "cmsis-nn": 0, "model run": 0,
                      "runtime": 0, "harness": 0, "startup": 0, "C library": 0}
        ram_cats = {"arena": 0, "harness I/O": 0, "data/bss other": 0}
        seen_ro = 0
        for sym in _symbols(elf):
            name, size = sym.name, sym.size
            sec = sec_by_index.get(sym.shndx, "") if isinstance(sym.shndx, int) else ""
            cat = classify(name, sym.is_func, model)
            if sym.is_func:
                if cat in (None, "runtime"):      # harness and start-up names come first
                    if name in HARNESS_FUNCS:
                        cat = "harness"
                    elif name in STARTUP_FUNCS or name.startswith("sh_"):
                        cat = "startup"
                if cat is None:
                    continue        # C library: whatever .text is left (aliases counted once)
                flash_cats[cat] += size
                if cat == "kernels":
                    kernel = kernel_name(name)
                    fp.kernels[kernel] = fp.kernels.get(kernel, 0) + size
            elif sec in (".rodata", ".isr_vector"):
                seen_ro += size
                if cat in ("weights", "model tables"):
                    flash_cats[cat] += size
                elif name == "zonnx_vectors":
                    flash_cats["startup"] += size
                else:
                    flash_cats["C library"] += size
            elif sec in (".bss", ".data"):
                if cat == "arena":
                    ram_cats["arena"] += size
                elif name == "io_buf":
                    ram_cats["harness I/O"] += size
        ro_total = sum(secs[s]["sh_size"] for s in (".rodata", ".isr_vector") if s in secs)
        flash_cats["model tables"] += max(0, ro_total - seen_ro)  # strings: node names, I/O names
        text = secs[".text"]["sh_size"] if ".text" in secs else 0
        ours = sum(flash_cats[k] for k in ("kernels", "cmsis-nn", "model run", "runtime", "harness",
                                           "startup"))
        flash_cats["C library"] += max(0, text - ours)   # libm, soft-float, padding, veneers
        if ".ARM.exidx" in secs:
            flash_cats["C library"] += secs[".ARM.exidx"]["sh_size"]
        flash_cats["initialised data"] = secs[".data"]["sh_size"] if ".data" in secs else 0
        stack = secs[".stack"]["sh_size"] if ".stack" in secs else 0
        fp.flash = flash_cats
        ram_cats["data/bss other"] = max(0, sum(secs[s]["sh_size"] for s in (".data", ".bss")
                                                if s in secs) - ram_cats["arena"] - ram_cats["harness I/O"])
        ram_cats["stack (reserved)"] = stack
        fp.ram = ram_cats
    if su_dir:
        depth = 0
        if cmsis_callgraph:
            with _open_elf(elf_path) as elf:
                present = {sym.name for sym in _symbols(elf)} & set(CMSIS_NN_ENTRIES)
            depth = callgraph_depth(cmsis_callgraph, sorted(present))
        fp.stack_static = stack_bound(su_dir, model, depth)
        fp.stack_includes_cmsis = bool(cmsis_callgraph)
    return fp


def _placement(sec) -> tuple[bool, bool]:
    """(in flash, in RAM) for a section: allocated contents are stored in flash,
    writable allocated sections live in RAM, so initialised data is in both."""
    from elftools.elf.constants import SH_FLAGS
    flags = sec["sh_flags"]
    if not flags & SH_FLAGS.SHF_ALLOC:
        return False, False
    return sec["sh_type"] != "SHT_NOBITS", bool(flags & SH_FLAGS.SHF_WRITE)


def measure_image(elf_path: str, model: str, board: str, flash_size: int | None = None,
                  ram_size: int | None = None) -> Footprint:
    """Footprint of any linked image (e.g. a Zephyr zephyr.elf): totals from the
    section headers, zonnx's parts by symbol name, the remainder "rest of image"."""
    fp = Footprint(board, flash_size, ram_size)
    flash = {"weights": 0, "model tables": 0, "kernels": 0, "model run": 0, "runtime": 0}
    ram = {"arena": 0}
    with _open_elf(elf_path) as elf:
        sections = list(elf.iter_sections())
        placement = [_placement(s) for s in sections]
        flash_total = sum(s["sh_size"] for s, (fl, _) in zip(sections, placement) if fl)
        ram_total = sum(s["sh_size"] for s, (_, rm) in zip(sections, placement) if rm)
        seen = set()
        for sym in _symbols(elf):
            cat = classify(sym.name, sym.is_func, model)
            if cat is None or not isinstance(sym.shndx, int) or (sym.shndx, sym.value) in seen:
                continue
            seen.add((sym.shndx, sym.value))      # aliases of one object count once
            in_flash, in_ram = placement[sym.shndx]
            if in_flash:
                flash[cat] = flash.get(cat, 0) + sym.size
            if in_ram:
                ram[cat] = ram.get(cat, 0) + sym.size
            if cat == "kernels":
                kernel = kernel_name(sym.name)
                fp.kernels[kernel] = fp.kernels.get(kernel, 0) + sym.size
    flash["rest of image"] = max(0, flash_total - sum(flash.values()))
    ram["rest of image"] = max(0, ram_total - sum(ram.values()))
    fp.flash, fp.ram = flash, ram
    return fp


CMSIS_NN_ENTRIES = ("arm_convolve_wrapper_s8", "arm_depthwise_conv_wrapper_s8", "arm_fully_connected_s8",
                    "arm_fully_connected_per_channel_s8", "arm_convolve_wrapper_s8_get_buffer_size",
                    "arm_depthwise_conv_wrapper_s8_get_buffer_size",
                    "arm_fully_connected_s8_get_buffer_size")


def callgraph_depth(ci_dir: str, entries: list[str]) -> int:
    """Deepest stack below any of `entries` from GCC's -fcallgraph-info=su
    files: a node's own frame plus its deepest callee (functions without a
    frame there, such as memcpy, count 0). CMSIS-NN does not recurse; a cycle
    is refused rather than looped on."""
    frames: dict[str, int] = {}
    edges: dict[str, set[str]] = {}
    node_re = re.compile(r'node: \{ title: "([^"]+)" label: "[^"]*\\n(\d+) bytes \((static|dynamic)')
    edge_re = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
    for path in glob.glob(os.path.join(ci_dir, "*.ci")):
        with open(path) as f:
            text = f.read()
        for name, size, _ in node_re.findall(text):
            frames[name] = max(frames.get(name, 0), int(size))
        for a, b in edge_re.findall(text):
            edges.setdefault(a, set()).add(b)
    depth: dict[str, int] = {}

    def walk(fn: str, seen: tuple[str, ...]) -> int:
        if fn in seen:
            raise ZonnxError(f"CMSIS-NN call graph has a cycle through {fn}")
        if fn not in depth:
            below = [walk(c, seen + (fn,)) for c in edges.get(fn, ())]
            depth[fn] = frames.get(fn, 0) + max(below, default=0)
        return depth[fn]
    return max((walk(e, ()) for e in entries), default=0)


def stack_bound(su_dir: str, model: str, cmsis_depth: int = 0) -> int:
    """Frames on the inference path: zonnx_model_run + <name>_run_any + <name>_run +
    the deepest kernel (kernels are leaves but for libm calls, not counted)
    + the deepest CMSIS-NN call a kernel makes (`cmsis_depth`)."""
    frames: dict[str, int] = {}
    for path in glob.glob(os.path.join(su_dir, "*.su")):
        with open(path) as f:
            for line in f:
                parts = line.rsplit(None, 2)
                if len(parts) == 3 and parts[1].isdigit():
                    frames[parts[0].rsplit(":", 1)[-1]] = int(parts[1])
    path = [frames.get(n, 0) for n in ("zonnx_model_run", f"{model}_run_any", f"{model}_run")]
    kernels = [v for k, v in frames.items() if k.startswith(f"{model}_") and not k.startswith(f"{model}_run")]
    return sum(path) + max(kernels, default=0) + cmsis_depth
