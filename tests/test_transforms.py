import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
from minidl.data import transforms as T
from minidl.data.transforms.geometric import RandomResizedCrop


def _image(seed, h, w, c=3, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)
    return rng.random((h, w, c)).astype(dtype)


sizes = st.integers(2, 20)


@given(h=sizes, w=sizes, seed=st.integers(0, 1000))
def test_horizontal_flip_twice_is_identity(h, w, seed):
    img = _image(seed, h, w)
    mask = np.arange(h * w).reshape(h, w) % 7
    flip = T.RandomHorizontalFlip(p=1.0)
    out, m = flip(*flip(img, mask))
    np.testing.assert_array_equal(out, img)
    np.testing.assert_array_equal(m, mask)
    np.testing.assert_array_equal(flip(img), img[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(img), img)


@given(h=sizes, w=sizes, ch=st.integers(1, 20), cw=st.integers(1, 20), pad=st.integers(0, 4),
       mode=st.sampled_from(["constant", "edge", "reflect", "symmetric"]), seed=st.integers(0, 1000))
def test_random_crop_has_asked_size_and_comes_from_the_padded_image(h, w, ch, cw, pad, mode, seed):
    img = _image(seed, h, w)
    padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode=mode)
    crop = T.RandomCrop((ch, cw), padding=pad, padding_mode=mode, pad_if_needed=True)
    if mode == "reflect" and min(h, w) <= pad:
        return
    out = crop(img, rng=np.random.default_rng(seed))
    assert out.shape == (ch, cw, 3)
    if ch <= padded.shape[0] and cw <= padded.shape[1]:
        windows = np.lib.stride_tricks.sliding_window_view(padded, (ch, cw, 3))[:, :, 0]
        assert (windows == out).all(axis=(2, 3, 4)).any()


def test_random_crop_too_large_is_a_clear_error():
    with pytest.raises(ValueError, match="larger than"):
        T.RandomCrop(10)(_image(0, 4, 4))


@given(h=sizes, w=sizes, ch=st.integers(1, 25), cw=st.integers(1, 25))
def test_center_crop_size_and_centre(h, w, ch, cw):
    img = _image(1, h, w)
    out = T.CenterCrop((ch, cw))(img)
    assert out.shape == (ch, cw, 3)
    if ch <= h and cw <= w:
        top, left = int(round((h - ch) / 2)), int(round((w - cw) / 2))
        np.testing.assert_array_equal(out, img[top:top + ch, left:left + cw])


@given(h=st.integers(1, 60), w=st.integers(1, 60), seed=st.integers(0, 10000),
       lo=st.floats(0.05, 1.0), ratio_lo=st.floats(0.3, 1.0), ratio_span=st.floats(1.0, 3.0))
def test_random_resized_crop_params_in_bounds(h, w, seed, lo, ratio_lo, ratio_span):
    top, left, ch, cw = RandomResizedCrop.get_params(h, w, (lo, 1.0), (ratio_lo, ratio_lo * ratio_span),
                                                     np.random.default_rng(seed))
    assert 0 < ch <= h and 0 < cw <= w
    assert 0 <= top <= h - ch and 0 <= left <= w - cw


@given(h=st.integers(4, 30), w=st.integers(4, 30), size=st.integers(1, 12), seed=st.integers(0, 100))
def test_random_resized_crop_output_size(h, w, size, seed):
    img, mask = _image(seed, h, w), np.zeros((h, w), np.int64)
    out, m = T.RandomResizedCrop(size)(img, mask, rng=np.random.default_rng(seed))
    assert out.shape == (size, size, 3) and out.dtype == np.uint8 and m.shape == (size, size)


def test_random_resized_crop_fallback_is_centre_clamped_to_ratio():
    never_fits = (5.0, 6.0)
    assert RandomResizedCrop.get_params(10, 40, never_fits, (0.75, 4 / 3), np.random.default_rng(0)) == (0, 13, 10, 13)
    assert RandomResizedCrop.get_params(10, 10, never_fits, (0.75, 4 / 3), np.random.default_rng(0)) == (0, 0, 10, 10)


@given(h=sizes, w=sizes, seed=st.integers(0, 100), floating=st.booleans())
def test_affine_and_lens_with_identity_parameters_are_identity(h, w, seed, floating):
    img = _image(seed, h, w, dtype=np.float32 if floating else np.uint8)
    mask = np.arange(h * w).reshape(h, w) % 5
    affine = T.RandomAffine(degrees=0, translate=(0, 0), scale=(1, 1), shear=0)
    lens = T.RandomLensDistortion(k=0)
    for t in (affine, lens):
        out, m = t(img, mask)
        np.testing.assert_array_equal(out, img)
        np.testing.assert_array_equal(m, mask)


def test_affine_rotation_by_90_degrees_matches_rot90():
    img = _image(3, 9, 9)
    out = T.RandomAffine(degrees=(90, 90))(img)
    np.testing.assert_array_equal(out, np.rot90(img))


def test_affine_translation_moves_pixels_and_fills_mask_with_ignore():
    img = _image(4, 6, 8)
    mask = np.ones((6, 8), np.int64)
    t = T.RandomAffine(degrees=0, translate=(0.25, 0.0))
    out, m = t(img, mask, rng=np.random.default_rng(0))
    shift = int(np.flatnonzero((m == 255).any(axis=0)).size)
    assert shift > 0 and set(np.unique(m)) <= {1, 255}
    assert (out[m == 255] == 0).all()


def test_lens_distortion_moves_corners_not_the_centre():
    img = _image(5, 9, 9, dtype=np.float64)
    out = T.RandomLensDistortion(k=(0.5, 0.5))(img)
    np.testing.assert_allclose(out[4, 4], img[4, 4])
    assert not np.allclose(out[0, 0], img[0, 0])


def test_lighting_noise_has_mean_zero():
    lighting = T.Lighting(alphastd=0.1)
    rng = np.random.default_rng(0)
    offsets = np.array([lighting.offset(rng) for _ in range(4000)])
    assert np.abs(offsets.mean(axis=0)).max() < 0.003
    eig = np.asarray(T.IMAGENET_PCA_EIGVEC)
    np.testing.assert_allclose(np.cov(offsets.T), eig @ np.diag((0.1 * np.asarray(T.IMAGENET_PCA_EIGVAL)) ** 2) @ eig.T,
                               atol=2e-5)
    img = np.full((2, 2, 3), 0.5)
    out = lighting(img, rng=np.random.default_rng(1))
    assert np.allclose(out - img, out[0, 0] - img[0, 0])


@given(seed=st.integers(0, 1000))
def test_color_jitter_stays_in_range_and_is_identity_without_parameters(seed):
    img = _image(seed, 5, 6)
    np.testing.assert_array_equal(T.ColorJitter()(img), img)
    out = T.ColorJitter(0.5, 0.5, 0.5, 0.2)(img.astype(np.float32) / 255, rng=np.random.default_rng(seed))
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


def test_hsv_roundtrip():
    x = np.random.default_rng(0).random((7, 7, 3))
    np.testing.assert_allclose(T.hsv_to_rgb(T.rgb_to_hsv(x)), x, atol=1e-12)


def test_to_tensor_and_normalize():
    img = _image(0, 4, 5)
    x = T.ToTensor()(img)
    assert x.shape == (3, 4, 5) and x.dtype == np.float32
    np.testing.assert_allclose(x, img.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    y = T.Normalize(T.IMAGENET_MEAN, T.IMAGENET_STD)(x)
    np.testing.assert_allclose(y[1], (x[1] - 0.456) / 0.224, rtol=1e-5)
    t = T.Normalize([0.5], [0.5])(minidl.Tensor(x))
    assert isinstance(t, minidl.Tensor)
    with pytest.raises(ValueError, match="non-zero"):
        T.Normalize([0, 0, 0], [1, 0, 1])
    with pytest.raises(TypeError, match="ToTensor before Normalize"):
        T.Normalize([0.5], [0.5])(img)


def test_resize_shorter_side_and_pil_input():
    from PIL import Image

    img = _image(0, 10, 20)
    assert T.Resize(5)(img).shape == (5, 10, 3)
    assert T.Resize((7, 3))(Image.fromarray(img)).shape == (7, 3, 3)
    assert T.Resize(4)(img.astype(np.float32) / 255).dtype == np.float32
    out, m = T.Resize(5)(img, np.zeros((10, 20), np.int64))
    assert m.shape == (5, 10)


def test_compose_pairs_and_generator_resolution():
    img, mask = _image(0, 12, 12), np.arange(144).reshape(12, 12) % 4
    chain = T.Compose([T.RandomAffine(20, scale=(0.8, 1.2)), T.RandomCrop(8), T.RandomHorizontalFlip(), T.ToTensor()])
    a = chain(img, mask, rng=np.random.default_rng(3))
    b = chain(img, mask, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].shape == (3, 8, 8) and a[1].dtype == np.int64
    minidl.manual_seed(9)
    c = chain(img)
    minidl.manual_seed(9)
    np.testing.assert_array_equal(chain(img), c)


def test_input_errors_are_clear():
    with pytest.raises(ValueError, match="channels-first"):
        T.RandomHorizontalFlip()(np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(TypeError, match="Pillow image or an HWC"):
        T.RandomCrop(2)([1, 2, 3])
    with pytest.raises(ValueError, match="mask has shape"):
        T.RandomHorizontalFlip()(np.zeros((4, 4, 3), np.uint8), np.zeros((3, 4), np.int64))
    with pytest.raises(ValueError, match="hue"):
        T.ColorJitter(hue=0.7)
