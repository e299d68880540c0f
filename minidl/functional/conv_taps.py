"""A convolution as a sum over its kernel's taps of 1x1 convolutions of shifted inputs, made only where
the tap reads the input and not its padding.

Each kernel offset (i, j), a *tap*, contributes one matrix product of W[:, :, i, j] (C_out x C) with
the input pixels it reads:

    out[n, :, oh, ow] = sum_{i, j} W[:, :, i, j] x_pad[n, :, oh s_h + i d_h, ow s_w + j d_w]

A tap that reads padding contributes zero, so each product is made only over the rectangle R_ij of
outputs whose tap (i, j) falls inside the input (one strided slice of x). im2col's single GEMM
multiplies those zeros too: a 3x3 convolution with padding 1 on a 2x2 map, the last stage of a
ResNet at 64x64, reads the input at 16 of its 9 * 4 = 36 (output, tap) pairs, so 20/36 of the GEMM's
work is multiplying padding. ``useful_fraction`` measures it, and ``choose`` in ``winograd.py``
takes this algorithm where the fraction is small.

Gradients, over the same rectangles (G the output gradient):

    dx[n, :, in_ij(o)] += W[:, :, i, j]^T G[n, :, o]          for o in R_ij
    dW[:, :, i, j] = sum_{n, o in R_ij} G[n, :, o] x[n, :, in_ij(o)]^T

The forward and the input gradient run over batch chunks in the thread pool (each chunk its own
samples); the weight gradient over the taps (each tap its own slice of dW), so no sum depends on the
thread count. One group only (``groups=1``).
"""
import numpy as np

from .. import backend
from ..parallel import run_chunks
from .im2col import for_batch_chunks, transposed


def _axis_taps(size, out, kernel, stride, pad, dilation):
    """Along one axis, for each tap offset i: (outputs slice, input slice) of the outputs whose tap i
    lies inside [0, size), or None when none does."""
    taps = []
    for i in range(kernel):
        shift = i * dilation - pad                      # input position = o * stride + shift
        lo = max(0, -(shift // stride))                 # first o with o * stride + shift >= 0
        hi = min(out, (size - 1 - shift) // stride + 1)  # past the last o with position < size
        if hi <= lo:
            taps.append(None)
            continue
        start = lo * stride + shift
        taps.append((slice(lo, hi), slice(start, start + (hi - lo - 1) * stride + 1, stride)))
    return taps


def taps(geo):
    """Each tap that reads the input somewhere: (i, j, output rows, output columns, input rows, input
    columns), the slices of its rectangle R_ij and of the input pixels it reads there."""
    rows = _axis_taps(geo.h, geo.oh, geo.kh, geo.sh, geo.pt, geo.dh)
    cols = _axis_taps(geo.w, geo.ow, geo.kw, geo.sw, geo.pl, geo.dw)
    return [(i, j, r[0], c[0], r[1], c[1])
            for i, r in enumerate(rows) if r is not None
            for j, c in enumerate(cols) if c is not None]


def useful_fraction(geo):
    """The share of im2col's (output, tap) pairs that read the input rather than padding."""
    pairs = sum((r.stop - r.start) * (c.stop - c.start) for _, _, r, c, _, _ in taps(geo))
    return pairs / (geo.taps * geo.out_pixels)


# 'auto' takes the per-tap products on the CPU where at most this share of im2col's (output, tap) pairs
# read the input, for inputs of at least MIN_CHANNELS channels (measured: see ``chosen``)
USEFUL_FRACTION_AT_MOST = 0.5
MIN_CHANNELS = 16


def chosen(geo, groups, x, algorithm):
    """Whether conv2d runs by taps: forced by ``set_conv_algorithm('taps')`` (one group), or under
    'auto' on the CPU when padding is a large part of im2col's work, ``useful_fraction(geo) <= 0.5``,
    and the input has at least 16 channels. Measured (forward + backward, float32, 2-core x86, batch 32,
    by taps against im2col with the batch-last columns of small maps, one thread / two threads):
    512 -> 512 channels on 2x2 maps (fraction 0.44) 22 / 15 against 31 / 18 ms; on 1x1 maps (0.11)
    6.6 / 6.4 against 17 / 13 ms; 256 -> 256 on 2x2, 6.2 / 5.3 against 8.6 / 6.4 ms; but 256 -> 512 at
    4x4, stride 2 (0.69) even (16.6 / 10.9 against 16.3 / 10.3 ms), 128 -> 128 at 4x4, stride 1 (0.69)
    10.2 / 7.7 against 7.4 / 7.1 ms, 128 -> 256 at 8x8, stride 2 (0.84) 18 / 12 against 14 / 8 ms, and a
    7x7 stem on 3 channels, 49 products with 3 channels each, 324 against 44 ms (one thread)."""
    if groups != 1 or algorithm not in ("auto", "taps"):
        return False
    if algorithm == "taps":
        return True
    return (not backend.is_gpu_array(x) and x.shape[1] >= MIN_CHANNELS
            and useful_fraction(geo) <= USEFUL_FRACTION_AT_MOST)


def tap_weights(w):
    """W (C_out, C, kh, kw) as (kh, kw, C_out, C), each tap's matrix contiguous: made once in the forward
    and kept for the input gradient (the banded ``transposed`` of the (C_out C, kh kw) view)."""
    c_out, c, kh, kw = w.shape
    return transposed(w.reshape(c_out * c, kh * kw)).reshape(kh, kw, c_out, c)


def _block(a, rows, cols):
    """a[:, :, rows, cols] of an (N, C, H, W) array as a (C, N * h * w) matrix (a copy)."""
    block = a[:, :, rows, cols]
    return block.transpose(1, 0, 2, 3).reshape(a.shape[1], -1)


def _add_block(target, rows, cols, product, n):
    """target[:, :, rows, cols] += product, product a (C, n * h * w) matrix."""
    view = target[:, :, rows, cols]
    view += product.reshape(target.shape[1], n, view.shape[2], view.shape[3]).transpose(1, 0, 2, 3)


def _sum_over_taps(source, matrices, target, found, forward):
    """For every tap, target[:, :, out] += W_ij @ source[:, :, in] (``forward``), or the adjoint
    target[:, :, in] += W_ij^T @ source[:, :, out]; over batch chunks in the thread pool. ``matrices``
    is ``tap_weights(W)`` and ``found`` is ``taps(geo)``."""
    xp = backend.get_array_module(source)
    n = source.shape[0]

    def work(a, b):
        for i, j, out_rows, out_cols, in_rows, in_cols in found:
            if forward:
                product = xp.matmul(matrices[i, j], _block(source[a:b], in_rows, in_cols))
                _add_block(target[a:b], out_rows, out_cols, product, b - a)
            else:
                product = xp.matmul(matrices[i, j].T, _block(source[a:b], out_rows, out_cols))
                _add_block(target[a:b], in_rows, in_cols, product, b - a)

    for_batch_chunks(work, n, source[:1].nbytes + target[:1].nbytes, xp)
    return target


def correlate(x, wt, geo):
    """conv2d without bias: x (N, C, H, W), wt = tap_weights(W) (kh, kw, C_out, C) -> (N, C_out, OH, OW)."""
    xp = backend.get_array_module(x)
    out = xp.zeros((x.shape[0], wt.shape[2], geo.oh, geo.ow), dtype=x.dtype)
    return _sum_over_taps(x, wt, out, taps(geo), forward=True)


def correlate_adjoint(y, wt, geo):
    """conv2d's input gradient: y (N, C_out, OH, OW), wt = tap_weights(W) -> (N, C, H, W)."""
    xp = backend.get_array_module(y)
    dx = xp.zeros((y.shape[0], wt.shape[3], geo.h, geo.w), dtype=y.dtype)
    return _sum_over_taps(y, wt, dx, taps(geo), forward=False)


def correlate_weight_grad(x, y, geo, w_shape):
    """dW (C_out, C, kh, kw) for output gradient y: one product per tap, over its rectangle."""
    xp = backend.get_array_module(x)
    dw = xp.zeros((w_shape[2], w_shape[3], w_shape[0], w_shape[1]), dtype=x.dtype)
    found = taps(geo)

    def work(a, b):
        for i, j, out_rows, out_cols, in_rows, in_cols in found[a:b]:
            xp.matmul(_block(y, out_rows, out_cols), _block(x, in_rows, in_cols).T, out=dw[i, j])

    if xp is np:
        run_chunks(work, [(k, k + 1) for k in range(len(found))])
    else:
        work(0, len(found))
    # laid out as W by a 2-D transposed copy (kh kw, C_out C) -> (C_out C, kh kw): a third of the time
    # of the 4-D transposed copy that gives the same array
    return transposed(dw.reshape(w_shape[2] * w_shape[3], -1)).reshape(w_shape)
