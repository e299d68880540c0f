import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F

ELEMENTWISE = {
    "relu": (F.relu, lambda v: max(0.0, v)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda v: v if v > 0 else 0.2 * v),
    "sigmoid": (F.sigmoid, lambda v: 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))),
    "tanh": (F.tanh, math.tanh),
}

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def _away_from_zero(rng, shape):
    """Values in +-[0.1, 2]: the kinks of relu and leaky_relu are at 0, where differences lie."""
    return rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_elementwise_matches_loop_reference(name, shape, seed):
    fn, scalar = ELEMENTWISE[name]
    x = np.random.default_rng(seed).normal(0, 3, shape)
    expected = np.array([scalar(float(v)) for v in x.ravel()]).reshape(shape)
    np.testing.assert_allclose(fn(minidl.Tensor(x)).data, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_gradcheck(name, rng):
    fn = ELEMENTWISE[name][0]
    x = minidl.Tensor(_away_from_zero(rng, (3, 4)), requires_grad=True)
    assert minidl.gradcheck(fn, (x,))


def test_leaky_relu_slope_and_default(rng):
    x = minidl.Tensor(np.array([-2.0, -0.5, 0.5, 3.0]), requires_grad=True)
    np.testing.assert_array_equal(F.leaky_relu(x).data, [-0.02, -0.005, 0.5, 3.0])
    # a negative slope flips the sign of the left branch; the input's sign still picks the branch
    assert minidl.gradcheck(lambda t: F.leaky_relu(t, -0.5), (x,))
    v = rng.normal(size=1000).astype(np.float32)
    y = F.leaky_relu(minidl.Tensor(v), 0.3).data
    np.testing.assert_array_equal(y, np.where(v > 0, v, v * np.float32(0.3)))


def test_relu_gradient_is_one_or_zero():
    x = minidl.Tensor(np.array([-3.0, -1e-3, 2e-3, 5.0]), requires_grad=True)
    F.relu(x, inplace=True).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 0, 1, 1])


def test_sigmoid_extremes_are_exact_and_silent():
    x = minidl.Tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.sigmoid(x)
        y.sum().backward()
        y32 = F.sigmoid(minidl.Tensor(np.array([-1000.0, 1000.0], dtype=np.float32)))
    assert y.data[0] == 0.0 and y.data[-1] == 1.0 and y.data[2] == 0.5
    assert y32.data.tolist() == [0.0, 1.0]
    assert x.grad.data[0] == 0.0 and x.grad.data[-1] == 0.0 and x.grad.data[2] == 0.25


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       data=st.data(), seed=st.integers(0, 2**16))
def test_softmax_and_log_softmax_match_loop_reference(shape, data, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).normal(0, 3, shape)
    moved = np.moveaxis(x, dim, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    soft = np.empty_like(flat)
    for r in range(flat.shape[0]):
        total = sum(math.exp(v) for v in flat[r])
        for c in range(flat.shape[1]):
            soft[r, c] = math.exp(flat[r, c]) / total
    soft = np.moveaxis(soft.reshape(moved.shape), -1, dim)
    np.testing.assert_allclose(F.softmax(minidl.Tensor(x), dim).data, soft, rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(minidl.Tensor(x), dim=dim).data, np.log(soft),
                               rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family_gradcheck(fn, dim, rng):
    x = minidl.Tensor(rng.normal(0, 2, (3, 4, 2)), requires_grad=True)
    assert minidl.gradcheck(lambda t: fn(t, dim), (x,))


def test_softmax_family_large_logits_stay_finite():
    x = minidl.Tensor(np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        soft = F.softmax(x, 1).data
        log_soft = F.log_softmax(x, 1).data
    np.testing.assert_array_equal(soft, [[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(log_soft, [[0.0, -1000.0, -2000.0]])
    assert soft.dtype == log_soft.dtype == np.float32


def test_softmax_zero_dim_and_empty():
    assert F.softmax(minidl.Tensor(np.float64(3.0)), 0).data == 1.0
    assert F.log_softmax(minidl.Tensor(np.float64(3.0)), -1).data == 0.0
    assert F.softmax(minidl.Tensor(np.zeros((0, 3))), 1).shape == (0, 3)


def test_tensor_methods_route_here(rng):
    x = minidl.Tensor(rng.normal(size=(2, 3)))
    np.testing.assert_array_equal(x.relu().data, F.relu(x).data)
    np.testing.assert_array_equal(x.sigmoid().data, F.sigmoid(x).data)
    np.testing.assert_array_equal(x.tanh().data, F.tanh(x).data)
    np.testing.assert_array_equal(x.softmax(1).data, F.softmax(x, 1).data)
    np.testing.assert_array_equal(x.log_softmax(0).data, F.log_softmax(x, 0).data)


def test_bad_input_errors():
    with pytest.raises(TypeError, match="relu: expected a Tensor"):
        F.relu(np.zeros(3))
    with pytest.raises(TypeError, match="sigmoid: expected a floating-point tensor, got dtype int64"):
        F.sigmoid(minidl.tensor([1, 2]))
    with pytest.raises(ValueError, match="softmax: pass dim explicitly"):
        F.softmax(minidl.zeros(2, 3))
    with pytest.raises(ValueError, match="log_softmax: dim 2 is out of range"):
        F.log_softmax(minidl.zeros(2, 3), 2)
    with pytest.raises(TypeError, match="leaky_relu: negative_slope must be a number"):
        F.leaky_relu(minidl.zeros(2), "0.1")


def _cpu_and_gpu(fn, x, g):
    out = []
    for device in ("cpu", "cuda"):
        t = minidl.Tensor(x, device=device, requires_grad=True)
        y = fn(t)
        y.backward(minidl.Tensor(g, device=device))
        out.append((minidl.backend.to_numpy(y.data), minidl.backend.to_numpy(t.grad.data)))
    return out


GPU_CASES = {**{k: v[0] for k, v in ELEMENTWISE.items()},
             "softmax": lambda t: F.softmax(t, 1), "log_softmax": lambda t: F.log_softmax(t, -1)}


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(GPU_CASES))
def test_gpu_matches_cpu(name, rng):
    x = rng.normal(0, 3, (4, 5, 6)).astype(np.float32)
    g = rng.normal(size=x.shape).astype(np.float32)
    (y_cpu, gx_cpu), (y_gpu, gx_gpu) = _cpu_and_gpu(GPU_CASES[name], x, g)
    assert y_gpu.dtype == np.float32
    assert _rel(y_gpu, y_cpu) <= 1e-5
    assert _rel(gx_gpu, gx_cpu) <= 1e-4


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(GPU_CASES))
def test_gpu_is_deterministic(name, rng):
    x = rng.normal(0, 3, (4, 5, 6)).astype(np.float32)
    g = rng.normal(size=x.shape).astype(np.float32)
    first = _cpu_and_gpu(GPU_CASES[name], x, g)[1]
    second = _cpu_and_gpu(GPU_CASES[name], x, g)[1]
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
