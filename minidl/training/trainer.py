"""The training loop behind ``minidl train`` and ``minidl segment``.

One epoch: for each batch, forward, loss, backward, optional gradient clipping, optimiser step (and the
scheduler's step when it runs per step); then a pass over the validation set without gradients. After
each epoch the loop writes a checkpoint (``last.safetensors``) and, when validation improves,
``best.safetensors``; metrics go to ``metrics.csv`` and ``metrics.json`` (with ``log_grad_norms=True``
also each layer's mean gradient norm of the epoch, as columns ``grad_norm/<layer>``; see ``grad_norms.py``).

Exact resume, anywhere. A checkpoint holds the model, the optimiser and scheduler state, the epoch, the
step, the random generators, the history, the training loader's state and, when written inside an
epoch, the position there: the batches done, the epoch's running sums and its starting learning rate.
Ctrl-C stops the loop at the end of the current step (``interrupt.py``) and writes
``interrupted.safetensors``; ``fit(resume=...)`` continues with the next batch. On the CPU a run
resumed from any checkpoint ends bitwise equal to one that never stopped. A second Ctrl-C stops at once
and writes nothing, since a half-done step cannot be resumed exactly.

What differs between classification and segmentation (meter, score, lines) is ``tasks.TASKS``.
"""
import csv
import json
import math
import os
import sys
import time

from .. import backend, random
from ..checkpoint import load, save
from ..optim.lr_scheduler import ReduceLROnPlateau
from .grad_norms import GradNormLog
from .interrupt import StopRequests
from .tasks import evaluate, get_task

SCHEDULER_INTERVALS = ("epoch", "step")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class Trainer:
    """Train ``model`` on ``train_loader``, validate on ``val_loader``, keep checkpoints and logs.

    ``task`` is 'classify' or 'segment' (``tasks.TASKS``). A model that returns a tuple in training
    (GoogLeNet's auxiliary classifiers) has the extra outputs' losses added with weight ``aux_weight``
    (0.3 in the GoogLeNet paper). ``scheduler_interval`` is 'epoch' (``scheduler.step()`` after each
    epoch) or 'step' (after each optimiser step, as for warm-up or one-cycle schedules). ``progress``:
    True draws progress bars, False never, None (the default) only when ``stream`` is a terminal, so a
    redirected log holds one line per epoch.
    """

    def __init__(self, model, optimizer, train_loader, val_loader, *, num_classes, task="classify",
                 loss_fn=None, scheduler=None, scheduler_interval="epoch", device="cpu", out_dir=None,
                 clip_grad_norm=None, class_names=None, progress=None, meta=None, ignore_index=255,
                 aux_weight=0.3, stream=None, log_grad_norms=False):
        self.spec = get_task(task)
        if scheduler_interval not in SCHEDULER_INTERVALS:
            raise ValueError(f"Trainer: scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        if scheduler_interval == "step" and isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError("Trainer: ReduceLROnPlateau steps on the validation loss, once per epoch")
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.scheduler_interval = scheduler_interval
        self.train_loader, self.val_loader = train_loader, val_loader
        self.num_classes, self.task = num_classes, task
        self.device = backend.canonical_device(device)
        self.ignore_index = ignore_index
        self.loss_fn = self.spec.loss(ignore_index) if loss_fn is None else loss_fn
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
        self.last_confusion = None
        self._meter = None          # the running sums of the epoch in progress
        self._epoch_lr = None       # the learning rate the epoch began with
        self._epoch_seconds = 0.0   # time spent on the epoch before a resume
        self._epoch_t0 = time.perf_counter()
        self._resumable = True      # False inside a step, where no checkpoint could resume exactly
        self._stops = StopRequests()
        self.model.to(self.device)
        self.grad_norms = GradNormLog(model) if log_grad_norms else None

    # ------------------------------------------------------------------ pieces
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

        disable = None if self.progress is None else not self.progress  # None: only on a terminal
        return tqdm(loader, desc=desc, leave=False, disable=disable, file=self.stream, dynamic_ncols=True)

    def train_epoch(self):
        """One pass over the training loader (continuing a resumed epoch); the epoch's train summary."""
        from ..nn.utils import clip_grad_norm_

        self.model.train()
        if self._meter is None:
            self._meter = self.spec.meter(self.num_classes, self.ignore_index)
        meter = self._meter
        start, seen = time.perf_counter(), 0
        bar = self._bar(self.train_loader, f"epoch {self.epoch + 1} train")
        if self.grad_norms is not None:
            self.grad_norms.reset()
        for x, y in bar:
            x, y = x.to(self.device), y.to(self.device)
            self._resumable = False
            out = self.model(x)
            loss, logits = self._loss(out, y)
            value = float(loss.item())
            self._check_finite(value)
            self.optimizer.zero_grad()
            loss.backward()
            if self.grad_norms is not None:
                self.grad_norms.update()
            if self.clip_grad_norm is not None:
                clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
            self.optimizer.step()
            if self.scheduler is not None and self.scheduler_interval == "step":
                self.scheduler.step()
            self.step += 1
            meter.update(value, logits.detach(), y)
            self._resumable = True
            if self._stops.requested:
                raise KeyboardInterrupt
            seen += int(x.shape[0])
            rate = seen / max(time.perf_counter() - start, 1e-9)
            running = meter.summary()[self.spec.bar_metric]
            bar.set_postfix(loss=f"{meter.loss:.4f}", **{self.spec.bar_metric: f"{running:.3f}"},
                            img_s=f"{rate:.0f}", device=self.device)
        if meter.count == 0:
            loader = self.train_loader
            raise ValueError(
                f"Trainer: the training loader gave no batches ({len(loader.dataset)} samples, batch_size "
                f"{loader.batch_size}, drop_last={loader.drop_last}); use drop_last=False or a smaller batch"
            )
        return meter.summary()

    def evaluate(self, loader=None):
        """Loss and metrics on ``loader`` (the validation loader by default); keeps the confusion matrix."""
        summary, meter = evaluate(
            self.model, loader or self.val_loader, task=self.task, num_classes=self.num_classes,
            device=self.device, loss_fn=self.loss_fn, ignore_index=self.ignore_index,
            bar=lambda it: self._bar(it, f"epoch {self.epoch + 1} val"))
        self.last_confusion = meter.confusion
        return summary

    # ------------------------------------------------------------------ checkpoints
    def state(self):
        state = {
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
        state["position"] = self._position()
        return state

    def _position(self):
        """Where the epoch in progress stands (None between epochs, or when the loader keeps no position)."""
        loader = self.train_loader.state_dict() if hasattr(self.train_loader, "state_dict") else {}
        if self._meter is None or "epoch" not in loader:
            return None
        return {"batches": loader["epoch"]["batches"], "meter": self._meter.state_dict(), "lr": self._epoch_lr,
                "seconds": self._epoch_seconds + time.perf_counter() - self._epoch_t0}

    def save_checkpoint(self, name):
        path = os.path.join(self.out_dir, name)
        save(self.state(), path)
        return path

    def load_checkpoint(self, path):
        """Restore a checkpoint written by ``save_checkpoint``; return a note on where the run resumes."""
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
        loader_state = dict(ckpt.get("loader") or {})
        position = ckpt.get("position")
        if position is None:
            loader_state.pop("epoch", None)  # between epochs: the next one starts afresh
        if loader_state and hasattr(self.train_loader, "load_state_dict"):
            self.train_loader.load_state_dict(loader_state)
        if position is not None:
            self._meter = self.spec.meter(self.num_classes, self.ignore_index)
            self._meter.load_state_dict(position["meter"])
            self._epoch_lr, self._epoch_seconds = position["lr"], float(position["seconds"])
            self._epoch_t0 = time.perf_counter()
            return f"resumed from {path} in epoch {self.epoch + 1}, after its batch {position['batches']}"
        if "position" not in ckpt:
            return (f"resumed from {path} after epoch {self.epoch} (a checkpoint from an older minidl: it "
                    f"records no position inside an epoch, so epoch {self.epoch + 1} starts at its first batch)")
        return f"resumed from {path} after epoch {self.epoch}"

    # ------------------------------------------------------------------ the loop
    def fit(self, epochs, resume=None):
        """Train until ``epochs`` epochs are done (counting those before a resume); return the history."""
        if self.out_dir:
            os.makedirs(self.out_dir, exist_ok=True)
        if resume:
            self._say(self.load_checkpoint(resume))
        with self._stops:
            try:
                while self.epoch < epochs:
                    self._one_epoch()
                    if self._stops.requested:
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                self._interrupted()
                if self._resumable and hasattr(self.train_loader, "load_state_dict"):
                    # so that calling fit again in this process continues with the next batch too
                    self.train_loader.load_state_dict(self.train_loader.state_dict())
                raise
        return self.history

    def _interrupted(self):
        if not self.out_dir:
            return
        if not self._resumable:
            last = os.path.join(self.out_dir, "last.safetensors")
            where = f"the last one, {last}, holds epoch {self.epoch}" if os.path.exists(last) \
                else "no epoch has ended yet"
            self._say(f"\ninterrupted at once: no checkpoint written (a half-done step cannot be resumed "
                      f"exactly); {where}")
            return
        path = self.save_checkpoint("interrupted.safetensors")
        self._say(f"\ninterrupted: checkpoint saved to {path} (continue with --resume {path})")

    def _one_epoch(self):
        self._epoch_t0 = time.perf_counter()
        if self._meter is None:
            self._epoch_lr, self._epoch_seconds = self.optimizer.param_groups[0]["lr"], 0.0
        train = self.train_epoch()
        self._resumable = False  # validation and the epoch's bookkeeping: resumable again once saved
        val = self.evaluate()
        seconds = self._epoch_seconds + time.perf_counter() - self._epoch_t0
        self._meter = None
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            if isinstance(self.scheduler, ReduceLROnPlateau):
                self.scheduler.step(val["loss"])
            else:
                self.scheduler.step()
        self.epoch += 1
        row = {"epoch": self.epoch, "lr": self._epoch_lr, "seconds": seconds,
               **{f"train_{k}": v for k, v in train.items()}, **{f"val_{k}": v for k, v in val.items()}}
        if self.grad_norms is not None:
            row.update(self.grad_norms.summary())
        self.history.append(row)
        score = val[self.spec.score]
        improved = score > self.best
        if improved:
            self.best = score
        if self.out_dir:
            self.save_checkpoint("last.safetensors")
            if improved:
                self.save_checkpoint("best.safetensors")
            self._write_logs()
        self._resumable = True
        self._say(self.spec.epoch_line(row))

    def final_line(self):
        """The last line of every run, in a fixed form that scripts can read."""
        return self.spec.final_line(self.history[-1])

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
