"""The command line's training recipes as data: one row of defaults per dataset, and the optimiser and
learning-rate schedule they name.

A command-line value always wins; an option left out takes its dataset's row (``resolve``). ``None``
in a row means "the dataset decides" (a downloaded set's own size; a folder's own image size) or "the
network's own default" (width). ``--help`` prints these rows (``per_dataset``), so the defaults are
written once, here.

Why these values: ``minidl train`` on Shapes — SGD at 0.1 stayed at chance for 3 epochs, AdamW at 2e-3
for 5 epochs reached 99.3% (bench/README.md); ``minidl segment`` on Shapes — the FCN paper's recipe at
small scale, 10 epochs of FCN-8s on 1200 masks with random horizontal flips after a 12-epoch
classifier, aiming at mean IU 0.80 within 20 CPU minutes. On 800 masks without flips the FCN
overfitted and ended at 0.72-0.74; on 1200 flipped masks, with the engine of 2026-12-01 05:00, 10
epochs ended at 0.7992 and 12 at 0.8206 (17 min 28 s end to end); with the engine of 06:30 (its linear
layers and small-map convolutions round differently, and the classifier now reaches 100%) 12 epochs
ended at 0.8414 in 20 min 6 s and 10 at 0.8222 in 16 min 43 s (with ``--seed 1``, 0.7763; 12 epochs
there ended at 0.8052 on the earlier engine) (README, "From classification to segmentation").
"""
import dataclasses
from typing import Optional

from minidl import optim

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "step", "none")


@dataclasses.dataclass(frozen=True)
class TrainDefaults:
    """``minidl train``'s defaults for one dataset."""
    image_size: Optional[int]
    num_train: Optional[int]
    num_val: Optional[int]
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    width: Optional[float]
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup: int = 0
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class SegmentDefaults(TrainDefaults):
    """``minidl segment``'s defaults for one dataset: the FCN's recipe and how it starts."""
    pretrain: int = 0             # epochs of classifier pretraining on Shapes before the FCN
    batch_norm: bool = False      # VGG-16 with batch norm (not in the paper)
    dropout: float = 0.5          # after fc6 and fc7, as the paper
    pretrain_size: int = 48       # image size of the classifier pretraining
    flip: bool = False            # random horizontal flips of image and mask


@dataclasses.dataclass(frozen=True)
class PretrainRecipe:
    """The classifier pretraining of ``minidl segment`` on Shapes (SGD with Nesterov momentum, cosine)."""
    num_train: int = 6000
    num_val: int = 500
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4


TRAIN = {
    #                          size  train  val  epochs batch optimizer lr   w.decay width
    "shapes": TrainDefaults(32, 6000, 1000, 5, 64, "adamw", 2e-3, 5e-4, 0.25),
    "mnist": TrainDefaults(28, None, None, 5, 128, "sgd", 0.05, 5e-4, 0.25),
    "fashion-mnist": TrainDefaults(28, None, None, 10, 128, "sgd", 0.05, 5e-4, 0.25),
    "cifar10": TrainDefaults(32, None, None, 30, 128, "sgd", 0.1, 5e-4, 0.5),
    "folder": TrainDefaults(None, None, None, 10, 64, "sgd", 0.05, 5e-4, None),
}
SEGMENT = {
    "shapes": SegmentDefaults(128, 1200, 100, 10, 4, "sgd", 0.03, 5e-4, 1 / 16,
                              pretrain=12, batch_norm=True, dropout=0.0, flip=True),
    "voc": SegmentDefaults(256, None, None, 20, 8, "sgd", 1e-4, 5e-4, 0.25),
}
PRETRAIN = PretrainRecipe()
DEFAULT_NET = "resnet18"
DEFAULT_SEGMENT_NET = "fcn8s"


def _show(value, none):
    if value is None:
        return none
    return f"{value:g}" if isinstance(value, float) else str(value)


def per_dataset(table, field, none="the data's own"):
    """``field``'s default as help text: one value, or each dataset's ('shapes 5, mnist 5, ...');
    ``none`` says what a None in the table means."""
    values = {name: getattr(row, field) for name, row in table.items()}
    if len(set(values.values())) == 1:
        return f"default: {_show(next(iter(values.values())), none)}"
    return "default: " + ", ".join(f"{name} {_show(v, none)}" for name, v in values.items())


def resolve(args, defaults):
    """The run's settings: each option given on the command line, else ``defaults`` (a row above)."""
    return {f.name: getattr(defaults, f.name) if getattr(args, f.name, None) is None else getattr(args, f.name)
            for f in dataclasses.fields(defaults)}


def build_optimizer(model, kind, lr, momentum, weight_decay):
    """``kind`` ('sgd' with Nesterov momentum when momentum > 0, 'adam', 'adamw'); no weight decay on
    biases and normalisation parameters (the 1-d ones)."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if kind == "sgd":
        return optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)
    if kind == "adam":
        return optim.Adam(groups, lr=lr)
    return optim.AdamW(groups, lr=lr)


def build_scheduler(optimizer, schedule, epochs, warmup):
    """Per-epoch schedule: cosine to 0 over the epochs after warm-up, or steps of 0.1 every third of the
    run, after ``warmup`` epochs of linear warm-up from a tenth of the rate."""
    from minidl.optim import lr_scheduler as S

    main = None
    if schedule == "cosine":
        main = S.CosineAnnealingLR(optimizer, T_max=max(1, epochs - warmup))
    elif schedule == "step":
        main = S.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if warmup <= 0:
        return main
    warm = S.LinearLR(optimizer, start_factor=0.1, total_iters=warmup)
    if main is None:
        return warm
    return S.SequentialLR(optimizer, [warm, main], milestones=[warmup])
