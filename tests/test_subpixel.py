"""conv_transpose2d by phases (minidl/functional/subpixel.py): equality with the naive loops and with the
col2im path in float64, gradchecks, chunking, the choice of path, and the GPU path on the stand-in."""
import contextlib

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl.functional import subpixel
from minidl.functional import im2col as im2col_module
from minidl.functional.validation import conv_transpose2d_geometry

from test_conv import naive_conv_transpose2d


@contextlib.contextmanager
def conv_algorithm(name):
    old = minidl.get_conv_algorithm()
    minidl.set_conv_algorithm(name)
    try:
        yield
    finally:
        minidl.set_conv_algorithm(old)


@pytest.fixture
def algorithm():
    """Set the conv algorithm for one test and restore the previous one after it (``conv_algorithm``
    does the same around a block, for the hypothesis tests, which take no function-scoped fixtures)."""
    old = minidl.get_conv_algorithm()
    yield minidl.set_conv_algorithm
    minidl.set_conv_algorithm(old)


def t(array, requires_grad=False):
    return minidl.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def geometry(x_shape, w_shape, stride, padding=0, output_padding=0, groups=1, dilation=1):
    geo, _ = conv_transpose2d_geometry(minidl.zeros(*x_shape), minidl.zeros(*w_shape), None, stride, padding,
                                       output_padding, groups, dilation)
    return geo


@st.composite
def phase_cases(draw):
    """Transposed convolutions the phase path takes: dilation 1, stride 2-4 (1-4 across), kernels 1-3
    times the stride (1-5 at stride 1), any padding the output size allows, output_padding, groups."""
    stride = (draw(st.integers(2, 4)), draw(st.integers(1, 4)))
    k = tuple(s * draw(st.integers(1, 3)) if s > 1 else draw(st.integers(1, 5)) for s in stride)
    groups = draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    pad, op = [], []
    for size, s, kk in zip((h, w), stride, k):
        o = draw(st.integers(0, s - 1))
        # the output (size - 1) s - 2 p + k + o must keep at least one row
        pad.append(draw(st.integers(0, max(0, ((size - 1) * s + kk + o - 1) // 2))))
        op.append(o)
    return dict(n=draw(st.integers(1, 3)), c=groups * draw(st.integers(1, 2)), co=groups * draw(st.integers(1, 3)),
                h=h, w=w, k=k, stride=stride, pad=tuple(pad), op=tuple(op), groups=groups, bias=draw(st.booleans()))


def _arrays(case, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"]))
    w = rng.standard_normal((case["c"], case["co"] // case["groups"]) + case["k"])
    b = rng.standard_normal(case["co"]) if case["bias"] else None
    return x, w, b


def _options(case):
    return dict(stride=case["stride"], padding=case["pad"], output_padding=case["op"], groups=case["groups"])


def _step(x, w, b, options, seed=1):
    """Output and the gradients of x, w (and b) for a fixed random output gradient."""
    xt, wt = t(x, True), t(w, True)
    bt = None if b is None else t(b, True)
    out = F.conv_transpose2d(xt, wt, bt, **options)
    out.backward(t(np.random.default_rng(seed).standard_normal(out.shape)))
    grads = [xt.grad.numpy(), wt.grad.numpy()] + ([] if bt is None else [bt.grad.numpy()])
    return [out.numpy()] + grads


@given(phase_cases())
def test_phases_match_naive_loops_and_col2im_path(case):
    x, w, b = _arrays(case)
    options = _options(case)
    geo = geometry(x.shape, w.shape, **options)
    with conv_algorithm("auto"):
        assume(subpixel.choose(geo))  # not when the windows miss the input (padding as large as allowed)
        phases = _step(x, w, b, options)
    expected = naive_conv_transpose2d(x, w, b, case["stride"], case["pad"], case["op"], (1, 1), case["groups"])
    np.testing.assert_allclose(phases[0], expected, rtol=1e-12, atol=1e-12)
    with conv_algorithm("im2col"):
        general = _step(x, w, b, options)
    for ours, theirs in zip(phases, general):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(theirs).max()))


@given(phase_cases())
def test_phases_gradcheck_drawn(case):
    x, w, b = _arrays(case, seed=2)
    options = _options(case)
    bt = None if b is None else t(b, True)
    with conv_algorithm("auto"):
        assume(subpixel.choose(geometry(x.shape, w.shape, **options)))
        assert minidl.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **options),
                                (t(x, True), t(w, True), bt), mode="random")


@pytest.mark.parametrize("k,stride,padding,output_padding,groups", [
    ((4, 4), 2, 1, 0, 1),        # FCN's 2x upsampling
    ((2, 2), 2, 0, 1, 1),        # U-Net's 2x2 upsampling, with output_padding
    ((2, 3), (2, 3), (0, 2), (1, 0), 2),
    ((16, 16), 8, 4, 0, 1),      # FCN-8s's 8x upsampling
    ((6, 4), (3, 2), (4, 0), 1, 1),  # padding beyond the kernel: the windows skip input rows
])
def test_phases_gradcheck(k, stride, padding, output_padding, groups, rng, algorithm):
    algorithm("auto")
    x = t(rng.standard_normal((2, 2, 3, 4)), True)
    w = t(rng.standard_normal((2, 4 // groups) + k), True)
    b = t(rng.standard_normal(4), True)
    options = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups)
    assert subpixel.choose(geometry(x.shape, w.shape, **options))
    assert minidl.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **options), (x, w, b))


def test_choose_takes_phases_only_where_they_apply(algorithm):
    algorithm("auto")
    x = (1, 4, 6, 6)
    assert subpixel.choose(geometry(x, (4, 4, 4, 4), stride=2, padding=1))
    assert subpixel.choose(geometry(x, (4, 4, 16, 16), stride=8, padding=4))
    assert subpixel.choose(geometry(x, (4, 4, 3, 2), stride=(1, 2)))
    assert not subpixel.choose(geometry(x, (4, 4, 3, 3), stride=1, padding=1))  # stride 1: no phases
    assert not subpixel.choose(geometry(x, (4, 4, 3, 3), stride=2, dilation=2))  # dilated taps
    assert not subpixel.choose(geometry(x, (4, 4, 1, 1), stride=2))  # 3/4 of the GEMM would be zeros
    assert not subpixel.choose(geometry(x, (4, 4, 3, 4), stride=2, padding=1, output_padding=1))  # 16 taps for 12
    algorithm("im2col")
    assert not subpixel.choose(geometry(x, (4, 4, 4, 4), stride=2, padding=1))


def test_phase_weight_round_trip(rng):
    # weight_grad is the adjoint of weight; every tap of W lands in W_p exactly once (here k = s T)
    geo = geometry((1, 4, 5, 5), (4, 3, 4, 6), stride=(2, 3), padding=(1, 2), groups=2)
    plan = subpixel.Plan(geo)
    w = rng.standard_normal((4, 3, 4, 6))
    wp = plan.weight(w, 2)
    assert wp.shape == (2, 6 * 3, 2 * 2 * 2)
    assert sorted(wp.ravel()) == sorted(w.ravel())
    np.testing.assert_array_equal(plan.weight_grad(wp, w.shape), w)


def test_chunked_equals_unchunked(rng, monkeypatch, algorithm):
    algorithm("auto")
    old = im2col_module.get_im2col_budget()
    x, w = rng.standard_normal((5, 3, 7, 6)), rng.standard_normal((3, 4, 4, 2))
    options = dict(stride=2, padding=(0, 1), output_padding=1)
    whole = _step(x, w, None, options)
    sizes = []
    real_im2col = subpixel.im2col
    monkeypatch.setattr(subpixel, "im2col", lambda a, geo: sizes.append(a.shape[0]) or real_im2col(a, geo))
    # per sample: (C_in T_h T_w + s_h s_w C_out) x windows x 8 bytes, with T = (2, 1) and 9 x 6 windows
    per_sample = (3 * 2 * 1 + 2 * 2 * 4) * (9 * 6) * 8
    try:
        im2col_module.set_im2col_budget(2 * per_sample + 1)
        monkeypatch.setattr(im2col_module, "CHUNK_MULTIPLE", 1)  # the budget alone decides: 2 + 2 + 1
        chunked = _step(x, w, None, options)
    finally:
        im2col_module.set_im2col_budget(old)
    # 5 samples in chunks of 2: three im2col calls in the forward and three in the backward (dW)
    assert max(sizes) == 2 and len(sizes) == 6
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


@pytest.mark.gpu
def test_gpu_phases_match_col2im_path(algorithm):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4, 6, 5))
    w = rng.standard_normal((4, 3, 4, 2))
    g = rng.standard_normal((3, 6, 13, 8))
    options = dict(stride=2, padding=1, output_padding=(1, 0), groups=2)
    geo = geometry(x.shape, w.shape, **options)
    results = {}
    for name in ("auto", "im2col"):
        algorithm(name)
        assert subpixel.choose(geo) == (name == "auto")
        xt, wt = (minidl.Tensor(a).to("cuda").requires_grad_() for a in (x, w))
        out = F.conv_transpose2d(xt, wt, **options)
        out.backward(minidl.Tensor(g).to("cuda"))
        results[name] = [minidl.backend.to_numpy(a) for a in (out.data, xt.grad.data, wt.grad.data)]
    for ours, theirs in zip(results["auto"], results["im2col"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_float32_close_to_float64(rng):
    x, w, b = rng.standard_normal((2, 8, 6, 5)), rng.standard_normal((8, 4, 4, 4)), rng.standard_normal(4)
    options = dict(stride=2, padding=1)
    assert subpixel.choose(geometry(x.shape, w.shape, **options))
    reference = _step(x, w, b, options)
    xt, wt, bt = (minidl.Tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b))
    out = F.conv_transpose2d(xt, wt, bt, **options)
    out.backward(minidl.Tensor(np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)))
    for single, double in zip([out, xt.grad, wt.grad, bt.grad], reference):
        assert single.dtype == np.float32
        np.testing.assert_allclose(single.numpy(), double, rtol=1e-5, atol=1e-5 * np.abs(double).max())


@pytest.mark.gpu
def test_gpu_float16_phases(algorithm):
    algorithm("auto")
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 2, 4, 4))
    expected = naive_conv_transpose2d(x, w, None, (2, 2), (1, 1), (0, 0), (1, 1), 1)
    half = F.conv_transpose2d(minidl.Tensor(x.astype(np.float16)).to("cuda"),
                              minidl.Tensor(w.astype(np.float16)).to("cuda"), stride=2, padding=1)
    assert half.dtype == np.float16
    got = minidl.backend.to_numpy(half.data).astype(np.float64)
    assert np.abs(got - expected).max() <= 1e-2 * np.abs(expected).max()
