"""Convolutions on small maps (at most ``im2col.SMALL_MAP`` output pixels): columns with the batch innermost.

The batch-last columns hold the same numbers as the standard ones, in (oh, ow, n) order instead of
(n, oh, ow); conv2d and the general conv_transpose2d path use them on the CPU for small outputs and must
still equal the naive loops, in value and gradient.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl.functional import conv as conv_module
from minidl.functional import im2col as im2col_module
from minidl.functional.im2col import Geometry, col2im, im2col

from test_conv import naive_conv2d, naive_conv_transpose2d


@st.composite
def geometries(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    oh = (h + pads[0] + pads[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pads[2] + pads[3] - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        oh, ow, pads = 1, 1, (dh * (kh - 1), 0, dw * (kw - 1), 0)
        h, w = 1, 1
    return Geometry((kh, kw), (sh, sw), pads, (dh, dw), (h, w), (oh, ow))


@given(geo=geometries(), n=st.integers(1, 3), c=st.integers(1, 3))
def test_batch_last_columns_are_the_standard_ones_reordered(geo, n, c):
    x = np.random.default_rng(0).standard_normal((n, c, geo.h, geo.w))
    standard = im2col(x, geo).copy().reshape(c * geo.taps, n, geo.oh, geo.ow)
    last = im2col(x, geo, batch_last=True).reshape(c * geo.taps, geo.oh, geo.ow, n)
    np.testing.assert_array_equal(last, standard.transpose(0, 2, 3, 1))
    # col2im is the adjoint either way: the same sums onto the same image
    cols = np.random.default_rng(1).standard_normal((c * geo.taps, n, geo.oh, geo.ow))
    want = col2im(cols.reshape(c * geo.taps, -1), geo, n, c)
    reordered = np.ascontiguousarray(cols.transpose(0, 2, 3, 1)).reshape(c * geo.taps, -1)
    got = col2im(reordered, geo, n, c, batch_last=True)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)


def test_small_outputs_choose_the_batch_last_layout_on_the_cpu_only():
    small = Geometry((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), (4, 4), (4, 4))
    large = Geometry((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), (8, 8), (8, 8))
    assert im2col_module.batch_last(small, np)
    assert not im2col_module.batch_last(large, np)
    assert not im2col_module.batch_last(small, object())  # another array module (the GPU's)


@pytest.fixture
def im2col_only(monkeypatch):
    """Force the im2col path and record the layout every im2col call used."""
    old = minidl.get_conv_algorithm()
    minidl.set_conv_algorithm("im2col")
    layouts = []
    real = conv_module.im2col
    monkeypatch.setattr(conv_module, "im2col", lambda x, geo, last=False: layouts.append(last) or real(x, geo, last))
    yield layouts
    minidl.set_conv_algorithm(old)


def t(array, requires_grad=False):
    return minidl.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


@pytest.mark.parametrize("size, stride, padding, dilation, groups", [
    (4, 1, 1, 1, 1), (4, 1, 1, 1, 2), (5, 2, 1, 1, 1), (6, 1, 0, 2, 1), (3, 1, 1, 1, 2), (2, 1, 1, 1, 1),
])
def test_conv2d_on_small_maps_matches_the_loops_and_its_gradients(im2col_only, size, stride, padding,
                                                                  dilation, groups):
    rng = np.random.default_rng(size)
    x = rng.standard_normal((3, 4, size, size))
    w = rng.standard_normal((6, 4 // groups, 3, 3))
    b = rng.standard_normal(6)
    out = F.conv2d(t(x), t(w), t(b), stride, padding, dilation, groups)
    assert out.shape[2] * out.shape[3] <= im2col_module.SMALL_MAP
    pad = (padding,) * 4
    np.testing.assert_allclose(out.numpy(), naive_conv2d(x, w, b, (stride,) * 2, pad, (dilation,) * 2, groups),
                               rtol=1e-12, atol=1e-12)
    assert im2col_only and all(im2col_only)
    im2col_only.clear()
    fn = lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups)  # noqa: E731
    assert minidl.gradcheck(fn, (t(x, True), t(w, True), t(b, True)))
    assert im2col_only and all(im2col_only)


@pytest.mark.parametrize("size, stride, padding, groups", [(4, 1, 1, 1), (3, 1, 0, 2), (2, 3, 1, 1)])
def test_conv_transpose2d_on_small_inputs_matches_the_loops_and_its_gradients(
        im2col_only, size, stride, padding, groups):
    # the general path (GEMM + col2im): small when the transposed convolution's input is small
    rng = np.random.default_rng(size + 10)
    x = rng.standard_normal((3, 4, size, size))
    w = rng.standard_normal((4, 6 // groups, 3, 3))
    b = rng.standard_normal(6)
    out = F.conv_transpose2d(t(x), t(w), t(b), stride, padding, 0, groups)
    want = naive_conv_transpose2d(x, w, b, (stride,) * 2, (padding,) * 2, (0, 0), (1, 1), groups)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-12)
    fn = lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, 0, groups)  # noqa: E731
    assert minidl.gradcheck(fn, (t(x, True), t(w, True), t(b, True)))
    assert im2col_only and all(im2col_only)
