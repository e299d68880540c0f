"""minidl.nn.init: gains, fans, the distributions' bounds and moments, repeatability, bilinear filters."""
import math

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.nn import init


def _t(*shape, dtype=minidl.float32):
    return minidl.zeros(*shape, dtype=dtype)


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", True)


def test_simple_fills_are_in_place_and_keep_dtype():
    t = _t(50, 40, dtype=minidl.float64)
    assert init.uniform_(t, -2, 3) is t and t.dtype == np.float64
    assert -2 <= t.numpy().min() and t.numpy().max() < 3 and abs(t.numpy().mean() - 0.5) < 0.15
    init.normal_(t, 1.0, 0.5)
    assert abs(t.numpy().mean() - 1) < 0.05 and abs(t.numpy().std() - 0.5) < 0.05
    assert np.all(init.constant_(t, 0.25).numpy() == 0.25)
    assert np.all(init.zeros_(t).numpy() == 0) and np.all(init.ones_(t).numpy() == 1)


def test_fills_of_a_parameter_record_no_graph():
    p = nn.Parameter(_t(3, 3))
    init.normal_(p)
    assert p.is_leaf and p.requires_grad and p.grad is None


def test_manual_seed_repeats_draws():
    minidl.manual_seed(7)
    a = init.kaiming_normal_(_t(4, 5)).numpy().copy()
    minidl.manual_seed(7)
    np.testing.assert_array_equal(init.kaiming_normal_(_t(4, 5)).numpy(), a)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_uniform_bound(mode):
    w = init.kaiming_uniform_(_t(64, 32, 3, 3), mode=mode, nonlinearity="relu")
    fan = 32 * 9 if mode == "fan_in" else 64 * 9
    bound = math.sqrt(2) * math.sqrt(3 / fan)
    assert np.abs(w.numpy()).max() <= bound
    assert np.abs(w.numpy()).max() > 0.98 * bound


def test_kaiming_normal_std_and_linear_default():
    w = init.kaiming_normal_(_t(128, 64, 3, 3), mode="fan_out", nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / (128 * 9)), rel=0.02)
    w = init.kaiming_uniform_(_t(50, 400), a=math.sqrt(5))
    assert np.abs(w.numpy()).max() <= 1 / math.sqrt(400)


def test_xavier():
    w = init.xavier_uniform_(_t(30, 20, 2, 2), gain=2.0)
    bound = 2 * math.sqrt(6 / (20 * 4 + 30 * 4))
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.97 * bound
    w = init.xavier_normal_(_t(200, 300))
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)


def test_fan_needs_two_dimensions():
    with pytest.raises(ValueError, match="at least 2 dimensions, got shape \\(5,\\)"):
        init.xavier_uniform_(_t(5))
    with pytest.raises(ValueError, match="mode 'fan_avg'"):
        init.kaiming_uniform_(_t(2, 2), mode="fan_avg")
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(_t(0, 3))


def _truncated_moments(mean, std, a, b):
    """Mean and std of N(mean, std^2) restricted to [a, b], in closed form."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    z = cdf(beta) - cdf(alpha)
    shift = (pdf(alpha) - pdf(beta)) / z
    z_pdf = lambda v: 0.0 if math.isinf(v) else v * pdf(v)  # noqa: E731  (the limit at +-inf)
    var = 1 + (z_pdf(alpha) - z_pdf(beta)) / z - shift ** 2
    return mean + std * shift, std * math.sqrt(var)


@pytest.mark.parametrize("mean, std, a, b", [
    (0.0, 1.0, -2.0, 2.0),      # PyTorch's defaults
    (0.0, 0.02, -2.0, 2.0),     # ViT-style: bounds far outside, a plain normal
    (1.0, 1.0, 0.5, 3.0),       # asymmetric
    (0.0, 1.0, 3.0, 4.0),       # far in the right tail
    (0.0, 1.0, -math.inf, -3.5),  # a one-sided left tail
    (0.0, 1.0, 0.1, 0.2),       # narrow
])
def test_trunc_normal_bounds_and_moments(mean, std, a, b):
    w = init.trunc_normal_(_t(20000, dtype=minidl.float64), mean, std, a, b).numpy()
    assert w.min() >= a and w.max() <= b
    m, s = _truncated_moments(mean, std, a, b)
    assert w.mean() == pytest.approx(m, abs=0.03 * s)
    assert w.std() == pytest.approx(s, rel=0.05)


def test_trunc_normal_arguments():
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(_t(3), a=1.0, b=1.0)
    with pytest.raises(ValueError, match="std must be positive"):
        init.trunc_normal_(_t(3), std=0.0)


def test_bilinear_filters_by_hand():
    w = init.bilinear_(_t(2, 2, 4, 4)).numpy()
    taps = np.array([0.25, 0.75, 0.75, 0.25])
    np.testing.assert_allclose(w[0, 0], np.outer(taps, taps))
    np.testing.assert_allclose(w[1, 1], np.outer(taps, taps))
    assert np.all(w[0, 1] == 0) and np.all(w[1, 0] == 0)
    w3 = init.bilinear_(_t(1, 1, 3, 3)).numpy()[0, 0]
    np.testing.assert_allclose(w3, np.outer([0.5, 1, 0.5], [0.5, 1, 0.5]))
    grouped = init.bilinear_(_t(3, 1, 4, 4)).numpy()
    assert all(np.allclose(grouped[c, 0], np.outer(taps, taps)) for c in range(3))
    with pytest.raises(ValueError, match="2 input and 3 output channels"):
        init.bilinear_(_t(2, 3, 4, 4))


def test_bilinear_transposed_convolution_interpolates_a_ramp():
    up = nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1, bias=False)
    init.bilinear_(up.weight)
    ramp = minidl.tensor(np.tile(np.arange(4.0), (4, 1)).T.reshape(1, 1, 4, 4).astype(np.float32))
    out = up(ramp).numpy()[0, 0]
    assert out.shape == (8, 8)
    # output row r sits at input coordinate r / 2 - 1/4 (half-pixel centres); rows 0 and 7 touch the padding
    expected = np.arange(1, 7) / 2 - 0.25
    np.testing.assert_allclose(out[1:7, 1:7], np.repeat(expected[:, None], 6, axis=1), atol=1e-6)


@pytest.mark.gpu
def test_init_on_gpu_matches_cpu_for_the_same_seed():
    cpu, gpu = _t(8, 4, 3, 3), minidl.zeros(8, 4, 3, 3, device="cuda")
    for fill in (init.kaiming_uniform_, init.xavier_normal_, init.trunc_normal_, init.bilinear_):
        if fill is init.bilinear_:
            cpu, gpu = _t(4, 4, 3, 3), minidl.zeros(4, 4, 3, 3, device="cuda")
        minidl.manual_seed(3)
        fill(cpu)
        minidl.manual_seed(3)
        fill(gpu)
        assert gpu.device == "cuda"
        np.testing.assert_array_equal(gpu.numpy(), cpu.numpy())
