"""What differs between classifying images and classifying pixels, in one table, and evaluation.

A ``Task`` names the meter that sums up an epoch, the validation score that picks the best checkpoint,
the loss target's ignored label, and the lines a run prints. ``TASKS`` holds the two the Trainer knows:

    classify  cross-entropy per image; top-1/top-5 accuracy and the confusion matrix; best by top-1
    segment   cross-entropy per pixel, pixels labelled ``ignore_index`` (255) left out; the FCN paper's
              pixel accuracy, mean accuracy, mean IU and frequency-weighted IU; best by mean IU

``evaluate(model, loader, task=...)`` is the validation pass, usable without a Trainer or an optimiser.
"""
import dataclasses
from typing import Callable

from .. import functional as F
from ..autograd import no_grad
from .metrics import ClassificationMeter, SegmentationMeter


def _classify_epoch(row):
    return (f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}, acc {100 * row['train_top1']:.2f}% | "
            f"val loss {row['val_loss']:.4f}, acc {100 * row['val_top1']:.2f}%, "
            f"top-5 {100 * row['val_top5']:.2f}% ({row['seconds']:.1f}s)")


def _segment_epoch(row):
    return (f"epoch {row['epoch']}: train loss {row['train_loss']:.4f} | val loss {row['val_loss']:.4f}, "
            f"pixel acc {row['val_pixel_acc']:.4f}, mean IU {row['val_mean_iu']:.4f} ({row['seconds']:.1f}s)")


def _classify_scores(s):
    return f"loss {s['loss']:.4f}, top-1 {100 * s['top1']:.2f}%, top-5 {100 * s['top5']:.2f}%"


def _segment_scores(s):
    return (f"loss {s['loss']:.4f}, pixel acc {s['pixel_acc']:.4f}, mean acc {s['mean_acc']:.4f}, "
            f"mean IU {s['mean_iu']:.4f}, f.w. IU {s['fw_iu']:.4f}")


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    score: str                                 # the validation metric that picks best.safetensors
    per_pixel: bool                            # targets are masks, with an ignored label
    meter: Callable                            # (num_classes, ignore_index) -> a fresh meter
    bar_metric: str                            # the running metric shown on the progress bar
    epoch_line: Callable                       # history row -> the line printed after each epoch
    final_line: Callable                       # last history row -> the run's last line
    scores_line: Callable                      # evaluate()'s summary -> one line of its scores

    def loss(self, ignore_index):
        """The default loss: cross-entropy, per pixel with ``ignore_index`` left out for segmentation."""
        if self.per_pixel:
            return lambda out, y: F.cross_entropy(out, y, ignore_index=ignore_index)
        return F.cross_entropy


TASKS = {
    "classify": Task("classify", "top1", False, lambda n, ignore: ClassificationMeter(n), "top1",
                     _classify_epoch, lambda row: f"final validation accuracy: {100 * row['val_top1']:.2f}%",
                     _classify_scores),
    "segment": Task("segment", "mean_iu", True, SegmentationMeter, "pixel_acc",
                    _segment_epoch, lambda row: f"final validation mean IU: {row['val_mean_iu']:.4f}",
                    _segment_scores),
}


def get_task(name):
    if name not in TASKS:
        raise ValueError(f"task must be one of {', '.join(map(repr, TASKS))}, got {name!r}")
    return TASKS[name]


@no_grad()
def evaluate(model, loader, *, task="classify", num_classes, device="cpu", loss_fn=None, ignore_index=255,
             bar=None):
    """Loss and metrics of ``model`` (put in eval mode) over ``loader``: ``(summary dict, meter)``.

    ``bar`` wraps the loader for a progress bar (the Trainer passes its own). A model that returns a
    tuple (auxiliary heads) is scored on its first output.
    """
    spec = get_task(task)
    loss_fn = spec.loss(ignore_index) if loss_fn is None else loss_fn
    model.eval()
    meter = spec.meter(num_classes, ignore_index)
    for x, y in (loader if bar is None else bar(loader)):
        x, y = x.to(device), y.to(device)
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        meter.update(float(loss_fn(out, y).item()), out, y)
    return meter.summary(), meter
