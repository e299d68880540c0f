"""conv2d and conv_transpose2d: naive loop references, output sizes, gradients, chunking, bad input, GPU."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl.functional import conv as conv_module
from minidl.functional import im2col as im2col_module


def naive_conv2d(x, w, b, stride, pad, dilation, groups):
    """Plain loops over output positions; pad is (top, bottom, left, right)."""
    n, c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + pad[0] + pad[1], wd + pad[2] + pad[3]))
    xp[:, :, pad[0]:pad[0] + h, pad[2]:pad[2] + wd] = x
    oh = (xp.shape[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (xp.shape[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, co, oh, ow))
    per_group = co // groups
    for s in range(n):
        for o in range(co):
            g = o // per_group
            for r in range(oh):
                for q in range(ow):
                    acc = 0.0 if b is None else b[o]
                    for ci in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                acc += w[o, ci, i, j] * xp[
                                    s, g * cg + ci, r * stride[0] + i * dilation[0], q * stride[1] + j * dilation[1]
                                ]
                    out[s, o, r, q] = acc
    return out


def naive_conv_transpose2d(x, w, b, stride, pad, output_padding, dilation, groups):
    """Plain loops scattering each input pixel times the kernel onto the output."""
    n, c, h, wd = x.shape
    _, cog, kh, kw = w.shape
    oh = (h - 1) * stride[0] - 2 * pad[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    ow = (wd - 1) * stride[1] - 2 * pad[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    out = np.zeros((n, cog * groups, oh, ow))
    in_per_group = c // groups
    for s in range(n):
        for ci in range(c):
            g = ci // in_per_group
            for r in range(h):
                for q in range(wd):
                    for i in range(kh):
                        for j in range(kw):
                            y = r * stride[0] - pad[0] + i * dilation[0]
                            z = q * stride[1] - pad[1] + j * dilation[1]
                            if 0 <= y < oh and 0 <= z < ow:
                                for o in range(cog):
                                    out[s, g * cog + o, y, z] += x[s, ci, r, q] * w[ci, o, i, j]
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out


def t(array, requires_grad=False):
    return minidl.Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dil = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    groups = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 2))
    co = groups * draw(st.integers(1, 2))
    span = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
    h = max(1, span[0] - 2 * pad[0] + draw(st.integers(0, 4)))
    w = max(1, span[1] - 2 * pad[1] + draw(st.integers(0, 4)))
    n = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    return dict(n=n, c=c, co=co, h=h, w=w, k=(kh, kw), stride=stride, pad=pad, dil=dil, groups=groups, bias=bias)


@given(conv_cases())
def test_conv2d_matches_naive_loops(case):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"]))
    w = rng.standard_normal((case["co"], case["c"] // case["groups"]) + case["k"])
    b = rng.standard_normal(case["co"]) if case["bias"] else None
    out = F.conv2d(t(x), t(w), None if b is None else t(b), stride=case["stride"], padding=case["pad"],
                   dilation=case["dil"], groups=case["groups"])
    p = case["pad"]
    expected = naive_conv2d(x, w, b, case["stride"], (p[0], p[0], p[1], p[1]), case["dil"], case["groups"])
    # PyTorch's output-size formula
    size = tuple(
        (i + 2 * pp - d * (k - 1) - 1) // s + 1
        for i, pp, d, k, s in zip((case["h"], case["w"]), p, case["dil"], case["k"], case["stride"])
    )
    assert out.shape == (case["n"], case["co"]) + size
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)


@st.composite
def transpose_cases(draw):
    case = draw(conv_cases())
    op = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(case["stride"], case["dil"]))
    h = draw(st.integers(1, 4))
    w = draw(st.integers(1, 4))
    out = [(i - 1) * s - 2 * p + d * (k - 1) + o + 1
           for i, s, p, d, k, o in zip((h, w), case["stride"], case["pad"], case["dil"], case["k"], op)]
    if min(out) < 1:
        case["pad"] = (0, 0)
    case.update(h=h, w=w, op=op)
    return case


@given(transpose_cases())
def test_conv_transpose2d_matches_naive_loops(case):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((case["n"], case["c"], case["h"], case["w"]))
    w = rng.standard_normal((case["c"], case["co"] // case["groups"]) + case["k"])
    b = rng.standard_normal(case["co"]) if case["bias"] else None
    out = F.conv_transpose2d(t(x), t(w), None if b is None else t(b), stride=case["stride"],
                             padding=case["pad"], output_padding=case["op"], groups=case["groups"],
                             dilation=case["dil"])
    expected = naive_conv_transpose2d(x, w, b, case["stride"], case["pad"], case["op"], case["dil"], case["groups"])
    size = tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + o + 1
        for i, s, p, d, k, o in zip((case["h"], case["w"]), case["stride"], case["pad"], case["dil"],
                                    case["k"], case["op"])
    )
    assert out.shape == (case["n"], case["co"]) + size
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("k,d", [(3, 1), (4, 1), (2, 3), (5, 2)])
def test_conv2d_string_padding(padding, k, d, rng):
    x = rng.standard_normal((1, 2, 9, 8))
    w = rng.standard_normal((3, 2, k, k - 1))
    out = F.conv2d(t(x), t(w), padding=padding, dilation=d)
    if padding == "valid":
        pads = (0, 0, 0, 0)
    else:
        tot = (d * (w.shape[2] - 1), d * (w.shape[3] - 1))
        pads = (tot[0] // 2, tot[0] - tot[0] // 2, tot[1] // 2, tot[1] - tot[1] // 2)
        assert out.shape[2:] == (9, 8)
    np.testing.assert_allclose(out.numpy(), naive_conv2d(x, w, None, (1, 1), pads, (d, d), 1), atol=1e-10)


def test_unbatched_input(rng):
    x = rng.standard_normal((2, 5, 4))
    w = rng.standard_normal((3, 2, 3, 3))
    out = F.conv2d(t(x), t(w), padding=1)
    assert out.shape == (3, 5, 4)
    np.testing.assert_allclose(out.numpy(), naive_conv2d(x[None], w, None, (1, 1), (1,) * 4, (1, 1), 1)[0])
    wt = rng.standard_normal((2, 3, 2, 2))
    up = F.conv_transpose2d(t(x), t(wt), stride=2)
    assert up.shape == (3, 10, 8)
    expected = naive_conv_transpose2d(x[None], wt, None, (2, 2), (0, 0), (0, 0), (1, 1), 1)[0]
    np.testing.assert_allclose(up.numpy(), expected)
    assert minidl.gradcheck(lambda x, w: F.conv2d(x, w, padding=1), (t(x, True), t(w, True)), mode="random")
    assert minidl.gradcheck(lambda x, w: F.conv_transpose2d(x, w, stride=2), (t(x, True), t(wt, True)),
                            mode="random")


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_float32_matches_float64(op, rng):
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((4, 2, 3, 3))
    b = rng.standard_normal(4)
    opts = dict(stride=2, padding=1, groups=2)
    fn = getattr(F, op)
    ref = fn(t(x), t(w), t(b), **opts).numpy()
    single = fn(*(minidl.Tensor(a.astype(np.float32)) for a in (x, w, b)), **opts)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_column_buffer_is_reused_per_thread():
    first = im2col_module.column_buffer((4, 4), np.float64)
    second = im2col_module.column_buffer((3, 4), np.float32)
    assert np.shares_memory(first, second)
    assert second.shape == (3, 4) and second.dtype == np.float32


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_empty_batch(op):
    x = minidl.randn(0, 2, 5, 5).requires_grad_()
    w = minidl.randn(2, 2, 3, 3).requires_grad_()
    out = getattr(F, op)(x, w, padding=1)
    assert out.shape == (0, 2, 5, 5)
    out.sum().backward()
    assert x.grad.shape == x.shape and not np.any(w.grad.numpy())


GRAD_CASES = [
    dict(k=(3, 3), stride=1, padding=1, dilation=1, groups=1),
    dict(k=(2, 3), stride=(2, 1), padding=(0, 2), dilation=(1, 2), groups=2),
    dict(k=(1, 1), stride=1, padding=0, dilation=1, groups=1),
    dict(k=(3, 2), stride=3, padding=2, dilation=2, groups=2),
]


@pytest.mark.parametrize("case", GRAD_CASES)
def test_conv2d_gradcheck(case, rng):
    k, groups = case["k"], case["groups"]
    x = t(rng.standard_normal((2, 2, 5, 6)), True)
    w = t(rng.standard_normal((2, 2 // groups) + k), True)
    b = t(rng.standard_normal(2), True)
    opts = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=groups)
    assert minidl.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **opts), (x, w, b))


@pytest.mark.parametrize("case", GRAD_CASES)
def test_conv_transpose2d_gradcheck(case, rng):
    k, groups = case["k"], case["groups"]
    x = t(rng.standard_normal((2, 2, 3, 4)), True)
    w = t(rng.standard_normal((2, 4 // groups) + k), True)
    b = t(rng.standard_normal(4), True)
    s = case["stride"]
    op = 1 if (s if isinstance(s, int) else s[0]) > 1 else 0
    opts = dict(stride=s, padding=0, output_padding=(op, 0), dilation=case["dilation"], groups=groups)
    assert minidl.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **opts), (x, w, b))


@given(transpose_cases())
def test_drawn_cases_gradcheck(case):
    # directional checks over drawn hyperparameters, for conv2d and conv_transpose2d alike
    rng = np.random.default_rng(2)
    groups, k = case["groups"], case["k"]
    b = t(rng.standard_normal(case["co"]), True) if case["bias"] else None
    x = t(rng.standard_normal((case["n"], case["c"], case["h"], case["w"])), True)
    wt = t(rng.standard_normal((case["c"], case["co"] // groups) + k), True)
    opts = dict(stride=case["stride"], padding=case["pad"], output_padding=case["op"], groups=groups,
                dilation=case["dil"])
    up = lambda x, w, b: F.conv_transpose2d(x, w, b, **opts)  # noqa: E731
    assert minidl.gradcheck(up, (x, wt, b), mode="random")
    y = t(up(x, wt, b).numpy(), True)
    w = t(rng.standard_normal((case["c"], case["co"] // groups) + k), True)
    opts = dict(stride=case["stride"], padding=case["pad"], dilation=case["dil"], groups=groups)
    assert minidl.gradcheck(lambda y, w: F.conv2d(y, w, **opts), (y, w), mode="random")


@pytest.mark.parametrize("k", [1, 2])
def test_output_padding_beyond_stride_with_dilation(k, rng):
    # output_padding may reach dilation - 1 when dilation > stride; the extra rows receive only bias
    x = t(rng.standard_normal((1, 1, 3, 3)), True)
    w = t(rng.standard_normal((1, 1, k, k)), True)
    opts = dict(stride=1, output_padding=2, dilation=3)
    out = F.conv_transpose2d(x, w, **opts)
    assert out.shape == (1, 1, 2 + 3 * k, 2 + 3 * k)
    expected = naive_conv_transpose2d(x.numpy(), w.numpy(), None, (1, 1), (0, 0), (2, 2), (3, 3), 1)
    np.testing.assert_allclose(out.numpy(), expected)
    assert minidl.gradcheck(lambda x, w: F.conv_transpose2d(x, w, **opts), (x, w))


@pytest.fixture
def tiny_budget():
    old = im2col_module.get_im2col_budget()
    yield
    im2col_module.set_im2col_budget(old)


@pytest.fixture
def general_path():
    """conv_transpose2d by col2im (not by phases, whose chunks tests/test_subpixel.py checks)."""
    old = minidl.get_conv_algorithm()
    minidl.set_conv_algorithm("im2col")
    yield
    minidl.set_conv_algorithm(old)


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_chunked_equals_unchunked(op, rng, tiny_budget, monkeypatch, general_path):
    x = rng.standard_normal((5, 3, 7, 6))
    w = rng.standard_normal((3, 4, 3, 2))
    fn = getattr(F, op)
    opts = dict(padding=1) if op == "conv2d" else dict(stride=2, padding=(0, 1), output_padding=1)
    if op == "conv2d":
        w = w.transpose(1, 0, 2, 3).copy()

    def run():
        xt, wt = t(x, True), t(w, True)
        out = fn(xt, wt, **opts)
        out.backward(t(np.random.default_rng(5).standard_normal(out.shape)))
        return out.numpy(), xt.grad.numpy(), wt.grad.numpy()

    whole = run()
    sizes = []
    real_im2col = conv_module.im2col
    monkeypatch.setattr(conv_module, "im2col",
                        lambda a, geo, *last: sizes.append(a.shape[0]) or real_im2col(a, geo, *last))
    # bytes of columns per sample: channels x kernel taps x conv output pixels x 8 bytes
    per_sample = 3 * 3 * 2 * (7 * 7) * 8 if op == "conv2d" else 4 * 3 * 2 * (7 * 6) * 8
    conv_module.set_im2col_budget(2 * per_sample + 1)
    monkeypatch.setattr(im2col_module, "CHUNK_MULTIPLE", 1)  # the budget alone decides: 2 + 2 + 1
    chunked = run()
    # 5 samples in chunks of 2: three im2col calls per pass that reads columns of the input
    # (conv2d: forward and weight gradient; conv_transpose2d: one shared by its backward products)
    assert max(sizes) == 2 and len(sizes) == (6 if op == "conv2d" else 3)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def test_batch_chunks_respect_budget():
    for batch in (1, 5, 64):
        for per_sample in (1, 7, 1000):
            for budget in (1, 10, 6999, 10**6):
                for cpu in (True, False):
                    chunks = im2col_module.batch_chunks(batch, per_sample, budget, cpu=cpu)
                    assert chunks[0][0] == 0 and chunks[-1][1] == batch
                    assert all(b == a2 for (_, b), (a2, _) in zip(chunks, chunks[1:]))  # contiguous
                    sizes = [b - a for a, b in chunks]
                    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1  # balanced
                    for a, b in chunks:
                        assert (b - a) * per_sample <= max(budget, per_sample)
                    if cpu:  # a multiple of the cores, or one sample each when the batch is too small for that
                        assert len(chunks) % im2col_module.CHUNK_MULTIPLE == 0 or len(chunks) == batch


def test_set_im2col_budget_rejects_nonsense(tiny_budget):
    with pytest.raises(ValueError, match="positive number of bytes"):
        conv_module.set_im2col_budget(0)


def expect_error(exc, match, fn, *args, **kwargs):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_bad_input_errors():
    x = minidl.randn(1, 3, 5, 5)
    w = minidl.randn(4, 3, 3, 3)
    expect_error(ValueError, r"conv2d: expected a 3-D .* got a 2-D", F.conv2d, minidl.randn(5, 5), w)
    expect_error(ValueError, r"conv2d: expected a 4-D weight", F.conv2d, x, minidl.randn(4, 3, 3))
    expect_error(ValueError, r"input has 3 channels but weight expects 4", F.conv2d, x, minidl.randn(4, 4, 3, 3))
    expect_error(ValueError, r"groups=2 does not divide the 3 input channels", F.conv2d, x, w, groups=2)
    expect_error(ValueError, r"groups=3 does not divide the 4 output channels", F.conv2d,
                 minidl.randn(1, 3, 5, 5), minidl.randn(4, 1, 3, 3), groups=3)
    expect_error(ValueError, r"kernel \(7 x 7 after dilation\) is larger than the padded input \(5 x 5\)",
                 F.conv2d, x, w, dilation=3)
    expect_error(ValueError, r"stride must be >= 1", F.conv2d, x, w, stride=0)
    expect_error(ValueError, r"dilation must be >= 1", F.conv2d, x, w, dilation=(1, 0))
    expect_error(ValueError, r"padding must be >= 0", F.conv2d, x, w, padding=-1)
    expect_error(ValueError, r"'same' is not supported for strided", F.conv2d, x, w, padding="same", stride=2)
    expect_error(ValueError, r"padding must be 'same', 'valid'", F.conv2d, x, w, padding="full")
    expect_error(TypeError, r"stride must be an int or a pair", F.conv2d, x, w, stride=1.5)
    expect_error(ValueError, r"kernel size must be >= 1", F.conv2d, x, minidl.randn(4, 3, 0, 3))
    expect_error(ValueError, r"bias must have shape \(4,\)", F.conv2d, x, w, minidl.randn(3))
    expect_error(TypeError, r"input is float32 but weight is float64", F.conv2d, x, w.double())
    expect_error(TypeError, r"input is float32 but bias is float64", F.conv2d, x, w, minidl.randn(4).double())
    expect_error(TypeError, r"weight must be a Tensor", F.conv2d, x, np.ones((4, 3, 3, 3)))
    wt = minidl.randn(3, 2, 3, 3)
    expect_error(ValueError, r"output_padding \(2, 2\) must be smaller than either stride \(2, 2\)",
                 F.conv_transpose2d, x, wt, stride=2, output_padding=2)
    expect_error(ValueError, r"conv_transpose2d: input has 3 channels but weight expects 4",
                 F.conv_transpose2d, x, minidl.randn(4, 2, 3, 3))
    expect_error(ValueError, r"conv_transpose2d: groups=2 does not divide the 3 input channels",
                 F.conv_transpose2d, x, wt, groups=2)
    expect_error(ValueError, r"output size .* would be empty", F.conv_transpose2d,
                 minidl.randn(1, 3, 1, 1), wt, padding=2)
    expect_error(ValueError, r"conv_transpose2d: padding must be an int or a pair",
                 F.conv_transpose2d, x, wt, padding="same")


# ----------------------------------------------------------------------------- GPU


def _gpu_case(op, dtype=np.float32):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 9, 8)).astype(dtype)
    if op == "conv2d":
        w = rng.standard_normal((6, 2, 3, 2)).astype(dtype)
        opts = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    else:
        w = rng.standard_normal((4, 3, 4, 3)).astype(dtype)
        opts = dict(stride=2, padding=1, output_padding=(1, 0), groups=2)
    b = rng.standard_normal(6).astype(dtype)
    return x, w, b, getattr(F, op), opts


def _run(fn, x, w, b, opts, device, seed_grad=3):
    xt, wt, bt = (minidl.Tensor(a).to(device).requires_grad_() for a in (x, w, b))
    out = fn(xt, wt, bt, **opts)
    g = np.random.default_rng(seed_grad).standard_normal(out.shape).astype(x.dtype)
    out.backward(minidl.Tensor(g).to(device))
    return [minidl.backend.to_numpy(a) for a in (out.data, xt.grad.data, wt.grad.data, bt.grad.data)]


def _rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.gpu
@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_gpu_matches_cpu(op):
    x, w, b, fn, opts = _gpu_case(op)
    cpu = _run(fn, x, w, b, opts, "cpu")
    gpu = _run(fn, x, w, b, opts, "cuda")
    assert _rel(gpu[0], cpu[0]) <= 1e-5
    for a, c in zip(gpu[1:], cpu[1:]):
        assert _rel(a, c) <= 1e-4


@pytest.mark.gpu
@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_gpu_is_deterministic(op):
    x, w, b, fn, opts = _gpu_case(op)
    first = _run(fn, x, w, b, opts, "cuda")
    second = _run(fn, x, w, b, opts, "cuda")
    for a, c in zip(first, second):
        assert np.array_equal(a, c)


@pytest.mark.gpu
def test_gpu_float64_and_float16():
    x, w, b, fn, opts = _gpu_case("conv2d", np.float64)
    cpu = _run(fn, x, w, b, opts, "cpu")
    gpu = _run(fn, x, w, b, opts, "cuda")
    for a, c in zip(gpu, cpu):
        assert _rel(a, c) <= 1e-12
    half = minidl.Tensor(x.astype(np.float16)).to("cuda")
    out = fn(half, minidl.Tensor(w.astype(np.float16)).to("cuda"), **opts)
    assert out.dtype == np.float16
    assert _rel(minidl.backend.to_numpy(out.data).astype(np.float64), cpu[0] - b.reshape(1, -1, 1, 1)) <= 1e-2


@pytest.mark.gpu
def test_gpu_chunked_equals_unchunked(tiny_budget):
    x, w, b, fn, opts = _gpu_case("conv2d")
    whole = _run(fn, x, w, b, opts, "cuda")
    conv_module.set_im2col_budget(1)
    chunked = _run(fn, x, w, b, opts, "cuda")
    for a, c in zip(whole, chunked):
        assert _rel(a, c) <= 1e-5


def test_matches_pytorch_when_installed(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 4, 9, 7))
    w = rng.standard_normal((6, 2, 3, 2))
    wt = rng.standard_normal((4, 3, 3, 4))
    b = rng.standard_normal(6)
    ours = F.conv2d(t(x), t(w), t(b), stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2).numpy()
    theirs = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=(2, 1),
                                        padding=(1, 2), dilation=(2, 1), groups=2).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)
    ours = F.conv_transpose2d(t(x), t(wt), t(b), stride=2, padding=1, output_padding=1, groups=2).numpy()
    theirs = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(wt), torch.tensor(b), stride=2,
                                                  padding=1, output_padding=1, groups=2).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", [(5, 3), (2, 130, 7), (1, 64, 64)])
def test_banded_transpose_equals_swapaxes(shape, rng):
    a = rng.standard_normal(shape)
    out = im2col_module.transposed(a)
    assert out.flags.c_contiguous and np.array_equal(out, a.swapaxes(-1, -2))


def test_scratch_buffers_are_per_name():
    a = im2col_module.scratch("left", (8,), np.float64)
    b = im2col_module.scratch("right", (8,), np.float64)
    assert not np.shares_memory(a, b)
    assert np.shares_memory(a, im2col_module.scratch("left", (2, 4), np.float64))
    zeros = im2col_module.zeroed_scratch("left", (3,), np.float32)
    assert not zeros.any()
