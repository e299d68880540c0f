"""Pieces every network in ``nets/`` shares: channel scaling, the input check with its minimum size, and
loading saved weights (``weights=PATH``).

The minimum input size of a network is found without running it: the spatial size is pushed through
the convolutions and poolings on its main path with PyTorch's output-size formula

    out = floor((n + 2p - d(k - 1) - 1) / s) + 1          (ceil instead of floor with ceil_mode,
                                                           minus one if the last window would start
                                                           in the right padding)

and the smallest ``n`` for which every output is at least 1 is the answer. Layers that keep the size
(padded 3x3 convolutions, the Inception branches) and adaptive poolings (which accept any size) can be
left off the path.

``load_weights`` reads a safetensors file (``minidl.load``; nothing is downloaded) and loads it into the
freshly built network with ``load_state_dict(strict=True)``: every key must be there with its shape, so
a file made for another network or other options is refused in one line naming the file and the first
keys that differ.
"""
import inspect
import math

import minidl

LARGEST_SIZE_SEARCHED = 4096


def scale_channels(channels, width):
    """``channels`` times the width factor, rounded, and never below one channel."""
    if not (isinstance(width, (int, float)) and width > 0):
        raise ValueError(f"width must be a positive number, got {width!r}")
    return max(1, int(round(channels * width)))


def pair(value):
    """An int or a pair as ``(h, w)``: a tuple or list as it is, anything else twice."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def spatial_op(module):
    """``(kernel, stride, padding, dilation, ceil_mode)`` of a conv or pooling layer, per dimension.

    Each entry is a pair (height, width). Reads the attributes PyTorch's layers carry.
    """
    kernel = pair(module.kernel_size)
    stride = pair(module.stride if module.stride is not None else module.kernel_size)
    padding = pair(getattr(module, "padding", 0))
    dilation = pair(getattr(module, "dilation", 1))
    ceil_mode = bool(getattr(module, "ceil_mode", False))
    return kernel, stride, padding, dilation, ceil_mode


def output_size(n, kernel, stride, padding, dilation, ceil_mode):
    """Output length along one dimension, as PyTorch computes it (may be < 1 for too small an input)."""
    span = n + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= n + padding:
            out -= 1
    else:
        out = span // stride + 1
    return out


def propagate(n, ops, dim=0):
    """The sizes after each op of ``ops`` (from ``spatial_op``) along dimension ``dim``, starting at ``n``."""
    sizes = []
    for kernel, stride, padding, dilation, ceil_mode in ops:
        n = output_size(n, kernel[dim], stride[dim], padding[dim], dilation[dim], ceil_mode)
        sizes.append(n)
        if n < 1:
            break
    return sizes


def smallest_input(modules):
    """The smallest (height, width) for which every layer of ``modules`` (in order) has an output."""
    ops = [spatial_op(m) for m in modules]
    result = []
    for dim in (0, 1):
        for n in range(1, LARGEST_SIZE_SEARCHED + 1):
            if all(size >= 1 for size in propagate(n, ops, dim)):
                result.append(n)
                break
        else:
            raise ValueError(f"no input up to {LARGEST_SIZE_SEARCHED} pixels passes these layers")
    return tuple(result)


def count_parameters(model, trainable_only=False):
    """Number of scalar parameters (no forward pass, so it is cheap for the largest networks)."""
    return sum(math.prod(p.shape) for p in model.parameters()
               if p.requires_grad or not trainable_only)


class InputSpec:
    """What a network accepts: NCHW input, ``in_channels`` channels, at least ``min_size`` pixels.

    The check runs at the top of ``forward`` so a wrong input fails with the network's and the first
    layer's names instead of deep inside a convolution.
    """

    def __init__(self, network, first_layer, in_channels, min_size):
        self.network = network
        self.first_layer = first_layer
        self.in_channels = in_channels
        self.min_size = tuple(min_size)

    def check(self, x):
        shape = tuple(x.shape)
        if len(shape) != 4:
            raise ValueError(f"{self.network}: expected an NCHW input of 4 dimensions, got shape {shape}")
        if shape[1] != self.in_channels:
            raise ValueError(
                f"{self.network}: the first layer {self.first_layer} takes {self.in_channels} input "
                f"channels, but the input has {shape[1]} (shape {shape})")
        height, width = shape[2], shape[3]
        min_h, min_w = self.min_size
        if height < min_h or width < min_w:
            raise ValueError(
                f"{self.network}: an input of {height}x{width} is too small; the smallest size that "
                f"works is {min_h}x{min_w}")

    def __repr__(self):
        return (f"InputSpec({self.network!r}, first_layer={self.first_layer!r}, "
                f"in_channels={self.in_channels}, min_size={self.min_size})")


def keywords_of(family, *fixed):
    """Give a ``def vgg16(**kwargs)`` factory the signature of what it forwards to.

    The factory passes its keywords on to ``family`` (``vgg``, ``resnet``, ``fcn``) and fixes the
    arguments named in ``fixed``; its signature (``help``, ``inspect.signature``, ``nets.create``'s check
    of options) lists ``family``'s other keyword-only parameters, so it shows what it accepts.
    """
    accepted = [p for name, p in inspect.signature(family).parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in fixed]

    def decorate(factory):
        factory.__signature__ = inspect.Signature(accepted)
        return factory

    return decorate


SHOWN_KEYS = 3


def _listed(keys):
    shown = ", ".join(keys[:SHOWN_KEYS])
    return shown + (f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else "")


def load_weights(model, weights, network):
    """Load the state dict saved at ``weights`` into ``model`` (strict) and return ``model``.

    ``weights`` is a path to a safetensors file holding a state dict, or a training checkpoint (whose
    ``model`` entry is used); ``None`` keeps the fresh initialisation. Raises ``ValueError`` (one line,
    naming ``network``, the path and what does not match) when the file does not fit the network.
    """
    if weights is None:
        return model
    try:
        state = minidl.load(weights)
    except minidl.CheckpointError as e:
        raise ValueError(f"{network}: weights={weights}: {e}".replace("\n", " ")) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ValueError(f"{network}: weights={weights} holds a {type(state).__name__}, not a state dict")
    own = model.state_dict()
    problems = []
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    resized = [f"{key} is {tuple(state[key].shape)} in the file, {tuple(own[key].shape)} in the network"
               for key in own if key in state and hasattr(state[key], "shape")
               and tuple(state[key].shape) != tuple(own[key].shape)]
    if missing:
        problems.append(f"{len(missing)} key(s) missing from the file ({_listed(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} key(s) the network does not have ({_listed(unexpected)})")
    if resized:
        problems.append(f"{len(resized)} shape mismatch(es) ({_listed(resized)})")
    if problems:
        raise ValueError(f"{network}: weights={weights} does not fit this network: {'; '.join(problems)}")
    model.load_state_dict(state, strict=True)
    return model
