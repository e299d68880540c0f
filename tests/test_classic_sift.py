"""Dense SIFT (minidl/classic/sift.py): orientation bins, the 4x4 cell layout, invariances, grid and errors."""
import numpy as np
import pytest

import minidl
from minidl.classic import sift


def step_edge(degrees, size=16):
    """Dark on one side, bright on the other of a line through the centre, the gradient pointing at
    ``degrees`` (x to the right, y down): a pure step, no smoothing."""
    y, x = np.mgrid[0:size, 0:size] + 0.5 - size / 2
    t = np.radians(degrees)
    return (x * np.cos(t) + y * np.sin(t) > 0).astype(float)[None, None]


def orientation_histogram(descriptor):
    """The 128 numbers summed over the 16 cells: mass per orientation bin, as fractions."""
    h = descriptor.reshape(16, 8).sum(axis=0)
    return h / h.sum()


@pytest.mark.parametrize("degrees", [0, 30, 45, 90, 100, 135, 200, 290, 337])
def test_step_edge_puts_its_mass_in_the_bins_around_its_angle(degrees):
    d, centres = sift.dense_sift(step_edge(degrees), cell_sizes=(4,))
    assert d.shape == (1, 1, 128) and centres.tolist() == [[8.0, 8.0]]
    h = orientation_histogram(d[0, 0])
    # the bins either side of the angle (bin b's centre is 45 b degrees), and the ones next to a bin centre:
    # the pixel staircase of an oblique step bends a few gradients towards the axes
    around = {int(degrees // 45) % 8, int(-(-degrees // 45)) % 8}
    if len(around) == 1:
        around |= {(degrees // 45 - 1) % 8, (degrees // 45 + 1) % 8}
    assert sum(h[b] for b in around) > 0.99
    # the mean direction of the histogram (bins as unit vectors at their centres) is the edge's
    centre = np.radians(45 * np.arange(8))
    mean = np.degrees(np.arctan2(h @ np.sin(centre), h @ np.cos(centre)))
    assert abs((mean - degrees + 180) % 360 - 180) < 8


def test_votes_split_linearly_between_neighbouring_bins():
    theta = np.radians(np.array([0.0, 45.0, 67.5, 350.0]))[:, None, None]
    votes = sift.orientation_votes(np.full(theta.shape, 2.0), theta)
    np.testing.assert_allclose(votes[0, :, 0, 0], [2, 0, 0, 0, 0, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(votes[1, :, 0, 0], [0, 2, 0, 0, 0, 0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(votes[2, :, 0, 0], [0, 1, 1, 0, 0, 0, 0, 0], atol=1e-12)
    # 350 degrees lies between bin 7 (315) and bin 0 (360 = 0): 35/45 of the way to bin 0
    np.testing.assert_allclose(votes[3, :, 0, 0], [2 * 35 / 45, 0, 0, 0, 0, 0, 0, 2 * 10 / 45], atol=1e-12)


def test_rotating_the_patch_by_90_degrees_rotates_the_cells_and_shifts_the_bins_by_two(rng):
    patch = rng.random((1, 3, 16, 16))
    d, _ = sift.dense_sift(patch)
    r, _ = sift.dense_sift(np.rot90(patch, axes=(2, 3)).copy())
    cells = d[0, 0].reshape(4, 4, 8)
    # a counter-clockwise quarter turn (y down): cell (cy, cx) goes to (3 - cx, cy), orientation theta to
    # theta - 90 degrees, i.e. bin b to bin b - 2
    expected = np.roll(np.rot90(cells), -2, axis=-1)
    np.testing.assert_allclose(r[0, 0].reshape(4, 4, 8), expected, atol=1e-12)
    assert not np.allclose(cells, expected)


def test_spatial_votes_are_bilinear_and_the_window_gaussian():
    a = sift.window_weights(4)
    assert a.shape == (4, 16)
    gauss = np.exp(-(np.arange(16) + 0.5 - 8) ** 2 / (2 * 8.0 ** 2))
    # every pixel between the first and the last cell centre gives all of its (Gaussian) weight away
    np.testing.assert_allclose(a.sum(axis=0)[2:14], gauss[2:14])
    # pixel 5 (centre 5.5, t = 0.875) votes 1/8 for cell 0 and 7/8 for cell 1
    np.testing.assert_allclose(a[:, 5] / gauss[5], [0.125, 0.875, 0, 0])


def loop_descriptor(gray, y0, x0, s):
    """One descriptor by the textbook: every pixel of the window votes for its two cells along y, its two
    along x and its two orientation bins, weighted by its magnitude and the Gaussian window."""
    side = 4 * s
    sigma = side / 2
    out = np.zeros((4, 4, 8))
    p = np.pad(gray, 1, mode="edge")
    for i in range(side):
        for j in range(side):
            y, x = y0 + i, x0 + j
            gx, gy = p[y + 1, x + 2] - p[y + 1, x], p[y + 2, x + 1] - p[y, x + 1]
            m, o = np.hypot(gx, gy), (np.degrees(np.arctan2(gy, gx)) % 360) / 45
            g = np.exp(-((i + 0.5 - side / 2) ** 2 + (j + 0.5 - side / 2) ** 2) / (2 * sigma ** 2))
            ti, tj = (i + 0.5) / s - 0.5, (j + 0.5) / s - 0.5
            for cy in range(4):
                for cx in range(4):
                    wy, wx = max(0.0, 1 - abs(ti - cy)), max(0.0, 1 - abs(tj - cx))
                    b = int(np.floor(o))
                    out[cy, cx, b % 8] += m * g * wy * wx * (1 - (o - b))
                    out[cy, cx, (b + 1) % 8] += m * g * wy * wx * (o - b)
    v = out.ravel()
    v = v / np.linalg.norm(v)
    v = np.minimum(v, 0.2)
    return v / np.linalg.norm(v)


def test_dense_sift_equals_a_loop_over_the_window_pixels(rng):
    images = rng.random((2, 3, 12, 14))
    d, centres = sift.dense_sift(images, cell_sizes=(2,), step=3)
    gray = images.mean(axis=1)
    origins = [(y, x) for y in (0, 3) for x in (0, 3, 6)]
    assert d.shape == (2, len(origins), 128)
    for n in range(2):
        for k, (y0, x0) in enumerate(origins):
            assert centres[k].tolist() == [y0 + 4.0, x0 + 4.0]
            np.testing.assert_allclose(d[n, k], loop_descriptor(gray[n], y0, x0, 2), rtol=1e-6, atol=1e-9)


def test_brightness_offset_and_contrast_scaling_leave_the_descriptors_unchanged(rng):
    images = rng.random((3, 3, 20, 24))
    d, _ = sift.dense_sift(images, cell_sizes=(2, 4))
    np.testing.assert_allclose(sift.dense_sift(images + 0.7, cell_sizes=(2, 4))[0], d, atol=1e-12)
    np.testing.assert_allclose(sift.dense_sift(2.5 * images, cell_sizes=(2, 4))[0], d, rtol=1e-6, atol=1e-9)


def test_descriptors_are_unit_length_and_clipped(rng):
    d, _ = sift.dense_sift(rng.random((2, 1, 24, 24)), cell_sizes=(3,), step=2)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, rtol=1e-6)
    # after the clip at 0.2 the renormalisation can only raise values up to 0.2 / |clipped| (<= ~0.35 here)
    assert d.max() < 0.4 and d.min() >= 0


def test_constant_patch_gives_zeros_not_nan():
    d, _ = sift.dense_sift(np.full((2, 3, 16, 16), 0.5))
    assert np.all(np.isfinite(d)) and np.all(d == 0)


def test_dense_grid_positions_scales_and_dtype(rng):
    images = rng.random((2, 3, 20, 24)).astype(np.float32)
    d, centres = sift.dense_sift(images, cell_sizes=(2, 4), step=4)
    # cell 2: windows 8x8 at 0, 4, 8, 12 (rows) and 0..16 (columns): 4 x 5; cell 4: 16x16 at 0, 4 x 0, 4, 8
    assert d.shape == (2, 20 + 6, 128) and d.dtype == np.float32
    assert centres[0].tolist() == [4.0, 4.0] and centres[19].tolist() == [16.0, 20.0]
    assert centres[20].tolist() == [8.0, 8.0] and centres[-1].tolist() == [12.0, 16.0]
    # descriptor 7 (cell 2, window rows 4..11, columns 8..15) sees only its window and the one-pixel rim
    # its gradients read: changing everything else leaves it alone and changes the others
    changed = rng.random(images.shape).astype(np.float32)
    changed[:, :, 3:13, 7:17] = images[:, :, 3:13, 7:17]
    other, _ = sift.dense_sift(changed, cell_sizes=(2, 4), step=4)
    np.testing.assert_allclose(other[:, 7], d[:, 7], rtol=1e-5, atol=1e-6)
    assert not np.allclose(other[:, 5], d[:, 5])
    np.testing.assert_allclose(sift.dense_sift(minidl.tensor(images), cell_sizes=(2, 4), step=4)[0], d)


def test_errors_name_the_value():
    with pytest.raises(ValueError, match=r"a 12x20 image is smaller than one 16x16 descriptor window \(cell_size=4\)"):
        sift.dense_sift(np.zeros((1, 1, 12, 20)))
    with pytest.raises(ValueError, match="step must be a positive int or None, got 0"):
        sift.dense_sift(np.zeros((1, 1, 16, 16)), step=0)
    with pytest.raises(ValueError, match="cell_sizes must hold positive ints, got 0"):
        sift.dense_sift(np.zeros((1, 1, 16, 16)), cell_sizes=(0,))
    with pytest.raises(TypeError, match="floating"):
        sift.dense_sift(np.zeros((1, 1, 16, 16), dtype=np.uint8))
    with pytest.raises(ValueError, match="shape"):
        sift.dense_sift(np.zeros((16, 16)))


@pytest.mark.gpu
def test_gpu_matches_cpu(rng):
    import cupy

    images = rng.random((2, 3, 20, 20))
    on_gpu, _ = sift.dense_sift(cupy.asarray(images), cell_sizes=(2, 4))
    np.testing.assert_allclose(cupy.asnumpy(on_gpu), sift.dense_sift(images, cell_sizes=(2, 4))[0], atol=1e-12)
