"""linear: loop reference, gradients, shapes, bad input, GPU."""
import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F


def naive_linear(x, w, b):
    flat = x.reshape(-1, x.shape[-1])
    out = np.zeros((flat.shape[0], w.shape[0]))
    for r in range(flat.shape[0]):
        for o in range(w.shape[0]):
            out[r, o] = sum(flat[r, i] * w[o, i] for i in range(w.shape[1])) + (0.0 if b is None else b[o])
    return out.reshape(x.shape[:-1] + (w.shape[0],))


def t(a, requires_grad=False):
    return minidl.Tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


@given(
    lead=st.lists(st.integers(1, 3), min_size=0, max_size=3),
    n_in=st.integers(1, 5),
    n_out=st.integers(1, 4),
    bias=st.booleans(),
)
def test_linear_matches_loops(lead, n_in, n_out, bias):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(tuple(lead) + (n_in,))
    w = rng.standard_normal((n_out, n_in))
    b = rng.standard_normal(n_out) if bias else None
    out = F.linear(t(x), t(w), None if b is None else t(b))
    assert out.shape == tuple(lead) + (n_out,)
    np.testing.assert_allclose(out.numpy(), naive_linear(x, w, b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4)])
def test_linear_gradcheck(shape, rng):
    x = t(rng.standard_normal(shape), True)
    w = t(rng.standard_normal((3, 4)), True)
    b = t(rng.standard_normal(3), True)
    assert minidl.gradcheck(F.linear, (x, w, b))
    assert minidl.gradcheck(lambda x, w: F.linear(x, w), (x, w))


@pytest.mark.parametrize("rows, n_in, n_out", [(1, 5, 8), (2, 7, 16), (3, 4, 40)])
def test_few_rows_and_many_outputs_run_transposed_and_match_loops(rows, n_in, n_out, rng):
    # y^T = W x^T (linear._few_rows): the same numbers, a C-ordered result, and the gradients checked
    linear_module = importlib.import_module("minidl.functional.linear")
    assert linear_module._few_rows(rows, n_out)
    x, w, b = rng.standard_normal((rows, n_in)), rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
    out = F.linear(t(x), t(w), t(b))
    assert out.data.flags.c_contiguous
    np.testing.assert_allclose(out.numpy(), naive_linear(x, w, b), rtol=1e-12, atol=1e-12)
    assert minidl.gradcheck(F.linear, (t(x, True), t(w, True), t(b, True)))


def test_linear_bad_input():
    x = minidl.randn(2, 5)
    with pytest.raises(ValueError, match=r"linear: input has 5 features .* but weight expects 4"):
        F.linear(x, minidl.randn(3, 4))
    with pytest.raises(ValueError, match=r"linear: weight must be 2-D"):
        F.linear(x, minidl.randn(5))
    with pytest.raises(ValueError, match=r"linear: bias must have shape \(3,\)"):
        F.linear(x, minidl.randn(3, 5), minidl.randn(5))
    with pytest.raises(TypeError, match=r"linear: input is float32 but weight is float64"):
        F.linear(x, minidl.randn(3, 5).double())
    with pytest.raises(TypeError, match=r"linear: weight must be a Tensor"):
        F.linear(x, np.ones((3, 5)))
    with pytest.raises(TypeError, match=r"linear: input must be floating point"):
        F.linear(minidl.tensor([[1, 2, 3, 4, 5]]), minidl.randn(3, 5))


def _run(device, x, w, b, g):
    xt, wt, bt = (minidl.Tensor(a).to(device).requires_grad_() for a in (x, w, b))
    out = F.linear(xt, wt, bt)
    out.backward(minidl.Tensor(g).to(device))
    return [minidl.backend.to_numpy(a) for a in (out.data, xt.grad.data, wt.grad.data, bt.grad.data)]


@pytest.mark.gpu
def test_linear_gpu_matches_cpu_and_repeats():
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((6, 2, 33), (17, 33), (17,)))
    g = rng.standard_normal((6, 2, 17)).astype(np.float32)
    cpu, gpu, again = _run("cpu", x, w, b, g), _run("cuda", x, w, b, g), _run("cuda", x, w, b, g)
    for k, (a, c) in enumerate(zip(gpu, cpu)):
        assert np.abs(a - c).max() / np.abs(c).max() <= (1e-5 if k == 0 else 1e-4)
    for a, c in zip(gpu, again):
        assert np.array_equal(a, c)


def test_no_features_and_no_rows():
    # 0 input features: y is the bias; 0 rows: an empty output, and both have gradients of their shapes
    x = minidl.Tensor(np.zeros((3, 0), np.float32), requires_grad=True)
    w = minidl.Tensor(np.zeros((4, 0), np.float32), requires_grad=True)
    b = minidl.Tensor(np.arange(4, dtype=np.float32), requires_grad=True)
    y = F.linear(x, w, b)
    assert np.array_equal(y.numpy(), np.tile(np.arange(4, dtype=np.float32), (3, 1)))
    y.sum().backward()
    assert x.grad.shape == (3, 0) and w.grad.shape == (4, 0) and np.all(b.grad.numpy() == 3)
    empty = F.linear(minidl.Tensor(np.zeros((0, 2, 5), np.float32)), minidl.Tensor(np.ones((4, 5), np.float32)))
    assert empty.shape == (0, 2, 4)
