"""Flash and RAM footprint of a linked firmware, from its ELF (pyelftools).

Symbols are attributed by name: the generator prefixes everything it emits
with the model name (`<name>_w<k>` weights, `<name>_arena`, kernel functions
`<name>_<op>_<k>`), the runtime uses `zonnx_`, the harness and start-up have
fixed names. What is left is the C library (libm, libgcc soft-float, newlib).
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field

from .errors import ZonnxError

HARNESS_FUNCS = {"main", "rd", "wr", "file_read", "file_write", "zonnx_mark", "zonnx_io_loop"}
STARTUP_FUNCS = {"Reset_Handler", "Default_Handler", "HardFault_Handler", "zonnx_hardfault_report",
                 "semihost"}


@dataclass
class Footprint:
    board: str
    flash_size: int
    ram_size: int
    flash: dict[str, int] = field(default_factory=dict)
    ram: dict[str, int] = field(default_factory=dict)
    kernels: dict[str, int] = field(default_factory=dict)    # function -> bytes
    stack_static: int = 0                                    # -fstack-usage bound on the model path

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
        lines = [f"footprint on {self.board}:", f"  {'flash':<28}{'':>11}"]
        for k, v in self.flash.items():
            lines.append(f"    {k:<26}{kb(v)}")
        lines.append(f"    {'total':<26}{kb(self.flash_total)} of {self.flash_size // 1024} KB "
                     f"({100 * self.flash_total / self.flash_size:.1f}%)")
        lines.append(f"  {'ram':<28}")
        for k, v in self.ram.items():
            lines.append(f"    {k:<26}{kb(v)}")
        lines.append(f"    {'total':<26}{kb(self.ram_total)} of {self.ram_size // 1024} KB "
                     f"({100 * self.ram_total / self.ram_size:.1f}%)")
        if self.stack_static:
            lines.append(f"  stack used by the model path (static, -fstack-usage): "
                         f"{self.stack_static} bytes")
        if self.kernels:
            lines.append("  kernel code:")
            for k, v in sorted(self.kernels.items(), key=lambda kv: -kv[1]):
                lines.append(f"    {k:<40}{v:>7} B")
        return "\n".join(lines)


def _symbols(elf):
    from elftools.elf.sections import SymbolTableSection
    for sec in elf.iter_sections():
        if isinstance(sec, SymbolTableSection):
            for s in sec.iter_symbols():
                if s["st_size"] and s["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT"):
                    yield s.name, s["st_info"]["type"], s["st_size"], s["st_shndx"]


def measure(elf_path: str, model: str, board: str, flash_size: int, ram_size: int,
            su_dir: str | None = None) -> Footprint:
    try:
        from elftools.elf.elffile import ELFFile
    except ImportError:
        raise ZonnxError("pyelftools is needed for footprint reports",
                         hint="pip install pyelftools") from None
    fp = Footprint(board, flash_size, ram_size)
    weight = re.compile(rf"{re.escape(model)}_w\d+$")
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        secs = {s.name: s for s in elf.iter_sections()}
        sec_by_index = {i: s.name for i, s in enumerate(elf.iter_sections())}
        flash_cats = {"weights": 0, "model tables": 0, "kernels": 0, "model run": 0, "runtime": 0,
                      "harness": 0, "startup": 0, "C library": 0}
        ram_cats = {"arena": 0, "harness I/O": 0, "data/bss other": 0}
        seen_ro = 0
        for name, typ, size, shndx in _symbols(elf):
            sec = sec_by_index.get(shndx, "") if isinstance(shndx, int) else ""
            if typ == "STT_FUNC":
                if name.startswith(f"{model}_run"):
                    flash_cats["model run"] += size
                elif name.startswith(f"{model}_"):
                    flash_cats["kernels"] += size
                    fp.kernels[re.sub(r"\.(constprop|isra|part)\.\d+$", "", name)] = size
                elif name in HARNESS_FUNCS:
                    flash_cats["harness"] += size
                elif name in STARTUP_FUNCS or name.startswith("sh_"):
                    flash_cats["startup"] += size
                elif name.startswith("zonnx_"):
                    flash_cats["runtime"] += size
                else:
                    flash_cats["C library"] += size
            elif sec in (".rodata", ".isr_vector"):
                seen_ro += size
                if weight.match(name):
                    flash_cats["weights"] += size
                elif name.startswith(f"{model}_"):
                    flash_cats["model tables"] += size
                elif name == "zonnx_vectors":
                    flash_cats["startup"] += size
                else:
                    flash_cats["C library"] += size
            elif sec in (".bss", ".data"):
                if name == f"{model}_arena":
                    ram_cats["arena"] += size
                elif name == "io_buf":
                    ram_cats["harness I/O"] += size
                else:
                    ram_cats["data/bss other"] += size
        ro_total = sum(secs[s]["sh_size"] for s in (".rodata", ".isr_vector") if s in secs)
        flash_cats["model tables"] += max(0, ro_total - seen_ro)  # strings: node names, I/O names
        text = secs[".text"]["sh_size"] if ".text" in secs else 0
        funcs = sum(flash_cats[k] for k in ("kernels", "model run", "runtime", "harness", "startup",
                                            "C library"))
        flash_cats["C library"] += max(0, text - funcs)           # alignment padding, veneers
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
        fp.stack_static = stack_bound(su_dir, model)
    return fp


def stack_bound(su_dir: str, model: str) -> int:
    """Frames on the inference path: zonnx_model_run + <name>_run_any + <name>_run +
    the deepest kernel (kernels are leaves but for libm calls, not counted)."""
    frames: dict[str, int] = {}
    for path in glob.glob(os.path.join(su_dir, "*.su")):
        with open(path) as f:
            for line in f:
                parts = line.rsplit(None, 2)
                if len(parts) == 3 and parts[1].isdigit():
                    frames[parts[0].rsplit(":", 1)[-1]] = int(parts[1])
    path = [frames.get(n, 0) for n in ("zonnx_model_run", f"{model}_run_any", f"{model}_run")]
    kernels = [v for k, v in frames.items() if k.startswith(f"{model}_") and not k.startswith(f"{model}_run")]
    return sum(path) + max(kernels, default=0)
