"""Errors the generator reports to users.

Every rejection carries enough context to act on: the model file, the node
name, the op type and opset where they apply, and a hint.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_REJECTED = 2


class ZonnxError(Exception):
    """A model or option zonnx cannot handle (exit code 2)."""

    def __init__(self, message: str, *, file: str | None = None,
                 node: str | None = None, op: str | None = None,
                 opset: int | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.node = node
        self.op = op
        self.opset = opset
        self.hint = hint

    def with_file(self, file: str) -> "ZonnxError":
        if self.file is None:
            self.file = file
        return self

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.node is not None or self.op:
            desc = f"node '{self.node}'" if self.node else "node"
            if self.op:
                desc += f" ({self.op}"
                desc += f", opset {self.opset})" if self.opset else ")"
            where.append(desc)
        text = ": ".join(where + [self.message])
        if self.hint:
            text += f" [{self.hint}]"
        return text


class Unsupported(ZonnxError):
    """Raised by an op's lowering when an attribute, dtype or shape is not handled.

    The lowering stage fills in node, op and opset.
    """
