"""What the pooling ops share: argument checks, PyTorch's output-size rule, the running maximum with
its argmax, and the argmax scatter of the max-pooling backward (CPU).

Indices follow PyTorch: the flat position ``h * W + w`` of the chosen element inside its (H, W) input
plane, as int64.
"""
import numpy as np

from ..tensor import Tensor, _fmt


def check_input(x, op):
    """``x`` must be a floating-point (C, H, W) or (N, C, H, W) tensor with non-empty C, H and W."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{op}: expected a 3D (C, H, W) or 4D (N, C, H, W) input, got shape {_fmt(x.shape)}"
        )
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {x.dtype}")
    if 0 in x.shape[-3:]:
        raise ValueError(f"{op}: channels, height and width must be non-empty, got shape {_fmt(x.shape)}")


def pair(value, name, op):
    """An int or a pair of ints as ``(h, w)``, as PyTorch's ``_pair``."""
    if isinstance(value, (tuple, list)):
        items = tuple(value)
        if len(items) == 1:
            items = items * 2
    else:
        items = (value, value)
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return tuple(int(v) for v in items)


def pooled_size(size, kernel, stride, padding, dilation, ceil_mode):
    """PyTorch's pooling output size along one axis (see ``max_pool2d``'s docstring)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def smallest_input(kernel, stride, padding, dilation, ceil_mode):
    """The smallest input size along one axis that gives at least one output."""
    return max(1, dilation * (kernel - 1) + 1 - 2 * padding - (stride - 1 if ceil_mode else 0))


def window_geometry(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Check the window's hyperparameters against PyTorch's rules; return them as pairs and the
    output size ``(OH, OW)``."""
    kernel = pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) else pair(
        stride, "stride", op
    )
    padding = pair(padding, "padding", op)
    dilation = pair(dilation, "dilation", op)
    for name, value in (("kernel_size", kernel), ("stride", stride), ("dilation", dilation)):
        if min(value) < 1:
            raise ValueError(f"{op}: {name} must be at least 1, got {value}")
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding}")
    half = (kernel[0] // 2, kernel[1] // 2)
    if padding[0] > half[0] or padding[1] > half[1]:
        raise ValueError(
            f"{op}: padding {padding} is more than half the kernel size {kernel}; "
            f"it must be at most kernel_size // 2 = {half}"
        )
    H, W = x.shape[-2:]
    out = tuple(
        pooled_size(n, k, s, p, d, ceil_mode)
        for n, k, s, p, d in zip((H, W), kernel, stride, padding, dilation)
    )
    if min(out) < 1:
        smallest = tuple(
            smallest_input(k, s, p, d, ceil_mode) for k, s, p, d in zip(kernel, stride, padding, dilation)
        )
        raise ValueError(
            f"{op}: input of size {H}x{W} (H x W) is too small for kernel_size {kernel} with stride "
            f"{stride}, padding {padding}, dilation {dilation}, ceil_mode={ceil_mode}: the output would "
            f"be {out[0]}x{out[1]}; the smallest input that works is {smallest[0]}x{smallest[1]}"
        )
    return kernel, stride, padding, dilation, out


def max_over_taps(taps):
    """Running maximum over the taps of a window, and the flat input index where it was found.

    Each tap is ``(values, flat, valid)``: the values at one window offset for every output
    (N, C, OH, OW), their flat input indices (OH, OW), and whether that offset lies inside the input
    (OH, OW). Taps come in increasing flat-index order. As in PyTorch, the first in-bounds element
    is taken whatever its value (so an all ``-inf`` window still points into the input), later ones
    only when strictly larger (ties: first index wins) or NaN (a NaN propagates, the last NaN wins).
    A window with no element inside the input gives ``-inf`` and index -1.
    """
    best = index = None
    for values, flat, valid in taps:
        if best is None:
            best = np.where(valid, values, -np.inf).astype(values.dtype)
            index = np.broadcast_to(np.where(valid, flat, -1), best.shape).copy()
            continue
        take = valid & ((index < 0) | (values > best) | np.isnan(values))
        best = np.where(take, values, best)
        index = np.where(take, flat, index)
    return best, index


def scatter_argmax(grad, index, in_shape):
    """Backward of a max pool on the CPU: each output's gradient goes to its argmax.

    ``grad`` and ``index`` are (N, C, OH, OW); ``in_shape`` is (N, C, H, W). A bincount over global
    flat indices sums the contributions of overlapping windows that picked the same element.
    """
    N, C, H, W = in_shape
    plane_offset = (np.arange(N * C, dtype=np.int64) * (H * W)).reshape(N, C, 1, 1)
    inside = index >= 0
    flat = np.where(inside, index + plane_offset, 0).ravel()
    weights = np.where(inside, grad, 0).ravel()
    summed = np.bincount(flat, weights=weights, minlength=N * C * H * W)
    return summed.astype(grad.dtype, copy=False).reshape(in_shape)


def as_batched(array):
    """``(array as NCHW, whether a batch axis was added)``: unbatched CHW input is pooled as N = 1."""
    return (array[None], True) if array.ndim == 3 else (array, False)
