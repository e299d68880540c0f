"""Every public op and layer under bad and edge-case arguments (the cases of ``tests/fuzz_ops.py``).

For each drawn call: minidl either returns or raises a TypeError/ValueError/IndexError (RuntimeError for
an allocation it cannot make) from its own ``raise`` line, naming the argument that was drawn bad;
never an exception from inside NumPy. When PyTorch is installed, the same call runs there: minidl
returns exactly when PyTorch does (a few documented places refuse more), with the same shape, dtype and
values, NaN and inf where PyTorch has them.
"""
import random

import pytest
from hypothesis import given, strategies as st

import fuzz_ops

try:
    import torch
except ImportError:  # the comparison with PyTorch is skipped, the checks on minidl's errors are not
    torch = None


@pytest.mark.parametrize("name", sorted(fuzz_ops.CASES))
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_bad_and_edge_case_arguments(name, seed):
    builder, compare = fuzz_ops.CASES[name]
    draw = fuzz_ops.Draw(random.Random(seed))
    call = builder(draw)
    if isinstance(call, tuple):
        call, compare = call
    outcome, line = fuzz_ops.classify(name, call, compare, torch)
    assert outcome in ("ok", "refused"), f"{outcome}: {line} (drawn {draw.drawn})"
    if line and draw.suspects:
        assert fuzz_ops.names_an_argument(line, draw.suspects), f"{line} names none of {draw.suspects}"


def test_fuzz_counts_are_zero_on_a_short_run(capsys):
    assert fuzz_ops.main(["--calls", "300", "--seed", "7", "--show", "0"]) == 0
    assert "internal 0, accepted 0, mismatch 0, unnamed 0" in capsys.readouterr().out
