"""CMSIS-NN for the host and bare-metal targets: a user-supplied source tree
(`zonnx run --cmsis-nn PATH`; it is on no package registry) compiled once per
compiler and flags into a static library under the user's cache directory.

On Zephyr the cmsis-nn module builds it instead (CONFIG_ZONNX_KERNELS_CMSIS_NN).

Rounding: zonnx builds CMSIS-NN, and every model generated with the
"cmsis-nn" rounding, with CMSIS_NN_USE_SINGLE_ROUNDING (as TFLM's
TFLITE_SINGLE_ROUNDING does): one rounding, half up, which differs from the
exact half-to-even only on exact ties. CMSIS-NN's default double rounding
(rounding doubling high multiply, then rounding divide) is off by one step on
a few percent of the values whenever the shift is small (e.g. it turns 0.25
into 1), far more often than ONNX's own rounding allows for. The generated
kernels follow whichever the macro selects, so they still agree with a
CMSIS-NN built without it.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import tempfile

from . import TargetError

HEADER = "arm_nnfunctions.h"


def check_tree(path: str) -> str:
    """The absolute path of a CMSIS-NN tree, or a TargetError saying what is missing."""
    root = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(os.path.join(root, "Include", HEADER)) or not os.path.isdir(
            os.path.join(root, "Source")):
        raise TargetError(f"{path} is not a CMSIS-NN tree (no Include/{HEADER} and Source/); "
                          "get it from https://github.com/ARM-software/CMSIS-NN")
    return root


def find_tree() -> str | None:
    """A CMSIS-NN tree from $ZONNX_CMSIS_NN or next to $ZEPHYR_BASE (a west
    workspace's modules/lib/cmsis-nn), or None."""
    cands = [os.environ.get("ZONNX_CMSIS_NN", "")]
    zb = os.environ.get("ZEPHYR_BASE")
    if zb:
        cands.append(os.path.join(zb, "..", "modules", "lib", "cmsis-nn"))
    for c in cands:
        if c and os.path.isfile(os.path.join(c, "Include", HEADER)):
            return os.path.abspath(c)
    return None


def _sources(root: str) -> list[str]:
    return sorted(glob.glob(os.path.join(root, "Source", "**", "*.c"), recursive=True))


def _cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "zonnx", "cmsis-nn")


def library(root: str, cc: str, flags: list[str], ar: str) -> str:
    """Path of libcmsis-nn.a built from `root` with `cc flags`; rebuilt when
    the compiler, the flags or any source or header changes. Next to it,
    callgraph/ holds GCC's per-file call graphs with frame sizes
    (-fcallgraph-info=su) for the stack bound."""
    srcs = _sources(root)
    flags = [*flags, ROUNDING_DEFINE]
    h = hashlib.sha256("\0".join([root, cc, *flags]).encode())
    for f in srcs + sorted(glob.glob(os.path.join(root, "Include", "**", "*.h"), recursive=True)):
        st = os.stat(f)
        h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}".encode())
    out_dir = os.path.join(_cache_dir(), h.hexdigest()[:16])
    lib = os.path.join(out_dir, "libcmsis-nn.a")
    if os.path.isfile(lib):
        return lib
    try:
        os.makedirs(out_dir, exist_ok=True)
        return _build(srcs, root, cc, flags, ar, out_dir, lib)
    except OSError as e:
        raise TargetError(f"cannot build CMSIS-NN into {out_dir}: {e} "
                          "(set XDG_CACHE_HOME to a writable directory)") from None


def _build(srcs: list[str], root: str, cc: str, flags: list[str], ar: str, out_dir: str,
           lib: str) -> str:
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        objs = []
        for i, src in enumerate(srcs):      # numbered objects: equal base names cannot collide
            obj = os.path.join(tmp, f"{i:03d}_{os.path.basename(src)[:-2]}.o")
            p = subprocess.run([cc, *flags, "-fcallgraph-info=su", include_flag(root), "-c", src,
                                "-o", obj],
                               capture_output=True, text=True)
            if p.returncode != 0:
                raise TargetError(f"compiling CMSIS-NN failed at {src}:\n{p.stderr[-3000:]}")
            objs.append(obj)
        staged = os.path.join(tmp, "libcmsis-nn.a")
        p = subprocess.run([ar, "rcs", staged, *objs], capture_output=True, text=True)
        if p.returncode != 0:
            raise TargetError(f"{ar} failed:\n{p.stderr[-2000:]}")
        graphs = os.path.join(tmp, "callgraph")
        os.makedirs(graphs)
        for ci in glob.glob(os.path.join(tmp, "*.ci")):
            os.replace(ci, os.path.join(graphs, os.path.basename(ci)))
        shutil.rmtree(callgraph_dir(lib), ignore_errors=True)
        os.replace(graphs, callgraph_dir(lib))
        os.replace(staged, lib)             # last: a present library has its call graphs
    return lib


ROUNDING_DEFINE = "-DCMSIS_NN_USE_SINGLE_ROUNDING"


def callgraph_dir(lib: str) -> str:
    return os.path.join(os.path.dirname(lib), "callgraph")


def include_flag(root: str) -> str:
    return f"-I{os.path.join(root, 'Include')}"


def model_flags(report: dict) -> list[str]:
    """Compiler flags for a generated model with this JSON report."""
    return [ROUNDING_DEFINE] if report.get("rounding") == "cmsis-nn" else []
