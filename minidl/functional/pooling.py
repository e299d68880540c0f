"""Max and average pooling over sliding windows (and, re-exported from ``adaptive_pooling``, the
adaptive forms that pool into a fixed output size).

Pooling is how the lecture's networks shrink feature maps: AlexNet's overlapping 3x3 stride-2 max
pooling, VGG's 2x2 stride-2 max pooling between its stages, ResNet's 3x3 stride-2 max pooling after
conv1, GoogLeNet's 3x3 stride-1 max pooling branch of the Inception module.

On the CPU the window is walked one kernel offset (kh x kw) at a time over strided slices of the
input, chunks of the batch at a time in the thread pool (``minidl.parallel``); the max-pooling backward
adds each output's gradient to its winning input with one ``np.add.at`` (see ``MaxPool2d``). On the
GPU each op is a hand-written kernel (``kernels/max_pool2d.cu``, ``kernels/avg_pool2d.cu``): one thread
per output in the forward, one thread per input pixel in the backward, which gathers the gradients of
the windows covering it, so no atomics are needed and results are the same run to run.
"""
import numpy as np

from .. import backend
from ..autograd import Function, is_grad_enabled
from .adaptive_pooling import adaptive_avg_pool2d, adaptive_max_pool2d
from ..parallel import run_chunks
from . import validation as check
from .im2col import batch_chunks
from .pooling_common import ArgmaxPool, as_batched, check_input, tap_dtype, window_geometry

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d"]


def _pad_widths(in_size, kernel, stride, padding, dilation, out):
    """(before, after) per spatial axis: ``padding`` on each side, and after it as much as the last
    window needs to be sliced whole (ceil_mode's last window can run past the padding)."""
    return [
        (p, max(p, (o - 1) * s + d * (k - 1) + 1 - n - p))
        for n, k, s, p, d, o in zip(in_size, kernel, stride, padding, dilation, out)
    ]


def _padded(x4, kernel, stride, padding, dilation, out, fill):
    """x4 padded with ``fill`` as the windows need (x4 itself, not a copy, when they need none)."""
    widths = _pad_widths(x4.shape[2:], kernel, stride, padding, dilation, out)
    if not any(before or after for before, after in widths):
        return x4
    return np.pad(x4, ((0, 0), (0, 0), *widths), constant_values=fill)


def _window_slice(offset, stride, count):
    return slice(offset, offset + (count - 1) * stride + 1, stride)


def _first_inside(starts, kernel, dilation, size):
    """For windows starting at ``starts`` along an axis, the position of the first tap inside
    [0, size), or -1 where every tap falls in the padding."""
    first = np.full(starts.shape, -1)
    for i in reversed(range(kernel)):
        pos = starts + i * dilation
        first = np.where((pos >= 0) & (pos < size), pos, first)
    return first


def _geometry_args(in_size, out, kernel, stride, padding, dilation=None):
    """The int32 size and window arguments of the pooling kernels, in their signature's order."""
    values = [*in_size, *out, *kernel, *stride, *padding]
    if dilation is not None:
        values += list(dilation)
    return tuple(np.int32(v) for v in values)


def _tap_views(padded, kernel, stride, dilation, out):
    """The (N, C, OH, OW) strided view of ``padded`` read by each kernel offset, in row-major order."""
    return [
        padded[:, :, _window_slice(i * dilation[0], stride[0], out[0]),
               _window_slice(j * dilation[1], stride[1], out[1])]
        for i in range(kernel[0]) for j in range(kernel[1])
    ]


def _clipped_taps(in_size, out, kernel, stride, padding, dilation):
    """Each tap that some window reads inside the input, as (t, out_rows, out_cols, in_rows, in_cols):
    its number t = i * kw + j, the slices of the outputs whose tap t lies inside the input, and the
    strided slices of the input those taps read. Padding is never materialised."""
    per_axis = []
    for n, o, k, s, p, d in zip(in_size, out, kernel, stride, padding, dilation):
        axis = []
        for i in range(k):
            offset = i * d - p
            lo, hi = max(0, -(offset // s)), min(o, (n - 1 - offset) // s + 1)
            axis.append((slice(lo, hi), slice(lo * s + offset, (hi - 1) * s + offset + 1, s)) if hi > lo else None)
        per_axis.append(axis)
    return [
        (i * kernel[1] + j, rows[0], cols[0], rows[1], cols[1])
        for i, rows in enumerate(per_axis[0]) if rows is not None
        for j, cols in enumerate(per_axis[1]) if cols is not None
    ]


def _first_tap(in_size, out, kernel, stride, padding, dilation):
    """(OH, OW): the tap number of each window's first element inside the input, -1 if none."""
    firsts = []
    for n, o, k, s, p, d in zip(in_size, out, kernel, stride, padding, dilation):
        starts = np.arange(o) * s - p
        pos = _first_inside(starts, k, d, n)
        firsts.append(np.where(pos >= 0, (pos - starts) // d, -1))
    rows, cols = firsts
    return np.where((rows[:, None] >= 0) & (cols[None, :] >= 0), rows[:, None] * kernel[1] + cols[None, :], -1)


def _chunks(x4, copies):
    """Batch chunks of ``x4`` for work that holds about ``copies`` sample-sized arrays per sample (an
    empty batch has no chunks)."""
    return batch_chunks(x4.shape[0], copies * x4[:1].nbytes)


class MaxPool2d(ArgmaxPool):
    """Max pooling. On the CPU the forward scans the window's taps, each over the strided slice of the
    input it reads (clipped to the input: no padded copy), with PyTorch's rule ``val > max || isnan``
    (``pooling_common.scan_taps`` explains the ufunc form), and keeps the winning tap's number, one byte
    per output. The backward turns each winning tap into the flat index of its input pixel and adds the
    output gradients there with one ``np.add.at``, in output order: the order in which the GPU kernel's
    gather adds them, so both give the same sums, for any thread count (each chunk of the batch has
    its own rows of the input gradient). It replaced a gather per stride-phase and tap, three passes
    over the output's size per tap: 3x3/2 pooling of 64 channels at 56x56, batch 32, one thread, from
    about 47 to 27 ms for the backward, PyTorch's scatter of int64 indices about 8 ms. Both run over
    batch chunks in the thread pool."""

    kernel = "max_pool2d"

    def _window(self):
        return tuple(self.window[k] for k in ("kernel", "stride", "padding", "dilation"))

    def forward_cpu(self, x4):
        N, C, H, W = x4.shape
        window = self._window()
        y = np.empty((N, C) + self.out, dtype=x4.dtype)
        self.which = np.empty(y.shape, dtype=tap_dtype(window[0][0] * window[0][1]))
        taps = _clipped_taps((H, W), self.out, *window)
        # a window whose values are all -inf (or all padding: -1) points at its first tap inside the input
        first = _first_tap((H, W), self.out, *window).astype(self.which.dtype)

        # without a backward to come or indices to return, the maximum alone will do
        track = self.return_indices or (is_grad_enabled() and any(self.needs_input_grad))

        def work(a, b):
            best, which = y[a:b], self.which[a:b]
            best.fill(-np.inf)
            which[...] = first
            took_over = np.empty(best.shape, dtype=bool)
            number = np.empty(best.shape, dtype=which.dtype)
            for t, out_rows, out_cols, in_rows, in_cols in taps:
                values, at = x4[a:b, :, in_rows, in_cols], (slice(None), slice(None), out_rows, out_cols)
                if track:
                    np.greater(values, best[at], out=took_over[at])
                np.maximum(best[at], values, out=best[at])
                if track:
                    np.multiply(took_over[at], which.dtype.type(t), out=number[at])
                    np.maximum(which[at], number[at], out=which[at])
            if np.isnan(best).any():
                for t, out_rows, out_cols, in_rows, in_cols in taps:
                    at = (slice(None), slice(None), out_rows, out_cols)
                    np.isnan(x4[a:b, :, in_rows, in_cols], out=took_over[at])
                    np.copyto(which[at], t, where=took_over[at])

        run_chunks(work, _chunks(x4, 2))
        return y, (self._flat_index(W) if self.return_indices else None)

    def _flat_index(self, W):
        """PyTorch's indices: the flat position h * W + w of each window's winning tap (-1 if none)."""
        kernel, stride, padding, dilation = self._window()
        i, j = np.divmod(self.which.astype(np.int64), kernel[1])
        rows = (np.arange(self.out[0]) * stride[0] - padding[0])[:, None] + i * dilation[0]
        cols = (np.arange(self.out[1]) * stride[1] - padding[1])[None, :] + j * dilation[1]
        return np.where(self.which >= 0, rows * W + cols, -1)

    def backward_cpu(self, g4, in_shape):
        N, C, H, W = in_shape
        kernel, stride, padding, dilation = self._window()
        # flat input index of each output's winning tap = its (n, c) plane's start + its window's corner
        # + the tap's offset from the corner
        i, j = np.divmod(np.arange(kernel[0] * kernel[1]), kernel[1])
        tap_offset = i * dilation[0] * W + j * dilation[1]
        corner = ((np.arange(self.out[0]) * stride[0] - padding[0])[:, None] * W
                  + (np.arange(self.out[1]) * stride[1] - padding[1])[None, :])
        gx = np.empty(in_shape, dtype=g4.dtype)

        def work(a, b):
            which = self.which[a:b]
            index = tap_offset[np.maximum(which, 0)]
            index += corner
            index += (np.arange((b - a) * C) * (H * W)).reshape(b - a, C, 1, 1)
            target = gx[a:b].reshape(-1)
            target.fill(0)
            g = g4[a:b]
            if (which < 0).any():  # windows wholly in the padding pass no gradient on
                index, g = index[which >= 0], g[which >= 0]
            # in output order, as the GPU kernel's gather adds them: the same sums, bit for bit
            np.add.at(target, index.ravel(), g.ravel())

        run_chunks(work, _chunks(gx, 3))
        return gx

    def kernel_args(self, in_size):
        return _geometry_args(in_size, self.out, **self.window)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling: each output is the largest input in its window.

        y[n, c, i, j] = max_{a < kh, b < kw}  x_pad[n, c, i*sh + a*dh, j*sw + b*dw]

    where ``x_pad`` is ``x`` padded by ``padding`` with -inf (padding never wins). Output size per
    axis (PyTorch's rule)::

        out = floor((in + 2*padding - dilation*(kernel_size - 1) - 1 + (stride - 1 if ceil_mode))
                    / stride) + 1

    and with ``ceil_mode``, ``out`` drops by one when the last window would start in the right
    padding, i.e. when ``(out - 1) * stride >= in + padding``.

    Args:
        x: (N, C, H, W) or unbatched (C, H, W), floating point.
        kernel_size, stride, padding, dilation: an int or an (h, w) pair; ``stride`` defaults to
            ``kernel_size``; ``padding`` at most ``kernel_size // 2``.
        ceil_mode: round the output size up instead of down.
        return_indices: also return the argmax of each window, the flat index ``h * W + w`` into the
            (H, W) input plane, int64, as PyTorch's ``indices`` (for ``max_unpool2d``).

    Returns (N, C, out_h, out_w) (and the indices of the same shape). On ties the first index in
    row-major order wins; a NaN in a window propagates to the output. The gradient flows only to each
    window's argmax and sums where overlapping windows pick the same element. In the corner case of a
    dilated window whose taps all fall in the padding, the output is -inf, the index -1 and no
    gradient flows.
    """
    op = "max_pool2d"
    check_input(x, op)
    kernel, stride, padding, dilation, out = window_geometry(
        op, x, kernel_size, stride, padding, dilation, ceil_mode
    )
    return_indices = check.flag(return_indices, "return_indices", op)
    with check.memory_for(op, f"windows of {kernel} with dilation {dilation} and stride {stride}"):
        return MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=padding, dilation=dilation, out=out,
                               return_indices=return_indices)


def _avg_divisor(in_size, out, kernel, stride, padding, count_include_pad, divisor_override):
    """(OH, OW) divisors of average pooling: the window size clipped to the padded input (counting
    padding) or to the input (not counting it), or ``divisor_override``."""
    if divisor_override is not None:
        return np.full(out, float(divisor_override))
    counts = []
    for n, o, k, s, p in zip(in_size, out, kernel, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            counts.append(end - start)
        else:
            counts.append(np.minimum(end, n) - np.maximum(start, 0))
    return np.outer(counts[0], counts[1]).astype(np.float64)


class AvgPool2d(Function):
    def forward(self, x, kernel, stride, padding, out, count_include_pad, divisor_override):
        x4, self.unbatched = as_batched(x)
        self.x_shape = x.shape
        self.geometry = (out, kernel, stride, padding)
        self.divisor_options = (count_include_pad, divisor_override)
        if backend.is_gpu_array(x4):
            y = self._launch("avg_pool2d_forward", x4, x4.shape[:2] + out)
        else:
            y = np.empty(x4.shape[:2] + out, dtype=x4.dtype)
            divisor = self._divisor(x4.shape[2:]).astype(x4.dtype)

            def work(a, b):
                padded = _padded(x4[a:b], kernel, stride, padding, (1, 1), out, 0)
                taps = _tap_views(padded, kernel, stride, (1, 1), out)
                y[a:b] = taps[0]
                for tap in taps[1:]:
                    y[a:b] += tap
                y[a:b] /= divisor

            run_chunks(work, _chunks(x4, 2))
        return y[0] if self.unbatched else y

    def _divisor(self, in_size):
        out, kernel, stride, padding = self.geometry
        return _avg_divisor(in_size, out, kernel, stride, padding, *self.divisor_options)

    def _launch(self, name, source, out_shape):
        out, kernel, stride, padding = self.geometry
        xp = backend.get_array_module(source)
        result = xp.empty(out_shape, dtype=source.dtype)
        in_size = (out_shape if name.endswith("backward") else source.shape)[2:]
        count_include_pad, divisor_override = self.divisor_options
        kernel_fn = backend.load_kernel("avg_pool2d", name, source.dtype)
        backend.launch(kernel_fn, result.size, (
            xp.ascontiguousarray(source), result, np.int64(result.size),
            *_geometry_args(in_size, out, kernel, stride, padding),
            np.int32(count_include_pad), np.int32(divisor_override or 0)))
        return result

    def backward(self, grad):
        g4 = grad[None] if self.unbatched else grad
        in_shape = (1,) + self.x_shape if self.unbatched else self.x_shape
        if backend.is_gpu_array(g4):
            gx = self._launch("avg_pool2d_backward", g4, in_shape)
        else:
            out, kernel, stride, padding = self.geometry
            divisor = self._divisor(in_shape[2:]).astype(g4.dtype)
            widths = _pad_widths(in_shape[2:], kernel, stride, padding, (1, 1), out)
            padded_size = tuple(n + before + after for n, (before, after) in zip(in_shape[2:], widths))
            H, W = in_shape[2:]
            gx = np.empty(in_shape, dtype=g4.dtype)

            def work(a, b):
                scaled = g4[a:b] / divisor
                gpad = np.zeros((b - a, in_shape[1]) + padded_size, dtype=g4.dtype)
                for view in _tap_views(gpad, kernel, stride, (1, 1), out):
                    view += scaled
                gx[a:b] = gpad[:, :, padding[0]:padding[0] + H, padding[1]:padding[1] + W]

            run_chunks(work, _chunks(gx, 2))
        return gx.reshape(self.x_shape)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling: each output is the mean of its window.

        y[n, c, i, j] = (1 / D[i, j]) * sum_{a < kh, b < kw}  x_pad[n, c, i*sh + a, j*sw + b]

    with ``x_pad`` zero-padded by ``padding``. The divisor ``D`` (PyTorch's rules): the window size
    clipped to the padded input when ``count_include_pad`` (padding zeros count, the overhang of a
    ceil_mode window past the padding does not), the number of input elements in the window when not,
    and ``divisor_override`` whenever it is given. Output size as ``max_pool2d`` with dilation 1::

        out = floor((in + 2*padding - kernel_size + (stride - 1 if ceil_mode)) / stride) + 1

    (less one under ceil_mode when the last window would start in the right padding).

    Args:
        x: (N, C, H, W) or unbatched (C, H, W), floating point.
        kernel_size, stride, padding: an int or an (h, w) pair; ``stride`` defaults to
            ``kernel_size``; ``padding`` at most ``kernel_size // 2``.
        divisor_override: a non-zero int used as the divisor of every window.

    Returns (N, C, out_h, out_w). The gradient of each output spreads over its window divided by
    the same divisor.
    """
    op = "avg_pool2d"
    check_input(x, op)
    kernel, stride, padding, _, out = window_geometry(op, x, kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = check.flag(count_include_pad, "count_include_pad", op)
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or isinstance(divisor_override, bool):
            raise TypeError(f"{op}: divisor_override must be an int or None, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must not be zero")
    with check.memory_for(op, f"windows of {kernel} with stride {stride}"):
        return AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=padding, out=out,
                               count_include_pad=count_include_pad,
                               divisor_override=None if divisor_override is None else int(divisor_override))
