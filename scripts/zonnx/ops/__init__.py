"""Operator lowerings. Every module in this package registers its ops on import."""

import importlib
import pkgutil

from .base import REGISTRY, KernelFn, LowerCtx, Lowered, Op, Scratch, Step, register

for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _m.name != "base" and not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["REGISTRY", "KernelFn", "LowerCtx", "Lowered", "Op", "Scratch", "Step", "register"]
