"""Where the C runtime lives: the repository (editable install) next to scripts/."""

from __future__ import annotations

import os

from .errors import ZonnxError

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(PACKAGE_DIR, "..", ".."))
INCLUDE_DIR = os.path.join(REPO_ROOT, "include")
LIB_DIR = os.path.join(REPO_ROOT, "lib")
HARNESS_DIR = os.path.join(PACKAGE_DIR, "target", "harness")


def runtime_sources() -> list[str]:
    """The portable runtime's C files (lib/*.c; ports live in subfolders)."""
    if not os.path.isdir(LIB_DIR):
        raise ZonnxError(f"zonnx runtime not found at {LIB_DIR}",
                         hint="install zonnx from its repository with `pip install -e .`")
    return sorted(os.path.join(LIB_DIR, f) for f in os.listdir(LIB_DIR) if f.endswith(".c"))
