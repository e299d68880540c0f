import time

import numpy as np
import pytest

from minidl.data import DataLoader, Shapes
from minidl.data import transforms as T


def test_deterministic_and_prefix_stable():
    a, b = Shapes(n=300, seed=3), Shapes(n=300, seed=3)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.targets, b.targets)
    np.testing.assert_array_equal(Shapes(n=40, seed=3).data, a.data[:40])
    assert not np.array_equal(Shapes(n=40, seed=4).data, a.data[:40])


def test_classify_samples_and_balance():
    ds = Shapes(n=600, image_size=16)
    image, label = ds[5]
    assert image.shape == (3, 16, 16) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert isinstance(label, int) and 0 <= label < len(ds.classes)
    counts = np.bincount(ds.targets, minlength=len(ds.classes))
    assert len(ds.classes) >= 6 and counts.max() - counts.min() <= 2


def test_shapes_stand_out_from_the_background():
    ds = Shapes(n=60, image_size=32)
    centre = ds.data[:, 12:20, 12:20].reshape(60, -1, 3).mean(axis=1)
    corners = ds.data[:, [0, 0, -1, -1], [0, -1, 0, -1]].astype(np.float64).mean(axis=1)
    assert np.median(np.abs(centre - corners).max(axis=1)) > 40


def test_segment_masks():
    ds = Shapes(n=64, image_size=32, mode="segment", max_shapes=3)
    image, mask = ds[0]
    assert image.shape == (3, 32, 32) and mask.shape == (32, 32) and mask.dtype == np.int64
    values = set(np.unique(ds.targets).tolist())
    assert values <= set(range(len(ds.classes) + 1)) | {255}
    assert {0, 255} <= values and len(values) > 4
    border = (ds.targets == 255).mean()
    assert 0.01 < border < 0.2


def test_shapes_that_must_not_overlap_keep_clear_of_each_other():
    from minidl.data import shapes

    rng = np.random.default_rng(0)
    b, bounds = 500, np.full(500, 1.0, dtype=np.float32)
    first = shapes._placement(rng, b, shapes.SEGMENT_RADIUS, bounds)
    placed = [(first[0], first[1], first[3] * bounds, np.ones(b, dtype=bool))]
    cx, cy, _, radius, reach, clear = shapes._free_placement(rng, b, bounds, placed)
    np.testing.assert_allclose(reach, radius * bounds)
    gap = np.hypot(cx - first[0], cy - first[1]) - (radius + first[3])
    assert clear.mean() > 0.9 and (gap[clear] >= 0).all()
    # independent placement overlaps often: the option is what keeps them apart
    other = shapes._placement(rng, b, shapes.SEGMENT_RADIUS, bounds)
    assert (np.hypot(other[0] - first[0], other[1] - first[1]) < other[3] + first[3]).mean() > 0.2

    # whole datasets: the option changes the images, and the default still draws the same data
    free = Shapes(n=200, image_size=64, mode="segment", overlap=False, seed=1)
    loose = Shapes(n=200, image_size=64, mode="segment", overlap=True, seed=1)
    assert free.targets.shape == loose.targets.shape and not np.array_equal(free.data, loose.data)
    assert Shapes(n=5, image_size=64, mode="segment", overlap=True, seed=1).targets.tolist() == \
        loose.targets[:5].tolist()


def test_segment_border_scales_with_size():
    small = (Shapes(n=16, image_size=32, mode="segment").targets == 255).mean()
    large = (Shapes(n=16, image_size=64, mode="segment").targets == 255).mean()
    assert large == pytest.approx(small, rel=0.5)


def test_transforms_get_hwc_uint8_and_pairs_in_segment_mode():
    seen = []
    ds = Shapes(n=4, transform=lambda img: seen.append((img.shape, img.dtype)) or img, target_transform=str)
    _, label = ds[0]
    assert seen == [((32, 32, 3), np.uint8)] and isinstance(label, str) and not ds.batchable
    seg = Shapes(n=4, mode="segment", transform=T.Compose([T.RandomCrop(24), T.ToTensor()]))
    image, mask = seg[1]
    assert image.shape == (3, 24, 24) and mask.shape == (24, 24)


def test_loader_fast_path():
    ds = Shapes(n=20, image_size=16)
    loader = DataLoader(ds, batch_size=8)
    assert loader.uses_batch_path
    images, labels = next(iter(loader))
    assert images.shape == (8, 3, 16, 16) and labels.dtype == np.int64
    np.testing.assert_array_equal(images.data[3], ds[3][0])


def test_generation_speed_10000_images():
    start = time.perf_counter()
    ds = Shapes(n=10000, image_size=32)
    elapsed = time.perf_counter() - start
    assert len(ds) == 10000
    assert elapsed < 15.0, f"generating 10,000 32x32 images took {elapsed:.1f} s"


def test_argument_errors():
    with pytest.raises(ValueError, match="classes"):
        Shapes(n=2, classes=("circle", "blob"))
    with pytest.raises(ValueError, match="mode"):
        Shapes(n=2, mode="detect")
    with pytest.raises(ValueError, match="image_size"):
        Shapes(n=2, image_size=4)
