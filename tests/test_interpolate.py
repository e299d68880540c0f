"""interpolate: per-pixel loop references with PyTorch's coordinate formulas, gradchecks, errors, GPU."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import Tensor

SCALES = [0.5, 0.7, 1.0, 1.3, 1.5, 2.0, 2.5, 3.0]


def out_size(n_in, size, scale):
    return size if size is not None else math.floor(n_in * scale)


def nearest_index(d, n_in, n_out, scale):
    """PyTorch's legacy nearest, float32 coordinates, with its shortcuts for equal and doubled sizes."""
    if n_out == n_in:
        return d
    if n_out == 2 * n_in:
        return d // 2
    s = np.float32(1.0 / scale) if scale is not None else np.float32(n_in) / np.float32(n_out)
    return min(int(math.floor(np.float32(d) * s)), n_in - 1)


def linear_taps(d, n_in, n_out, scale, align_corners):
    """(i0, i1, l0, l1) of one output index, written from PyTorch's source-index rule (float64)."""
    if n_out == n_in:
        return d, d, 1.0, 0.0
    if align_corners:
        src = d * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        s = 1.0 / scale if scale is not None else n_in / n_out
        src = max(s * (d + 0.5) - 0.5, 0.0)
    i0 = int(src)
    i1 = i0 + 1 if i0 < n_in - 1 else i0
    l1 = min(max(src - i0, 0.0), 1.0)
    return i0, i1, 1.0 - l1, l1


def naive_bilinear(x, size, scale, align_corners):
    n, c, h, w = x.shape
    ho, wo = out_size(h, size and size[0], scale and scale[0]), out_size(w, size and size[1], scale and scale[1])
    out = np.zeros((n, c, ho, wo))
    for oy in range(ho):
        y0, y1, ly0, ly1 = linear_taps(oy, h, ho, scale and scale[0], align_corners)
        for ox in range(wo):
            x0, x1, lx0, lx1 = linear_taps(ox, w, wo, scale and scale[1], align_corners)
            for b in range(n):
                for ch in range(c):
                    out[b, ch, oy, ox] = (ly0 * (lx0 * x[b, ch, y0, x0] + lx1 * x[b, ch, y0, x1])
                                          + ly1 * (lx0 * x[b, ch, y1, x0] + lx1 * x[b, ch, y1, x1]))
    return out


def naive_nearest(x, size, scale):
    spatial = x.shape[2:]
    outs = [out_size(n, size and size[k], scale and scale[k]) for k, n in enumerate(spatial)]
    out = np.zeros(x.shape[:2] + tuple(outs), dtype=x.dtype)
    for idx in np.ndindex(*out.shape):
        src = tuple(
            nearest_index(d, spatial[k], outs[k], scale and scale[k]) for k, d in enumerate(idx[2:])
        )
        out[idx] = x[idx[:2] + src]
    return out


@st.composite
def resize(draw, rank=4):
    largest = 5 if rank < 5 else 3  # volumes stay tiny: gradcheck's cost grows with in x out
    spatial = tuple(draw(st.integers(1, largest)) for _ in range(rank - 2))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + spatial
    if draw(st.booleans()):
        size, scale = tuple(draw(st.integers(1, largest + 3)) for _ in spatial), None
    else:
        size = None
        scale = tuple(draw(st.sampled_from(SCALES)) for _ in spatial)
        if any(math.floor(n * s) < 1 for n, s in zip(spatial, scale)):
            scale = tuple(max(s, 1.0) for s in scale)
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape)
    return x, size, scale


def _kw(size, scale):
    return {"size": size} if size is not None else {"scale_factor": scale}


@given(resize(), st.booleans())
def test_bilinear_matches_loops(case, align_corners):
    x, size, scale = case
    got = F.interpolate(Tensor(x), mode="bilinear", align_corners=align_corners, **_kw(size, scale)).numpy()
    np.testing.assert_allclose(got, naive_bilinear(x, size, scale, align_corners), rtol=1e-12, atol=1e-12)


@given(st.sampled_from([3, 4, 5]).flatmap(resize))
def test_nearest_matches_loops(case):
    x, size, scale = case
    got = F.interpolate(Tensor(x), **_kw(size, scale)).numpy()
    np.testing.assert_array_equal(got, naive_nearest(x, size, scale))


@given(resize(), st.booleans())
def test_bilinear_gradcheck(case, align_corners):
    x, size, scale = case
    minidl.gradcheck(
        lambda a: F.interpolate(a, mode="bilinear", align_corners=align_corners, **_kw(size, scale)),
        (Tensor(x, requires_grad=True),),
    )


@given(st.sampled_from([3, 4, 5]).flatmap(resize))
def test_nearest_gradcheck(case):
    x, size, scale = case
    minidl.gradcheck(lambda a: F.interpolate(a, **_kw(size, scale)), (Tensor(x, requires_grad=True),))


def test_known_bilinear_values():
    x = Tensor(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    half = F.interpolate(x, scale_factor=2, mode="bilinear").numpy()[0, 0]
    np.testing.assert_allclose(half[0], [1.0, 1.25, 1.75, 2.0])
    np.testing.assert_allclose(half[:, 0], [1.0, 1.5, 2.5, 3.0])
    corners = F.interpolate(x, size=3, mode="bilinear", align_corners=True).numpy()[0, 0]
    np.testing.assert_allclose(corners, [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]])


def test_scale_factor_uses_its_own_scale_not_in_over_out():
    # 10 * 1.35 -> 13 outputs; output 4 reads floor(4 / 1.35) = 2 but floor(4 * 10 / 13) = 3
    x = Tensor(np.arange(10.0).reshape(1, 1, 10))
    by_scale = F.interpolate(x, scale_factor=1.35).numpy().ravel()
    by_size = F.interpolate(x, size=13).numpy().ravel()
    assert by_scale[4] == 2 and by_size[4] == 3
    recomputed = F.interpolate(x, scale_factor=1.35, recompute_scale_factor=True).numpy().ravel()
    assert recomputed.tolist() == by_size.tolist()
    smooth = F.interpolate(Tensor(x.data.reshape(1, 1, 1, 10)), scale_factor=1.35, mode="bilinear")
    np.testing.assert_allclose(smooth.numpy()[0, 0, 0, 4], 4.5 / 1.35 - 0.5)


def test_nearest_keeps_integer_labels():
    labels = minidl.tensor(np.array([[[[0, 1], [2, 255]]]]))
    up = F.interpolate(labels, size=(4, 4))
    assert up.dtype == np.int64
    assert up.numpy()[0, 0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 255, 255], [2, 2, 255, 255]]


def test_float32_stays_float32():
    x = Tensor(np.ones((1, 2, 3, 3), dtype=np.float32), requires_grad=True)
    y = F.interpolate(x, scale_factor=2.5, mode="bilinear")
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    # every output distributes exactly its weight 1 over the inputs
    np.testing.assert_allclose(x.grad.numpy().sum(), y.numel(), rtol=1e-6)


def test_errors():
    x = Tensor(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="interpolate: give exactly one of size and scale_factor"):
        F.interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="interpolate: give exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="interpolate: align_corners can only be set with mode 'bilinear'"):
        F.interpolate(x, size=2, align_corners=False)
    with pytest.raises(ValueError, match=r"interpolate: mode 'bilinear' needs 4-D input, got shape \(1, 4, 4\)"):
        F.interpolate(Tensor(np.zeros((1, 4, 4))), size=2, mode="bilinear")
    with pytest.raises(ValueError, match="interpolate: mode 'nearest' needs 3-D or 4-D or 5-D input"):
        F.interpolate(Tensor(np.zeros((4, 4))), size=2)
    with pytest.raises(ValueError, match="interpolate: unknown mode 'bicubic'"):
        F.interpolate(x, size=2, mode="bicubic")
    with pytest.raises(ValueError, match=r"interpolate: size \(2, 2, 2\) has 3 entries for 2 spatial"):
        F.interpolate(x, size=(2, 2, 2))
    with pytest.raises(ValueError, match="interpolate: input and output sizes must be positive"):
        F.interpolate(x, scale_factor=0.2)
    with pytest.raises(ValueError, match="interpolate: scale_factor must be positive"):
        F.interpolate(x, scale_factor=-2)
    with pytest.raises(TypeError, match="interpolate: size must be an integer, got 2.5"):
        F.interpolate(x, size=(2.5, 2))
    with pytest.raises(TypeError, match="interpolate: bilinear needs a floating-point input"):
        F.interpolate(minidl.tensor(np.zeros((1, 1, 2, 2), dtype=np.int64)), size=3, mode="bilinear")


def test_matches_torch_when_installed():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 7))
    for kw in ({"size": (9, 4)}, {"scale_factor": 1.7}, {"scale_factor": (2.0, 0.6)}):
        for mode, corners in (("nearest", None), ("bilinear", False), ("bilinear", True)):
            want = torch.nn.functional.interpolate(torch.tensor(x), mode=mode, align_corners=corners, **kw)
            got = F.interpolate(Tensor(x), mode=mode, align_corners=corners, **kw)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("kw", [
    {"size": (37, 45), "mode": "bilinear"},
    {"scale_factor": 8, "mode": "bilinear", "align_corners": True},
    {"scale_factor": 2.5, "mode": "nearest"},
])
def test_gpu_matches_cpu(kw):
    x = np.random.default_rng(4).standard_normal((2, 21, 12, 14)).astype(np.float32)
    g = np.random.default_rng(5).standard_normal(F.interpolate(Tensor(x), **kw).shape).astype(np.float32)

    def run(device):
        xt = Tensor(x, requires_grad=True, device=device)
        y = F.interpolate(xt, **kw)
        y.backward(Tensor(g, device=device))
        return y.numpy(), xt.grad.numpy()

    cpu_y, cpu_g = run("cpu")
    gpu_y, gpu_g = run("cuda")
    again_y, again_g = run("cuda")
    assert np.abs(gpu_y - cpu_y).max() <= 1e-5 * np.abs(cpu_y).max()
    assert np.abs(gpu_g - cpu_g).max() <= 1e-4 * np.abs(cpu_g).max()
    assert np.array_equal(gpu_y, again_y) and np.array_equal(gpu_g, again_g)
