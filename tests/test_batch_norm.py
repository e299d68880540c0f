import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F


def naive_batch_norm(x, mean, var, weight, bias, eps):
    """Per element with loops: (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c."""
    y = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        c = idx[1]
        y[idx] = (x[idx] - mean[c]) / np.sqrt(var[c] + eps) * weight[c] + bias[c]
    return y


def naive_channel_stats(x):
    """(mean, biased variance, unbiased variance) of each channel, from plain loops."""
    channels = x.shape[1]
    means, biased, unbiased = [], [], []
    for c in range(channels):
        values = [x[idx] for idx in np.ndindex(*x.shape) if idx[1] == c]
        m = sum(values) / len(values)
        ss = sum((v - m) ** 2 for v in values)
        means.append(m)
        biased.append(ss / len(values))
        unbiased.append(ss / (len(values) - 1))
    return np.array(means), np.array(biased), np.array(unbiased)


cases = st.fixed_dictionaries({
    "shape": st.tuples(st.integers(2, 3), st.integers(1, 3))
    .flatmap(lambda nc: st.lists(st.integers(1, 3), max_size=2).map(lambda sp: nc + tuple(sp))),
    "affine": st.booleans(),
    "momentum": st.floats(0.0, 1.0),
    "eps": st.sampled_from([1e-5, 1e-3, 0.1]),
    "seed": st.integers(0, 2**16),
})


def _params(rng, channels, affine):
    if not affine:
        return None, None, np.ones(channels), np.zeros(channels)
    w, b = rng.normal(size=channels), rng.normal(size=channels)
    return minidl.Tensor(w), minidl.Tensor(b), w, b


@given(case=cases)
def test_training_matches_loop_reference_and_updates_running_stats(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(1, 2, case["shape"])
    channels = x.shape[1]
    weight, bias, w, b = _params(rng, channels, case["affine"])
    rm0, rv0 = rng.normal(size=channels), rng.uniform(0.5, 2, channels)
    running_mean, running_var = minidl.Tensor(rm0.copy()), minidl.Tensor(rv0.copy())
    y = F.batch_norm(minidl.Tensor(x), running_mean, running_var, weight, bias, training=True,
                     momentum=case["momentum"], eps=case["eps"])
    mean, biased, unbiased = naive_channel_stats(x)
    np.testing.assert_allclose(y.data, naive_batch_norm(x, mean, biased, w, b, case["eps"]),
                               rtol=1e-10, atol=1e-12)
    m = case["momentum"]
    np.testing.assert_allclose(running_mean.data, (1 - m) * rm0 + m * mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(running_var.data, (1 - m) * rv0 + m * unbiased, rtol=1e-12, atol=1e-14)


@given(case=cases)
def test_eval_uses_running_stats_and_leaves_them_alone(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(1, 2, case["shape"])
    channels = x.shape[1]
    weight, bias, w, b = _params(rng, channels, case["affine"])
    rm0, rv0 = rng.normal(size=channels), rng.uniform(0.5, 2, channels)
    running_mean, running_var = minidl.Tensor(rm0.copy()), minidl.Tensor(rv0.copy())
    y = F.batch_norm(minidl.Tensor(x), running_mean, running_var, weight, bias, training=False,
                     momentum=case["momentum"], eps=case["eps"])
    np.testing.assert_allclose(y.data, naive_batch_norm(x, rm0, rv0, w, b, case["eps"]), rtol=1e-12)
    np.testing.assert_array_equal(running_mean.data, rm0)
    np.testing.assert_array_equal(running_var.data, rv0)


def test_eval_without_running_stats_is_refused_as_in_pytorch(rng):
    x = minidl.Tensor(rng.normal(size=(4, 3, 2)))
    with pytest.raises(ValueError, match="running_mean must be given in evaluation mode"):
        F.batch_norm(x, None, None, training=False)
    mean, biased, _ = naive_channel_stats(x.numpy())
    y = F.batch_norm(x, None, None, training=True)
    np.testing.assert_allclose(y.data, naive_batch_norm(x.numpy(), mean, biased, np.ones(3), np.zeros(3), 1e-5),
                               rtol=1e-12)


def test_eps_must_be_positive_in_training_and_non_negative_in_evaluation():
    x = minidl.randn(4, 3)
    with pytest.raises(ValueError, match="eps must be positive in training"):
        F.batch_norm(x, None, None, training=True, eps=0.0)
    with pytest.raises(ValueError, match="eps must be non-negative"):
        F.batch_norm(x, minidl.zeros(3), minidl.ones(3), eps=-1e-5)
    assert F.batch_norm(x, minidl.zeros(3), minidl.ones(3), eps=0.0).shape == (4, 3)


def test_running_stats_after_two_steps_by_hand():
    running_mean, running_var = minidl.zeros(1), minidl.ones(1)
    ids = (id(running_mean.data), id(running_var.data))
    # step 1: values 1, 3 -> mean 2, unbiased variance 2
    F.batch_norm(minidl.Tensor([[1.0], [3.0]]), running_mean, running_var, training=True)
    np.testing.assert_allclose(running_mean.data, [0.2], rtol=1e-6)   # 0.9 * 0 + 0.1 * 2
    np.testing.assert_allclose(running_var.data, [1.1], rtol=1e-6)    # 0.9 * 1 + 0.1 * 2
    # step 2: values 0, 4, 8 -> mean 4, unbiased variance (16 + 0 + 16) / 2 = 16
    F.batch_norm(minidl.Tensor([[0.0], [4.0], [8.0]]), running_mean, running_var, training=True)
    np.testing.assert_allclose(running_mean.data, [0.58], rtol=1e-6)  # 0.9 * 0.2 + 0.1 * 4
    np.testing.assert_allclose(running_var.data, [2.59], rtol=1e-6)   # 0.9 * 1.1 + 0.1 * 16
    assert (id(running_mean.data), id(running_var.data)) == ids
    assert running_mean.dtype == running_var.dtype == np.float32


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 4), (2, 3, 2, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_input_weight_bias(shape, training, rng):
    channels = shape[1]
    x = minidl.Tensor(rng.normal(1, 2, shape), requires_grad=True)
    w = minidl.Tensor(rng.normal(size=channels), requires_grad=True)
    b = minidl.Tensor(rng.normal(size=channels), requires_grad=True)
    running_mean = minidl.Tensor(rng.normal(size=channels))
    running_var = minidl.Tensor(rng.uniform(0.5, 2, channels))
    assert minidl.gradcheck(
        lambda t, wt, bt: F.batch_norm(t, running_mean, running_var, wt, bt, training=training),
        (x, w, b),
    )


def test_gradcheck_without_affine_parameters(rng):
    x = minidl.Tensor(rng.normal(size=(3, 2, 3)), requires_grad=True)
    assert minidl.gradcheck(lambda t: F.batch_norm(t, None, None, training=True), (x,))


def test_float32_keeps_dtype(rng):
    x = minidl.Tensor(rng.normal(size=(4, 3, 2, 2)).astype(np.float32), requires_grad=True)
    w = minidl.ones(3, requires_grad=True)
    y = F.batch_norm(x, minidl.zeros(3), minidl.ones(3), w, minidl.zeros(3), training=True)
    y.backward(minidl.ones(*y.shape))
    assert y.dtype == x.grad.dtype == w.grad.dtype == np.float32


def test_one_value_per_channel_in_training_is_an_error():
    for shape in [(1, 3), (1, 3, 1, 1)]:
        with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training, "
                                             rf"got input size \({shape[0]}, 3"):
            F.batch_norm(minidl.zeros(*shape), minidl.zeros(3), minidl.ones(3), training=True)
    assert F.batch_norm(minidl.zeros(1, 3), minidl.zeros(3), minidl.ones(3)).shape == (1, 3)


def test_bad_input_errors():
    x = minidl.zeros(2, 3, 4)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean has shape \(4,\) but the input has 3"):
        F.batch_norm(x, minidl.zeros(4), minidl.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm: weight has shape \(2,\)"):
        F.batch_norm(x, None, None, weight=minidl.ones(2), training=True)
    with pytest.raises(TypeError, match="batch_norm: bias is float64 but the input is float32"):
        F.batch_norm(x, None, None, bias=minidl.zeros(3, dtype=minidl.float64), training=True)
    with pytest.raises(ValueError, match="batch_norm: momentum=None"):
        F.batch_norm(x, minidl.zeros(3), minidl.ones(3), training=True, momentum=None)
    with pytest.raises(ValueError, match=r"batch_norm: expected an input of shape \(N, C, \*\)"):
        F.batch_norm(minidl.zeros(3), None, None)
    with pytest.raises(TypeError, match="batch_norm: running_var must be a Tensor or None"):
        F.batch_norm(x, minidl.zeros(3), np.ones(3))


def _run(x, g, w, b, training, device):
    t = minidl.Tensor(x, device=device, requires_grad=True)
    wt = minidl.Tensor(w, device=device, requires_grad=True)
    bt = minidl.Tensor(b, device=device, requires_grad=True)
    channels = x.shape[1]
    rm = minidl.Tensor(np.linspace(-1, 1, channels).astype(x.dtype), device=device)
    rv = minidl.Tensor(np.linspace(0.5, 2, channels).astype(x.dtype), device=device)
    y = F.batch_norm(t, rm, rv, wt, bt, training=training)
    y.backward(minidl.Tensor(g, device=device))
    return [minidl.backend.to_numpy(a) for a in (y.data, t.grad.data, wt.grad.data, bt.grad.data,
                                                 rm.data, rv.data)]


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.gpu
@pytest.mark.parametrize("shape, training", list(itertools.product([(8, 4), (4, 3, 10), (4, 5, 6, 7)],
                                                               [True, False])))
def test_gpu_matches_cpu(shape, training, rng):
    x = rng.normal(1, 2, shape).astype(np.float32)
    g = rng.normal(size=shape).astype(np.float32)
    w = rng.normal(size=shape[1]).astype(np.float32)
    b = rng.normal(size=shape[1]).astype(np.float32)
    cpu = _run(x, g, w, b, training, "cpu")
    gpu = _run(x, g, w, b, training, "cuda")
    assert _rel(gpu[0], cpu[0]) <= 1e-5
    for got, want in zip(gpu[1:4], cpu[1:4]):
        assert _rel(got, want) <= 1e-4
    for got, want in zip(gpu[4:], cpu[4:]):
        assert _rel(got, want) <= 1e-5


@pytest.mark.gpu
def test_gpu_is_deterministic(rng):
    shape = (4, 5, 6, 7)
    x = rng.normal(1, 2, shape).astype(np.float32)
    g = rng.normal(size=shape).astype(np.float32)
    w, b = np.ones(5, np.float32), np.zeros(5, np.float32)
    for first, second in zip(_run(x, g, w, b, True, "cuda"), _run(x, g, w, b, True, "cuda")):
        np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("training", [True, False])
def test_matches_torch(training, rng):
    torch = pytest.importorskip("torch")
    x, g = rng.normal(1, 2, (4, 3, 2, 5)), rng.normal(size=(4, 3, 2, 5))
    w, b = rng.normal(size=3), rng.normal(size=3)
    rm, rv = rng.normal(size=3), rng.uniform(0.5, 2, 3)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    rmt, rvt = torch.tensor(rm), torch.tensor(rv)
    yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, training=training, momentum=0.2, eps=1e-3)
    yt.backward(torch.tensor(g))
    xs, ws, bs = (minidl.Tensor(a, requires_grad=True) for a in (x, w, b))
    rms, rvs = minidl.Tensor(rm.copy()), minidl.Tensor(rv.copy())
    y = F.batch_norm(xs, rms, rvs, ws, bs, training=training, momentum=0.2, eps=1e-3)
    y.backward(minidl.Tensor(g))
    for got, want in [(y.data, yt.detach()), (xs.grad.data, xt.grad), (ws.grad.data, wt.grad),
                      (bs.grad.data, bt.grad), (rms.data, rmt), (rvs.data, rvt)]:
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-12)


def test_statistics_do_not_cancel_for_a_large_mean():
    # sum x^2 - M mean^2 would lose the variance of float32 data centred far from zero
    from minidl.functional.batchnorm import batch_statistics

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 3, 16, 16)) * 0.01 + 1000).astype(np.float32)
    mean, var = batch_statistics(x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(var, x64.var(axis=(0, 2, 3)), rtol=1e-3)
