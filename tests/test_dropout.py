import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F


def _kept_fraction_ok(kept, total, p):
    """Within 5 standard deviations of a Binomial(total, 1 - p) count."""
    sd = np.sqrt(total * p * (1 - p))
    return abs(kept - total * (1 - p)) <= 5 * sd + 1e-9


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_and_scale(p):
    x = minidl.Tensor(np.random.default_rng(0).uniform(1, 2, (40, 500)))
    y = F.dropout(x, p).data
    kept = y != 0
    assert _kept_fraction_ok(kept.sum(), y.size, p)
    np.testing.assert_allclose(y[kept], x.data[kept] / (1 - p), rtol=1e-15)


@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple),
       p=st.floats(0.05, 0.95), seed=st.integers(0, 2**16))
def test_dropout_elements_are_zero_or_scaled(shape, p, seed):
    x = np.random.default_rng(seed).uniform(0.5, 2, shape).astype(np.float32)
    y = F.dropout(minidl.Tensor(x), p).data
    assert y.shape == shape and y.dtype == np.float32
    for xv, yv in zip(x.ravel(), y.ravel()):
        assert yv == 0 or yv == pytest.approx(xv / (1 - p), rel=1e-6)


def test_backward_uses_the_forward_mask(rng):
    x = minidl.Tensor(rng.uniform(1, 2, (6, 7)), requires_grad=True)
    y = F.dropout(x, 0.3)
    g = rng.normal(size=(6, 7))
    y.backward(minidl.Tensor(g))
    np.testing.assert_allclose(x.grad.data, g * (y.data / x.data), rtol=1e-14)


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d])
def test_gradcheck_with_a_fixed_mask(fn, rng):
    x = minidl.Tensor(rng.normal(size=(2, 6, 2, 2)), requires_grad=True)

    def reseeded(t):
        minidl.manual_seed(7)
        return fn(t, 0.4)

    assert minidl.gradcheck(reseeded, (x,))


def test_eval_and_p_zero_are_identity_and_p_one_is_zero(rng):
    x = minidl.Tensor(rng.normal(size=(3, 4, 2, 2)), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert F.dropout2d(x, 0.9, training=False) is x
    y = F.dropout(x, 1.0)
    y.sum().backward()
    assert not y.data.any() and not x.grad.data.any()
    assert not np.isnan(x.grad.data).any()
    assert not F.dropout2d(x, 1).data.any()


def test_same_seed_same_mask():
    x = minidl.ones(20, 30)
    minidl.manual_seed(123)
    a = F.dropout(x).data
    b = F.dropout(x).data
    minidl.manual_seed(123)
    np.testing.assert_array_equal(F.dropout(x).data, a)
    np.testing.assert_array_equal(F.dropout(x).data, b)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("shape", [(8, 50, 3, 2), (400, 2, 3)])
def test_dropout2d_zeroes_whole_channels(shape):
    p = 0.3
    x = minidl.Tensor(np.random.default_rng(1).uniform(1, 2, shape))
    y = F.dropout2d(x, p).data
    lead = y.ndim - 2
    kept = y != 0
    per_channel = kept.reshape(y.shape[:lead] + (-1,))
    assert (per_channel.all(axis=-1) | ~per_channel.any(axis=-1)).all()
    channels_kept = per_channel.all(axis=-1)
    assert _kept_fraction_ok(channels_kept.sum(), channels_kept.size, p)
    np.testing.assert_allclose(y[kept], x.data[kept] / (1 - p), rtol=1e-15)


def test_bad_input_errors():
    x = minidl.zeros(2, 3, 4, 4)
    for p in (-0.1, 1.5):
        message = f"dropout: dropout probability p has to be between 0 and 1, got {p}"
        with pytest.raises(ValueError, match=message):
            F.dropout(x, p)
        with pytest.raises(ValueError, match="dropout2d: dropout probability p"):
            F.dropout2d(x, p)
    with pytest.raises(TypeError, match="dropout: p must be a number, got str"):
        F.dropout(x, "0.5")
    with pytest.raises(ValueError, match=r"dropout2d: expected a 4-D \(N, C, H, W\) or 3-D"):
        F.dropout2d(minidl.zeros(2, 3), 0.5)
    with pytest.raises(TypeError, match="dropout: expected a floating-point tensor"):
        F.dropout(minidl.tensor([1, 2]), 0.5)


def splitmix_uniform(seed, n):
    """NumPy replica of kernels/dropout.cu's hash: SplitMix64 output i for ``seed``, as [0, 1)."""
    z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_mask_is_the_documented_hash(dtype):
    p = 0.35
    x = minidl.ones(30, 40, dtype=dtype, device="cuda")
    minidl.manual_seed(11)
    y = minidl.backend.to_numpy(F.dropout(x, p).data)
    minidl.manual_seed(11)
    seed = minidl.random.generator().integers(0, 2**63)
    expected = np.where(splitmix_uniform(seed, x.numel()) >= p, 1 / (1 - p), 0).astype(dtype)
    np.testing.assert_array_equal(y, expected.reshape(x.shape))
    assert _kept_fraction_ok((y != 0).sum(), y.size, p)


@pytest.mark.gpu
def test_gpu_statistics_backward_and_channels(rng):
    x = minidl.Tensor(rng.uniform(1, 2, (40, 500)).astype(np.float32), device="cuda", requires_grad=True)
    y = F.dropout(x, 0.6)
    g = rng.normal(size=(40, 500)).astype(np.float32)
    y.backward(minidl.Tensor(g, device="cuda"))
    y, gx, xd = (minidl.backend.to_numpy(a) for a in (y.data, x.grad.data, x.data))
    kept = y != 0
    assert _kept_fraction_ok(kept.sum(), y.size, 0.6)
    np.testing.assert_allclose(y[kept], xd[kept] / 0.4, rtol=1e-6)
    np.testing.assert_allclose(gx, np.where(kept, g / 0.4, 0), rtol=1e-6)
    z = minidl.backend.to_numpy(F.dropout2d(minidl.ones(16, 32, 3, 3, device="cuda"), 0.5).data)
    assert (z == z[:, :, :1, :1]).all()


@pytest.mark.gpu
def test_gpu_same_seed_is_bitwise_identical():
    x = minidl.ones(64, 65, device="cuda")
    runs = []
    for _ in range(2):
        minidl.manual_seed(5)
        runs.append([minidl.backend.to_numpy(F.dropout(x, 0.5).data) for _ in range(2)])
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[0][1])


@pytest.mark.gpu
def test_gpu_eval_is_identity_like_cpu(rng):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    for device in ("cpu", "cuda"):
        t = minidl.Tensor(x, device=device)
        np.testing.assert_array_equal(minidl.backend.to_numpy(F.dropout(t, 0.5, training=False).data), x)
