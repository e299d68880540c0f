"""pad (constant, reflect, replicate), crop and center_crop: loop references, gradchecks, errors, GPU."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import Tensor


def source_index(o, n, lo, mode):
    """Which input index padded position ``o`` shows, or None for a constant fill."""
    i = o - lo
    if 0 <= i < n:
        return i
    if mode == "constant":
        return None
    if mode == "replicate":
        return min(max(i, 0), n - 1)
    return -i if i < 0 else 2 * (n - 1) - i


def naive_pad(x, widths, mode, value):
    """``widths``: (lo, hi) per dimension from the first; every output element looked up on its own."""
    out = np.empty(tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths)))
    for idx in np.ndindex(*out.shape):
        src = [source_index(o, n, lo, mode) for o, n, (lo, _) in zip(idx, x.shape, widths)]
        out[idx] = value if None in src else x[tuple(src)]
    return out


@st.composite
def pad_case(draw):
    mode = draw(st.sampled_from(["constant", "reflect", "replicate"]))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1 if mode == "constant" else 2, max_size=4)))
    if mode == "constant":
        n_padded = draw(st.integers(1, len(shape)))
    else:  # PyTorch's combinations: the last 1-3 dimensions after (C,) or (N, C)
        n_padded = draw(st.integers(max(len(shape) - 2, 1), min(len(shape) - 1, 3)))
    pad = []
    for n in reversed(shape[len(shape) - n_padded:]):
        top = n - 1 if mode == "reflect" else 3
        pad += [draw(st.integers(0, top)), draw(st.integers(0, top))]
    value = draw(st.sampled_from([0.0, -1.5]))
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape)
    return x, tuple(pad), mode, value


def _widths(ndim, pad):
    widths = [(0, 0)] * ndim
    for k in range(len(pad) // 2):
        widths[ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    return widths


@given(pad_case())
def test_pad_matches_loops_and_gradchecks(case):
    x, pad, mode, value = case
    got = F.pad(Tensor(x), pad, mode=mode, value=value).numpy()
    np.testing.assert_array_equal(got, naive_pad(x, _widths(x.ndim, pad), mode, value))
    minidl.gradcheck(lambda a: F.pad(a, pad, mode=mode, value=value), (Tensor(x, requires_grad=True),))


def test_pad_known_values():
    x = Tensor(np.array([[1.0, 2.0, 3.0]]))
    assert F.pad(x, (2, 1), mode="reflect").numpy().tolist() == [[3, 2, 1, 2, 3, 2]]
    assert F.pad(x, (2, 1), mode="replicate").numpy().tolist() == [[1, 1, 1, 2, 3, 3]]
    assert F.pad(x, (1, 0, 0, 1), value=9).numpy().tolist() == [[9, 1, 2, 3], [9, 9, 9, 9]]


def test_pad_errors():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"pad: reflect padding \(0, 3\) must be smaller"):
        F.pad(x, (0, 3), mode="reflect")
    with pytest.raises(ValueError, match="pad: needs an even number"):
        F.pad(x, (1, 1, 1))
    with pytest.raises(ValueError, match="pad: unknown mode 'circle'"):
        F.pad(x, (1, 1), mode="circle")


# ---------------------------------------------------------------------- crop


@st.composite
def crop_case(draw):
    lead = tuple(draw(st.lists(st.integers(1, 2), min_size=0, max_size=2)))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    height, width = draw(st.integers(1, h)), draw(st.integers(1, w))
    top, left = draw(st.integers(0, h - height)), draw(st.integers(0, w - width))
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(lead + (h, w))
    return x, top, left, height, width


@given(crop_case())
def test_crop_matches_loops_and_gradchecks(case):
    x, top, left, height, width = case
    got = F.crop(Tensor(x), top, left, height, width).numpy()
    want = np.empty(x.shape[:-2] + (height, width))
    for idx in np.ndindex(*want.shape):
        want[idx] = x[idx[:-2] + (idx[-2] + top, idx[-1] + left)]
    np.testing.assert_array_equal(got, want)
    minidl.gradcheck(lambda a: F.crop(a, top, left, height, width), (Tensor(x, requires_grad=True),))


def test_crop_gradient_is_zero_outside_the_window():
    x = Tensor(np.ones((1, 1, 4, 5)), requires_grad=True)
    F.crop(x, 1, 2, 2, 3).sum().backward()
    expected = np.zeros((4, 5))
    expected[1:3, 2:5] = 1
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)


@pytest.mark.parametrize("hw, size, top_left", [
    ((5, 5), 3, (1, 1)),
    ((6, 6), 3, (2, 2)),     # round(1.5) = 2, as torchvision
    ((5, 8), (2, 5), (2, 2)),  # round(1.5) = 2 and round(1.5) = 2
    ((7, 4), [4], (2, 0)),
    ((3, 3), (3, 3), (0, 0)),
])
def test_center_crop_offsets(hw, size, top_left):
    x = Tensor(np.arange(float(np.prod(hw))).reshape((1,) + hw), requires_grad=True)
    out = F.center_crop(x, size)
    height, width = out.shape[-2:]
    top, left = top_left
    np.testing.assert_array_equal(out.numpy(), x.numpy()[:, top:top + height, left:left + width])
    minidl.gradcheck(lambda a: F.center_crop(a, size), (x,))


def test_crop_errors():
    x = Tensor(np.zeros((1, 3, 4, 5)))
    with pytest.raises(ValueError, match=r"crop: window rows 2..4, columns 0..1 leaves the input of size 4 x 5"):
        F.crop(x, 2, 0, 3, 2)
    with pytest.raises(ValueError, match="crop: window rows -1..0"):
        F.crop(x, -1, 0, 2, 2)
    with pytest.raises(ValueError, match=r"crop: window rows 0..1, columns 4..5"):
        F.crop(x, 0, 4, 2, 2)
    with pytest.raises(ValueError, match="crop: height and width must be positive"):
        F.crop(x, 0, 0, 0, 2)
    with pytest.raises(ValueError, match=r"crop: input needs at least 2 dimensions"):
        F.crop(Tensor(np.zeros(4)), 0, 0, 1, 1)
    with pytest.raises(ValueError, match="center_crop: window 5 x 5 is larger than the input's 4 x 5"):
        F.center_crop(x, 5)
    with pytest.raises(TypeError, match="crop: top must be an integer, got 1.5"):
        F.crop(x, 1.5, 0, 2, 2)
    with pytest.raises(TypeError, match="center_crop: size must be an integer"):
        F.center_crop(x, (2.0, 2))
    with pytest.raises(TypeError, match="center_crop: input must be a Tensor"):
        F.center_crop(np.zeros((4, 4)), 2)


@pytest.mark.gpu
@pytest.mark.parametrize("op", ["reflect", "constant", "crop"])
def test_gpu_matches_cpu(op):
    x = np.random.default_rng(6).standard_normal((2, 8, 15, 17)).astype(np.float32)
    run_op = {
        "reflect": lambda a: F.pad(a, (3, 2, 1, 4), mode="reflect"),
        "constant": lambda a: F.pad(a, (0, 5, 2, 2), value=0.5),
        "crop": lambda a: F.center_crop(a, (9, 10)),
    }[op]
    g = np.random.default_rng(7).standard_normal(run_op(Tensor(x)).shape).astype(np.float32)

    def run(device):
        xt = Tensor(x, requires_grad=True, device=device)
        y = run_op(xt)
        y.backward(Tensor(g, device=device))
        return y.numpy(), xt.grad.numpy()

    cpu_y, cpu_g = run("cpu")
    gpu_y, gpu_g = run("cuda")
    again_y, again_g = run("cuda")
    assert np.abs(gpu_y - cpu_y).max() <= 1e-5 * np.abs(cpu_y).max()
    assert np.abs(gpu_g - cpu_g).max() <= 1e-4 * np.abs(cpu_g).max()
    assert np.array_equal(gpu_y, again_y) and np.array_equal(gpu_g, again_g)
