"""The gradient-check tour (minidl/tour.py) and the ``minidl gradcheck`` command."""
import io

import numpy as np
import pytest

import minidl
from minidl import tour
from minidl.gradcheck import check_gradients
from nets import cli


@pytest.fixture(scope="module")
def rows():
    return tour.run(print_table=False)


def test_every_op_passes(rows):
    failed = [r.op for r in rows if not r.passed]
    assert not failed, f"ops whose backward disagrees with central differences: {failed}"
    assert all(r.max_abs_error < 1e-6 for r in rows)


def test_the_tour_covers_every_differentiable_functional_op(rows):
    covered = {r.op.split(" ")[0] for r in rows} | {"flatten", "unsqueeze", "squeeze"}
    names = {
        "conv2d", "conv_transpose2d", "linear", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
        "adaptive_max_pool2d", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax",
        "local_response_norm", "local_response_norm_paper", "dropout", "dropout2d", "batch_norm",
        "cross_entropy", "nll_loss", "mse_loss", "interpolate", "pad", "crop", "center_crop",
        "add", "sub", "mul", "div", "pow", "matmul", "exp", "log", "sqrt", "abs", "clip", "sum", "mean",
        "amax", "amin", "var", "neg", "expand", "split", "reshape", "transpose", "permute", "getitem", "cat",
        "stack", "where",
    }
    missing = sorted(n for n in names if n not in covered)
    assert not missing, f"ops left out of the tour: {missing}"


def test_rows_are_named_tuples_with_numbers(rows):
    r = rows[0]
    assert r._fields == ("op", "max_abs_error", "max_rel_error", "passed")
    assert isinstance(r.max_abs_error, float) and isinstance(r.passed, bool)
    assert len({r.op for r in rows}) == len(rows)


def test_table_lists_every_op_and_the_count(rows):
    text = tour.format_table(rows)
    assert text.splitlines()[0].split() == ["op", "max", "abs", "error", "max", "rel", "error", "pass"]
    for r in rows:
        assert r.op in text
    assert f"{len(rows)} of {len(rows)} ops pass" in text


def test_a_wrong_backward_fails_the_check():
    class WrongSquare(minidl.Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, g):
            return g * self.x  # the factor 2 is missing

    x = minidl.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    result = check_gradients(lambda t: WrongSquare.apply(t), (x,))
    row = tour.TourRow("wrong square", result.max_abs_error, result.max_rel_error, result.passed)
    assert not row.passed
    assert "0 of 1 ops pass" in tour.format_table([row])


def test_tour_leaves_the_inputs_deterministic():
    a = tour.run(print_table=False, seed=3)
    b = tour.run(print_table=False, seed=3)
    assert [(r.op, r.max_abs_error) for r in a] == [(r.op, r.max_abs_error) for r in b]


def test_gradcheck_command_prints_the_table_and_exits_zero(capsys):
    assert cli.main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "conv2d" in out and "local_response_norm_paper" in out
    assert "ops pass the float64 central-difference check" in out


def test_gradcheck_command_exits_one_when_an_op_fails(monkeypatch, capsys):
    bad = tour.TourRow("broken op", 1.0, 1.0, False)
    monkeypatch.setattr(tour, "run", lambda device="cpu", seed=0, file=None, print_table=True: [bad])
    assert cli.main(["gradcheck"]) == 1


def test_table_goes_to_the_given_stream():
    stream = io.StringIO()
    tour.run(file=stream)
    assert "ops pass" in stream.getvalue()


@pytest.mark.gpu
def test_every_op_passes_on_the_gpu():
    failed = [r.op for r in tour.run(device="cuda", print_table=False) if not r.passed]
    assert not failed
