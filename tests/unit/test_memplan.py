"""Memory planner: no two live tensors share bytes; peak vs liveness lower bound."""

import dataclasses

import numpy as np
from onnx import helper

from zonnx.load import load
from zonnx.lower import lower
from zonnx.memplan import ALIGN, Buffer, MemoryPlan, check_plan, plan_memory
from zonnx.passes import run_passes
from zonnx_testing import assert_matches_reference, make_model


def _plan(model, tmp_path):
    import onnx
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    prog = lower(run_passes(load(str(path))))
    return prog, plan_memory(prog)


def _chain(n_ops=6, size=64):
    nodes, prev = [], "x"
    for i in range(n_ops):
        op = ["Exp", "Sigmoid", "Tanh"][i % 3]
        nodes.append(helper.make_node(op, [prev], [f"t{i}"], name=f"n{i}"))
        prev = f"t{i}"
    nodes.append(helper.make_node("Neg", [prev], ["y"]))
    return make_model(nodes, [("x", np.float32, [size])], [("y", np.float32, [size])])


def test_inplace_chain_uses_one_buffer(tmp_path):
    prog, plan = _plan(_chain(), tmp_path)
    assert check_plan(plan) == []
    assert plan.arena_size == 64 * 4            # every element-wise op runs in place
    assert plan.lower_bound == plan.arena_size
    assert len(plan.inplace) == 5


def test_residual_keeps_skip_tensor_alive(tmp_path):
    # x -> a=Exp -> b=Sigmoid(a) -> c=Tanh(b) -> y = a + c : a must survive b and c
    nodes = [helper.make_node("Exp", ["x"], ["a"]), helper.make_node("Sigmoid", ["a"], ["b"]),
             helper.make_node("Tanh", ["b"], ["c"]), helper.make_node("Sum", ["a", "c"], ["y"])]
    m = make_model(nodes, [("x", np.float32, [1, 40])], [("y", np.float32, [1, 40])])
    prog, plan = _plan(m, tmp_path)
    assert check_plan(plan) == []
    a, b = plan.offsets["a"], plan.offsets["b"]
    assert a != b                                # Sigmoid may not overwrite a
    assert plan.arena_size >= 2 * 160 and plan.arena_size >= plan.lower_bound
    x = np.linspace(-2, 2, 40, dtype=np.float32).reshape(1, 40)
    assert_matches_reference(m, {"x": x}, tmp_path)


def test_views_alias_their_input(tmp_path):
    nodes = [helper.make_node("Exp", ["x"], ["a"]),
             helper.make_node("Reshape", ["a", "s"], ["b"]),
             helper.make_node("Neg", ["b"], ["y"])]
    m = make_model(nodes, [("x", np.float32, [2, 8])], [("y", np.float32, [16])],
                   {"s": np.array([16], np.int64)})
    prog, plan = _plan(m, tmp_path)
    assert plan.offsets["a"] == plan.offsets["b"]
    assert len(plan.aliased) == 1
    assert check_plan(plan) == []


def test_offsets_aligned_and_peak_not_below_bound(tmp_path):
    nodes = [helper.make_node("Exp", ["x"], ["a"]), helper.make_node("Flatten", ["a"], ["f"]),
             helper.make_node("Sigmoid", ["x"], ["b"]), helper.make_node("Tanh", ["f"], ["c"]),
             helper.make_node("Neg", ["b"], ["y1"]), helper.make_node("Abs", ["c"], ["y2"])]
    m = make_model(nodes, [("x", np.float32, [3, 5])],
                   [("y1", np.float32, [3, 5]), ("y2", np.float32, [3, 5])])
    prog, plan = _plan(m, tmp_path)
    assert all(off % ALIGN == 0 for off in plan.offsets.values())
    assert plan.arena_size >= plan.lower_bound
    assert check_plan(plan) == []


def test_checker_finds_overlap():
    a = Buffer(64, 0, 2, ["a"], 0)
    b = Buffer(64, 1, 3, ["b"], 32)
    bad = MemoryPlan({"a": 0, "b": 32}, (a, b), 96, 128, frozenset(), frozenset())
    assert any("overlap" in e for e in check_plan(bad))
    ok = MemoryPlan({"a": 0, "b": 64}, (a, dataclasses.replace(b, offset=64)), 128, 128,
                    frozenset(), frozenset())
    assert check_plan(ok) == []


def test_disjoint_lifetimes_share_memory():
    from zonnx.memplan import _place
    bufs = [Buffer(64, 0, 1, ["a"]), Buffer(64, 2, 3, ["b"]), Buffer(32, 1, 2, ["c"])]
    _place(bufs)
    assert bufs[0].offset == bufs[1].offset == 0     # a and b never live together
    assert bufs[2].offset == 64
