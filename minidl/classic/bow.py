"""Bag of visual words: a k-means codebook of local descriptors, and each image as a histogram of its
descriptors' nearest codewords (Csurka et al., "Visual categorization with bags of keypoints", 2004),
optionally per region of a spatial pyramid (Lazebnik, Schmid & Ponce, "Beyond bags of features", CVPR 2006).

k-means minimises the inertia J = sum_n |x_n - c_{a(n)}|^2 over the assignments a and the centres c:

- k-means++ start (Arthur & Vassilvitskii 2007): the first centre is a random point, each next one a
  point drawn with probability proportional to D(x)^2, its squared distance to the nearest centre so far;
- Lloyd iterations: assign every point to its nearest centre, a(n) = argmin_j |x_n - c_j|^2 (computed as
  |x|^2 - 2 x.c + |c|^2, one matrix product), then move every centre to the mean of its points. Neither
  step can raise J; the loop stops when J falls by less than ``tol`` J (relative) or after ``max_iter``;
- a centre left without points is re-seeded at the point that was farthest from its centre at the last
  assignment; the other centres stay where the update put them, so the next assignment can only lower J.

Histograms: h_i[j] = #{descriptors of image i whose word is j} / #{descriptors of image i} (hard
assignment, L1-normalised). With a pyramid of levels 0..L, level l cuts the image into 2^l x 2^l regions,
each region gets its histogram over the image's descriptors (so a level's regions sum to 1), and the
levels are weighted 1/2^L (l = 0) and 1/2^(L - l + 1) (l >= 1), the weights of Lazebnik et al.'s pyramid
match kernel, which sum to 1: the whole vector is still L1-normalised.

Everything is array code on the module of the input (``xp``: NumPy or CuPy), so descriptors computed on
the GPU are clustered there; the only Python loops are over the k-means++ picks, the Lloyd iterations,
the empty clusters and the pyramid levels.
"""
import collections

import numpy as np

from .. import backend

KMeansResult = collections.namedtuple("KMeansResult", ["centres", "labels", "inertia", "history", "n_iter"])


def _points(x, who):
    xp = backend.get_array_module(x)
    if x.ndim != 2:
        raise ValueError(f"{who}: expected points of shape (n, d), got {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: expected floating-point points, got {x.dtype}")
    return xp


def squared_distances(x, centres):
    """(n, k) matrix of |x_n - c_j|^2, clipped at 0 (the expansion can round slightly below)."""
    xp = backend.get_array_module(x)
    d = (x * x).sum(axis=1)[:, None] - 2.0 * (x @ centres.T) + (centres * centres).sum(axis=1)[None, :]
    return xp.maximum(d, 0.0)


def assign(x, centres, chunk=65536):
    """Nearest centre of every point, (n,) int64, and its squared distance, (n,); ``chunk`` points at a time,
    so that the distance matrix stays at most chunk x k."""
    xp = backend.get_array_module(x)
    labels, distances = [], []
    for lo in range(0, x.shape[0], chunk):
        d = squared_distances(x[lo:lo + chunk], centres)
        nearest = xp.argmin(d, axis=1)
        labels.append(nearest)
        distances.append(xp.take_along_axis(d, nearest[:, None], axis=1)[:, 0])
    return xp.concatenate(labels), xp.concatenate(distances)


def kmeans_plus_plus(x, k, rng):
    """k starting centres chosen by D^2 sampling; ``rng`` is a NumPy Generator (the draws are made on the
    host, so CPU and GPU pick the same points)."""
    xp = backend.get_array_module(x)
    n = x.shape[0]
    chosen = [int(rng.integers(n))]
    closest = squared_distances(x, x[chosen])[:, 0]
    for _ in range(1, k):
        total = float(closest.sum())
        if total <= 0:
            # every point already sits on a centre: any point not yet chosen will do
            free = np.setdiff1d(np.arange(n), chosen)
            pick = int(rng.choice(free))
        else:
            cumulative = backend.to_numpy(xp.cumsum(closest))
            pick = min(int(np.searchsorted(cumulative, rng.random() * total, side="right")), n - 1)
        chosen.append(pick)
        closest = xp.minimum(closest, squared_distances(x, x[pick:pick + 1])[:, 0])
    return x[chosen].copy()


def _means(x, labels, k):
    """Mean of each cluster's points (one-hot matrix product: a GEMM on either device) and the counts."""
    xp = backend.get_array_module(x)
    onehot = (labels[:, None] == xp.arange(k)[None, :]).astype(x.dtype)
    counts = onehot.sum(axis=0)
    sums = onehot.T @ x
    return sums / xp.maximum(counts, 1)[:, None], counts


def kmeans(x, k, max_iter=100, tol=1e-4, seed=0, init=None):
    """Cluster the rows of ``x`` (n, d) into ``k``: ``KMeansResult(centres (k, d), labels (n,), inertia,
    history, n_iter)``; ``history`` holds the inertia after every assignment (never increasing).
    ``init`` (k, d) gives the starting centres instead of k-means++."""
    xp = _points(x, "kmeans")
    n = x.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"kmeans: k must be a positive int, got {k!r}")
    if k > n:
        raise ValueError(f"kmeans: k={k} is larger than the number of descriptors ({n})")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"kmeans: max_iter must be a positive int, got {max_iter!r}")
    if not tol >= 0:
        raise ValueError(f"kmeans: tol must be >= 0, got {tol!r}")
    if init is None:
        centres = kmeans_plus_plus(x, k, np.random.default_rng(seed))
    elif tuple(init.shape) != (k, x.shape[1]):
        raise ValueError(f"kmeans: init must have shape ({k}, {x.shape[1]}), got {tuple(init.shape)}")
    else:
        centres = xp.asarray(init, dtype=x.dtype).copy()
    labels, dist = assign(x, centres)
    history = [float(dist.sum())]
    for it in range(1, max_iter + 1):
        centres, counts = _means(x, labels, k)
        empty = backend.to_numpy(xp.nonzero(counts == 0)[0])
        if len(empty):
            # the points worst served at the last assignment, one per empty cluster
            far = xp.argsort(-dist)[:len(empty)]
            centres[xp.asarray(empty)] = x[far]
        labels, dist = assign(x, centres)
        history.append(float(dist.sum()))
        if history[-2] - history[-1] <= tol * history[-2]:
            break
    return KMeansResult(centres, labels, history[-1], history, it)


def _descriptor_stack(descriptors, who):
    if descriptors.ndim != 3:
        raise ValueError(f"{who}: expected descriptors of shape (N, P, D), got {tuple(descriptors.shape)}")
    return backend.get_array_module(descriptors)


def histograms(descriptors, centres):
    """(N, k) L1-normalised word counts of every image's (P, D) descriptors against the (k, D) codebook,
    in the descriptors' dtype."""
    _descriptor_stack(descriptors, "histograms")  # the argument checks
    n, p, d = descriptors.shape
    words, _ = assign(descriptors.reshape(n * p, d), centres)
    return _counts(words.reshape(n, p), centres.shape[0], descriptors.dtype) / p


def _counts(index, bins, dtype):
    """(N, bins) counts of the values of each row of ``index`` (one bincount over row * bins + value)."""
    xp = backend.get_array_module(index)
    n = index.shape[0]
    flat = (xp.arange(n)[:, None] * bins + index).ravel()
    return xp.bincount(flat, minlength=n * bins).reshape(n, bins).astype(dtype)


def pyramid_histograms(descriptors, centres, positions, image_size, levels=2):
    """Spatial-pyramid histograms, (N, k * sum_l 4^l): level 0 (the whole image), then level 1's 2x2
    regions, ..., each block weighted as in the module docstring; ``positions`` (P, 2) are the
    descriptors' (y, x) centres and ``image_size`` (H, W)."""
    xp = _descriptor_stack(descriptors, "pyramid_histograms")
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 0:
        raise ValueError(f"pyramid_histograms: levels must be an int >= 0, got {levels!r}")
    n, p, d = descriptors.shape
    positions = np.asarray(positions, dtype=float)
    if positions.shape != (p, 2):
        raise ValueError(f"pyramid_histograms: positions must be ({p}, 2) for {p} descriptors, got {positions.shape}")
    k = centres.shape[0]
    words, _ = assign(descriptors.reshape(n * p, d), centres)
    words = words.reshape(n, p)
    blocks = []
    for level in range(levels + 1):
        cuts = 2 ** level
        ry = np.clip((positions[:, 0] * cuts / image_size[0]).astype(np.int64), 0, cuts - 1)
        rx = np.clip((positions[:, 1] * cuts / image_size[1]).astype(np.int64), 0, cuts - 1)
        region = xp.asarray(ry * cuts + rx)
        weight = 1.0 / 2 ** levels if level == 0 else 1.0 / 2 ** (levels - level + 1)
        blocks.append(_counts(region[None, :] * k + words, cuts * cuts * k, descriptors.dtype) * (weight / p))
    return xp.concatenate(blocks, axis=1)
