import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F


def naive_lrn_pytorch(a, size, alpha, beta, k):
    """The mean over a window of ``size`` channels zero-padded by size//2 below, (size-1)//2 above."""
    b = np.empty_like(a)
    n_batch, channels = a.shape[:2]
    for n, c in itertools.product(range(n_batch), range(channels)):
        for pos in np.ndindex(*a.shape[2:]):
            total = 0.0
            for j in range(c - size // 2, c + (size - 1) // 2 + 1):
                if 0 <= j < channels:
                    total += a[(n, j) + pos] ** 2
            b[(n, c) + pos] = a[(n, c) + pos] / (k + alpha / size * total) ** beta
    return b


def naive_lrn_paper(a, n, alpha, beta, k):
    """The lecture's formula: sum over j = max(0, i - n/2) .. min(N-1, i + n/2)."""
    b = np.empty_like(a)
    n_batch, channels = a.shape[:2]
    for s, i in itertools.product(range(n_batch), range(channels)):
        for pos in np.ndindex(*a.shape[2:]):
            total = 0.0
            for j in range(max(0, i - n // 2), min(channels - 1, i + n // 2) + 1):
                total += a[(s, j) + pos] ** 2
            b[(s, i) + pos] = a[(s, i) + pos] / (k + alpha * total) ** beta
    return b


cases = st.fixed_dictionaries({
    "shape": st.tuples(st.integers(1, 2), st.integers(1, 7))
    .flatmap(lambda nc: st.lists(st.integers(1, 3), min_size=1, max_size=2).map(lambda sp: nc + tuple(sp))),
    "window": st.integers(1, 7),
    "alpha": st.floats(1e-4, 2.0),
    "beta": st.floats(0.1, 1.5),
    "k": st.floats(0.5, 3.0),
    "seed": st.integers(0, 2**16),
})


@given(case=cases)
def test_pytorch_form_matches_loop_reference(case):
    a = np.random.default_rng(case["seed"]).normal(0, 2, case["shape"])
    got = F.local_response_norm(minidl.Tensor(a), case["window"], case["alpha"], case["beta"], case["k"])
    want = naive_lrn_pytorch(a, case["window"], case["alpha"], case["beta"], case["k"])
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-14)


@given(case=cases)
def test_paper_form_matches_loop_reference(case):
    a = np.random.default_rng(case["seed"]).normal(0, 2, case["shape"])
    got = F.local_response_norm_paper(minidl.Tensor(a), case["window"], case["alpha"], case["beta"],
                                      case["k"])
    want = naive_lrn_paper(a, case["window"], case["alpha"], case["beta"], case["k"])
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-14)


def test_defaults_follow_pytorch_and_the_paper(rng):
    a = rng.normal(0, 30, (2, 7, 3, 2))
    np.testing.assert_allclose(F.local_response_norm(minidl.Tensor(a), 3).data,
                               naive_lrn_pytorch(a, 3, 1e-4, 0.75, 1.0), rtol=1e-12)
    np.testing.assert_allclose(F.local_response_norm_paper(minidl.Tensor(a)).data,
                               naive_lrn_paper(a, 5, 1e-4, 0.75, 2.0), rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_paper_form_is_pytorch_form_with_scaled_alpha(n, rng):
    x = minidl.Tensor(rng.normal(0, 5, (2, 6, 3)))
    size = 2 * (n // 2) + 1
    paper = F.local_response_norm_paper(x, n, alpha=0.01, beta=0.75, k=2.0)
    pytorch = F.local_response_norm(x, size, alpha=0.01 * size, beta=0.75, k=2.0)
    np.testing.assert_allclose(paper.data, pytorch.data, rtol=1e-13)


@pytest.mark.parametrize("form, window", [("pytorch", 1), ("pytorch", 2), ("pytorch", 3),
                                          ("pytorch", 4), ("paper", 2), ("paper", 3), ("paper", 5)])
def test_gradcheck(form, window, rng):
    fn = F.local_response_norm if form == "pytorch" else F.local_response_norm_paper
    x = minidl.Tensor(rng.normal(0, 1.5, (2, 5, 2, 2)), requires_grad=True)
    # a large alpha so that the cross-channel term carries real weight in the gradient
    assert minidl.gradcheck(lambda t: fn(t, window, 0.8, 0.75, 1.0), (x,))


def test_gradcheck_three_dimensional_input(rng):
    x = minidl.Tensor(rng.normal(0, 1.5, (2, 4, 3)), requires_grad=True)
    assert minidl.gradcheck(lambda t: F.local_response_norm(t, 3, 0.5, 1.2, 0.7), (x,))


def test_float32_stays_float32(rng):
    x = minidl.Tensor(rng.normal(size=(1, 3, 2, 2)).astype(np.float32), requires_grad=True)
    y = F.local_response_norm(x, 2)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"local_response_norm: expected an input of 3 or more dimensions"):
        F.local_response_norm(minidl.zeros(2, 3), 2)
    with pytest.raises(ValueError, match="local_response_norm: size must be a positive integer, got 0"):
        F.local_response_norm(minidl.zeros(1, 3, 2), 0)
    with pytest.raises(ValueError, match="local_response_norm_paper: n must be a positive integer"):
        F.local_response_norm_paper(minidl.zeros(1, 3, 2), 2.5)
    with pytest.raises(TypeError, match="local_response_norm: beta must be a number"):
        F.local_response_norm(minidl.zeros(1, 3, 2), 3, beta=None)
    with pytest.raises(TypeError, match="local_response_norm: expected a Tensor"):
        F.local_response_norm(np.zeros((1, 3, 2)), 3)


def _run(fn, x, g, device):
    t = minidl.Tensor(x, device=device, requires_grad=True)
    y = fn(t)
    y.backward(minidl.Tensor(g, device=device))
    return minidl.backend.to_numpy(y.data), minidl.backend.to_numpy(t.grad.data)


GPU_FORMS = {
    "pytorch_5": lambda t: F.local_response_norm(t, 5, alpha=1e-2, beta=0.75, k=2.0),
    "pytorch_4": lambda t: F.local_response_norm(t, 4, alpha=1e-1, beta=0.6, k=1.0),
    "paper_5": lambda t: F.local_response_norm_paper(t, 5, alpha=1e-3),
    # a 3-D (N, C, L) input; the output is viewed back as the 4-D input so one gradient serves all forms
    "paper_3d_input": lambda t: F.local_response_norm_paper(t.reshape(2, 16, 35), 3, alpha=1e-3).reshape(t.shape),
}


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.gpu
@pytest.mark.parametrize("form", sorted(GPU_FORMS))
@pytest.mark.parametrize("dtype, fwd_tol, bwd_tol", [(np.float32, 1e-5, 1e-4), (np.float64, 1e-12, 1e-11)])
def test_gpu_matches_cpu(form, dtype, fwd_tol, bwd_tol, rng):
    x = rng.normal(0, 4, (2, 16, 5, 7)).astype(dtype)
    g = rng.normal(size=x.shape).astype(dtype)
    y_cpu, gx_cpu = _run(GPU_FORMS[form], x, g, "cpu")
    y_gpu, gx_gpu = _run(GPU_FORMS[form], x, g, "cuda")
    assert y_gpu.dtype == dtype and gx_gpu.dtype == dtype
    assert _rel(y_gpu, y_cpu) <= fwd_tol
    assert _rel(gx_gpu, gx_cpu) <= bwd_tol


@pytest.mark.gpu
@pytest.mark.parametrize("form", sorted(GPU_FORMS))
def test_gpu_is_deterministic(form, rng):
    x = rng.normal(0, 4, (2, 16, 5, 7)).astype(np.float32)
    g = rng.normal(size=x.shape).astype(np.float32)
    first = _run(GPU_FORMS[form], x, g, "cuda")
    second = _run(GPU_FORMS[form], x, g, "cuda")
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.gpu
def test_gpu_gradcheck(rng):
    x = minidl.Tensor(rng.normal(0, 1.5, (2, 5, 2, 2)), device="cuda", requires_grad=True)
    assert minidl.gradcheck(lambda t: F.local_response_norm(t, 4, 0.8, 0.75, 1.0), (x,))


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_matches_torch(size, rng):
    torch = pytest.importorskip("torch")
    x = rng.normal(0, 3, (2, 7, 3, 4))
    g = rng.normal(size=x.shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.local_response_norm(xt, size, alpha=0.3, beta=0.75, k=1.5)
    yt.backward(torch.tensor(g))
    t = minidl.Tensor(x, requires_grad=True)
    y = F.local_response_norm(t, size, alpha=0.3, beta=0.75, k=1.5)
    y.backward(minidl.Tensor(g))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(t.grad.data, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
