"""Feature maps of each stage, and the share of exact zeros after each ReLU.

A stage is a run of blocks (``minidl.viz.blocks``) whose 4-D outputs keep the same height and width: it
ends where the network downsamples, as in the lecture's drawings of AlexNet and ResNet. Its feature maps
are the last block's output at that resolution. Channels are ordered by their mean activation on the
image, most active first.

ReLU's sparsity (the lecture's ReLU slide: many units output exactly 0) is counted as the share of exact
zeros in each ``nn.ReLU`` module's output over a batch (``activation_sparsity`` counts it for any
activation module: sigmoid and tanh give almost none); a ReLU module called twice (ResNet's blocks use
one for both of their activations) gives a row per call.
"""
import collections

import numpy as np

from .. import backend, nn
from .blocks import blocks
from .probes import record

Stage = collections.namedtuple("Stage", ["name", "maps", "order"])
SparsityRow = collections.namedtuple("SparsityRow", ["name", "shape", "zeros"])


def feature_maps(model, x):
    """One ``Stage`` per resolution for the first image of ``x``: its block's name, the (C, H, W) maps as a
    NumPy array, and the channel order by mean activation (largest first)."""
    _, seen = record(model, x, blocks(model))
    stages = []
    for s in seen:
        out = s.output
        if getattr(out, "ndim", 0) != 4 or out.shape[2] * out.shape[3] <= 1:
            continue
        if stages and stages[-1][1].shape[2:] == out.shape[2:]:
            stages[-1] = (s.name, out)
        else:
            stages.append((s.name, out))
    result = []
    for name, out in stages:
        maps = np.asarray(backend.to_numpy(out.data[0]), dtype=np.float32)
        order = np.argsort(-maps.mean(axis=(1, 2)), kind="stable")
        result.append(Stage(name, maps, order))
    return result


def relu_sparsity(model, x):
    """A ``SparsityRow`` (name, output shape, share of exact zeros) per call of each ``nn.ReLU`` in ``model``."""
    return activation_sparsity(model, x, (nn.ReLU,))


def activation_sparsity(model, x, kinds):
    """``relu_sparsity`` for the modules of the classes ``kinds`` (e.g. ``(nn.Sigmoid, nn.Tanh)``)."""
    chosen = [(n, m) for n, m in model.named_modules() if isinstance(m, kinds)]
    if not chosen:
        names = " or ".join(f"nn.{k.__name__}" for k in kinds)
        raise ValueError(f"activation_sparsity: {type(model).__name__} has no {names} module")
    _, seen = record(model, x, chosen)
    calls = collections.Counter(s.name for s in seen)
    rows, count = [], collections.Counter()
    for s in seen:
        count[s.name] += 1
        name = s.name if calls[s.name] == 1 else f"{s.name} (call {count[s.name]})"
        zeros = int((s.output.data == 0).sum()) / s.output.data.size
        rows.append(SparsityRow(name, tuple(s.output.shape), zeros))
    return rows
