"""AdaBoost / SAMME with decision stumps (minidl/classic/boost.py)."""
import numpy as np
import pytest

from minidl.classic import boost


def test_two_rounds_by_hand():
    # x = 1..6, labels 0 0 1 1 0 1.
    # Round 1, weights 1/6: the cut at 2.5 (left 0, right 1) misses only x = 5: err = 1/6,
    #   alpha = ln(5/6 / (1/6)) + ln(2 - 1) = ln 5; x = 5 weighs 5/6 against 1/6, normalised 1/2 and 1/10.
    # Round 2: the cut at 5.5, left {1..5} answers 0 (weight 0.7 against 0.2 for class 1), right {6}
    #   answers 1: err = 0.2 (x = 3, 4), alpha = ln(0.8 / 0.2) = ln 4; every other cut errs by 0.3 or more.
    # Votes: x <= 2 both 0; x = 3..5 ln 5 for 1 against ln 4 for 0; x = 6 both 1.
    x = np.arange(1.0, 7.0)[:, None]
    y = np.array([0, 0, 1, 1, 0, 1])
    model = boost.AdaBoost(n_rounds=2).fit(x, y)
    assert model.stumps == [boost.Stump(0, 2.5, 0, 1), boost.Stump(0, 5.5, 0, 1)]
    np.testing.assert_allclose(model.errors, [1 / 6, 0.2])
    np.testing.assert_allclose(model.alphas, [np.log(5), np.log(4)])
    ln5, ln4 = np.log(5), np.log(4)
    np.testing.assert_allclose(model.decision_function(x), [
        [ln5 + ln4, 0], [ln5 + ln4, 0], [ln4, ln5], [ln4, ln5], [ln4, ln5], [0, ln5 + ln4]])
    assert model.predict(x).tolist() == [0, 0, 1, 1, 1, 1]


def test_samme_adds_log_k_minus_one_for_three_classes():
    # three classes on one feature; the best stump can get at most two of them right
    x = np.array([0.0, 1, 2, 3, 4, 5])[:, None]
    y = np.array([0, 0, 1, 1, 2, 2])
    model = boost.AdaBoost(n_rounds=1).fit(x, y)
    assert model.errors == [pytest.approx(1 / 3)]
    assert model.alphas[0] == pytest.approx(np.log(2) + np.log(2))


def test_stump_search_equals_a_loop_over_every_feature_and_threshold(rng):
    x = rng.integers(0, 5, size=(40, 6)).astype(float)     # ties on purpose
    y = rng.integers(0, 3, size=40)
    w = rng.random(40)
    w /= w.sum()
    onehot = np.eye(3)[y]
    stump, err = boost.best_stump(boost.sort_features(x), onehot, w, chunk=4)
    best = np.inf
    for f in range(6):
        values = np.unique(x[:, f])
        for t in list((values[1:] + values[:-1]) / 2) + [values[-1]]:
            e = 0.0
            for side in (x[:, f] <= t, x[:, f] > t):
                counts = np.bincount(y[side], weights=w[side], minlength=3)
                e += counts.sum() - counts.max()
            best = min(best, e)
    assert err == pytest.approx(best)
    wrong = boost.stump_predict(stump, x) != y
    assert w[wrong].sum() == pytest.approx(err)


def test_every_round_beats_chance_and_training_error_falls_on_a_separable_set(rng):
    # three classes in bands of feature 0 (two more features are noise): separable by two thresholds,
    # not by one stump, which can answer only two classes
    x = rng.random((200, 3))
    y = np.digitize(x[:, 0], [0.3, 0.6])
    model = boost.AdaBoost(n_rounds=20).fit(x, y)
    assert len(model.errors) == 20 and all(e < 1 - 1 / 3 for e in model.errors)
    votes = np.zeros((200, 3))
    training_error = []
    for stump, alpha in zip(model.stumps, model.alphas):
        votes[np.arange(200), boost.stump_predict(stump, x)] += alpha
        training_error.append(float((votes.argmax(1) != y).mean()))
    assert training_error[0] > 0.2 and training_error[-1] == 0.0
    assert min(training_error[:5]) == 0.0
    assert (model.predict(x) == y).all()
    assert {s.feature for s in model.stumps[:5]} == {0}


def test_a_perfect_stump_is_the_whole_ensemble():
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([1, 1, 0, 0])
    model = boost.AdaBoost(n_rounds=10).fit(x, y)
    assert model.stumps == [boost.Stump(0, 1.5, 1, 0)] and model.errors == [0.0]
    assert model.predict(np.array([[-5.0], [9.0]])).tolist() == [1, 0]


def test_errors_name_the_value():
    with pytest.raises(ValueError, match=r"labels hold a single class \(3\)"):
        boost.AdaBoost().fit(np.zeros((5, 2)), np.full(5, 3))
    with pytest.raises(ValueError, match="n_rounds must be a positive int, got 0"):
        boost.AdaBoost(n_rounds=0)
    with pytest.raises(ValueError, match="expected 5 labels"):
        boost.AdaBoost().fit(np.zeros((5, 2)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="labels must be integers 0..K-1, got -1"):
        boost.AdaBoost().fit(np.zeros((2, 1)), np.array([0, -1]))
    with pytest.raises(ValueError, match="no stump beats chance"):
        boost.AdaBoost().fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]))


@pytest.mark.gpu
def test_gpu_matches_cpu(rng):
    import cupy

    x = rng.random((120, 5))
    y = np.digitize(x[:, 0] + 0.3 * x[:, 1], [0.4, 0.8])
    cpu = boost.AdaBoost(n_rounds=8).fit(x, y)
    gpu = boost.AdaBoost(n_rounds=8).fit(cupy.asarray(x), cupy.asarray(y))
    assert gpu.stumps == cpu.stumps
    np.testing.assert_allclose(gpu.alphas, cpu.alphas)
    np.testing.assert_array_equal(cupy.asnumpy(gpu.predict(cupy.asarray(x))), cpu.predict(x))
