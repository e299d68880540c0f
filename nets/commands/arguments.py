"""Typed, range-checked command-line values and the options ``train`` and ``segment`` share.

Every number is checked where it is parsed: ``--epochs 0`` or ``--lr nan`` stop with one line naming
the option and the value. Options whose default depends on the dataset default to ``None`` (never 0,
which can be a real value), and their help shows each dataset's default from ``nets.recipe``.
"""
import argparse
import math

from .. import recipe


def _number(kind, low=None, high=None, low_open=False, high_open=False):
    """An argparse ``type``: ``kind`` ('integer' or 'number') within [low, high] (ends open when asked)."""
    def parse(text):
        try:
            value = int(text) if kind == "integer" else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an' if kind == 'integer' else 'a'} {kind}, got {text!r}")
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        below = low is not None and (value <= low if low_open else value < low)
        above = high is not None and (value >= high if high_open else value > high)
        if below or above:
            raise argparse.ArgumentTypeError(f"expected {kind} {_range(low, high, low_open, high_open)}, got {text}")
        return value
    parse.__name__ = kind
    return parse


def _range(low, high, low_open, high_open):
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)


positive_int = _number("integer", 1)
count = _number("integer", 0)                       # 0 allowed: warm-up epochs, worker threads, seeds
positive = _number("number", 0, low_open=True)      # width, gradient-norm bound
non_negative = _number("number", 0)                 # learning rate, weight decay
fraction = _number("number", 0, 1, high_open=True)  # momentum, dropout: 0 <= p < 1


def add_device(p, default="auto"):
    p.add_argument("--device", default=default,
                   help=f"auto (the GPU when CuPy finds one), cpu, or the GPU: cuda, cuda:N or gpu "
                        f"(default: {default})")


def add_training(p, table):
    """The options of a training run, their defaults from ``table`` (``recipe.TRAIN`` or ``recipe.SEGMENT``)."""
    def d(field, none="the data's own"):
        return recipe.per_dataset(table, field, none)

    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"epochs to train, counting those before a --resume ({d('epochs')})")
    p.add_argument("--batch-size", type=positive_int, default=None, help=f"images per batch ({d('batch_size')})")
    p.add_argument("--lr", type=non_negative, default=None, help=f"learning rate ({d('lr')})")
    p.add_argument("--optimizer", choices=recipe.OPTIMIZERS, default=None,
                   help=f"sgd (Nesterov momentum), adam or adamw ({d('optimizer')})")
    p.add_argument("--momentum", type=fraction, default=None, help=f"SGD momentum, in [0, 1) ({d('momentum')})")
    p.add_argument("--weight-decay", type=non_negative, default=None,
                   help=f"weight decay of the weights; biases and normalisation get none ({d('weight_decay')})")
    p.add_argument("--schedule", choices=recipe.SCHEDULES, default=None,
                   help=f"learning-rate schedule over the epochs ({d('schedule')})")
    p.add_argument("--warmup", type=count, default=None, help=f"epochs of linear warm-up ({d('warmup')})")
    p.add_argument("--image-size", type=positive_int, default=None,
                   help=f"train and validate at this size ({d('image_size')})")
    full = "1, the network as published"
    p.add_argument("--width", type=positive, default=None,
                   help=f"channel-width factor of the network ({d('width', full)})")
    p.add_argument("--num-train", type=positive_int, default=None,
                   help=f"training images (shapes: generated; others: the first N) ({d('num_train')})")
    p.add_argument("--num-val", type=positive_int, default=None,
                   help=f"validation images (shapes: generated; others: the first N) ({d('num_val')})")
    add_device(p)
    p.add_argument("--out", default=None,
                   help="folder for checkpoints, logs and plots (default: runs/NET-DATA, or the --resume "
                        "checkpoint's folder)")
    p.add_argument("--resume", default=None, metavar="CHECKPOINT",
                   help="continue a run exactly where its checkpoint left it; the network, data and recipe "
                        "come from the checkpoint (options given must agree with it; --epochs may grow) "
                        "(default: start a new run)")
    p.add_argument("--clip-grad-norm", type=positive, default=None,
                   help="clip gradients to this global norm (default: no clipping)")
    p.add_argument("--workers", type=count, default=0,
                   help="loader threads for decoding and augmentation; results do not depend on it (default: 0)")
    p.add_argument("--seed", type=count, default=None, help=f"seed of every random generator ({d('seed')})")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (they are drawn only on a terminal anyway)")
