"""Metrics against counts worked out by hand."""
import numpy as np
import pytest

from minidl.training.metrics import (
    ClassificationMeter, confusion_matrix, segmentation_scores, topk_correct,
)


def test_topk_counts():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.05, 0.15], [0.2, 0.3, 0.5]])
    target = np.array([1, 2, 0])
    assert topk_correct(logits, target, (1, 2, 5)) == {1: 1, 2: 2, 5: 3}


def test_confusion_matrix_ignores_the_ignore_label():
    pred = np.array([[0, 1], [1, 1]])
    target = np.array([[0, 1], [255, 0]])
    n = confusion_matrix(pred, target, 2, ignore_index=255)
    assert n.tolist() == [[1, 1], [0, 1]]
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        confusion_matrix(pred, np.array([[0, 3], [0, 0]]), 2)


def test_segmentation_scores_by_hand():
    # true 0: 3 pixels, 2 right, 1 called 1;  true 1: 1 pixel, right;  class 2 never occurs
    n = np.array([[2, 1, 0], [0, 1, 0], [0, 0, 0]])
    s = segmentation_scores(n)
    assert s["pixel_acc"] == pytest.approx(3 / 4)
    assert s["mean_acc"] == pytest.approx((2 / 3 + 1) / 2)
    iu0, iu1 = 2 / (3 + 2 - 2), 1 / (1 + 2 - 1)
    assert s["mean_iu"] == pytest.approx((iu0 + iu1) / 2)
    assert s["fw_iu"] == pytest.approx((3 * iu0 + 1 * iu1) / 4)


def test_classification_meter():
    m = ClassificationMeter(3)
    m.update(2.0, np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.array([0, 2]))
    m.update(1.0, np.array([[0, 0, 1.0]]), np.array([2]))
    s = m.summary()
    assert s["loss"] == pytest.approx(5 / 3)
    assert s["top1"] == pytest.approx(2 / 3) and s["top5"] == 1.0
    assert m.confusion.tolist() == [[1, 0, 0], [0, 0, 0], [0, 1, 1]]
