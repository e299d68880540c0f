"""AdaBoost with decision stumps, SAMME for K classes (Zhu, Zou, Rosset & Hastie, "Multi-class AdaBoost",
2009; for K = 2 it is Freund & Schapire's discrete AdaBoost, 1997): the lecture's "boost".

Sample weights start equal, w_n = 1/N. Round m:

1. fit the stump h_m with the smallest weighted error err_m = sum_n w_n [h_m(x_n) != y_n];
2. alpha_m = log((1 - err_m) / err_m) + log(K - 1), positive as long as err_m < 1 - 1/K (chance);
3. w_n <- w_n exp(alpha_m [h_m(x_n) != y_n]), then divide by the sum (mistakes weigh more next round).

The ensemble predicts argmax_c sum_m alpha_m [h_m(x) = c]. A stump tests one feature against one
threshold, x_f <= t, and answers in each of its two leaves the class of largest weight among the training
samples that fall there. The search over every feature and threshold is array code: with each feature's
samples sorted once (``sort_features``), the class weights left of every cut are cumulative sums
W_left[f, i, c] (right = total - left), a leaf's error is its weight minus its largest class weight,
and one argmin over (feature, cut) picks the stump; cuts are only allowed between distinct values and t
is their midpoint. Features are processed ``chunk`` at a time so that W_left (classes x features x
samples) stays small; that loop, the one over rounds and the maximum over classes are the only Python
loops. Arrays may be NumPy or CuPy.

A round whose best stump is no better than chance ends the training (the ensemble would not change); a
stump with no error ends it too, as the whole ensemble (further rounds would only repeat it).
"""
import collections
import functools

import numpy as np

from .. import backend

Stump = collections.namedtuple("Stump", ["feature", "threshold", "left", "right"])


def _check(features, labels):
    xp = backend.get_array_module(features)
    if features.ndim != 2:
        raise ValueError(f"adaboost: expected features of shape (N, D), got {tuple(features.shape)}")
    if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(f"adaboost: expected {features.shape[0]} labels, got shape {tuple(labels.shape)}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"adaboost: labels must be integers 0..K-1, got dtype {labels.dtype}")
    if int(labels.min()) < 0:
        raise ValueError(f"adaboost: labels must be integers 0..K-1, got {int(labels.min())}")
    return xp


def stump_predict(stump, features):
    xp = backend.get_array_module(features)
    return xp.where(features[:, stump.feature] <= stump.threshold, stump.left, stump.right)


def sort_features(features):
    """Each feature's sample order and sorted values, both (D, N): computed once, used every round."""
    xp = backend.get_array_module(features)
    order = xp.argsort(features.T, axis=1)
    return order, xp.take_along_axis(features.T, order, axis=1)


def best_stump(sorted_features, onehot, weights, chunk=16):
    """The stump of least weighted error and that error. ``sorted_features`` is ``sort_features(x)``,
    onehot (N, K) the class indicators, weights (N,) summing to 1."""
    order, values = sorted_features
    xp = backend.get_array_module(values)
    d, n = values.shape
    weighted = (weights[:, None] * onehot).T                          # (K, N)
    total = weighted.sum(axis=1)[:, None, None]                       # class weights of all samples
    mass = float(total.sum())
    best = (np.inf, None)
    for lo in range(0, d, chunk):
        xs = values[lo:lo + chunk]                                    # (f, N)
        # classes first, so that the max over classes is an elementwise maximum of K (f, N) slices (a
        # reduction over a short leading axis is several times slower in NumPy)
        left = xp.cumsum(xp.take(weighted, order[lo:lo + chunk], axis=1), axis=2)   # (K, f, N): 0..i on the left
        right = total - left
        error = mass - functools.reduce(xp.maximum, left) - functools.reduce(xp.maximum, right)
        # a cut after sample i must separate distinct values; the last position (nothing on the right) is
        # always allowed, as the stump that answers one class everywhere
        valid = xp.concatenate([xs[:, 1:] > xs[:, :-1], xp.ones((xs.shape[0], 1), dtype=bool)], axis=1)
        error = xp.where(valid, error, np.inf)
        f, i = divmod(int(xp.argmin(error)), n)
        err = float(error[f, i])
        if err < best[0]:
            threshold = float(xs[f, i] + xs[f, i + 1]) / 2 if i + 1 < n else float(xs[f, i])
            best = (err, Stump(lo + f, threshold, int(xp.argmax(left[:, f, i])), int(xp.argmax(right[:, f, i]))))
    return best[1], best[0]


class AdaBoost:
    """SAMME with decision stumps. ``fit(features, labels)`` then ``predict(features)``; after fitting,
    ``stumps``, ``alphas`` and ``errors`` (err_m per round) describe the ensemble."""

    def __init__(self, n_rounds=50, chunk=16):
        if isinstance(n_rounds, bool) or not isinstance(n_rounds, (int, np.integer)) or n_rounds < 1:
            raise ValueError(f"AdaBoost: n_rounds must be a positive int, got {n_rounds!r}")
        self.n_rounds = n_rounds
        self.chunk = chunk

    def fit(self, features, labels):
        xp = _check(features, labels)
        classes = int(labels.max()) + 1
        present = np.unique(backend.to_numpy(labels))
        if len(present) < 2:
            raise ValueError(f"adaboost: labels hold a single class ({int(present[0])}); boosting needs two or more")
        self.num_classes = classes
        n = features.shape[0]
        onehot = (labels[:, None] == xp.arange(classes)[None, :]).astype(features.dtype)
        weights = xp.full(n, 1.0 / n, dtype=features.dtype)
        chance = 1.0 - 1.0 / len(present)
        sorted_features = sort_features(features)
        self.stumps, self.alphas, self.errors = [], [], []
        for _ in range(self.n_rounds):
            stump, err = best_stump(sorted_features, onehot, weights, self.chunk)
            if err >= chance:
                break
            if err <= 0:
                self.stumps, self.alphas, self.errors = [stump], [1.0], [0.0]
                break
            alpha = np.log((1.0 - err) / err) + np.log(len(present) - 1.0)
            wrong = stump_predict(stump, features) != labels
            weights = weights * xp.exp(alpha * wrong)
            weights = weights / weights.sum()
            self.stumps.append(stump)
            self.alphas.append(float(alpha))
            self.errors.append(err)
        if not self.stumps:
            raise ValueError("adaboost: no stump beats chance on these features")
        return self

    def decision_function(self, features):
        """(N, K) votes sum_m alpha_m [h_m(x) = c]."""
        xp = backend.get_array_module(features)
        votes = xp.zeros((features.shape[0], self.num_classes), dtype=np.float64)
        classes = xp.arange(self.num_classes)[None, :]
        for stump, alpha in zip(self.stumps, self.alphas):
            votes += alpha * (stump_predict(stump, features)[:, None] == classes)
        return votes

    def predict(self, features):
        return backend.get_array_module(features).argmax(self.decision_function(features), axis=1)
