"""The harness record stream (see harness/io_loop.h), from the Python side."""

from __future__ import annotations

import struct

import numpy as np

from ..ir import DTYPE_BY_NAME


def io_bytes(report: dict) -> int:
    """Static I/O buffer size a harness needs for this model (16-byte aligned slots)."""
    return sum((t["bytes"] + 15) // 16 * 16 for t in report["inputs"] + report["outputs"])


MAX_IO = 16   # IO_MAX in harness/io_loop.c


def pack(report: dict, records: list[dict[str, np.ndarray]]) -> bytes:
    if len(report["inputs"]) > MAX_IO or len(report["outputs"]) > MAX_IO:
        raise ValueError(f"the harness streams at most {MAX_IO} inputs and {MAX_IO} outputs; "
                         f"this model has {len(report['inputs'])} and {len(report['outputs'])}")
    parts = [struct.pack("<I", len(records))]
    for rec in records:
        for t in report["inputs"]:
            dt = DTYPE_BY_NAME[t["dtype"]]
            arr = np.array(rec[t["name"]], dtype=dt.np, order="C")   # keeps 0-d arrays 0-d
            if list(arr.shape) != t["shape"]:
                raise ValueError(f"input '{t['name']}' has shape {list(arr.shape)}, "
                                 f"model expects {t['shape']}")
            parts.append(arr.tobytes())
    return b"".join(parts)


def unpack(report: dict, data: bytes, count: int) -> list[dict[str, np.ndarray]]:
    per = sum(t["bytes"] for t in report["outputs"])
    if len(data) != per * count:
        raise ValueError(f"harness wrote {len(data)} bytes, expected {per * count}")
    out, pos = [], 0
    for _ in range(count):
        rec = {}
        for t in report["outputs"]:
            dt = DTYPE_BY_NAME[t["dtype"]]
            arr = np.frombuffer(data[pos:pos + t["bytes"]], dtype=dt.np).reshape(t["shape"])
            rec[t["name"]] = arr.copy()
            pos += t["bytes"]
        out.append(rec)
    return out
