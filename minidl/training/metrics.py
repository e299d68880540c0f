"""Metrics of classification and of per-pixel classification, from a confusion matrix.

Confusion matrix ``n[i, j]``: how many samples (or pixels) of true class i were predicted as j.
With ``t_i = sum_j n[i, j]`` (pixels of class i) and ``p_j = sum_i n[i, j]`` (predicted as j), the FCN
paper's four segmentation metrics are

    pixel accuracy       sum_i n_ii / sum_i t_i
    mean accuracy        (1/n_cl) sum_i n_ii / t_i
    mean IU              (1/n_cl) sum_i n_ii / (t_i + p_i - n_ii)
    frequency-weighted IU  (1 / sum_k t_k) sum_i t_i n_ii / (t_i + p_i - n_ii)

Classes that never occur (t_i = 0) are left out of the means, as they have no accuracy to average.

``oracle_scores`` gives the same four scores for the best an output stride allows (FCN's yardstick).
"""
import numpy as np

from .. import backend
from .. import functional as F
from ..tensor import Tensor


def _host(a):
    return backend.to_numpy(getattr(a, "data", a))


def topk_correct(logits, target, ks=(1, 5)):
    """How many rows have their target among the k highest scores, for each k (k capped at C)."""
    scores, target = _host(logits), _host(target)
    c = scores.shape[1]
    top = np.argsort(-scores, axis=1, kind="stable")[:, : min(max(ks), c)]
    hits = top == target[:, None]
    return {k: int(hits[:, : min(k, c)].any(axis=1).sum()) for k in ks}


def confusion_matrix(pred, target, num_classes, ignore_index=None):
    """``n[i, j]`` counts of true class i predicted as j; ``ignore_index`` targets are left out.

    Works on labels of any shape (per image or per pixel) with one ``bincount``.
    """
    pred, target = _host(pred).reshape(-1).astype(np.int64), _host(target).reshape(-1).astype(np.int64)
    keep = np.ones_like(target, dtype=bool) if ignore_index is None else target != ignore_index
    pred, target = pred[keep], target[keep]
    if target.size and (target.min() < 0 or target.max() >= num_classes):
        raise ValueError(
            f"confusion_matrix: target labels must lie in [0, {num_classes}); got {target.min()}..{target.max()}"
        )
    return np.bincount(target * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def segmentation_scores(confusion):
    """Pixel accuracy, mean accuracy, mean IU and frequency-weighted IU (the FCN paper's metrics)."""
    n = np.asarray(confusion, dtype=np.float64)
    diag, t, p = np.diag(n), n.sum(axis=1), n.sum(axis=0)
    present = t > 0
    union = t + p - diag
    with np.errstate(divide="ignore", invalid="ignore"):
        acc_per_class = np.where(present, diag / t, np.nan)
        iu = np.where(union > 0, diag / union, np.nan)
    total = t.sum()
    return {
        "pixel_acc": float(diag.sum() / total) if total else float("nan"),
        "mean_acc": float(np.nanmean(acc_per_class[present])) if present.any() else float("nan"),
        "mean_iu": float(np.nanmean(iu[present])) if present.any() else float("nan"),
        "fw_iu": float((t[present] * iu[present]).sum() / total) if total else float("nan"),
    }


class ClassificationMeter:
    """Running loss, top-1/top-5 accuracy and confusion matrix over an epoch."""

    def __init__(self, num_classes):
        self.num_classes = num_classes
        self.loss_sum = 0.0
        self.count = 0
        self.correct = {1: 0, 5: 0}
        self.confusion = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, loss, logits, target):
        n = int(target.shape[0])
        self.loss_sum += float(loss) * n
        self.count += n
        hits = topk_correct(logits, target, (1, 5))
        for k in hits:
            self.correct[k] += hits[k]
        self.confusion += confusion_matrix(_host(logits).argmax(axis=1), target, self.num_classes)

    @property
    def loss(self):
        return self.loss_sum / max(self.count, 1)

    def state_dict(self):
        """The running sums (an interrupted epoch's checkpoint keeps them, so its averages come out exact)."""
        return {"loss_sum": self.loss_sum, "count": self.count, "correct": dict(self.correct),
                "confusion": self.confusion.copy()}

    def load_state_dict(self, state):
        self.loss_sum, self.count = float(state["loss_sum"]), int(state["count"])
        self.correct = {int(k): int(v) for k, v in state["correct"].items()}
        self.confusion = _host(state["confusion"]).astype(np.int64)

    def summary(self):
        return {
            "loss": self.loss,
            "top1": self.correct[1] / max(self.count, 1),
            "top5": self.correct[5] / max(self.count, 1),
        }


class SegmentationMeter:
    """Running per-pixel loss and the confusion matrix behind the four FCN metrics."""

    def __init__(self, num_classes, ignore_index=255):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.loss_sum = 0.0
        self.count = 0
        self.confusion = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, loss, logits, target):
        n = int(target.shape[0])
        self.loss_sum += float(loss) * n
        self.count += n
        pred = _host(logits).argmax(axis=1)
        self.confusion += confusion_matrix(pred, target, self.num_classes, self.ignore_index)

    @property
    def loss(self):
        return self.loss_sum / max(self.count, 1)

    def state_dict(self):
        return {"loss_sum": self.loss_sum, "count": self.count, "confusion": self.confusion.copy()}

    def load_state_dict(self, state):
        self.loss_sum, self.count = float(state["loss_sum"]), int(state["count"])
        self.confusion = _host(state["confusion"]).astype(np.int64)

    def summary(self):
        return {"loss": self.loss, **segmentation_scores(self.confusion)}


def oracle_scores(masks, stride, num_classes, ignore_index=255):
    """The FCN paper's four scores of an oracle that knows, on a stride-``stride`` grid, the exact share of
    every class in each ``stride`` x ``stride`` cell, and upsamples those shares bilinearly (as FCN's
    upscore layers start out) before the per-pixel argmax.

    A yardstick for what the output stride alone allows: a net that scores on a stride-32 grid (FCN-32s)
    cannot draw an edge finer than its cells, whatever it learns. ``masks`` is (N, H, W) integer labels
    (``ignore_index`` pixels are left out of the shares and the scores); returns the dict of
    ``segmentation_scores``. Learned upsampling can beat bilinear, so this is a guide, not a strict bound.
    """
    # a yardstick computed on the host: masks on the GPU (a Tensor or a CuPy array) are copied back
    masks = backend.to_numpy(getattr(masks, "data", masks))
    if masks.ndim != 3:
        raise ValueError(f"oracle_scores: masks must be (N, H, W), got shape {masks.shape}")
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"oracle_scores: stride must be a positive int, got {stride!r}")
    n, height, width = masks.shape
    rows, cols = -(-height // stride), -(-width // stride)
    padded = np.full((n, rows * stride, cols * stride), ignore_index, dtype=np.int64)
    padded[:, :height, :width] = masks
    # one bincount over (cell, label): ignored pixels go to an extra label that is then dropped
    labels = np.where(padded == ignore_index, num_classes, padded)
    if labels.min() < 0 or labels.max() > num_classes:
        raise ValueError(f"oracle_scores: labels must lie in [0, {num_classes}) or be {ignore_index}")
    cell = (np.arange(n)[:, None, None] * rows + np.arange(rows * stride)[None, :, None] // stride) * cols \
        + np.arange(cols * stride)[None, None, :] // stride
    counts = np.bincount((cell * (num_classes + 1) + labels).ravel(), minlength=n * rows * cols * (num_classes + 1))
    counts = counts.reshape(n, rows, cols, num_classes + 1)[..., :num_classes].transpose(0, 3, 1, 2)
    shares = (counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)).astype(np.float32)
    up = F.interpolate(Tensor(shares), size=(rows * stride, cols * stride), mode="bilinear",
                       align_corners=False).numpy()
    pred = up.argmax(axis=1)[:, :height, :width]
    return segmentation_scores(confusion_matrix(pred, masks, num_classes, ignore_index))
