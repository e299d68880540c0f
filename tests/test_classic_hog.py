"""HOG (minidl/classic/hog.py): gradients, orientation binning with linear votes, L2-Hys blocks, batch shapes."""
import numpy as np
import pytest

import minidl
from minidl.classic import hog


def vertical_step(size=16, channels=1):
    """Dark left half, bright right half: a vertical edge, gradient along +x (orientation 0 degrees)."""
    img = np.zeros((1, channels, size, size))
    img[..., size // 2:] = 1.0
    return img


def test_vertical_step_edge_has_horizontal_gradient_on_the_edge_only():
    mag, theta = hog.image_gradients(vertical_step())
    assert mag.shape == theta.shape == (1, 16, 16)
    # centred difference: the two columns either side of the edge see a jump of 1
    np.testing.assert_allclose(mag[0, :, 7:9], 1.0)
    assert np.all(mag[0, :, :7] == 0) and np.all(mag[0, :, 9:] == 0)
    np.testing.assert_allclose(theta[0, :, 7:9], 0.0)


def test_horizontal_edge_points_at_90_degrees_and_orientation_is_unsigned():
    img = np.zeros((2, 1, 12, 12))
    img[0, :, 6:, :] = 1.0   # bright below: gy > 0
    img[1, :, :6, :] = 1.0   # bright above: gy < 0, the same unsigned orientation
    mag, theta = hog.image_gradients(img)
    edge = mag > 0
    np.testing.assert_allclose(theta[edge], 90.0)
    assert np.all((theta >= 0) & (theta < 180))


def test_diagonal_edge_orientation():
    y, x = np.mgrid[0:16, 0:16]
    img = (x + y > 15).astype(float)[None, None]
    mag, theta = hog.image_gradients(img)
    inside = mag[0, 2:-2, 2:-2] > 0
    np.testing.assert_allclose(theta[0, 2:-2, 2:-2][inside], 45.0)


def test_step_edge_votes_go_to_the_bins_around_its_orientation():
    # 0 degrees lies between the centres of bin 8 (170) and bin 0 (10): half to each, wrapping round 180
    cells = hog.cell_histograms(*hog.image_gradients(vertical_step()), cell_size=8, n_bins=9)
    assert cells.shape == (1, 2, 2, 9)
    total = cells.sum(axis=-1)
    np.testing.assert_allclose(cells[..., 0], total / 2)
    np.testing.assert_allclose(cells[..., 8], total / 2)
    assert np.all(cells[..., 1:8] == 0)
    assert total[0, 0, 0] == pytest.approx(8.0) and total[0, 0, 1] == pytest.approx(8.0)


@pytest.mark.parametrize("angle, bins", [
    (10.0, {0: 1.0}), (20.0, {0: 0.5, 1: 0.5}), (25.0, {0: 0.25, 1: 0.75}), (175.0, {8: 0.75, 0: 0.25}),
    (90.0, {4: 1.0}),
])
def test_votes_split_linearly_between_the_two_nearest_bin_centres(angle, bins):
    votes = hog.orientation_votes(np.full((1, 1, 1), 2.0), np.full((1, 1, 1), angle), n_bins=9)
    expected = np.zeros(9)
    for b, w in bins.items():
        expected[b] = 2.0 * w
    np.testing.assert_allclose(votes[0, :, 0, 0], expected, atol=1e-12)


def test_votes_conserve_the_magnitude(rng):
    mag = rng.random((3, 5, 7))
    theta = rng.random((3, 5, 7)) * 180
    np.testing.assert_allclose(hog.orientation_votes(mag, theta, 9).sum(axis=1), mag)


def test_colour_gradient_takes_the_strongest_channel():
    img = np.zeros((1, 3, 8, 8))
    img[0, 0, :, 4:] = 0.2      # weak vertical edge in red
    img[0, 2, 4:, :] = 0.9      # strong horizontal edge in blue
    mag, theta = hog.image_gradients(img)
    assert mag[0, 4, 1] == pytest.approx(0.9) and theta[0, 4, 1] == pytest.approx(90.0)
    assert mag[0, 1, 4] == pytest.approx(0.2) and theta[0, 1, 4] == pytest.approx(0.0)


def test_blocks_have_unit_norm_before_clipping_and_at_most_clip_between(rng):
    cells = rng.random((2, 4, 5, 9)) * 10
    plain = hog.block_normalize(cells, block_size=2, eps=1e-9, clip=None)
    assert plain.shape == (2, 3, 4, 36)
    np.testing.assert_allclose(np.linalg.norm(plain, axis=-1), 1.0, rtol=1e-9)
    hys = hog.block_normalize(cells, block_size=2, eps=1e-9, clip=0.2)
    np.testing.assert_allclose(np.linalg.norm(hys, axis=-1), 1.0, rtol=1e-9)
    # after the clip and before the renormalisation nothing exceeds 0.2, so no value exceeds 0.2 / |clipped|
    clipped_norm = np.linalg.norm(np.minimum(plain, 0.2), axis=-1, keepdims=True)
    assert np.all(hys <= 0.2 / clipped_norm + 1e-12)


def test_block_concatenates_its_cells_in_row_major_order():
    cells = np.arange(2 * 2 * 1, dtype=float).reshape(1, 2, 2, 1) + 1
    v = hog.block_normalize(cells, block_size=2, eps=0.0, clip=None)
    np.testing.assert_allclose(v[0, 0, 0], np.array([1, 2, 3, 4]) / np.sqrt(30))


def test_contrast_invariance(rng):
    img = rng.random((2, 3, 16, 16))
    np.testing.assert_allclose(hog.hog(img), hog.hog(3.0 * img), rtol=1e-6, atol=1e-9)


def test_empty_block_stays_finite():
    out = hog.hog(np.zeros((1, 1, 16, 16)))
    assert np.all(out == 0)


def test_descriptor_length_batch_tensor_and_float32(rng):
    images = rng.random((5, 3, 32, 32)).astype(np.float32)
    out = hog.hog(images)
    assert out.shape == (5, 3 * 3 * 4 * 9)
    assert out.dtype == np.float32
    np.testing.assert_allclose(hog.hog(minidl.tensor(images)), out)
    one = hog.hog(images[2])            # a single CHW image is a batch of one
    np.testing.assert_allclose(one[0], out[2], rtol=1e-5)
    # pixels past the last whole cell are left out
    assert hog.hog(rng.random((1, 1, 35, 37)), cell_size=8).shape == (1, 3 * 3 * 36)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="shape"):
        hog.hog(np.zeros((4, 4)))
    with pytest.raises(TypeError, match="floating"):
        hog.hog(np.zeros((1, 1, 16, 16), dtype=np.uint8))
    with pytest.raises(ValueError, match="cell"):
        hog.hog(np.zeros((1, 1, 6, 6)), cell_size=8)
    with pytest.raises(ValueError, match="block"):
        hog.hog(np.zeros((1, 1, 8, 8)), cell_size=8)


@pytest.mark.gpu
def test_gpu_matches_cpu(rng):
    import cupy

    images = rng.random((3, 3, 24, 24))
    on_gpu = cupy.asnumpy(hog.hog(cupy.asarray(images)))
    np.testing.assert_allclose(on_gpu, hog.hog(images), rtol=1e-9, atol=1e-12)
