"""Bag of visual words (minidl/classic/bow.py): k-means++ and Lloyd, histograms, the spatial pyramid."""
import itertools

import numpy as np
import pytest

from minidl.classic import bow


def blobs(rng, centres, per=20, spread=0.3):
    centres = np.asarray(centres, dtype=float)
    return np.concatenate([c + spread * rng.standard_normal((per, centres.shape[1])) for c in centres])


def test_inertia_never_increases(rng):
    x = rng.standard_normal((300, 5))
    result = bow.kmeans(x, 12, max_iter=50, tol=0.0, seed=3)
    history = np.array(result.history)
    assert len(history) > 2
    assert np.all(np.diff(history) <= 1e-9 * history[:-1])
    labels, dist = bow.assign(x, result.centres)
    np.testing.assert_array_equal(labels, result.labels)
    assert result.inertia == pytest.approx(dist.sum()) == pytest.approx(history[-1])


def brute_force(x, k):
    """The least inertia over every assignment of the points to k non-empty clusters (centres = means)."""
    best = np.inf
    for labels in itertools.product(range(k), repeat=len(x)):
        labels = np.array(labels)
        if len(set(labels)) < k:
            continue
        best = min(best, sum(((x[labels == j] - x[labels == j].mean(0)) ** 2).sum() for j in range(k)))
    return best


@pytest.mark.parametrize("k, seed", [(2, 0), (2, 1), (3, 0), (3, 1)])
def test_tiny_data_reaches_the_brute_force_optimum(rng, k, seed):
    # Lloyd's algorithm finds a local optimum; on small, separated groups it is the global one
    x = blobs(rng, [[0, 0], [3, 0], [0, 3]][:k], per=8 // k, spread=0.6)
    result = bow.kmeans(x, k, seed=seed)
    assert result.inertia == pytest.approx(brute_force(x, k), rel=1e-9)
    sizes = np.bincount(result.labels, minlength=k)
    assert np.all(sizes > 0)


def test_kmeans_plus_plus_starts_in_different_blobs(rng):
    x = blobs(rng, [[0, 0], [50, 0], [0, 50], [50, 50]], per=10, spread=0.5)
    start = bow.kmeans_plus_plus(x, 4, np.random.default_rng(0))
    blob_of = np.argmin(((start[:, None] - np.array([[0, 0], [50, 0], [0, 50], [50, 50]])) ** 2).sum(-1), axis=1)
    assert sorted(blob_of.tolist()) == [0, 1, 2, 3]


def test_an_empty_cluster_is_reseeded_at_the_worst_served_point():
    # four points on a line; the centre at 100 owns nothing after the first assignment
    x = np.array([[0.0], [1.0], [10.0], [11.0]])
    start = np.array([[0.5], [100.0]])
    assert bow._means(x, bow.assign(x, start)[0], 2)[1].tolist() == [4, 0]
    # it moves to 11, the point farthest from its centre (0.5); then the pairs separate
    first = bow.kmeans(x, 2, max_iter=1, init=start)
    assert first.centres[:, 0].tolist() == [5.5, 11.0]
    result = bow.kmeans(x, 2, init=start)
    assert result.centres[:, 0].tolist() == [0.5, 10.5]
    assert result.inertia == pytest.approx(1.0)
    assert result.history == sorted(result.history, reverse=True)


def test_histograms_sum_to_one_and_count_words(rng):
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    descriptors = np.array([[[0.1, 0], [9, 1], [9.5, 0], [1, 9]], [[0, 0], [0, 0.5], [0.2, 0], [0, 0]]])
    h = bow.histograms(descriptors, centres)
    np.testing.assert_allclose(h, [[0.25, 0.5, 0.25], [1.0, 0.0, 0.0]])
    many = bow.histograms(rng.standard_normal((7, 30, 4)), rng.standard_normal((9, 4)))
    np.testing.assert_allclose(many.sum(axis=1), 1.0)


def test_pyramid_blocks_and_weights():
    # one image, four descriptors, one per quadrant of a 16x16 image; two words
    centres = np.array([[0.0], [1.0]])
    descriptors = np.array([[[0.0], [1.0], [1.0], [1.0]]])
    positions = np.array([[4, 4], [4, 12], [12, 4], [12, 12]])
    h = bow.pyramid_histograms(descriptors, centres, positions, (16, 16), levels=1)
    assert h.shape == (1, 2 * (1 + 4))
    # level 0 weighs 1/2: words (1/4, 3/4); level 1 weighs 1/2, regions in row-major order
    np.testing.assert_allclose(h[0, :2], [0.125, 0.375])
    np.testing.assert_allclose(h[0, 2:], [0.125, 0, 0, 0.125, 0, 0.125, 0, 0.125])
    np.testing.assert_allclose(h.sum(), 1.0)
    flat = bow.pyramid_histograms(descriptors, centres, positions, (16, 16), levels=0)
    np.testing.assert_allclose(flat, bow.histograms(descriptors, centres))


def test_pyramid_of_three_levels_sums_to_one(rng):
    d = rng.standard_normal((5, 40, 3))
    positions = rng.random((40, 2)) * 32
    h = bow.pyramid_histograms(d, rng.standard_normal((6, 3)), positions, (32, 32), levels=2)
    assert h.shape == (5, 6 * 21)
    np.testing.assert_allclose(h.sum(axis=1), 1.0)


def test_errors_name_the_value(rng):
    with pytest.raises(ValueError, match=r"kmeans: k=31 is larger than the number of descriptors \(30\)"):
        bow.kmeans(rng.standard_normal((30, 4)), 31)
    with pytest.raises(ValueError, match="k must be a positive int, got 0"):
        bow.kmeans(rng.standard_normal((30, 4)), 0)
    with pytest.raises(ValueError, match="max_iter must be a positive int, got 0"):
        bow.kmeans(rng.standard_normal((30, 4)), 2, max_iter=0)
    with pytest.raises(ValueError, match="shape"):
        bow.kmeans(rng.standard_normal(30), 2)
    with pytest.raises(ValueError, match=r"init must have shape \(2, 4\), got \(3, 4\)"):
        bow.kmeans(rng.standard_normal((30, 4)), 2, init=np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"positions must be \(4, 2\)"):
        bow.pyramid_histograms(np.zeros((1, 4, 2)), np.zeros((2, 2)), np.zeros((3, 2)), (8, 8))


@pytest.mark.gpu
def test_gpu_matches_cpu(rng):
    import cupy

    x = blobs(rng, [[0, 0, 0], [5, 5, 5], [0, 5, 0]], per=30)
    cpu = bow.kmeans(x, 3, seed=1)
    gpu = bow.kmeans(cupy.asarray(x), 3, seed=1)
    np.testing.assert_allclose(cupy.asnumpy(gpu.centres), cpu.centres, rtol=1e-9)
    np.testing.assert_array_equal(cupy.asnumpy(gpu.labels), cpu.labels)
    d = rng.standard_normal((4, 10, 3))
    np.testing.assert_allclose(cupy.asnumpy(bow.histograms(cupy.asarray(d), cupy.asarray(cpu.centres))),
                               bow.histograms(d, cpu.centres))
