"""``summary`` (a table of layers, output shapes, parameters and multiply-accumulates) and
``receptive_field`` (how much of the input each layer's output sees).

Both run one forward pass on a zero input under ``no_grad``, in evaluation mode (so BatchNorm's running
statistics and the dropout generators are left as they were; each module's mode is restored afterwards),
with forward hooks on the leaf modules that record what each one did, in the order they ran.
"""
import collections

import numpy as np

from . import backend, nn
from .autograd import no_grad
from .creation import zeros
from .tensor import Tensor, float32

SummaryRow = collections.namedtuple("SummaryRow", ["name", "type", "output_shape", "params", "macs"])
ReceptiveFieldRow = collections.namedtuple(
    "ReceptiveFieldRow", ["name", "type", "output_shape", "size", "jump", "start"]
)
_Call = collections.namedtuple("_Call", ["name", "module", "input_shape", "output_shape", "macs"])


def _check_input_size(input_size, who):
    if not isinstance(input_size, (tuple, list)) or not input_size or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in input_size
    ):
        raise ValueError(
            f"{who}: input_size must be a tuple of positive ints, e.g. (3, 224, 224) or with the batch "
            f"(1, 3, 224, 224); got {input_size!r}"
        )
    return tuple(int(s) for s in input_size)


# layers that take a batch of images (N, C, H, W), and the rank of one sample for each kind of first layer
_IMAGE_LAYERS = (
    nn.Conv2d, nn.ConvTranspose2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
    nn.BatchNorm2d, nn.LocalResponseNorm, nn.LocalResponseNormPaper, nn.Dropout2d,
)


def _with_batch(model, input_size):
    """``input_size`` with a batch of 1 in front when it is one sample's size: (C, H, W) for a model whose
    first layer takes images, (in_features,) for one that starts with ``Linear``. Otherwise as given."""
    first = next((m for m in model.modules() if not any(True for _ in m.children())), None)
    if isinstance(first, _IMAGE_LAYERS) and len(input_size) == 3:
        return (1,) + input_size
    if isinstance(first, nn.Linear) and len(input_size) == 1:
        return (1,) + input_size
    return input_size


def _model_device(model, device, who):
    tensors = list(model.parameters()) + list(model.buffers())
    here = tensors[0].device if tensors else None
    if device is None:
        return here or backend.get_default_device()
    device = backend.canonical_device(device)
    if here is not None and here != device:
        raise ValueError(
            f"{who}: the model is on {here} but device={device!r}; move it first with model.to({device!r})"
        )
    return device


def _first_tensor(value):
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], Tensor):
        return value[0]
    return None


def _macs(module, x, y):
    """Multiply-accumulates of one call, for the whole batch; bias, activations, pooling and
    normalisation count nothing (the convention of torchvision's and torchinfo's published figures)."""
    if x is None or y is None:
        return 0
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return y.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        return x.numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return y.numel() * module.in_features
    return 0


def _trace(model, input_size, device, dtype, who):
    """Run ``model`` once on zeros of ``input_size`` and return a ``_Call`` per leaf-module call, in order.

    A module counts as a leaf when it has no children or holds parameters of its own.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"{who}: expected a minidl.nn.Module, got {type(model).__name__}")
    input_size = _with_batch(model, _check_input_size(input_size, who))
    device = _model_device(model, device, who)
    calls, handles = [], []

    def recorder(name):
        def hook(module, args, output):
            x = _first_tensor(args)
            y = _first_tensor(output)
            calls.append(_Call(name, module, x.shape if x is not None else None,
                               y.shape if y is not None else None, _macs(module, x, y)))
        return hook

    modes = [(m, m.training) for m in model.modules()]
    try:
        for name, module in model.named_modules():
            has_children = any(True for _ in module.children())
            if not has_children or any(True for _ in module.parameters(recurse=False)):
                handles.append(module.register_forward_hook(recorder(name or type(module).__name__)))
        model.eval()
        with no_grad():
            model(zeros(input_size, dtype=dtype, device=device))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    return calls, input_size


def _shape_text(shape):
    return "-" if shape is None else str(tuple(shape))


def _table(headers, rows, footer):
    cells = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r):
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    rule = "-" * len(line(headers))
    return "\n".join([line(headers), rule] + [line(r) for r in cells[1:]] + ["=" * len(rule)] + footer)


class ModelSummary:
    """What ``summary`` returns: ``rows`` (``SummaryRow`` per leaf call), ``total_params``,
    ``trainable_params``, ``non_trainable_params``, ``total_macs``; ``str()`` is the table."""

    def __init__(self, rows, input_size, total_params, trainable_params, total_macs):
        self.rows = rows
        self.input_size = input_size
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.non_trainable_params = total_params - trainable_params
        self.total_macs = total_macs

    def __str__(self):
        body = [(r.name, r.type, _shape_text(r.output_shape), f"{r.params:,}", f"{r.macs:,}") for r in self.rows]
        footer = [
            f"Input size: {self.input_size}",
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            f"Total MACs: {self.total_macs:,} ({self.total_macs / 1e9:.3f} G)",
        ]
        return _table(["Layer", "Type", "Output shape", "Params", "MACs"], body, footer)

    __repr__ = __str__


def summary(model, input_size, device=None, dtype=float32):
    """A table of ``model``'s leaf layers in the order they run: name, type, output shape, parameters and
    multiply-accumulates (MACs), with totals.

    ``input_size`` is one sample's size, e.g. (3, 224, 224) (as torchsummary takes it), or includes the
    batch, e.g. (8, 3, 224, 224) (as torchinfo takes it). A sample's size is recognised from the first
    layer: 3 entries for a model that starts with an image layer (Conv2d, pooling, BatchNorm2d, ...), 1 for
    one that starts with Linear; a batch of 1 is then put in front, and the table shows it. MACs are for
    the whole batch (per image with batch 1) and count convolutions and linear layers only:
    Conv2d out_elements * in_channels/groups * kh * kw,
    ConvTranspose2d in_elements * out_channels/groups * kh * kw, Linear out_elements * in_features; bias,
    activations, pooling and normalisation add nothing. A module run twice gets two rows (its MACs count
    twice), its parameters only on the first. The totals of parameters are over ``model.parameters()``.
    ``device`` defaults to the model's; the model is not moved.
    """
    calls, input_size = _trace(model, input_size, device, dtype, "summary")
    seen, rows = set(), []
    for call in calls:
        own = [p for p in call.module.parameters(recurse=False) if id(p) not in seen]
        seen.update(id(p) for p in own)
        rows.append(SummaryRow(call.name, type(call.module).__name__, call.output_shape,
                               sum(p.numel() for p in own), call.macs))
    params = list(model.parameters())
    return ModelSummary(
        rows, tuple(input_size), sum(p.numel() for p in params),
        sum(p.numel() for p in params if p.requires_grad), sum(r.macs for r in rows),
    )


# ---------------------------------------------------------------------- receptive field

_POINTWISE = (
    nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.BatchNorm2d, nn.LocalResponseNorm, nn.LocalResponseNormPaper,
    nn.Dropout, nn.Dropout2d, nn.Identity,
)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _geometry(call, who):
    """(kernel, stride, padding, dilation) per axis of one layer, as it acts on the spatial grid."""
    m = call.module
    if isinstance(m, nn.Conv2d):
        if m.padding == "valid":
            pad = (0, 0)
        elif m.padding == "same":
            pad = tuple(d * (k - 1) // 2 for d, k in zip(m.dilation, m.kernel_size))
        else:
            pad = m.padding
        return m.kernel_size, m.stride, pad, m.dilation
    if isinstance(m, nn.MaxPool2d):
        return _pair(m.kernel_size), _pair(m.stride), _pair(m.padding), _pair(m.dilation)
    if isinstance(m, nn.AvgPool2d):
        return _pair(m.kernel_size), _pair(m.stride), _pair(m.padding), (1, 1)
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        sizes_in, sizes_out = call.input_shape[-2:], call.output_shape[-2:]
        if any(i % o for i, o in zip(sizes_in, sizes_out)):
            raise ValueError(
                f"{who}: {call.name} ({type(m).__name__}) pools {sizes_in} to {sizes_out}, whose bins are not "
                "all alike, so it has no single receptive field"
            )
        stride = tuple(i // o for i, o in zip(sizes_in, sizes_out))
        return stride, stride, (0, 0), (1, 1)
    if isinstance(m, _POINTWISE):
        return (1, 1), (1, 1), (0, 0), (1, 1)
    raise ValueError(
        f"{who}: cannot follow {call.name} ({type(m).__name__}): only Conv2d, pooling and pointwise layers "
        "(activations, BatchNorm2d, LRN, dropout, Identity) have a known geometry"
    )


def _number(v):
    return int(v) if float(v).is_integer() else float(v)


def _axes_text(values):
    h, w = (_number(v) for v in values)
    return str(h) if h == w else f"{h}x{w}"


class ReceptiveField:
    """What ``receptive_field`` returns: ``rows`` (``ReceptiveFieldRow`` per layer, values per axis (h, w)),
    and the last layer's ``size``, ``jump`` and ``start``; ``str()`` is the table."""

    def __init__(self, rows, input_size):
        self.rows = rows
        self.input_size = input_size
        last = rows[-1] if rows else None
        self.size = last.size if last else (1, 1)
        self.jump = last.jump if last else (1, 1)
        self.start = last.start if last else (0, 0)

    def __str__(self):
        body = [(r.name, r.type, _shape_text(r.output_shape), _axes_text(r.size), _axes_text(r.jump),
                 _axes_text(r.start)) for r in self.rows]
        footer = [f"Input size: {self.input_size}",
                  f"Receptive field {_axes_text(self.size)}, jump {_axes_text(self.jump)}, "
                  f"start {_axes_text(self.start)}"]
        return _table(["Layer", "Type", "Output shape", "Field", "Jump", "Start"], body, footer)

    __repr__ = __str__


def receptive_field(model, input_size, device=None, dtype=float32):
    """Receptive field size r, jump j and start of every layer of a chain of layers (Araujo et al. 2019).

    Starting from one input pixel (r = 1, j = 1, start = 0, in pixel indices), a layer with kernel k,
    stride s, padding p and dilation d, whose effective kernel is k_eff = d (k - 1) + 1, gives::

        r_out = r_in + (k_eff - 1) j_in        (how many input pixels one output sees)
        j_out = j_in s                         (input pixels between neighbouring outputs)
        start_out = start_in + ((k_eff - 1) / 2 - p) j_in   (centre of the first output's field)

    so two stacked 3x3 convolutions see 5x5 and three see 7x7. Computed per axis (h, w). The leaf
    modules are taken in the order they run, which is the network only when it is a chain: a layer whose
    input grid differs from the previous layer's output grid (a branch) is an error. The walk ends at
    the first layer that leaves the 4-D feature maps (``Flatten``, ``Linear``); transposed convolutions
    are not supported.
    """
    who = "receptive_field"
    calls, input_size = _trace(model, input_size, device, dtype, who)
    r, j, start = np.ones(2), np.ones(2), np.zeros(2)
    rows, grid = [], None
    for call in calls:
        if call.input_shape is None or call.output_shape is None or len(call.input_shape) != 4 \
                or len(call.output_shape) != 4:
            break
        if isinstance(call.module, nn.ConvTranspose2d):
            raise ValueError(f"{who}: {call.name} is a ConvTranspose2d; transposed convolutions are not supported")
        if grid is not None and tuple(call.input_shape[-2:]) != grid:
            raise ValueError(
                f"{who}: {call.name} ({type(call.module).__name__}) takes a {call.input_shape[-2:]} map but the "
                f"layer before made {grid}: the model is not a chain of layers (pass a chain, e.g. model.features)"
            )
        kernel, stride, pad, dilation = (np.array(v, dtype=float) for v in _geometry(call, who))
        k_eff = dilation * (kernel - 1) + 1
        r = r + (k_eff - 1) * j
        start = start + ((k_eff - 1) / 2 - pad) * j
        j = j * stride
        grid = tuple(call.output_shape[-2:])
        rows.append(ReceptiveFieldRow(
            call.name, type(call.module).__name__, call.output_shape,
            tuple(_number(v) for v in r), tuple(_number(v) for v in j), tuple(_number(v) for v in start),
        ))
    return ReceptiveField(rows, tuple(input_size))
