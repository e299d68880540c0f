"""Adaptive pooling: pool any input size into a fixed output size.

Output bin i along an axis of input size ``n`` and output size ``o`` covers the inputs

    start(i) = floor(i * n / o)  <=  h  <  end(i) = ceil((i + 1) * n / o)

(PyTorch's bins: they tile the input exactly when o divides n, and overlap by one element or
repeat otherwise). This is how AlexNet ends in (6, 6) and VGG in (7, 7) whatever the image size, and
how ResNet and GoogLeNet pool globally with (1, 1).

Average pooling over such bins is separable and linear: ``y = P_h x P_w^T`` with P[i, h] =
1 / (end(i) - start(i)) inside bin i, so it is two matrix products on either device, and so is its
backward ``P_h^T g P_w``. A product would spread a NaN or inf to every bin (0 * NaN is NaN), so when the
input holds any, they are left out of the product and put back into the bins that contain them, as
a direct mean over the bin gives (NaN; +-inf; NaN for +inf with -inf).

Max pooling records the argmax per bin; on the GPU it is a hand-written
kernel (``kernels/adaptive_max_pool2d.cu``), gather-style in the backward as ``max_pool2d``.
"""
import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import _fmt
from . import validation as check
from .pooling_common import ArgmaxPool, check_input, max_over_taps


def _bins(in_size, out_size):
    """(start, end) arrays of the ``out_size`` bins over ``in_size`` inputs."""
    i = np.arange(out_size)
    return (i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)


def _output_size(op, x, output_size):
    """``output_size`` (an int, or a pair of ints or None meaning "as the input") as ``(OH, OW)``."""
    if output_size is None:
        raise TypeError(f"{op}: output_size must be an int or a pair of ints (None only inside the pair), got None")
    items = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(items) == 1:
        items = items * 2
    ok = len(items) == 2 and all(v is None or check.is_int(v) for v in items)
    if not ok:
        raise TypeError(
            f"{op}: output_size must be an int or a pair of ints (or None), got {output_size!r}"
        )
    out = tuple(int(n) if v is None else int(v) for v, n in zip(items, x.shape[-2:]))
    if min(out) < 1:
        raise ValueError(
            f"{op}: output_size must be at least 1, got {out} for input of shape {_fmt(x.shape)}"
        )
    return out


def _bin_matrix(in_size, out_size, xp, dtype):
    """P (out_size, in_size): row i averages bin i."""
    start, end = _bins(in_size, out_size)
    h = np.arange(in_size)
    inside = (h[None, :] >= start[:, None]) & (h[None, :] < end[:, None])
    return xp.asarray(inside / (end - start)[:, None], dtype=dtype)


class AdaptiveAvgPool2d(Function):
    def forward(self, x, out):
        xp = backend.get_array_module(x)
        self.rows = _bin_matrix(x.shape[-2], out[0], xp, x.dtype)
        self.cols = _bin_matrix(x.shape[-1], out[1], xp, x.dtype)
        finite = xp.isfinite(x)
        if bool(finite.all()):
            return self.rows @ x @ self.cols.T
        y = self.rows @ xp.where(finite, x, 0) @ self.cols.T

        def in_bin(mask):
            return (self.rows @ mask.astype(x.dtype) @ self.cols.T) > 0

        up, down = in_bin(x == np.inf), in_bin(x == -np.inf)
        y = xp.where(up, np.inf, xp.where(down, -np.inf, y)).astype(x.dtype, copy=False)
        return xp.where(in_bin(xp.isnan(x)) | (up & down), np.nan, y).astype(x.dtype, copy=False)

    def backward(self, grad):
        return self.rows.T @ grad @ self.cols


def adaptive_avg_pool2d(x, output_size):
    """Average over adaptive bins::

        y[n, c, i, j] = mean of x[n, c, start_h(i):end_h(i), start_w(j):end_w(j)]

    Args:
        x: (N, C, H, W) or unbatched (C, H, W), floating point.
        output_size: ``(OH, OW)`` or an int for both; a None entry keeps that input size.

    Returns (N, C, OH, OW) (or (C, OH, OW)). Bins as in the module docstring.
    """
    op = "adaptive_avg_pool2d"
    check_input(x, op)
    out = _output_size(op, x, output_size)
    with check.memory_for(op, f"an output of size {out}"):
        return AdaptiveAvgPool2d.apply(x, out=out)


class AdaptiveMaxPool2d(ArgmaxPool):
    kernel = "adaptive_max_pool2d"

    def kernel_args(self, in_size):
        return tuple(np.int32(v) for v in tuple(in_size) + self.out)

    def forward_cpu(self, x4):
        if x4.shape[2] % self.out[0] == 0 and x4.shape[3] % self.out[1] == 0:
            return self._forward_tiled(x4)
        return self._forward_overlapping(x4)

    def _forward_tiled(self, x4):
        """Bins that tile the input: one reduction over each bin's (bh * bw) elements."""
        N, C, H, W = x4.shape
        (OH, OW) = self.out
        bh, bw = H // OH, W // OW
        windows = x4.reshape(N, C, OH, bh, OW, bw).transpose(0, 1, 2, 4, 3, 5)
        windows = windows.reshape(N, C, OH, OW, bh * bw)
        y = windows.max(axis=-1)
        pos = windows.argmax(axis=-1)
        nan = np.isnan(y)
        if nan.any():
            # argmax gives the first NaN; PyTorch's scan keeps the last one
            last_nan = bh * bw - 1 - np.isnan(windows[..., ::-1]).argmax(axis=-1)
            pos = np.where(nan, last_nan, pos)
        rows = np.arange(OH)[:, None] * bh + pos // bw
        cols = np.arange(OW)[None, :] * bw + pos % bw
        return y, rows * W + cols

    def _forward_overlapping(self, x4):
        """Overlapping bins: a running max over offsets within the largest bin, masked per bin."""
        H, W = x4.shape[2:]
        row_start, row_end = _bins(H, self.out[0])
        col_start, col_end = _bins(W, self.out[1])

        bin_h, bin_w = int((row_end - row_start).max()), int((col_end - col_start).max())
        taps = []
        for a in range(bin_h):
            r = row_start + a
            for b in range(bin_w):
                c = col_start + b
                values = x4[:, :, np.minimum(r, H - 1)[:, None], np.minimum(c, W - 1)[None, :]]
                inside = (r < row_end)[:, None] & (c < col_end)[None, :]
                taps.append(np.where(inside, values, -np.inf).astype(x4.dtype, copy=False))

        def flat_of(tap):
            a, b = np.divmod(tap, bin_w)
            return (row_start[:, None] + a) * W + col_start[None, :] + b

        return max_over_taps(taps, flat_of, row_start[:, None] * W + col_start[None, :])


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Maximum over adaptive bins::

        y[n, c, i, j] = max of x[n, c, start_h(i):end_h(i), start_w(j):end_w(j)]

    Args:
        x: (N, C, H, W) or unbatched (C, H, W), floating point.
        output_size: ``(OH, OW)`` or an int for both; a None entry keeps that input size.
        return_indices: also return each bin's argmax as the flat index ``h * W + w`` into the input
            plane (int64), as PyTorch.

    Returns (N, C, OH, OW) (and the indices). Ties and NaN as ``max_pool2d``: the first maximum wins,
    a NaN propagates. The gradient flows to each bin's argmax, summed where overlapping bins share it.
    """
    op = "adaptive_max_pool2d"
    check_input(x, op)
    out = _output_size(op, x, output_size)
    return_indices = check.flag(return_indices, "return_indices", op)
    with check.memory_for(op, f"an output of size {out}"):
        return AdaptiveMaxPool2d.apply(x, out=out, return_indices=return_indices)
