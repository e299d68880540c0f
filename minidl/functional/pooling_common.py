"""What the pooling ops share: argument checks, PyTorch's output-size rule, the running maximum with
its argmax, and the argmax scatter of the max-pooling backward (CPU).

Indices follow PyTorch: the flat position ``h * W + w`` of the chosen element inside its (H, W) input
plane, as int64.
"""
import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, _fmt
from . import validation as check


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
    check.flag(ceil_mode, "ceil_mode", op)
    kernel = check.pair(kernel_size, "kernel_size", op)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        stride = kernel
    else:
        stride = check.pair(stride, "stride", op)
    padding = check.pair(padding, "padding", op)
    dilation = check.pair(dilation, "dilation", op)
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


def scan_taps(taps, best, which):
    """The running maximum of a window's taps into ``best`` and the number of the tap that holds it
    into ``which`` (both (N, C, OH, OW), written in place), with PyTorch's CPU scan rule
    ``val > maxval || isnan(val)``: among tied maxima the first tap wins, and in a window holding a
    NaN the last NaN wins.

    Tap t takes over where it is strictly greater than the maximum so far, so the winner is the last
    tap that took over: which = max_t (t * took_over_t). Every step is then a plain vectorised ufunc
    (compare, maximum, multiply, maximum), no masked copies. ``maximum`` lets a NaN into ``best``;
    only then (rare) a second scan puts each NaN window on its last NaN.
    """
    best[...] = taps[0]
    which[...] = 0
    took_over = np.empty(best.shape, dtype=bool)
    number = np.empty(best.shape, dtype=which.dtype)
    for t in range(1, len(taps)):
        np.greater(taps[t], best, out=took_over)
        np.maximum(best, taps[t], out=best)
        np.multiply(took_over, which.dtype.type(t), out=number)
        np.maximum(which, number, out=which)
    if np.isnan(best).any():
        for t, values in enumerate(taps):
            np.isnan(values, out=took_over)
            np.copyto(which, t, where=took_over)


def tap_dtype(count):
    """The smallest signed integer type that numbers ``count`` taps and -1 (no tap)."""
    return np.int8 if count < 128 else np.int32


def max_over_taps(taps, flat_of, first_inside):
    """Maximum over the taps of a window, and the flat input index where it was found.

    ``taps`` lists the values at each window offset for every output (N, C, OH, OW), -inf where the
    offset falls outside the input, in increasing flat-index order; ``flat_of(t)`` maps tap numbers
    to flat input indices; ``first_inside`` (OH, OW) is each window's first element inside the
    input (-1 if none). Ties and NaN as ``scan_taps``; where the maximum is -inf, PyTorch points at
    the window's first element inside the input, not at padding.
    """
    best = np.empty(taps[0].shape, dtype=taps[0].dtype)
    which = np.empty(best.shape, dtype=tap_dtype(len(taps)))
    scan_taps(taps, best, which)
    index = flat_of(which.astype(np.int64))
    stuck = best == -np.inf
    if stuck.any():
        index = np.where(stuck, first_inside, index)
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


class ArgmaxPool(Function):
    """What max pooling ops share: unbatched input, the argmax kept for the backward, and the
    backward routing each output gradient to its argmax (``scatter_argmax`` on the CPU, a gather
    kernel on the GPU).

    A subclass names its kernel file (``kernels/<kernel>.cu`` with ``<kernel>_forward`` and
    ``<kernel>_backward``) and defines ``forward_cpu(x4) -> (y, index)`` and ``kernel_args(in_size)``,
    the int32 arguments both kernels take after their arrays and element count. It may replace
    ``backward_cpu`` (then ``index`` need only be returned when ``self.return_indices``).
    """

    kernel = None

    def forward(self, x, out, return_indices, **window):
        x4, self.unbatched = as_batched(x)
        self.x_shape, self.out, self.window = x.shape, out, window
        self.return_indices = return_indices
        y, self.index = self._forward_gpu(x4) if backend.is_gpu_array(x4) else self.forward_cpu(x4)
        if not return_indices:
            return y[0] if self.unbatched else y
        index = self.index
        return (y[0], index[0]) if self.unbatched else (y, index)

    def _forward_gpu(self, x4):
        xp = backend.get_array_module(x4)
        x4 = xp.ascontiguousarray(x4)
        y = xp.empty(x4.shape[:2] + self.out, dtype=x4.dtype)
        index = xp.empty(y.shape, dtype=xp.int64)
        kernel_fn = backend.load_kernel(self.kernel, self.kernel + "_forward", x4.dtype)
        backend.launch(kernel_fn, y.size, (
            x4, y, index, np.int64(y.size), *self.kernel_args(x4.shape[2:])))
        return y, index

    def backward(self, grad, *unused_index_grad):
        g4 = grad[None] if self.unbatched else grad
        in_shape = (1,) + self.x_shape if self.unbatched else self.x_shape
        if backend.is_gpu_array(g4):
            xp = backend.get_array_module(g4)
            gx = xp.empty(in_shape, dtype=g4.dtype)
            kernel_fn = backend.load_kernel(self.kernel, self.kernel + "_backward", g4.dtype)
            backend.launch(kernel_fn, gx.size, (
                xp.ascontiguousarray(g4), self.index, gx, np.int64(gx.size), *self.kernel_args(in_shape[2:])))
        else:
            gx = self.backward_cpu(g4, in_shape)
        return gx.reshape(self.x_shape)

    def backward_cpu(self, g4, in_shape):
        return scatter_argmax(g4, self.index, in_shape)
