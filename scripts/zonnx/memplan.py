"""Stage 4: a static memory plan for every intermediate tensor in one arena.

Tensors live from the node that writes them to the last node that reads them.
Views (Reshape and friends) and in-place kernels join their input's buffer when
that is legal; buffers are then placed greedily, largest first, at the lowest
offset not used by a buffer alive at the same time (the TFLM strategy). The
plan's peak is reported beside the liveness lower bound: the largest sum of
live buffer sizes at any node, which no placement can beat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .lower import Program

ALIGN = 16  # bytes; every arena buffer offset and the arena itself


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Buffer:
    size: int
    first: int
    last: int
    members: list[str] = field(default_factory=list)
    offset: int = 0

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last

    def overlaps_in_memory(self, other: "Buffer") -> bool:
        return self.offset < other.offset + other.size and other.offset < self.offset + self.size


@dataclass(frozen=True)
class MemoryPlan:
    offsets: dict[str, int]          # arena tensor or scratch key -> byte offset
    buffers: tuple[Buffer, ...]
    arena_size: int
    lower_bound: int
    aliased: frozenset[int]          # node indices whose view became an alias (no code)
    inplace: frozenset[int]          # node indices running in place


def scratch_key(node_index: int, k: int) -> str:
    return f"#scratch{node_index}.{k}"


def arena_tensors(prog: Program) -> set[str]:
    """Names of the tensors that live in the arena: not constants, not graph I/O."""
    g = prog.graph
    io = set(g.inputs) | set(g.outputs)
    out = set()
    for ln in prog.nodes:
        for name in ln.node.outputs:
            if name and name not in io and not g.tensors[name].is_const:
                out.add(name)
    return out


def plan_memory(prog: Program) -> MemoryPlan:
    g = prog.graph
    in_arena = arena_tensors(prog)
    last_use: dict[str, int] = {}
    for i, ln in enumerate(prog.nodes):
        for name in ln.node.inputs:
            if name in in_arena:
                last_use[name] = i

    buffer_of: dict[str, Buffer] = {}
    buffers: list[Buffer] = []
    aliased, inplace = set(), set()

    def join(buf: Buffer, name: str, at: int) -> None:
        buf.members.append(name)
        buf.last = max(buf.last, last_use.get(name, at))
        buffer_of[name] = buf

    for i, ln in enumerate(prog.nodes):
        node, low = ln.node, ln.lowered
        shared: dict[int, int] = {}           # output index -> input index
        if low.alias:
            shared[0] = 0
        else:
            for a, b in low.inplace:
                shared.setdefault(b, a)
        for j, name in enumerate(node.outputs):
            if name not in in_arena:
                continue
            src = node.input(shared[j]) if j in shared else ""
            buf = buffer_of.get(src)
            # A view may share bytes with an input still read later (nothing
            # writes them); an in-place kernel only with one read last here.
            if (buf is not None and (low.alias or buf.last <= i)
                    and g.tensors[src].nbytes == g.tensors[name].nbytes):
                join(buf, name, i)
                (aliased if low.alias else inplace).add(i)
                continue
            nbytes = g.tensors[name].nbytes
            buf = Buffer(_align(nbytes), i, i)
            buffers.append(buf)
            join(buf, name, i)
        for k, nbytes in enumerate(low.scratch):
            buf = Buffer(_align(nbytes), i, i, [scratch_key(i, k)])
            buffers.append(buf)
            buffer_of[scratch_key(i, k)] = buf

    _place(buffers)
    arena = max((b.offset + b.size for b in buffers), default=0)
    bound = 0
    for t in range(len(prog.nodes)):
        bound = max(bound, sum(b.size for b in buffers if b.first <= t <= b.last))
    offsets = {name: buf.offset for name, buf in buffer_of.items()}
    return MemoryPlan(offsets, tuple(buffers), arena, bound, frozenset(aliased), frozenset(inplace))


def _place(buffers: list[Buffer]) -> None:
    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first)):
        if buf.size == 0:
            continue
        busy = sorted((p for p in placed if p.overlaps_in_time(buf)), key=lambda p: p.offset)
        offset = 0
        for p in busy:
            if offset + buf.size <= p.offset:
                break
            offset = max(offset, p.offset + p.size)
        buf.offset = offset
        placed.append(buf)


def check_plan(plan: MemoryPlan) -> list[str]:
    """Every violation: buffers alive together that share bytes, or out of the arena."""
    errors = []
    bufs = [b for b in plan.buffers if b.size]
    for i, a in enumerate(bufs):
        if a.offset % ALIGN or a.offset + a.size > plan.arena_size:
            errors.append(f"{a.members} at {a.offset}+{a.size} misaligned or outside the arena")
        for b in bufs[i + 1:]:
            if a.overlaps_in_time(b) and a.overlaps_in_memory(b):
                errors.append(f"{a.members} and {b.members} overlap")
    return errors
