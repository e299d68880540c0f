"""Dropout (Srivastava et al. 2014; AlexNet's fully connected layers) in its inverted form.

In training each element (``dropout``) or each whole channel (``dropout2d``) is kept with probability
1 - p and zeroed otherwise, and what is kept is scaled by 1 / (1 - p)::

    y = x * m / (1 - p),   m ~ Bernoulli(1 - p),   so E[y] = x

which lets evaluation use every unit unchanged (y = x), as the lecture says: suppress random units
while training, use them all at test time. The backward multiplies by the same mask: dL/dx = g * m / (1 - p).

The mask comes from minidl's seeded generator on the CPU and, on the GPU, from ``kernels/dropout.cu``:
a counter-based hash of (seed, element index), with a per-call seed drawn from minidl's generator. Both
repeat exactly after ``minidl.manual_seed``.
"""
import numpy as np

from .. import backend, random
from ..autograd import Function
from .activation import check_float_tensor

__all__ = ["dropout", "dropout2d"]


def _mask(xp, shape, p, dtype):
    """Keep-and-scale factors: 1/(1-p) with probability 1 - p, else 0, as an array of ``dtype``."""
    if p == 1:
        return xp.zeros(shape, dtype=dtype)
    scale = 1.0 / (1.0 - p)
    if xp is np:
        draw_dtype = dtype if dtype in (np.float32, np.float64) else np.float32
        keep = random.generator().random(shape, dtype=draw_dtype) >= p
        return np.multiply(keep, scale, dtype=dtype)
    mask = xp.empty(shape, dtype=dtype)
    seed = np.uint64(random.generator().integers(0, 2**63))
    kernel = backend.load_kernel("dropout", "dropout_mask", dtype)
    backend.launch(kernel, mask.size, (mask, np.int64(mask.size), seed, np.float64(p),
                                       backend.accumulator_type(dtype)(scale)))
    return mask


class Dropout(Function):
    def forward(self, x, p, mask_shape):
        xp = backend.get_array_module(x)
        self.mask = _mask(xp, mask_shape, p, x.dtype)
        return x * self.mask

    def backward(self, g):
        return g * self.mask


def _check(input, p, op):
    check_float_tensor(input, op)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"{op}: p must be a number, got {type(p).__name__}")
    if not 0 <= p <= 1:
        raise ValueError(f"{op}: dropout probability p has to be between 0 and 1, got {p}")


def dropout(input, p=0.5, training=True, inplace=False):
    """Inverted dropout of single elements: y = x * m / (1 - p) in training, y = x in evaluation.

    Any shape. p = 0 and evaluation return the input itself; p = 1 gives zeros. ``inplace`` is
    accepted for PyTorch compatibility and ignored (minidl never overwrites a graph tensor).
    """
    _check(input, p, "dropout")
    if not training or p == 0:
        return input
    return Dropout.apply(input, p=float(p), mask_shape=input.shape)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Channel dropout: each channel of (N, C, H, W), or of an unbatched (C, H, W), is zeroed as a
    whole with probability p and scaled by 1 / (1 - p) otherwise; identity in evaluation.

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels hardly
    regularises a convolutional layer; dropping whole maps does (Tompson et al. 2015).

    A 3-D input is taken as (C, H, W), as PyTorch documents. (PyTorch itself, for now, still treats a
    3-D input as (N, C, L) and warns; minidl follows the documented meaning.) ``inplace`` is ignored.
    """
    _check(input, p, "dropout2d")
    if input.ndim not in (3, 4):
        raise ValueError(
            f"dropout2d: expected a 4-D (N, C, H, W) or 3-D (C, H, W) input, got shape {input.shape}"
        )
    if not training or p == 0:
        return input
    channel_dims = input.ndim - 2
    mask_shape = input.shape[:channel_dims] + (1,) * (input.ndim - channel_dims)
    return Dropout.apply(input, p=float(p), mask_shape=mask_shape)
