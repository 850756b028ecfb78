"""What the kernel backend chose per node, from a generated model's JSON report
(or `zonnx inspect --json`): one wording for generate, run and inspect."""

from __future__ import annotations

def node_backend(node: dict) -> str:
    """"cmsis-nn: <arm function>", "zonnx kernel: <why not CMSIS-NN>" or ""."""
    if node.get("backend") == "cmsis-nn":
        return f"cmsis-nn: {node['note']}"
    return f"zonnx kernel: {node['fallback']}" if node.get("fallback") else ""


def backend_summary(report: dict) -> str:
    """One line per node on what the CMSIS-NN backend did (empty without it)."""
    if report.get("kernels") != "cmsis-nn":
        return ""
    lines = [f"  {n['name']} ({n['op']}): {node_backend(n)}" for n in report["nodes"] if node_backend(n)]
    used = sum(n.get("backend") == "cmsis-nn" for n in report["nodes"])
    return "\n".join([f"cmsis-nn: {used} node(s) call CMSIS-NN, {len(lines) - used} fall back"] + lines)
