"""conv2d by taps (``minidl/functional/conv_taps.py``): equal to the naive loops and to im2col in float64,
gradchecks, the rectangles where each tap reads the input, the same bits at any thread count, and when
'auto' takes it."""
import numpy as np
import pytest

import minidl
import minidl.functional as F
from minidl.functional import conv_taps
from minidl.functional.im2col import Geometry

from test_conv import naive_conv2d


@pytest.fixture
def algorithm():
    old, threads = minidl.get_conv_algorithm(), minidl.get_num_threads()
    yield minidl.set_conv_algorithm
    minidl.set_conv_algorithm(old)
    minidl.set_num_threads(threads)


def t(array, requires_grad=False):
    return minidl.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def _run(x, w, b, gy, **opts):
    xt, wt, bt = t(x, True), t(w, True), t(b, True)
    out = F.conv2d(xt, wt, bt, **opts)
    out.backward(t(gy))
    return out.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


# (N, C, C_out, H, W, kernel, stride, padding, dilation): tiny maps with padding (the case it is for),
# strides and dilations whose rectangles start and stop inside the map, 'same', taps that never read
# the input, and a larger map where every tap reads almost everywhere
CASES = [
    (2, 3, 4, 2, 2, 3, 1, 1, 1),
    (3, 2, 3, 1, 1, 3, 1, 1, 1),
    (2, 3, 2, 4, 5, 3, 2, 1, 1),
    (1, 2, 3, 5, 4, (3, 2), (2, 1), (2, 0), (1, 2)),
    (2, 2, 2, 3, 3, 5, 1, 3, 1),
    (1, 3, 2, 6, 7, 3, 1, "same", 2),
    (2, 2, 3, 7, 6, 3, 1, 0, 1),
]


@pytest.mark.parametrize("case", CASES)
def test_float64_equals_naive_loops_and_im2col(case, algorithm, rng):
    n, c, c_out, h, w, kernel, stride, padding, dilation = case
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((c_out, c, kh, kw))
    b = rng.standard_normal(c_out)
    opts = dict(stride=stride, padding=padding, dilation=dilation)
    algorithm("im2col")
    out_shape = F.conv2d(t(x), t(wt), **opts).shape
    gy = rng.standard_normal(out_shape)
    reference = _run(x, wt, b, gy, **opts)
    algorithm("taps")
    ours = _run(x, wt, b, gy, **opts)
    pads = [p for p in (padding if isinstance(padding, tuple) else (padding, padding)) for _ in (0, 1)]
    if padding == "same":
        total = [d * (k - 1) for d, k in zip((dilation, dilation), (kh, kw))]
        pads = [total[0] // 2, total[0] - total[0] // 2, total[1] // 2, total[1] - total[1] // 2]
    stride2 = stride if isinstance(stride, tuple) else (stride, stride)
    dilation2 = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    naive = naive_conv2d(x, wt, b, stride2, pads, dilation2, 1)
    np.testing.assert_allclose(ours[0], naive, rtol=1e-12, atol=1e-12 * np.abs(naive).max())
    for got, want in zip(ours, reference):
        assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1), (1, 2)])
def test_gradcheck(stride, padding, algorithm, rng):
    algorithm("taps")
    x = t(rng.standard_normal((2, 2, 3, 2)), True)
    w = t(rng.standard_normal((3, 2, 3, 3)), True)
    b = t(rng.standard_normal(3), True)
    assert minidl.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding), (x, w, b))


def test_rectangles_and_useful_fraction():
    # 3x3, padding 1, on a 2x2 map: the centre tap reads at all 4 outputs, edge taps at 2, corners at 1
    geo = Geometry((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), (2, 2), (2, 2))
    counts = {(i, j): (r.stop - r.start) * (c.stop - c.start) for i, j, r, c, _, _ in conv_taps.taps(geo)}
    assert counts[(1, 1)] == 4 and counts[(0, 1)] == counts[(1, 2)] == 2 and counts[(0, 0)] == counts[(2, 2)] == 1
    assert conv_taps.useful_fraction(geo) == pytest.approx(16 / 36)
    # padding 2 on a 1x1 map: a 3x3 output, and each tap reads the one pixel from exactly one output
    geo = Geometry((3, 3), (1, 1), (2, 2, 2, 2), (1, 1), (1, 1), (3, 3))
    assert {(i, j) for i, j, *_ in conv_taps.taps(geo)} == {(i, j) for i in range(3) for j in range(3)}
    assert conv_taps.useful_fraction(geo) == pytest.approx(9 / 81)


def test_same_bits_on_one_and_two_threads(algorithm, rng):
    algorithm("taps")
    x = rng.standard_normal((8, 32, 2, 2)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)

    def run(threads):
        minidl.set_num_threads(threads)
        xt, wt = minidl.Tensor(x, requires_grad=True), minidl.Tensor(w, requires_grad=True)
        out = F.conv2d(xt, wt, padding=1)
        out.backward(minidl.ones(*out.shape))
        return out.numpy(), xt.grad.numpy(), wt.grad.numpy()

    for a, b in zip(run(1), run(2)):
        np.testing.assert_array_equal(a, b)


def test_auto_takes_taps_where_padding_is_most_of_the_work(algorithm):
    algorithm("auto")
    cpu = np.zeros((1, 512, 2, 2))
    tiny = Geometry((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), (2, 2), (2, 2))
    large = Geometry((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), (16, 16), (8, 8))
    assert conv_taps.chosen(tiny, 1, cpu, "auto")
    assert not conv_taps.chosen(large, 1, cpu, "auto")
    four = Geometry((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), (4, 4), (4, 4))  # 100 of 144 pairs: im2col
    assert conv_taps.useful_fraction(four) == pytest.approx(100 / 144)
    assert not conv_taps.chosen(four, 1, cpu, "auto")
    assert not conv_taps.chosen(tiny, 1, np.zeros((1, 3, 2, 2)), "auto")  # a thin input: im2col
    assert not conv_taps.chosen(tiny, 2, cpu, "taps")  # groups: im2col even when forced
    assert not conv_taps.chosen(tiny, 1, cpu, "im2col")


def test_forced_taps_with_groups_falls_back_to_im2col(algorithm, rng):
    x, w = rng.standard_normal((2, 4, 3, 3)), rng.standard_normal((4, 2, 3, 3))
    algorithm("im2col")
    want = F.conv2d(t(x), t(w), padding=1, groups=2).numpy()
    algorithm("taps")
    np.testing.assert_allclose(F.conv2d(t(x), t(w), padding=1, groups=2).numpy(), want, rtol=1e-13)


def test_unknown_algorithm_names_the_choices():
    with pytest.raises(ValueError, match="'taps'; got 'fast'"):
        minidl.set_conv_algorithm("fast")


@pytest.mark.gpu
def test_gpu_matches_the_cpu_in_float64_and_repeats(algorithm, rng):
    x, w, gy = rng.standard_normal((3, 4, 2, 3)), rng.standard_normal((5, 4, 3, 3)), rng.standard_normal((3, 5, 2, 3))
    algorithm("taps")
    xt, wt = t(x, True), t(w, True)
    out = F.conv2d(xt, wt, padding=1)
    out.backward(t(gy))
    cpu = out.numpy(), xt.grad.numpy(), wt.grad.numpy()

    def on_gpu():
        xg, wg = t(x).to("cuda").requires_grad_(), t(w).to("cuda").requires_grad_()
        y = F.conv2d(xg, wg, padding=1)
        y.backward(t(gy).to("cuda"))
        return y.numpy(), xg.grad.numpy(), wg.grad.numpy()

    first, second = on_gpu(), on_gpu()
    for got, again, want in zip(first, second, cpu):
        assert np.array_equal(got, again)
        assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()
