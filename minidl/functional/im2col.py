"""im2col and col2im: the two data movements that turn a convolution into one matrix product.

A convolution of an input x (N, C, H, W) with a kernel of size (kh, kw), stride s, padding p and
dilation d reads, for every output position (oh, ow) and kernel offset (i, j), the padded input pixel

    x_pad[n, c, oh * s_h + i * d_h, ow * s_w + j * d_w].

im2col copies those pixels into a column matrix

    cols[(c, i, j), (n, oh, ow)]      shape (C * kh * kw, N * OH * OW)

so that conv2d is a single GEMM  out[co, (n, oh, ow)] = sum_k W[co, k] cols[k, (n, oh, ow)].
The batch sits inside the columns (not in front of them) so that one large matrix product, and one for
the weight gradient  dW = G cols^T (G the output gradient), does the work whatever the spatial size is.

col2im is its adjoint: every column entry is added back to the input pixel it was read from. It gives
conv2d's input gradient and is the forward of conv_transpose2d.

On the CPU both are a loop over the kh * kw kernel offsets, each moving one strided slice of the whole
chunk. For small outputs (``batch_last``: 16 pixels or fewer) the CPU orders the columns (oh, ow, n)
instead, the batch innermost, so that each slice moves runs of OW * N numbers rather than OW. On the GPU
they are the kernels ``kernels/im2col.cu`` (one thread per column entry) and ``kernels/col2im.cu`` (one
thread per input pixel, gathering the column entries that map to it, so the sums need no atomics and
are identical run to run).

Memory: a column matrix is kh * kw times larger than its input, so the callers work on chunks of the
batch holding at most ``get_im2col_budget()`` bytes of columns (see ``batch_chunks``).
"""
import threading

import numpy as np

from .. import backend
from ..parallel import SHARES, pieces, run_chunks

DEFAULT_IM2COL_BUDGET = 256 * 2**20

# the bytes of intermediate data (columns, transformed tiles) one chunk aims at: a few MiB stay in the
# last-level cache between the copy that writes them and the GEMM that reads them, and a batch makes
# several chunks for the thread pool to share (measured on a 2-core x86 machine, one thread, 3x3
# convolution 64 -> 64 at 32x32, batch 32: im2col + GEMM 10-20% faster in 1-8 MiB chunks than in 32 MiB
# ones; Winograd alike from 0.5 to 8 MiB)
CHUNK_BYTES = 8 * 2**20

# the number of chunks of a batch is rounded up to a multiple of this (``parallel.SHARES``: the machine's
# cores), so that each of the pool's threads gets as many samples at any thread count up to it
CHUNK_MULTIPLE = SHARES

_budget = DEFAULT_IM2COL_BUDGET


def set_im2col_budget(nbytes):
    """Bound the bytes of column matrix a convolution holds at once (default 256 MiB).

    The batch is split into chunks of ``max(1, nbytes // bytes_per_sample)`` samples, so a single
    sample whose columns exceed the budget is still processed (the budget cannot go below one sample).
    It also frees this thread's cached scratch buffers, which may have grown to the old budget.
    """
    global _budget
    if not isinstance(nbytes, (int, np.integer)) or isinstance(nbytes, bool) or nbytes < 1:
        raise ValueError(f"set_im2col_budget: expected a positive number of bytes, got {nbytes!r}")
    _budget = int(nbytes)
    _workspace.buffers = None


def get_im2col_budget():
    return _budget


_workspace = threading.local()


def scratch(name, shape, dtype, xp=np):
    """An uninitialised array for intermediate data named ``name`` (columns, tiles, ...), valid until
    the next request for the same name in this thread.

    On the CPU a fresh multi-megabyte array costs as much in page faults as filling it does, so the
    intermediates of successive convolutions reuse one buffer per name and thread (grown to the largest
    chunk seen, which the chunk size and the im2col budget bound). CuPy's memory pool already recycles
    device memory.
    """
    if xp is not np:
        return xp.empty(shape, dtype=dtype)
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buffers = getattr(_workspace, "buffers", None)
    if buffers is None:
        buffers = _workspace.buffers = {}
    buffer = buffers.get(name)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = buffers[name] = np.empty(nbytes, dtype=np.uint8)
    return buffer[:nbytes].view(dtype).reshape(shape)


def column_buffer(shape, dtype, xp=np):
    """The column matrix's ``scratch`` buffer: valid until the next call in this thread."""
    return scratch("columns", shape, dtype, xp)


def zeroed_scratch(name, shape, dtype):
    """``scratch`` filled with zeros (CPU): a padded copy's border without fresh pages."""
    buffer = scratch(name, shape, dtype)
    buffer.fill(0)
    return buffer


def batch_chunks(batch, bytes_per_sample, budget=None, cpu=True):
    """(start, stop) ranges covering ``range(batch)`` whose columns each fit the budget and, on the CPU,
    the thread pool's ``CHUNK_BYTES`` (at least one sample each).

    The chunks are as equal as the batch allows (their sizes differ by at most one sample) and, on the
    CPU, their number is a multiple of ``CHUNK_MULTIPLE`` (while the batch has that many samples), so
    that the pool's threads finish together: 32 samples at 14 to a chunk were 14 + 14 + 4, which left
    one thread idle for most of the last chunk; now they are 4 chunks of 8. They depend on the shapes
    and the machine's core count only, never on the thread count (see ``minidl.parallel``)."""
    if batch <= 0:
        return []
    budget = _budget if budget is None else budget
    most = max(1, (min(budget, CHUNK_BYTES) if cpu else budget) // max(1, bytes_per_sample))
    count = -(-batch // most)
    if cpu:
        # a multiple of the cores (a shape rule, the same for every thread count): a late layer whose
        # whole batch fits one chunk still gives the pool's threads work, and no product runs with
        # OpenBLAS's own threads, whose spinning afterwards would take a core from the pool
        count = min(batch, -(-count // CHUNK_MULTIPLE) * CHUNK_MULTIPLE)
    size, larger = divmod(batch, count)
    bounds = [0]
    for k in range(count):
        bounds.append(bounds[-1] + size + (k < larger))
    return list(zip(bounds[:-1], bounds[1:]))


def for_batch_chunks(work, batch, bytes_per_sample, xp):
    """``[work(a, b) for (a, b) in batch_chunks(...)]``: on the CPU in the thread pool, on the GPU in
    order on the current stream (the device is already parallel; its chunks need only fit the budget)."""
    if xp is np:
        return run_chunks(work, batch_chunks(batch, bytes_per_sample))
    return [work(a, b) for a, b in batch_chunks(batch, bytes_per_sample, cpu=False)]


def sum_in_chunk_order(parts, shape, xp, dtype):
    """The chunks' partial sums (``for_batch_chunks``' results) added in chunk order, so the same bits for
    any thread count; zeros of ``shape`` for an empty batch. The first part is added into."""
    if not parts:
        return xp.zeros(shape, dtype=dtype)
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total


# a band of ``transposed`` holds about this many bytes of source rows (at least 64 rows)
BAND_BYTES = 128 * 2**10


def transposed(a, rows=None):
    """``a.swapaxes(-1, -2)`` as a new contiguous array, copied a band of ``rows`` rows at a time.

    On the CPU a band's source rows stay in cache while they are written out as columns; NumPy's
    one-shot transposed copy of a 4608 x 512 float32 matrix (a 3x3 512-channel weight) took 4x longer
    (40 ms against 10 ms on a 2-core x86 machine). By default a band is ``BAND_BYTES`` of rows, at least
    64: 64 rows of 512, 3640 rows of 9 (a 512-channel 3x3 weight's (C_out C, 9) view: 1.4 ms against
    3.7 ms for NumPy's copy and 6.8 ms in bands of 64 rows, whose Python loop then runs 4096 times).
    """
    xp = backend.get_array_module(a)
    if xp is not np:
        return xp.ascontiguousarray(a.swapaxes(-1, -2))
    if rows is None:
        rows = max(64, BAND_BYTES // max(1, a.shape[-1] * a.itemsize))
    out = np.empty(a.shape[:-2] + (a.shape[-1], a.shape[-2]), dtype=a.dtype)

    def work(first, last):  # the bands of rows first:last (large arrays: shared out over the pool)
        for start in range(first, last, rows):
            stop = min(start + rows, last)
            out[..., start:stop] = a[..., start:stop, :].swapaxes(-1, -2)

    run_chunks(work, pieces(a.shape[-2], a.size, align=rows))
    return out


class Geometry:
    """Where a convolution's windows sit: kernel, stride, padding (top, bottom, left, right), dilation,
    the input size (H, W) and the output size (OH, OW).

    The output size is passed in rather than derived, because a transposed convolution with
    output_padding >= stride (allowed when dilation > stride) has rows no window reaches.
    """

    def __init__(self, kernel, stride, padding, dilation, in_size, out_size):
        self.kh, self.kw = kernel
        self.sh, self.sw = stride
        self.pt, self.pb, self.pl, self.pr = padding
        self.dh, self.dw = dilation
        self.h, self.w = in_size
        self.oh, self.ow = out_size

    @property
    def taps(self):
        return self.kh * self.kw

    @property
    def out_pixels(self):
        return self.oh * self.ow

    def is_pointwise(self):
        """A 1x1 kernel with stride 1, no padding and no extra output rows (a transposed convolution's
        output_padding): the columns are the input itself."""
        return (
            (self.kh, self.kw, self.sh, self.sw) == (1, 1, 1, 1)
            and not any((self.pt, self.pb, self.pl, self.pr))
            and (self.h, self.w) == (self.oh, self.ow)
        )

    def window_slices(self, i, j):
        """The rows and columns of the padded input read by kernel offset (i, j)."""
        top, left = i * self.dh, j * self.dw
        return (
            slice(top, top + self.sh * (self.oh - 1) + 1, self.sh),
            slice(left, left + self.sw * (self.ow - 1) + 1, self.sw),
        )

    def padded_size(self):
        return self.h + self.pt + self.pb, self.w + self.pl + self.pr


# an output of at most this many pixels per channel is "small": its columns are laid out with the batch
# innermost (``im2col(..., batch_last=True)``), see ``batch_last``
SMALL_MAP = 16


def batch_last(geo, xp):
    """Whether a convolution's columns on the CPU put the batch innermost, (C kh kw, OH OW N) rather than
    (C kh kw, N OH OW): for outputs of at most ``SMALL_MAP`` pixels (4 x 4 and smaller). Each of im2col's
    and col2im's kh kw slice copies then moves runs of OW N contiguous numbers instead of OW: on a 4 x 4
    map, runs of 4 numbers left NumPy's copy loop mostly overhead. Measured on a 2-core x86 machine, one
    thread, 3x3 convolution forward + backward at batch 32: 128 -> 128 channels at 4 x 4, 10.9 -> 5.5 ms;
    512 -> 512 at 2 x 2, 40.7 -> 32.6 ms; 128 -> 128 at 8 x 8, 28.5 -> 22.8 ms, where Winograd F(4x4)
    takes 18.9 ms; at 16 x 16 the batch-last layout was slower (40 against 36 ms, 64 channels). The GPU
    kernels keep the standard layout."""
    return xp is np and geo.out_pixels <= SMALL_MAP


def _layout(geo, n, c, batch_last):
    """The padded image's and the columns' shapes in memory, and the axes that view them in the standard
    order, (C, N, H, W) and (C, kh, kw, N, OH, OW): with ``batch_last`` the memory holds (C, H, W, N) and
    (C, kh, kw, OH, OW, N). Both functions below work on the standard views; NumPy's copies follow the
    memory order of the arrays they write."""
    hp, wp = geo.padded_size()
    if batch_last:
        return (c, hp, wp, n), (0, 3, 1, 2), (c, geo.kh, geo.kw, geo.oh, geo.ow, n), (0, 1, 2, 5, 3, 4)
    return (c, n, hp, wp), (0, 1, 2, 3), (c, geo.kh, geo.kw, n, geo.oh, geo.ow), (0, 1, 2, 3, 4, 5)


def im2col(x, geo, batch_last=False):
    """Columns (C * kh * kw, N * OH * OW) of the input x (N, C, H, W) for geometry ``geo``, the columns in
    (n, oh, ow) order, or with ``batch_last`` (CPU only) in (oh, ow, n) order.

    On the CPU they live in the shared ``column_buffer``: use them before the next im2col.
    """
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    if xp is not np:
        return _im2col_gpu(x, geo)
    image_shape, image_axes, cols_shape, cols_axes = _layout(geo, n, c, batch_last)
    xt = x.transpose(1, 0, 2, 3)
    pads = geo.pt or geo.pb or geo.pl or geo.pr
    if pads or batch_last:  # a copy in the layout's order, zero-padded (the standard order needs none unpadded)
        padded = (zeroed_scratch if pads else scratch)("padded", image_shape, x.dtype).transpose(image_axes)
        padded[:, :, geo.pt:geo.pt + geo.h, geo.pl:geo.pl + geo.w] = xt
        xt = padded
    cols = column_buffer(cols_shape, x.dtype)
    standard = cols.transpose(cols_axes)
    for i in range(geo.kh):
        for j in range(geo.kw):
            rows, columns = geo.window_slices(i, j)
            standard[:, i, j] = xt[:, :, rows, columns]
    return cols.reshape(c * geo.taps, n * geo.out_pixels)


def col2im(cols, geo, n, c, out=None, batch_last=False):
    """Sum columns (C * kh * kw, N * OH * OW) back onto an (N, C, H, W) image (written into ``out``); with
    ``batch_last`` (CPU only) the columns are in (oh, ow, n) order, as ``im2col`` makes them."""
    xp = backend.get_array_module(cols)
    if xp is not np:
        return _col2im_gpu(cols, geo, n, c, out)
    image_shape, image_axes, cols_shape, cols_axes = _layout(geo, n, c, batch_last)
    acc = zeroed_scratch("padded", image_shape, cols.dtype).transpose(image_axes)
    standard = cols.reshape(cols_shape).transpose(cols_axes)
    for i in range(geo.kh):
        for j in range(geo.kw):
            rows, columns = geo.window_slices(i, j)
            acc[:, :, rows, columns] += standard[:, i, j]
    image = acc[:, :, geo.pt:geo.pt + geo.h, geo.pl:geo.pl + geo.w].transpose(1, 0, 2, 3)
    if out is None:
        return image.copy()  # a new array: acc is the shared scratch buffer
    out[...] = image
    return out


def _geometry_args(geo, n, c):
    i32 = np.int32
    return (
        i32(n), i32(c), i32(geo.h), i32(geo.w), i32(geo.kh), i32(geo.kw), i32(geo.sh), i32(geo.sw),
        i32(geo.pt), i32(geo.pl), i32(geo.dh), i32(geo.dw), i32(geo.oh), i32(geo.ow),
    )


def _im2col_gpu(x, geo):
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    x = xp.ascontiguousarray(x)
    cols = xp.empty((c * geo.taps, n * geo.out_pixels), dtype=x.dtype)
    kernel = backend.load_kernel("im2col", "im2col", x.dtype)
    backend.launch(kernel, cols.size, (x, cols, np.int64(cols.size)) + _geometry_args(geo, n, c))
    return cols


def _col2im_gpu(cols, geo, n, c, out):
    xp = backend.get_array_module(cols)
    cols = xp.ascontiguousarray(cols)
    if out is None or not out.flags.c_contiguous:
        target = xp.empty((n, c, geo.h, geo.w), dtype=cols.dtype)
    else:
        target = out
    kernel = backend.load_kernel("col2im", "col2im", cols.dtype)
    backend.launch(kernel, target.size, (cols, target, np.int64(target.size)) + _geometry_args(geo, n, c))
    if out is not None and target is not out:
        out[...] = target
        return out
    return target
