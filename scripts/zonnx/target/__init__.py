"""Targets: where generated code is compiled and run. One module per target,
registered by name, so adding a board is adding a module, not an if-chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import ZonnxError


@dataclass(frozen=True)
class RunResult:
    outputs: list[dict[str, np.ndarray]]
    log: str = ""                                   # what to show the user
    metrics: dict = field(default_factory=dict)     # footprint, instruction counts


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    # (generated-files dir, model name, report, input records, work dir) -> result
    run: Callable[..., RunResult]


TARGETS: dict[str, Target] = {}


def register(t: Target) -> Target:
    TARGETS[t.name] = t
    return t


def get_target(name: str) -> Target:
    from . import cortex_m, host  # noqa: F401  (they register themselves)

    if name not in TARGETS:
        raise ZonnxError(f"unknown target '{name}'", hint=f"targets: {', '.join(sorted(TARGETS))}")
    return TARGETS[name]


class TargetError(Exception):
    """Build or run failure on a target (exit code 1: the model did not run right)."""


class DoesNotFit(TargetError):
    """The firmware is larger than the board's flash or RAM (found before running)."""
