"""The linear SVM of the traditional pipeline (minidl/classic/svm.py)."""
import numpy as np
import pytest

import minidl
from minidl.classic import svm


def test_hinge_loss_by_hand():
    scores = minidl.tensor(np.array([[2.0, 1.5, -1.0], [0.0, 0.0, 3.0]], dtype=np.float32))
    target = minidl.tensor(np.array([0, 2]))
    # sample 1: max(0, 1 + 1.5 - 2) + max(0, 1 - 1 - 2) = 0.5; sample 2: margins satisfied, 0
    assert float(svm.multiclass_hinge_loss(scores, target).item()) == pytest.approx(0.25)


def test_separates_three_linearly_separable_classes(rng):
    centres = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    y = rng.integers(0, 3, size=150)
    x = (centres[y] + 0.5 * rng.standard_normal((150, 2))).astype(np.float32)
    model = svm.train_linear_svm(minidl.tensor(x), minidl.tensor(y), 3, steps=200, lr=0.05)
    with minidl.no_grad():
        predicted = model(minidl.tensor(x)).numpy().argmax(1)
    assert (predicted == y).mean() > 0.97


def test_single_class_is_an_error():
    with pytest.raises(ValueError, match=r"labels hold a single class \(2\)"):
        svm.train_linear_svm(minidl.zeros(4, 3), minidl.tensor(np.full(4, 2)), 3)
