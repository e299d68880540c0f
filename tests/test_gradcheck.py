"""The checker itself: it passes correct backwards and catches wrong ones, saying where."""
import numpy as np
import pytest

import minidl as md
from minidl.autograd import Function
from minidl.gradcheck import GradcheckError, check_gradients


class WrongSquare(Function):
    """y = x^2 with a deliberately wrong backward (x instead of 2x)."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return g * self.x


class RightSquare(WrongSquare):
    def backward(self, g):
        return 2 * g * self.x


def x64(shape=(2, 3), seed=0):
    return md.Tensor(np.random.default_rng(seed).standard_normal(shape) + 2.0, requires_grad=True)


@pytest.mark.parametrize("mode", ["full", "random"])
def test_catches_a_wrong_backward_and_names_the_input(mode):
    with pytest.raises(GradcheckError, match="input 0") as info:
        md.gradcheck(WrongSquare.apply, (x64(),), mode=mode)
    assert "analytic" in str(info.value) and "numerical" in str(info.value)
    assert md.gradcheck(RightSquare.apply, (x64(),), mode=mode)


def test_full_mode_names_the_worst_element():
    class WrongAtOne(RightSquare):
        def backward(self, g):
            out = 2 * g * self.x
            out[1, 2] += 1.0
            return out

    with pytest.raises(GradcheckError, match=r"element \(1, 2\)"):
        md.gradcheck(WrongAtOne.apply, (x64(),), mode="full")


def test_non_float64_input_is_refused():
    x = md.Tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        md.gradcheck(lambda t: t * 2.0, (x,))


def test_result_reports_errors_and_raise_exception_false():
    result = check_gradients(RightSquare.apply, (x64(),))
    assert result.passed and result.max_abs_error < 1e-6
    assert md.gradcheck(WrongSquare.apply, (x64(),), raise_exception=False) is False


def test_only_inputs_requiring_grad_are_checked():
    x = x64()
    c = md.Tensor(np.ones((2, 3)))
    assert md.gradcheck(lambda a, b: a * b, (x, c))
    with pytest.raises(ValueError, match="no input requires grad"):
        md.gradcheck(lambda a: a * 2.0, (c,))


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["full", "random"])
@pytest.mark.parametrize("start, end", [("cuda", "cpu"), ("cpu", "cuda")])
def test_functions_that_move_between_devices(mode, start, end):
    # directions are built where the input lives and weights where the output lives
    x = md.Tensor(np.arange(6.0).reshape(2, 3) - 2.5, requires_grad=True, device=start)
    assert md.gradcheck(lambda t: t.to(end) * 2.0, (x,), mode=mode)
    assert md.gradcheck(lambda t: (t.to(end) * 3.0, t * t), (x,), mode=mode)
