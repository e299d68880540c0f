"""The training loop behind ``minidl train`` and ``minidl segment``.

One epoch: for each batch, forward, loss, backward, optional gradient clipping, optimiser step; then
a pass over the validation set without gradients. After each epoch the loop writes a checkpoint
(``last.safetensors``) and, when validation improves, ``best.safetensors``; metrics go to
``metrics.csv`` and ``metrics.json`` (with ``log_grad_norms=True`` also each layer's mean gradient norm
of the epoch, as columns ``grad_norm/<layer>``; see ``grad_norms.py``). A checkpoint holds the model, the
optimiser and scheduler state, the epoch, the step, the random generators and the history, so ``resume``
continues exactly: on the CPU a run resumed after epoch k ends bitwise equal to one that never stopped.
"""
import csv
import json
import math
import os
import sys
import time

from .. import backend, random
from ..autograd import no_grad
from ..checkpoint import load, save
from ..optim.lr_scheduler import ReduceLROnPlateau
from .grad_norms import GradNormLog
from .metrics import ClassificationMeter, SegmentationMeter


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class Trainer:
    """Train ``model`` on ``train_loader``, validate on ``val_loader``, keep checkpoints and logs.

    ``task`` is 'classify' (top-1/top-5 accuracy, confusion matrix) or 'segment' (per-pixel loss with
    ``ignore_index``, pixel accuracy, mean accuracy, mean IU, frequency-weighted IU). A model that returns
    a tuple in training (GoogLeNet's auxiliary classifiers) has the extra outputs' losses added with
    weight ``aux_weight`` (0.3 in the GoogLeNet paper).
    """

    def __init__(self, model, optimizer, train_loader, val_loader, *, num_classes, task="classify",
                 loss_fn=None, scheduler=None, device="cpu", out_dir=None, clip_grad_norm=None,
                 class_names=None, progress=True, meta=None, ignore_index=255, aux_weight=0.3,
                 stream=None, log_grad_norms=False):
        from .. import functional as F

        if task not in ("classify", "segment"):
            raise ValueError(f"Trainer: task must be 'classify' or 'segment', got {task!r}")
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.train_loader, self.val_loader = train_loader, val_loader
        self.num_classes, self.task = num_classes, task
        self.device = backend.canonical_device(device)
        self.ignore_index = ignore_index
        if loss_fn is None:
            loss_fn = (lambda out, y: F.cross_entropy(out, y, ignore_index=ignore_index)) if task == "segment" \
                else F.cross_entropy
        self.loss_fn = loss_fn
        self.out_dir = out_dir
        self.clip_grad_norm = clip_grad_norm
        self.class_names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
        self.progress = progress
        self.meta = dict(meta or {})
        self.aux_weight = aux_weight
        self.stream = stream or sys.stdout
        self.history = []
        self.epoch = 0
        self.step = 0
        self.best = -math.inf
        self.model.to(self.device)
        self.grad_norms = GradNormLog(model) if log_grad_norms else None

    # ------------------------------------------------------------------ pieces
    def _meter(self):
        if self.task == "segment":
            return SegmentationMeter(self.num_classes, self.ignore_index)
        return ClassificationMeter(self.num_classes)

    def _score_name(self):
        return "mean_iu" if self.task == "segment" else "top1"

    def _loss(self, out, y):
        if isinstance(out, tuple):
            main, *aux = out
            loss = self.loss_fn(main, y)
            for a in aux:
                loss = loss + self.aux_weight * self.loss_fn(a, y)
            return loss, main
        return self.loss_fn(out, y), out

    def _check_finite(self, value):
        if not math.isfinite(value):
            lr = self.optimizer.param_groups[0]["lr"]
            raise TrainingDiverged(
                f"the loss became {value} at epoch {self.epoch + 1}, step {self.step}: training diverged. "
                f"Try a lower learning rate (now --lr {lr:g}) or gradient clipping (--clip-grad-norm)."
            )

    def _bar(self, loader, desc):
        from tqdm.auto import tqdm

        return tqdm(loader, desc=desc, leave=False, disable=not self.progress, file=self.stream,
                    dynamic_ncols=True)

    def train_epoch(self):
        from ..nn.utils import clip_grad_norm_

        self.model.train()
        meter = self._meter()
        start, seen = time.perf_counter(), 0
        bar = self._bar(self.train_loader, f"epoch {self.epoch + 1} train")
        if self.grad_norms is not None:
            self.grad_norms.reset()
        for x, y in bar:
            x, y = x.to(self.device), y.to(self.device)
            out = self.model(x)
            loss, logits = self._loss(out, y)
            value = float(loss.item())
            self._check_finite(value)
            self.optimizer.zero_grad()
            loss.backward()
            if self.grad_norms is not None:
                self.grad_norms.update()
            if self.clip_grad_norm:
                clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
            self.optimizer.step()
            self.step += 1
            meter.update(value, logits.detach(), y)
            seen += int(x.shape[0])
            rate = seen / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{meter.loss:.4f}", **self._postfix(meter), img_s=f"{rate:.0f}",
                            device=self.device)
        return meter.summary()

    def _postfix(self, meter):
        s = meter.summary()
        if self.task == "segment":
            return {"pix_acc": f"{s['pixel_acc']:.3f}"}
        return {"acc": f"{s['top1']:.3f}"}

    @no_grad()
    def evaluate(self, loader=None):
        """Loss and metrics on ``loader`` (the validation loader by default), with the confusion matrix."""
        self.model.eval()
        meter = self._meter()
        for x, y in self._bar(loader or self.val_loader, f"epoch {self.epoch + 1} val"):
            x, y = x.to(self.device), y.to(self.device)
            loss, logits = self._loss(self.model(x), y)
            meter.update(float(loss.item()), logits, y)
        summary = meter.summary()
        self.last_confusion = meter.confusion
        return summary

    # ------------------------------------------------------------------ checkpoints
    def state(self):
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "rng": random.get_rng_state(),
            "loader": self.train_loader.state_dict() if hasattr(self.train_loader, "state_dict") else {},
            "history": self.history,
            "meta": {**self.meta, "task": self.task, "num_classes": self.num_classes,
                     "class_names": self.class_names},
        }

    def save_checkpoint(self, name):
        path = os.path.join(self.out_dir, name)
        save(self.state(), path)
        return path

    def load_checkpoint(self, path):
        ckpt = load(path)
        meta = ckpt.get("meta", {})
        if "net" in self.meta and meta.get("net") not in (None, self.meta["net"]):
            raise ValueError(
                f"{path}: checkpoint is for network {meta.get('net')!r}, not {self.meta['net']!r}"
            )
        self.model.load_state_dict(ckpt["model"])
        self.model.to(self.device)
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler"):
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.best = float(ckpt.get("best", -math.inf))
        self.history = list(ckpt.get("history", []))
        random.set_rng_state(ckpt["rng"])
        if ckpt.get("loader") and hasattr(self.train_loader, "load_state_dict"):
            self.train_loader.load_state_dict(ckpt["loader"])

    # ------------------------------------------------------------------ the loop
    def fit(self, epochs, resume=None):
        """Train until ``epochs`` epochs are done (counting those before a resume); return the history."""
        if self.out_dir:
            os.makedirs(self.out_dir, exist_ok=True)
        if resume:
            self.load_checkpoint(resume)
            self._say(f"resumed from {resume} after epoch {self.epoch}")
        try:
            while self.epoch < epochs:
                self._one_epoch()
        except KeyboardInterrupt:
            if self.out_dir:
                path = self.save_checkpoint("interrupted.safetensors")
                self._say(f"\ninterrupted: checkpoint saved to {path} (continue with --resume {path})")
            raise
        return self.history

    def _one_epoch(self):
        t0 = time.perf_counter()
        train = self.train_epoch()
        val = self.evaluate()
        lr = self.optimizer.param_groups[0]["lr"]
        if self.scheduler is not None:
            if isinstance(self.scheduler, ReduceLROnPlateau):
                self.scheduler.step(val["loss"])
            else:
                self.scheduler.step()
        self.epoch += 1
        row = {"epoch": self.epoch, "lr": lr, "seconds": time.perf_counter() - t0,
               **{f"train_{k}": v for k, v in train.items()}, **{f"val_{k}": v for k, v in val.items()}}
        if self.grad_norms is not None:
            row.update(self.grad_norms.summary())
        self.history.append(row)
        score = val[self._score_name()]
        improved = score > self.best
        if improved:
            self.best = score
        if self.out_dir:
            self.save_checkpoint("last.safetensors")
            if improved:
                self.save_checkpoint("best.safetensors")
            self._write_logs()
        self._say(self._epoch_line(row))

    def _epoch_line(self, row):
        if self.task == "segment":
            return (f"epoch {row['epoch']}: train loss {row['train_loss']:.4f} | val loss {row['val_loss']:.4f}, "
                    f"pixel acc {row['val_pixel_acc']:.4f}, mean IU {row['val_mean_iu']:.4f} "
                    f"({row['seconds']:.1f}s)")
        return (f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}, acc {100 * row['train_top1']:.2f}% | "
                f"val loss {row['val_loss']:.4f}, acc {100 * row['val_top1']:.2f}%, "
                f"top-5 {100 * row['val_top5']:.2f}% ({row['seconds']:.1f}s)")

    def final_line(self):
        """The last line of every run, in a fixed form that scripts can read."""
        last = self.history[-1]
        if self.task == "segment":
            return f"final validation mean IU: {last['val_mean_iu']:.4f}"
        return f"final validation accuracy: {100 * last['val_top1']:.2f}%"

    def _write_logs(self):
        with open(os.path.join(self.out_dir, "metrics.json"), "w") as f:
            json.dump(self.history, f, indent=1)
        with open(os.path.join(self.out_dir, "metrics.csv"), "w", newline="") as f:
            # a run resumed with another --log-grad-norms setting has rows with other columns
            columns = list(dict.fromkeys(key for row in self.history for key in row))
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(self.history)

    def _say(self, text):
        print(text, file=self.stream, flush=True)
