"""What the kernel backend chose per node, from a generated model's JSON report."""

from __future__ import annotations


def backend_summary(report: dict) -> str:
    """One line per node on what the CMSIS-NN backend did (empty without it)."""
    if report.get("kernels") != "cmsis-nn":
        return ""
    lines = []
    for n in report["nodes"]:
        if n["backend"] == "cmsis-nn":
            lines.append(f"  {n['name']} ({n['op']}): {n['note']}")
        elif "zonnx kernel:" in n["note"]:
            lines.append(f"  {n['name']} ({n['op']}): {n['note'][n['note'].index('zonnx kernel:'):]}")
    used = sum(n["backend"] == "cmsis-nn" for n in report["nodes"])
    return "\n".join([f"cmsis-nn: {used} node(s) call CMSIS-NN, {len(lines) - used} fall back"] + lines)
