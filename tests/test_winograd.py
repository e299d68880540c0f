"""Winograd F(2x2, 3x3) and F(4x4, 3x3): the transform identity, equality with the naive loops and with
im2col in float64, gradchecks, float32 accuracy, and the algorithm switch."""
import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl.functional import winograd
from minidl.functional.im2col import Geometry

from test_conv import naive_conv2d

WINOGRAD = ["winograd2", "winograd4"]


@pytest.fixture
def algorithm():
    """Set the conv algorithm for one test and restore the previous one after it."""
    old = minidl.get_conv_algorithm()
    yield minidl.set_conv_algorithm
    minidl.set_conv_algorithm(old)


def t(array, requires_grad=False):
    return minidl.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


@pytest.mark.parametrize("m", [2, 4])
def test_one_dimensional_identity(m, rng):
    # y = A^T [(G g) ⊙ (B^T d)] is the correlation of a (m + 2)-tap signal d with a 3-tap kernel g
    mats = {k: np.array(v, dtype=np.float64) for k, v in winograd.MATRICES[m].items()}
    d, g = rng.standard_normal(m + 2), rng.standard_normal(3)
    expected = np.array([d[i:i + 3] @ g for i in range(m)])
    np.testing.assert_allclose(mats["AT"] @ ((mats["G"] @ g) * (mats["BT"] @ d)), expected, rtol=1e-13)


def _run(x, w, gy, padding, groups):
    xt, wt = t(x, True), t(w, True)
    out = F.conv2d(xt, wt, padding=padding, groups=groups)
    out.backward(t(gy))
    return out.numpy(), xt.grad.numpy(), wt.grad.numpy()


# (N, C, C_out, H, W, padding, groups): output sizes that are and are not multiples of the tile
CASES = [
    (2, 3, 4, 7, 9, 1, 1),
    (3, 4, 6, 8, 8, 0, 2),
    (1, 2, 2, 5, 6, 2, 1),
    (2, 6, 6, 11, 4, 1, 3),
    (1, 2, 3, 3, 3, 1, 1),
]


@pytest.mark.parametrize("name", WINOGRAD)
@pytest.mark.parametrize("case", CASES)
def test_float64_equals_naive_loops_and_im2col(name, case, algorithm, rng):
    n, c, co, h, w, p, groups = case
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((co, c // groups, 3, 3))
    gy = rng.standard_normal((n, co, h + 2 * p - 2, w + 2 * p - 2))
    algorithm("im2col")
    reference = _run(x, wt, gy, p, groups)
    algorithm(name)
    ours = _run(x, wt, gy, p, groups)
    naive = naive_conv2d(x, wt, None, (1, 1), (p, p, p, p), (1, 1), groups)
    np.testing.assert_allclose(ours[0], naive, rtol=1e-12, atol=1e-12 * np.abs(naive).max())
    for got, want in zip(ours, reference):
        assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()


@pytest.mark.parametrize("name", WINOGRAD)
@pytest.mark.parametrize("padding,groups", [(1, 1), (0, 2), (2, 1)])
def test_gradcheck(name, padding, groups, algorithm, rng):
    algorithm(name)
    x = t(rng.standard_normal((2, 2, 5, 6)), True)
    w = t(rng.standard_normal((4, 2 // groups, 3, 3)), True)
    b = t(rng.standard_normal(4), True)
    assert minidl.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=padding, groups=groups), (x, w, b))


# the float32 error bounds the module docstring states, max error relative to the largest value
FLOAT32_ERROR = {"im2col": 2e-6, "winograd2": 2e-6, "winograd4": 3e-5}


@pytest.mark.parametrize("name", sorted(FLOAT32_ERROR))
def test_float32_error(name, algorithm):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 64, 16, 16))
    w = rng.standard_normal((64, 64, 3, 3)) * np.sqrt(2 / (64 * 9))
    gy = rng.standard_normal((2, 64, 16, 16))
    algorithm("im2col")
    reference = _run(x, w, gy, 1, 1)
    algorithm(name)
    xt = minidl.Tensor(x.astype(np.float32), requires_grad=True)
    wt = minidl.Tensor(w.astype(np.float32), requires_grad=True)
    out = F.conv2d(xt, wt, padding=1)
    out.backward(minidl.Tensor(gy.astype(np.float32)))
    for got, want in zip((out, xt.grad, wt.grad), reference):
        assert np.abs(got.numpy() - want).max() <= FLOAT32_ERROR[name] * np.abs(want).max()


def _geometry(k=3, stride=1, pad=1, dilation=1, size=16):
    out = (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    return Geometry((k, k), (stride, stride), (pad,) * 4, (dilation, dilation), (size, size), (out, out))


def test_auto_choice_by_shape(algorithm):
    algorithm("auto")
    x = np.zeros(1)
    assert winograd.choose((32, 64, 32, 32), (64, 64, 3, 3), _geometry(size=32), 1, x) == 4
    assert winograd.choose((32, 3, 32, 32), (64, 3, 3, 3), _geometry(size=32), 1, x) == 0  # thin input
    assert winograd.choose((32, 256, 8, 8), (256, 256, 3, 3), _geometry(size=8), 1, x) == 4
    assert winograd.choose((32, 256, 5, 5), (256, 256, 3, 3), _geometry(size=5), 1, x) == 4
    # 4x4 and smaller: im2col with the batch innermost (im2col.batch_last)
    assert winograd.choose((32, 256, 4, 4), (256, 256, 3, 3), _geometry(size=4), 1, x) == 0
    assert winograd.choose((32, 512, 2, 2), (512, 512, 3, 3), _geometry(size=2), 1, x) == 0  # tiny map
    assert winograd.choose((32, 64, 32, 32), (64, 64, 3, 3), _geometry(stride=2, size=32), 1, x) == 0


@pytest.mark.parametrize("geo_args", [dict(stride=2), dict(dilation=2, pad=2), dict(k=5, pad=2), dict(pad=3)])
def test_forced_winograd_falls_back_where_it_does_not_apply(geo_args, algorithm, rng):
    algorithm("winograd4")
    k = geo_args.get("k", 3)
    assert winograd.choose((1, 2, 16, 16), (2, 2, k, k), _geometry(**geo_args), 1, np.zeros(1)) == 0
    x = rng.standard_normal((1, 2, 8, 8))
    w = rng.standard_normal((3, 2, k, k))
    opts = dict(stride=geo_args.get("stride", 1), padding=geo_args.get("pad", 1),
                dilation=geo_args.get("dilation", 1))
    out = F.conv2d(t(x), t(w), **opts)
    p = opts["padding"]
    expected = naive_conv2d(x, w, None, (opts["stride"],) * 2, (p,) * 4, (opts["dilation"],) * 2, 1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_set_conv_algorithm_rejects_unknown_names(algorithm):
    with pytest.raises(ValueError, match="set_conv_algorithm.*'winograd8'"):
        minidl.set_conv_algorithm("winograd8")
    algorithm("winograd2")
    assert minidl.get_conv_algorithm() == "winograd2"


@pytest.mark.gpu
@pytest.mark.parametrize("name", WINOGRAD)
def test_gpu_kernels_match_the_cpu_in_float64_and_repeat(name, algorithm, rng):
    """The .cu transforms with CuPy's batched matmul give the CPU's result, bit for bit run to run."""
    x = rng.standard_normal((3, 6, 9, 7))
    w = rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal((3, 4, 9, 7))
    algorithm(name)
    cpu = _run(x, w, gy, 1, 2)

    def on_gpu():
        xt, wt = t(x).to("cuda").requires_grad_(), t(w).to("cuda").requires_grad_()
        out = F.conv2d(xt, wt, padding=1, groups=2)
        out.backward(t(gy).to("cuda"))
        return out.numpy(), xt.grad.numpy(), wt.grad.numpy()

    first, second = on_gpu(), on_gpu()
    for got, again, want in zip(first, second, cpu):
        assert np.array_equal(got, again)
        assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("size,pad", [((7, 9), (1, 1)), ((4, 5), (2, 0)), ((3, 3), (1, 1))])
def test_channels_last_transforms_equal_the_kernels_twins(m, size, pad, rng):
    # the CPU path (winograd_cpu.py, channels innermost) computes what the GPU kernels' CPU twins
    # compute, in another layout: V (t^2, tiles, C) against (t^2, C, tiles), and so on
    from minidl.functional import winograd_cpu
    n, c, c_out = 2, 3, 5
    x = rng.standard_normal((n, c) + size)
    out_size = (size[0] + 2 * pad[0] - 2, size[1] + 2 * pad[1] - 2)
    counts = winograd._tile_counts(out_size, m)
    kb, _, ka = winograd.transforms(m, np.float64)
    v = winograd_cpu.transformed_input(x, pad, counts, m, kb).copy()  # both use the same scratch buffers
    np.testing.assert_allclose(v.transpose(0, 2, 1), winograd._transformed_input(x, pad, counts, m), rtol=1e-13)
    prod = rng.standard_normal(((m + 2) ** 2, n * counts[0] * counts[1], c_out))
    ours, twin = np.empty((n, c_out) + out_size), np.empty((n, c_out) + out_size)
    winograd_cpu.transformed_output(prod, ours, counts, m, ka)
    winograd._transformed_output(np.ascontiguousarray(prod.transpose(0, 2, 1)), twin, counts, m)
    np.testing.assert_allclose(ours, twin, rtol=1e-13)
    gy = rng.standard_normal((n, c_out) + out_size)
    np.testing.assert_allclose(winograd_cpu.output_gradient_tiles(gy, counts, m, ka).copy(),
                               winograd._output_gradient_tiles(gy, counts, m), rtol=1e-13)


def test_the_forwards_input_tiles_serve_the_weight_gradient(algorithm, rng, monkeypatch):
    # the CPU forward keeps its transformed input tiles V when a weight gradient will follow, and the
    # weight gradient uses them instead of transforming x again; without a weight gradient none are kept
    from minidl.functional import conv as conv_module, winograd_cpu
    algorithm("winograd4")
    x, w, gy = rng.standard_normal((3, 4, 9, 8)), rng.standard_normal((5, 4, 3, 3)), rng.standard_normal((3, 5, 9, 8))
    geo = _geometry(size=9)
    geo.w, geo.ow = 8, 8
    recomputed = winograd.correlate_weight_grad(x, gy, geo, 1, 4)
    out, kept = winograd.correlate(x, w, geo, 1, 4, keep=True)
    assert kept is not None and kept.shape == (36, 3 * 3 * 2, 4)
    np.testing.assert_allclose(out, winograd.correlate(x, w, geo, 1, 4), rtol=1e-13)
    np.testing.assert_allclose(winograd.correlate_weight_grad(x, gy, geo, 1, 4, kept), recomputed, rtol=1e-12)

    transforms = []
    real = winograd_cpu.transformed_input
    monkeypatch.setattr(winograd_cpu, "transformed_input", lambda *a: transforms.append(a[0].shape[1]) or real(*a))
    xt, wt = t(x, True), t(w, True)
    F.conv2d(xt, wt, padding=1).backward(t(gy))
    # chunks of x (4 channels) in the forward, as many of gy (5) in the input gradient, none for dW
    assert transforms.count(4) == transforms.count(5) > 0
    np.testing.assert_allclose(wt.grad.numpy(), recomputed, rtol=1e-12)
    with minidl.no_grad():
        op = conv_module.Conv2dOp()
        op.needs_input_grad = (True, True, False)
        op.forward(x, w, None, geometry=geo, groups=1)
    assert op.tiles is None
