"""Winograd convolution F(m x m, 3 x 3) for 3x3 stride-1 conv2d (Lavin and Gray, "Fast Algorithms for
Convolutional Neural Networks", 2016), and the choice between it and im2col + GEMM.

A 3x3 kernel g slid over a t x t input tile d (t = m + 2) gives an m x m output tile

    Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A

with the matrices below (⊙: elementwise product). Per output pixel it multiplies t^2 / m^2 times
instead of 9 times: 16/4 = 4 (2.25x fewer) for F(2x2, 3x3), 36/16 = 2.25 (4x fewer) for F(4x4, 3x3).
Over channels, the products U = G g G^T (per output and input channel) and V = B^T d B (per input
channel and tile) meet in t^2 independent matrix products, one per position (ξ, ν) of the tile:

    M[ξν, co, tile] = sum_c U[ξν, co, c] V[ξν, c, tile]          (a batched GEMM)

and the output transform Y = A^T M A returns to pixels. On the CPU each 2-D transform is one GEMM with
a Kronecker product (B^T d B flattened = (B^T ⊗ B^T) d flattened), a chunk of the batch at a time in
the thread pool (``minidl.parallel``): with the channels innermost (``winograd_cpu.py``: the tiles one
strided copy, long contiguous runs), or, for maps of fewer than four tiles, channels first as the GPU
kernels lay them out (tiles cut out of the padded input by t^2 strided copies: the kernels' CPU twins
below). In training the forward keeps its transformed input V for the weight gradient.

Gradients (all with the same three matrices):
- input: conv2d's input gradient is itself a 3x3 stride-1 correlation, of the output gradient with the
  weights flipped and their channels swapped, padded 2 - p; it runs through the same forward.
- weight: the adjoint of the forward's transforms. dM = A dY A^T on output-gradient tiles, dU[ξν] =
  sum over tiles of dM[ξν] V[ξν]^T (a batched GEMM with the tiles as the inner dimension), dg = G^T dU G.

Accuracy in float32 (the case of ``tests/test_winograd.py::test_float32_error``: 64 -> 64 channels at
16x16, batch 2, N(0, 1) data, He-scaled weights; max error relative to the largest value of a float64
reference, for the output / input gradient / weight gradient): im2col 5e-7 / 2e-7 / 4e-7, winograd2
3e-7 / 4e-7 / 4e-7, winograd4 5e-6 / 1.1e-5 / 3e-6. F(4x4)'s larger interpolation points (+-2) amplify
float32 rounding about tenfold; the test bounds each at 2e-6 (im2col, winograd2) and 3e-5 (winograd4).
In float64 all three agree to 1e-12 (relative).

On the GPU the transforms are the gather kernels ``kernels/winograd_input.cu``, ``winograd_output.cu`` and
``winograd_grad_tiles.cu`` around CuPy's batched matmul; float16 data is transformed and multiplied in
float32 there (the kernels' accumulator type), rounded to float16 only in the result.

Choosing: ``set_conv_algorithm('auto' | 'im2col' | 'winograd2' | 'winograd4')``. A forced Winograd
applies to 3x3, stride 1, dilation 1 convolutions with padding at most 2 (else im2col runs); 'auto'
takes F(4x4) where measurements showed it faster (see ``choose``).
"""
import functools

import numpy as np

from .. import backend
from ..parallel import one_blas_thread, pieces, run_chunks
from . import winograd_cpu
from .im2col import batch_last, for_batch_chunks, scratch, transposed, zeroed_scratch

# F(m x m, 3 x 3): B^T (t x t), G (t x 3), A^T (m x t), t = m + 2; interpolation points 0, 1, -1 (m = 2)
# and 0, 1, -1, 2, -2 (m = 4), plus the point at infinity
MATRICES = {
    2: {
        "BT": [[1, 0, -1, 0],
               [0, 1, 1, 0],
               [0, -1, 1, 0],
               [0, 1, 0, -1]],
        "G": [[1, 0, 0],
              [1 / 2, 1 / 2, 1 / 2],
              [1 / 2, -1 / 2, 1 / 2],
              [0, 0, 1]],
        "AT": [[1, 1, 1, 0],
               [0, 1, -1, -1]],
    },
    4: {
        "BT": [[4, 0, -5, 0, 1, 0],
               [0, -4, -4, 1, 1, 0],
               [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0],
               [0, 2, -1, -2, 1, 0],
               [0, 4, 0, -5, 0, 1]],
        "G": [[1 / 4, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6],
              [0, 0, 1]],
        "AT": [[1, 1, 1, 1, 1, 0],
               [0, 1, -1, 2, -2, 0],
               [0, 1, 1, 4, 4, 0],
               [0, 1, -1, 8, -8, 1]],
    },
}
ALGORITHMS = {"im2col": 0, "winograd2": 2, "winograd4": 4}

_algorithm = "auto"


def set_conv_algorithm(name):
    """How conv2d computes: 'auto' (the default: by shape, see ``choose`` and ``conv_taps.chosen``),
    'im2col' (always im2col + GEMM), 'winograd2' or 'winograd4' (F(2x2, 3x3) or F(4x4, 3x3) for the 3x3
    stride-1 convolutions they apply to, im2col for the rest), or 'taps' (a product per kernel tap over
    the outputs where it reads the input, ``conv_taps.py``; one group only, else im2col).
    conv_transpose2d runs by phases (``subpixel.choose``) under every setting but 'im2col', which
    forces its GEMM + col2im path."""
    global _algorithm
    if name != "auto" and name not in ALGORITHMS and name != "taps":
        raise ValueError(f"set_conv_algorithm: expected one of 'auto', {', '.join(map(repr, ALGORITHMS))}, "
                         f"'taps'; got {name!r}")
    _algorithm = name


def get_conv_algorithm():
    return _algorithm


def applies(w_shape, geo):
    """Winograd F(m x m, 3 x 3) covers 3x3 kernels at stride 1 and dilation 1, padding at most 2 per
    side (the input gradient pads by 2 - p)."""
    return (
        tuple(w_shape[2:]) == (3, 3) and (geo.sh, geo.sw, geo.dh, geo.dw) == (1, 1, 1, 1)
        and max(geo.pt, geo.pb, geo.pl, geo.pr) <= 2
    )


def choose(x_shape, w_shape, geo, groups, x):
    """The tile size m to use (2 or 4), or 0 for im2col.

    'auto' picks F(4x4, 3x3) on the CPU when the output is at least 4 x 4 but larger than the small maps
    whose im2col columns put the batch innermost (``im2col.batch_last``: 16 pixels at most), and both
    channel counts per group at least 16. Measured (forward + backward, float32, one thread, 2-core x86,
    interleaved runs): F(4x4) was the fastest of the three, or within 10% of F(2x2), on every such shape of
    ResNet-18 and VGG-16 at 64x64 and of the benchmark (batch 16-64, 16 to 256 channels, maps 8 to 64),
    1.06-1.9x ahead of im2col (64 channels at 32x32: 1.7x). On 4 x 4 maps the batch-last im2col is within
    10% of F(2x2) and F(4x4) at one thread and ahead of both at two (128 channels, batch 32: 7.4 against
    6.7 and 7.1 ms at one thread, 7.1 against 7.8 and 7.6 at two; 256 channels: 23.8 against 23.4 and
    26.0, 14.3 against 16.3 and 18.9), on 2 x 2 maps (512 channels) 1.5-3x ahead of either, and thin
    inputs (a network's 3-channel first layer) keep im2col. On the GPU 'auto' keeps im2col (not measured
    there yet; a forced Winograd runs its ``.cu`` transforms), and so does float16 (its 10-bit mantissa
    and F(4x4)'s larger transform entries lose too much).
    """
    if _algorithm in ("im2col", "taps") or not applies(w_shape, geo):
        return 0
    if _algorithm != "auto":
        return ALGORITHMS[_algorithm]
    if backend.is_gpu_array(x) or x.dtype == np.float16:
        return 0
    c_in, c_out = x_shape[1] // groups, w_shape[0] // groups
    if min(geo.oh, geo.ow) >= 4 and min(c_in, c_out) >= 16 and not batch_last(geo, np):
        return 4
    return 0


@functools.lru_cache(maxsize=None)
def _kron(m, dtype):
    mats = {k: np.array(v, dtype=np.float64) for k, v in MATRICES[m].items()}
    return tuple(np.kron(mats[k], mats[k]).astype(dtype) for k in ("BT", "G", "AT"))


def _acc(dtype):
    """The type the transforms are applied in: float32 for float16 data (as the kernels' acc_t)."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float16 else np.dtype(dtype)


def transforms(m, dtype, xp=np):
    """(B^T ⊗ B^T, G ⊗ G, A^T ⊗ A^T) for F(m x m, 3 x 3) as ``dtype`` arrays of ``xp``: each maps a
    flattened tile, kernel or transformed tile in one matrix product (t^2 x t^2, t^2 x 9, m^2 x t^2)."""
    mats = _kron(m, np.dtype(dtype))
    return mats if xp is np else _on_gpu(m, np.dtype(dtype))


@functools.lru_cache(maxsize=None)
def _on_gpu(m, dtype):
    cp = backend.cupy_module()
    return tuple(cp.asarray(k) for k in _kron(m, dtype))


def _tile_counts(out_size, m):
    return tuple(-(-o // m) for o in out_size)


def _input_tiles(x, pad_top_left, counts, m):
    """D[(i, j), c, n, th, tw] = x_pad[n, c, th m + i, tw m + j], shape (t^2, C, N * TH * TW): the
    overlapping t x t tiles, m apart, of x zero-padded by pad_top_left (and whatever the last tiles need)."""
    n, c, h, w = x.shape
    t = m + 2
    (pt, pl), (th, tw) = pad_top_left, counts
    padded = zeroed_scratch("padded", (c, n, th * m + 2, tw * m + 2), x.dtype)
    padded[:, :, pt:pt + h, pl:pl + w] = x.transpose(1, 0, 2, 3)
    tiles = scratch("tiles", (t, t, c, n, th, tw), x.dtype)
    for i in range(t):
        for j in range(t):
            tiles[i, j] = padded[:, :, i:i + m * (th - 1) + 1:m, j:j + m * (tw - 1) + 1:m]
    return tiles.reshape(t * t, c, n * th * tw)


def _transformed_input(x, pad_top_left, counts, m):
    """V = B^T d B for every tile: (t^2, C, N * TH * TW). GPU: ``kernels/winograd_input.cu``."""
    xp = backend.get_array_module(x)
    kb = transforms(m, x.dtype if xp is np else _acc(x.dtype), xp)[0]
    if xp is np:
        d = _input_tiles(x, pad_top_left, counts, m)
        v = scratch("transformed", d.shape, x.dtype)
        np.matmul(kb, d.reshape(kb.shape[1], -1), out=v.reshape(kb.shape[0], -1))
        return v
    n, c, h, w = x.shape
    v = xp.empty((kb.shape[0], c, n * counts[0] * counts[1]), dtype=kb.dtype)
    kernel = backend.load_kernel("winograd_input", "winograd_input", x.dtype)
    i32 = np.int32
    backend.launch(kernel, v.size, (xp.ascontiguousarray(x), kb, v, np.int64(v.size), i32(n), i32(c), i32(h),
                                    i32(w), i32(pad_top_left[0]), i32(pad_top_left[1]), i32(counts[0]),
                                    i32(counts[1]), i32(m)))
    return v


def _transformed_weight(w, groups, m):
    """U = G g G^T for every (output, input) channel pair: (t^2, groups, C_out / groups, C / groups);
    on the GPU in the kernels' accumulator type (float32 for float16 weights)."""
    xp = backend.get_array_module(w)
    kg = transforms(m, _acc(w.dtype), xp)[1]
    c_out, c_g = w.shape[:2]
    flat = xp.ascontiguousarray(w).astype(kg.dtype, copy=False).reshape(c_out * c_g, 9)
    if xp is not np:
        return xp.matmul(kg, flat.T).reshape(kg.shape[0], groups, c_out // groups, c_g)
    u = np.empty((kg.shape[0], c_out * c_g), dtype=kg.dtype)

    def work(a, b):  # kernels a:b: a weight-sized pass, shared out over the pool when large
        np.matmul(kg, flat[a:b].T, out=u[:, a:b])

    with one_blas_thread():
        run_chunks(work, pieces(c_out * c_g, u.size))
    return u.astype(w.dtype, copy=False).reshape(kg.shape[0], groups, c_out // groups, c_g)


def _bytes_per_sample(channels, counts, m, itemsize):
    """What one sample's tiles, transformed tiles and products hold (about 4 arrays of t^2 per tile)."""
    return 4 * (m + 2) ** 2 * channels * counts[0] * counts[1] * itemsize


def _transformed_output(prod, out, counts, m):
    """Y = A^T M A for every tile, written into ``out`` (N, C_out, OH, OW): ``prod`` holds M, the
    channel-reduced products U ⊙ V, as (t^2, C_out, N * TH * TW) (any grouping of C_out). GPU:
    ``kernels/winograd_output.cu``; here one GEMM with A^T ⊗ A^T and a strided copy per tile position."""
    xp = backend.get_array_module(out)
    ka = transforms(m, out.dtype if xp is np else _acc(out.dtype), xp)[2]
    n, c_out, oh, ow = out.shape
    if xp is not np:
        kernel = backend.load_kernel("winograd_output", "winograd_output", out.dtype)
        i32 = np.int32
        backend.launch(kernel, out.size, (prod, ka, out, np.int64(out.size), i32(n), i32(c_out), i32(oh), i32(ow),
                                          i32(counts[0]), i32(counts[1]), i32(m)))
        return
    y = scratch("untransformed", (m, m, c_out, n) + counts, out.dtype)
    np.matmul(ka, prod.reshape(ka.shape[1], -1), out=y.reshape(m * m, -1))
    for r in range(m):
        rows = -(-(oh - r) // m)
        for s in range(m):
            cols = -(-(ow - s) // m)
            out[:, :, r::m, s::m] = y[r, s, :, :, :rows, :cols].transpose(1, 0, 2, 3)


def _forward(x, u, pad_top_left, out_size, groups, m, keep=False):
    """The Winograd correlation of x (N, C, H, W) with transformed weights u -> (N, C_out, *out_size);
    with ``keep``, (out, V) where V is the transformed input of the channels-last CPU path (``None``
    on the other paths), for the weight gradient to reuse."""
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    t2, _, c_og, c_g = u.shape
    c_out = c_og * groups
    counts = _tile_counts(out_size, m)
    out = xp.empty((n, c_out) + tuple(out_size), dtype=x.dtype)
    by_channels_last = xp is np and counts[0] * counts[1] >= 4
    tiles = counts[0] * counts[1]
    kept = np.empty((t2, n * tiles, c), dtype=x.dtype) if keep and by_channels_last else None

    def channels_first(a, b):
        v = _transformed_input(x[a:b], pad_top_left, counts, m)
        prod = scratch("products", (t2, groups, c_og, v.shape[2]), v.dtype, xp)
        xp.matmul(u, v.reshape(t2, groups, c_g, -1), out=prod)
        _transformed_output(prod, out[a:b], counts, m)

    def channels_last(a, b):
        kb, _, ka = transforms(m, x.dtype)
        into = None if kept is None else kept[:, a * tiles:b * tiles]
        v = winograd_cpu.transformed_input(x[a:b], pad_top_left, counts, m, kb, into)
        winograd_cpu.transformed_output(winograd_cpu.channel_products(v, u, groups), out[a:b], counts, m, ka)

    # on the CPU channels innermost (winograd_cpu.py), except for maps of a single tile or two: there
    # the product U V, a few tiles wide, ran 2-3x faster with the channels as its rows (OpenBLAS, one
    # thread, 256 channels at 4x4: 0.54 against 1.1-1.7 ms per chunk of 16)
    work = channels_last if by_channels_last else channels_first
    for_batch_chunks(work, n, _bytes_per_sample(max(c, c_out), counts, m, x.dtype.itemsize), xp)
    return (out, kept) if keep else out


def correlate(x, w, geo, groups, m, keep=False):
    """conv2d without bias by F(m x m, 3 x 3): x (N, C, H, W), w (C_out, C / groups, 3, 3). With
    ``keep``: (out, V), V the transformed input tiles for ``correlate_weight_grad`` (or None)."""
    return _forward(x, _transformed_weight(w, groups, m), (geo.pt, geo.pl), (geo.oh, geo.ow), groups, m, keep)


def correlate_adjoint(y, w, geo, groups, m):
    """conv2d's input gradient: y (N, C_out, OH, OW) correlated with the flipped, channel-swapped weights
    (C, C_out / groups, 3, 3), padded by 2 - p, gives (N, C, H, W)."""
    c_out, c_g = w.shape[:2]
    flipped = w.reshape(groups, c_out // groups, c_g, 3, 3).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
    flipped = flipped.reshape(groups * c_g, c_out // groups, 3, 3)
    u = _transformed_weight(flipped, groups, m)
    return _forward(y, u, (2 - geo.pt, 2 - geo.pl), (geo.h, geo.w), groups, m)


def _output_tiles(y, counts, m):
    """E[(r, s), (n, th, tw), co] = y[n, co, th m + r, tw m + s] (zero past the output's edge)."""
    n, c_out, oh, ow = y.shape
    shape = (m, m, n, counts[0], counts[1], c_out)
    full = oh % m == 0 and ow % m == 0
    tiles = scratch("gradient tiles", shape, y.dtype) if full else zeroed_scratch("gradient tiles", shape, y.dtype)
    for r in range(m):
        for s in range(m):
            tiles[r, s, :, :-(-(oh - r) // m), :-(-(ow - s) // m)] = y[:, :, r::m, s::m].transpose(0, 2, 3, 1)
    return tiles.reshape(m * m, -1)


def _output_gradient_tiles(y, counts, m):
    """dM = A dY A^T for every tile of the output gradient y: (t^2, N * TH * TW, C_out)."""
    xp = backend.get_array_module(y)
    ka = transforms(m, y.dtype if xp is np else _acc(y.dtype), xp)[2]
    if xp is np:
        dm = scratch("transformed gradient", (ka.shape[1], y.shape[0] * counts[0] * counts[1], y.shape[1]), y.dtype)
        np.matmul(ka.T, _output_tiles(y, counts, m), out=dm.reshape(ka.shape[1], -1))
        return dm
    n, c_out, oh, ow = y.shape
    dm = xp.empty((ka.shape[1], n * counts[0] * counts[1], c_out), dtype=ka.dtype)
    kernel = backend.load_kernel("winograd_grad_tiles", "winograd_grad_tiles", y.dtype)
    i32 = np.int32
    backend.launch(kernel, dm.size, (xp.ascontiguousarray(y), ka, dm, np.int64(dm.size), i32(n), i32(c_out),
                                     i32(oh), i32(ow), i32(counts[0]), i32(counts[1]), i32(m)))
    return dm


def correlate_weight_grad(x, y, geo, groups, m, kept=None):
    """dW (C_out, C / groups, 3, 3) for output gradient y, by the adjoint transforms (module docstring).
    ``kept``: the forward's transformed input tiles (``correlate(..., keep=True)``), reused instead of
    transforming x again: a third of the weight gradient's work, for 2.25x x's size held from the
    forward to the backward."""
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    c_out = y.shape[1]
    c_og, c_g = c_out // groups, c // groups
    counts = _tile_counts((geo.oh, geo.ow), m)
    kg = transforms(m, _acc(x.dtype), xp)[1]
    t2 = kg.shape[0]

    def work(a, b):
        if xp is np:  # channels innermost (winograd_cpu.py)
            kb, _, ka = transforms(m, x.dtype)
            tiles = counts[0] * counts[1]
            chunk = (winograd_cpu.transformed_input(x[a:b], (geo.pt, geo.pl), counts, m, kb) if kept is None
                     else kept[:, a * tiles:b * tiles])
            return winograd_cpu.weight_products(chunk, winograd_cpu.output_gradient_tiles(y[a:b], counts, m, ka),
                                                groups)
        v = _transformed_input(x[a:b], (geo.pt, geo.pl), counts, m).reshape(t2, groups, c_g, -1)
        dm = _output_gradient_tiles(y[a:b], counts, m).reshape(t2, -1, groups, c_og)
        return xp.matmul(v, dm.transpose(0, 2, 1, 3))

    parts = for_batch_chunks(work, n, _bytes_per_sample(max(c, c_out), counts, m, x.dtype.itemsize), xp)
    if not parts:
        return xp.zeros((c_out, c_g, 3, 3), dtype=x.dtype)
    if xp is np:  # dU came as (t^2, groups, C_out / groups, C / groups): dW is dg's 2-D transpose
        flat = [part.reshape(t2, -1) for part in parts]
        dg = np.empty((9, flat[0].shape[1]), dtype=kg.dtype)

        def finish(a, b):  # columns a:b: dU = the chunks' parts added in chunk order, dg = G^T dU G
            du = flat[0][:, a:b] if len(flat) == 1 else flat[0][:, a:b] + flat[1][:, a:b]
            for part in flat[2:]:
                du += part[:, a:b]
            np.matmul(kg.T, du.astype(kg.dtype, copy=False), out=dg[:, a:b])

        with one_blas_thread():
            run_chunks(finish, pieces(dg.shape[1], flat[0].size))
        return transposed(dg).astype(x.dtype, copy=False).reshape(c_out, c_g, 3, 3)
    du = parts[0]
    for part in parts[1:]:
        du += part
    dw = xp.matmul(kg.T, du.astype(kg.dtype, copy=False).reshape(t2, -1)).reshape(3, 3, groups, c_g, c_og)
    return xp.ascontiguousarray(dw.transpose(2, 4, 3, 0, 1)).astype(x.dtype, copy=False).reshape(c_out, c_g, 3, 3)
