"""Pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d against naive loop
references written from PyTorch's definitions, float64 gradchecks, bad input, and CPU vs GPU."""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import Tensor


# ---------------------------------------------------------------- naive references (plain loops)
def ref_out_size(n, k, s, p, d, ceil_mode):
    exact = (n + 2 * p - d * (k - 1) - 1) / s
    out = (math.ceil(exact) if ceil_mode else math.floor(exact)) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def ref_max_pool(x, k, s, p, d, ceil_mode):
    N, C, H, W = x.shape
    OH, OW = (ref_out_size(n, *args, ceil_mode) for n, *args in zip((H, W), k, s, p, d))
    y = np.full((N, C, OH, OW), -np.inf)
    idx = np.full((N, C, OH, OW), -1, dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    for i in range(k[0]):
                        for j in range(k[1]):
                            h, w = oh * s[0] - p[0] + i * d[0], ow * s[1] - p[1] + j * d[1]
                            if not (0 <= h < H and 0 <= w < W):
                                continue
                            v = x[n, c, h, w]
                            if idx[n, c, oh, ow] < 0 or v > y[n, c, oh, ow] or np.isnan(v):
                                y[n, c, oh, ow] = v
                                idx[n, c, oh, ow] = h * W + w
    return y, idx


def ref_argmax_backward(g, idx, shape):
    gx = np.zeros(shape)
    N, C, OH, OW = g.shape
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    if idx[n, c, oh, ow] >= 0:
                        h, w = divmod(int(idx[n, c, oh, ow]), shape[3])
                        gx[n, c, h, w] += g[n, c, oh, ow]
    return gx


def ref_avg_pool(x, k, s, p, ceil_mode, count_include_pad, divisor_override):
    N, C, H, W = x.shape
    OH, OW = (ref_out_size(n, kk, ss, pp, 1, ceil_mode) for n, kk, ss, pp in zip((H, W), k, s, p))
    y = np.zeros((N, C, OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            h0, w0 = oh * s[0] - p[0], ow * s[1] - p[1]
            h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
            padded_size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            if divisor_override:
                div = divisor_override
            elif count_include_pad:
                div = padded_size
            else:
                div = (h1 - h0) * (w1 - w0)
            for n in range(N):
                for c in range(C):
                    total = 0.0
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            total += x[n, c, h, w]
                    y[n, c, oh, ow] = total / div
    return y


def ref_adaptive(x, out, reduce):
    N, C, H, W = x.shape
    y = np.zeros((N, C) + out)
    idx = np.zeros((N, C) + out, dtype=np.int64)
    for oh in range(out[0]):
        for ow in range(out[1]):
            h0, h1 = math.floor(oh * H / out[0]), math.ceil((oh + 1) * H / out[0])
            w0, w1 = math.floor(ow * W / out[1]), math.ceil((ow + 1) * W / out[1])
            for n in range(N):
                for c in range(C):
                    if reduce == "avg":
                        y[n, c, oh, ow] = x[n, c, h0:h1, w0:w1].sum() / ((h1 - h0) * (w1 - w0))
                        continue
                    best, at = None, None
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            v = x[n, c, h, w]
                            if best is None or v > best or np.isnan(v):
                                best, at = v, h * W + w
                    y[n, c, oh, ow], idx[n, c, oh, ow] = best, at
    return y, idx


# ---------------------------------------------------------------- hypothesis strategies
@st.composite
def windows(draw, dilated=True, batched=True, extra=4):
    """(kernel, stride, padding, dilation, ceil_mode, input shape) valid for PyTorch; the input is
    up to ``extra`` larger than the smallest that works, and (1, 1, H, W) unless ``batched``."""
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = tuple(draw(st.integers(0, min(2, kk // 2))) for kk in k)
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilated else (1, 1)
    ceil_mode = draw(st.booleans())
    size = []
    for kk, ss, pp, dd in zip(k, s, p, d):
        smallest = max(1, dd * (kk - 1) + 1 - 2 * pp - (ss - 1 if ceil_mode else 0))
        size.append(draw(st.integers(smallest, smallest + extra)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *size) if batched else (1, 1, *size)
    return k, s, p, d, ceil_mode, shape


def distinct_values(shape, seed):
    """A random permutation of well-separated values: no ties, so max pooling is differentiable."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0).astype(np.float64)


def tied_values(shape, seed):
    """Few distinct small integers: many ties inside each window."""
    return np.random.default_rng(seed).integers(-2, 3, size=shape).astype(np.float64)


seeds = st.integers(0, 2**16)


# ---------------------------------------------------------------- max_pool2d
@given(windows(), st.booleans(), seeds)
def test_max_pool2d_matches_reference(window, ties, seed):
    k, s, p, d, ceil_mode, shape = window
    x = (tied_values if ties else distinct_values)(shape, seed)
    xt = Tensor(x, requires_grad=True)
    y, idx = F.max_pool2d(xt, k, s, p, d, ceil_mode=ceil_mode, return_indices=True)
    ref_y, ref_idx = ref_max_pool(x, k, s, p, d, ceil_mode)
    assert y.shape == ref_y.shape
    np.testing.assert_array_equal(y.numpy(), ref_y)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    assert idx.dtype == np.int64
    g = np.random.default_rng(seed + 1).standard_normal(ref_y.shape)
    y.backward(Tensor(g))
    np.testing.assert_allclose(xt.grad.numpy(), ref_argmax_backward(g, ref_idx, shape),
                               rtol=1e-12, atol=1e-12)


@given(windows(batched=False, extra=2), seeds)
def test_max_pool2d_gradcheck(window, seed):
    k, s, p, d, ceil_mode, shape = window
    x = Tensor(distinct_values(shape, seed), requires_grad=True)
    y = F.max_pool2d(x, k, s, p, d, ceil_mode)
    assume(np.isfinite(y.numpy()).all())
    assert minidl.gradcheck(lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode), (x,))


def test_max_pool2d_ties_pick_first_index():
    x = Tensor(np.ones((1, 1, 4, 5)))
    _, idx = F.max_pool2d(x, 2, stride=1, return_indices=True)
    top_left = np.arange(3)[:, None] * 5 + np.arange(4)[None, :]
    np.testing.assert_array_equal(idx.numpy()[0, 0], top_left)
    # windows start in the padding: the first element inside the input wins, even when all are -inf
    for fill in (1.0, -np.inf):
        x = Tensor(np.full((1, 1, 4, 5), fill))
        y, idx = F.max_pool2d(x, 3, stride=2, padding=1, return_indices=True)
        np.testing.assert_array_equal(idx.numpy()[0, 0], [[0, 1, 3], [5, 6, 8]])
        np.testing.assert_array_equal(y.numpy(), fill)
    _, idx = F.adaptive_max_pool2d(Tensor(np.full((1, 1, 5, 4), -np.inf)), (3, 3), return_indices=True)
    np.testing.assert_array_equal(idx.numpy()[0, 0], [[0, 1, 2], [4, 5, 6], [12, 13, 14]])


def test_max_pool2d_overlapping_windows_sum_gradients():
    x = Tensor(np.array([[[[0.0, 1, 0], [0, 5, 0], [0, 0, 0]]]]), requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()
    expected = np.zeros((3, 3))
    expected[1, 1] = 4.0
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)


def test_max_pool2d_nan_propagates():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    y = F.max_pool2d(Tensor(x), 2).numpy()
    assert np.isnan(y[0, 0, 0, 0]) and np.isfinite(y[0, 0, 1]).all()


def test_max_pool2d_window_entirely_in_padding():
    # dilation 3 puts both taps of the single window at rows/cols -1 and 2, outside a 2x2 input
    x = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    y, idx = F.max_pool2d(x, 2, padding=1, dilation=3, return_indices=True)
    assert y.numpy().item() == -np.inf and idx.numpy().item() == -1
    y.backward(Tensor(np.ones((1, 1, 1, 1))))
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)


@pytest.mark.parametrize("size, args, expected", [
    (55, dict(kernel_size=3, stride=2), 27),  # AlexNet
    (112, dict(kernel_size=3, stride=2, padding=1), 56),  # ResNet after conv1
    (5, dict(kernel_size=2, stride=2, ceil_mode=True), 3),
    (5, dict(kernel_size=3, stride=3, padding=1, ceil_mode=True), 2),  # last window would start in padding
    (2, dict(kernel_size=3, stride=2, ceil_mode=True), 1),
    (7, dict(kernel_size=2, stride=1, dilation=3), 4),
])
def test_output_sizes_known_cases(size, args, expected):
    x = Tensor(np.zeros((1, 1, size, size), dtype=np.float32))
    assert F.max_pool2d(x, **args).shape == (1, 1, expected, expected)
    if "dilation" not in args:
        assert F.avg_pool2d(x, **args).shape == (1, 1, expected, expected)


def test_stride_defaults_to_kernel_size():
    x = Tensor(np.random.default_rng(0).standard_normal((1, 2, 7, 9)))
    for op in (F.max_pool2d, F.avg_pool2d):
        expected = op(x, (2, 3), (2, 3)).numpy()
        np.testing.assert_array_equal(op(x, (2, 3)).numpy(), expected)
        np.testing.assert_array_equal(op(x, (2, 3), stride=[]).numpy(), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_unbatched_input_and_dtypes(dtype):
    x = np.random.default_rng(0).standard_normal((3, 6, 5)).astype(dtype)
    for op in (lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: F.avg_pool2d(t, 2, ceil_mode=True),
               lambda t: F.adaptive_max_pool2d(t, (2, 3)), lambda t: F.adaptive_avg_pool2d(t, 4)):
        xt = Tensor(x, requires_grad=True)
        y = op(xt)
        batched = op(Tensor(x[None]))
        assert y.dtype == dtype and y.shape == batched.shape[1:]
        np.testing.assert_array_equal(y.numpy(), batched.numpy()[0])
        y.sum().backward()
        assert xt.grad.shape == x.shape and xt.grad.dtype == dtype
    _, idx = F.max_pool2d(Tensor(x), 2, return_indices=True)
    assert idx.shape == (3, 3, 2)


# ---------------------------------------------------------------- avg_pool2d
@given(windows(dilated=False), st.booleans(), st.sampled_from([None, 3, -2]), seeds)
def test_avg_pool2d_matches_reference(window, count_include_pad, divisor_override, seed):
    k, s, p, _, ceil_mode, shape = window
    x = np.random.default_rng(seed).standard_normal(shape)
    y = F.avg_pool2d(Tensor(x), k, s, p, ceil_mode, count_include_pad, divisor_override)
    ref = ref_avg_pool(x, k, s, p, ceil_mode, count_include_pad, divisor_override)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12, atol=1e-12)


@given(windows(dilated=False, batched=False, extra=2), st.booleans(), seeds)
def test_avg_pool2d_gradcheck(window, count_include_pad, seed):
    k, s, p, _, ceil_mode, shape = window
    x = Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)
    assert minidl.gradcheck(lambda t: F.avg_pool2d(t, k, s, p, ceil_mode, count_include_pad), (x,))


def test_avg_pool2d_divisors_at_padding_and_ceil_overhang():
    x = Tensor(np.ones((1, 1, 4, 4)))
    # window 0 holds one input row and one padding row: 1/2 per axis when padding counts
    y = F.avg_pool2d(x, 2, padding=1).numpy()[0, 0]
    np.testing.assert_allclose(y, [[0.25, 0.5, 0.25], [0.5, 1, 0.5], [0.25, 0.5, 0.25]])
    # the ceil overhang past the input is never counted: all-ones input averages to one
    y = F.avg_pool2d(Tensor(np.ones((1, 1, 5, 5))), 2, ceil_mode=True).numpy()
    np.testing.assert_allclose(y, 1.0)


# ---------------------------------------------------------------- adaptive pooling
@st.composite
def adaptive_cases(draw):
    shape = tuple(draw(st.integers(1, n)) for n in (2, 2, 9, 9))
    out = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    return shape, out


@given(adaptive_cases(), st.booleans(), seeds)
def test_adaptive_max_pool2d_matches_reference(case, ties, seed):
    shape, out = case
    x = (tied_values if ties else distinct_values)(shape, seed)
    xt = Tensor(x, requires_grad=True)
    y, idx = F.adaptive_max_pool2d(xt, out, return_indices=True)
    ref_y, ref_idx = ref_adaptive(x, out, "max")
    np.testing.assert_array_equal(y.numpy(), ref_y)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    g = np.random.default_rng(seed + 1).standard_normal(ref_y.shape)
    y.backward(Tensor(g))
    np.testing.assert_allclose(xt.grad.numpy(), ref_argmax_backward(g, ref_idx, shape),
                               rtol=1e-12, atol=1e-12)


@given(adaptive_cases(), seeds)
def test_adaptive_avg_pool2d_matches_reference(case, seed):
    shape, out = case
    x = np.random.default_rng(seed).standard_normal(shape)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(Tensor(x), out).numpy(), ref_adaptive(x, out, "avg")[0],
                               rtol=1e-12, atol=1e-12)


@given(adaptive_cases(), seeds)
def test_adaptive_pooling_gradcheck(case, seed):
    shape, out = case
    x = Tensor(distinct_values(shape, seed), requires_grad=True)
    assert minidl.gradcheck(lambda t: F.adaptive_avg_pool2d(t, out), (x,))
    assert minidl.gradcheck(lambda t: F.adaptive_max_pool2d(t, out), (x,))


def test_adaptive_nan_and_output_size_forms():
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = np.nan
    for size in (3, 2, (4, 5)):  # tiled and overlapping bins
        y, idx = F.adaptive_max_pool2d(Tensor(x), size, return_indices=True)
        ref_y, ref_idx = ref_adaptive(x, y.shape[2:], "max")
        np.testing.assert_array_equal(y.numpy(), ref_y)
        np.testing.assert_array_equal(idx.numpy(), ref_idx)
    t = Tensor(np.zeros((2, 3, 13, 10)))
    assert F.adaptive_avg_pool2d(t, (6, None)).shape == (2, 3, 6, 10)
    assert F.adaptive_max_pool2d(t, (None, 7)).shape == (2, 3, 13, 7)
    assert F.adaptive_avg_pool2d(t, 1).shape == (2, 3, 1, 1)


def test_torch_cross_check():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = np.random.default_rng(3).standard_normal((2, 3, 9, 8))
    cases = [
        lambda m, t: m.max_pool2d(t, 3, 2, 1, 2, True),
        lambda m, t: m.avg_pool2d(t, (3, 2), (2, 3), (1, 1), True, False),
        lambda m, t: m.adaptive_avg_pool2d(t, (4, 5)),
        lambda m, t: m.adaptive_max_pool2d(t, (5, 3)),
    ]
    for op in cases:
        np.testing.assert_allclose(op(F, Tensor(x)).numpy(), op(tf, torch.from_numpy(x)).numpy(),
                                   rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, error, words", [
    (lambda x: F.max_pool2d(x[0, 0], 2), ValueError, "3D (C, H, W) or 4D"),
    (lambda x: F.max_pool2d(x, 0), ValueError, "kernel_size must be at least 1"),
    (lambda x: F.max_pool2d(x, 2, stride=(1, 0)), ValueError, "stride must be at least 1"),
    (lambda x: F.max_pool2d(x, 2, dilation=0), ValueError, "dilation must be at least 1"),
    (lambda x: F.max_pool2d(x, 3, padding=2), ValueError, "at most kernel_size // 2 = (1, 1)"),
    (lambda x: F.avg_pool2d(x, 2, padding=-1), ValueError, "padding must be non-negative"),
    (lambda x: F.max_pool2d(x, 7), ValueError, "smallest input that works is 7x7"),
    (lambda x: F.max_pool2d(x, 3, dilation=3), ValueError, "input of size 5x6"),
    (lambda x: F.max_pool2d(x, 2.0), TypeError, "kernel_size must be an int"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), ValueError, "divisor_override must not be zero"),
    (lambda x: F.adaptive_avg_pool2d(x, 0), ValueError, "output_size must be at least 1"),
    (lambda x: F.adaptive_max_pool2d(x, (2, 2, 2)), TypeError, "output_size must be an int or a pair"),
    (lambda x: F.avg_pool2d(x.long(), 2), TypeError, "floating-point"),
    (lambda x: F.max_pool2d(x.numpy(), 2), TypeError, "must be a Tensor"),
])
def test_bad_input_errors(call, error, words):
    x = Tensor(np.zeros((1, 2, 5, 6), dtype=np.float32))
    with pytest.raises(error) as info:
        call(x)
    message = str(info.value)
    assert words in message
    assert any(op in message for op in ("max_pool2d", "avg_pool2d"))


# ---------------------------------------------------------------- GPU against CPU
gpu_cases = [
    ("max", lambda t: F.max_pool2d(t, 3, 2, 1, 2, True)),
    ("max", lambda t: F.max_pool2d(t, (2, 3), (2, 1))),
    ("avg", lambda t: F.avg_pool2d(t, 3, 2, 1, True, False)),
    ("avg", lambda t: F.avg_pool2d(t, (3, 2), 1, (1, 0), True, True, 5)),
    ("adaptive_max", lambda t: F.adaptive_max_pool2d(t, (4, 5))),
    ("adaptive_max", lambda t: F.adaptive_max_pool2d(t, (3, 7))),
    ("adaptive_avg", lambda t: F.adaptive_avg_pool2d(t, (4, 5))),
]


def _run(op, x, g, device):
    xt = Tensor(x, requires_grad=True, device=device)
    y = op(xt)
    y.backward(Tensor(g, device=device))
    return y.numpy(), xt.grad.numpy()


@pytest.mark.gpu
@pytest.mark.parametrize("name, op", gpu_cases)
def test_gpu_matches_cpu_and_is_deterministic(name, op):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 13, 14)).astype(np.float32)
    g = rng.standard_normal(op(Tensor(x)).shape).astype(np.float32)
    y_cpu, gx_cpu = _run(op, x, g, "cpu")
    y_gpu, gx_gpu = _run(op, x, g, "cuda")
    scale = np.abs(y_cpu).max()
    assert np.abs(y_gpu - y_cpu).max() <= 1e-5 * scale
    assert np.abs(gx_gpu - gx_cpu).max() <= 1e-4 * np.abs(gx_cpu).max()
    y_again, gx_again = _run(op, x, g, "cuda")
    np.testing.assert_array_equal(y_again, y_gpu)
    np.testing.assert_array_equal(gx_again, gx_gpu)


@pytest.mark.gpu
def test_gpu_indices_float64_and_unbatched():
    x = distinct_values((2, 3, 11, 9), 5)
    for op in (lambda t: F.max_pool2d(t, 3, 2, 1, 1, True, return_indices=True),
               lambda t: F.adaptive_max_pool2d(t, (4, 4), return_indices=True)):
        y_cpu, i_cpu = op(Tensor(x))
        y_gpu, i_gpu = op(Tensor(x, device="cuda"))
        np.testing.assert_array_equal(y_gpu.numpy(), y_cpu.numpy())
        np.testing.assert_array_equal(i_gpu.numpy(), i_cpu.numpy())
    for op in (lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: F.avg_pool2d(t, 3, 2, 1)):
        g = np.random.default_rng(1).standard_normal(op(Tensor(x[0])).shape)
        cpu = _run(op, x[0], g, "cpu")
        gpu = _run(op, x[0], g, "cuda")
        for a, b in zip(cpu, gpu):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("name, op", gpu_cases)
def test_gpu_float16_matches_cpu(name, op):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 13, 14)).astype(np.float16)
    g = rng.standard_normal(op(Tensor(x)).shape).astype(np.float16)
    y_cpu, gx_cpu = _run(op, x.astype(np.float32), g.astype(np.float32), "cpu")
    y_gpu, gx_gpu = _run(op, x, g, "cuda")
    assert y_gpu.dtype == np.float16 and gx_gpu.dtype == np.float16
    np.testing.assert_allclose(y_gpu.astype(np.float32), y_cpu, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(gx_gpu.astype(np.float32), gx_cpu, rtol=2e-3, atol=4e-3)


@pytest.mark.gpu
def test_gpu_gradcheck():
    x = Tensor(distinct_values((1, 2, 7, 6), 2), requires_grad=True, device="cuda")
    assert minidl.gradcheck(lambda t: F.max_pool2d(t, 3, 2, 1, 1, True), (x,))
    assert minidl.gradcheck(lambda t: F.avg_pool2d(t, 3, 2, 1, True, False), (x,))
    assert minidl.gradcheck(lambda t: F.adaptive_max_pool2d(t, (4, 5)), (x,))


@pytest.mark.parametrize("op, kwargs", [
    (F.max_pool2d, dict(kernel_size=2, ceil_mode=True)),
    (F.max_pool2d, dict(kernel_size=(2, 1), stride=2, dilation=2)),
    (F.avg_pool2d, dict(kernel_size=3, padding=1)),
])
def test_an_empty_batch_pools_to_an_empty_batch(op, kwargs):
    x = minidl.zeros((0, 3, 5, 5), requires_grad=True)
    y = op(x, **kwargs)
    y.sum().backward()
    assert y.shape[:2] == (0, 3) and x.grad.shape == (0, 3, 5, 5)
