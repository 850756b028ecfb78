"""A fast, deterministic slice of the ONNX conformance run (every 12th case by
name). The full run is `tests/conformance/run.py`, a separate CI step."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import run as conformance  # noqa: E402

CASES = conformance.discover()[::12]


def test_suite_is_installed():
    # onnx==1.22.0 ships 1765 node cases and 117 pytorch model cases
    assert len(conformance.discover("^node/")) == 1765
    assert len(conformance.discover("^pytorch")) == 117


@pytest.mark.parametrize("case", CASES)
def test_case(case):
    r = conformance.run_case(case)
    assert r["status"] != "failed", r["reason"]
    if r["status"] == "rejected":
        assert r["reason"], "a rejection must say why"
