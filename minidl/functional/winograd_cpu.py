"""Winograd F(m x m, 3 x 3) on the CPU, channels innermost: the same three transforms as ``winograd.py``,
each a handful of whole-chunk NumPy calls.

For a chunk of samples the input is copied once into a zero-padded channels-last buffer
P[n, h, w, c]; the tiles of the formula,

    d[(i, j), (n, th, tw), c] = P[n, th m + i, tw m + j, c]          (i, j < t = m + 2),

are then one strided copy whose innermost run is the C channels of one pixel (contiguous on both
sides), and each of the three transforms is a single GEMM with a Kronecker matrix:

    V = (B^T ⊗ B^T) d          (t^2, tiles, C)
    M[ξν] = V[ξν] U[ξν]^T      (t^2, tiles, C_out)       the channel sum, a batched GEMM
    Y = (A^T ⊗ A^T) M          (m^2, tiles, C_out)       interleaved back to pixels, then to NCHW.

Why channels innermost: in NCHW a tile copy's innermost run is a row of tiles (TW numbers, m apart):
2 to 16 numbers for the maps of a ResNet or VGG at 64x64, so NumPy spent most of such a copy stepping
its loops (4.1 ms of 4.4 for a 64-channel 32x32 chunk of 16 samples, against 0.7 ms for the same tiles
channels-last, one thread, 2-core x86). A chunk makes about ten NumPy calls instead of some sixty, so
the thread pool's workers also wait less on each other for the interpreter lock.

The weight gradient uses the same input tiles: dM = (A ⊗ A) e for the output gradient's m x m tiles e,
and dU[ξν] = V[ξν]^T dM[ξν], summed over tiles by the GEMM (its inner dimension).
"""
import numpy as np

from .im2col import scratch, zeroed_scratch


def _padded(x, pad_top_left, counts, m, name):
    """P[n, h, w, c]: x (N, C, H, W) channels-last, zero-padded by pad_top_left and out to the tiles'
    extent (TH m + 2, TW m + 2). Only the border is zeroed: the copy fills the rest."""
    n, c, h, w = x.shape
    (pt, pl), (th, tw) = pad_top_left, counts
    hp, wp = th * m + 2, tw * m + 2
    padded = scratch(name, (n, hp, wp, c), x.dtype)
    bottom, right = min(hp, pt + h), min(wp, pl + w)
    padded[:, :pt] = 0
    padded[:, bottom:] = 0
    padded[:, pt:bottom, :pl] = 0
    padded[:, pt:bottom, right:] = 0
    padded[:, pt:bottom, pl:right] = x[:, :, :bottom - pt, :right - pl].transpose(0, 2, 3, 1)
    return padded


def transformed_input(x, pad_top_left, counts, m, kb, out=None):
    """V = (B^T ⊗ B^T) d for every tile of x (N, C, H, W): (t^2, N * TH * TW, C), in ``out`` if given
    (an array of that shape whose rows are contiguous), else in a scratch buffer."""
    n, c = x.shape[:2]
    t, (th, tw) = m + 2, counts
    padded = _padded(x, pad_top_left, counts, m, "padded")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (t, t), axis=(1, 2))[:, ::m, ::m]
    tiles = scratch("tiles", (t, t, n, th, tw, c), x.dtype)
    tiles[...] = windows.transpose(4, 5, 0, 1, 2, 3)
    v = scratch("transformed", (t * t, n * th * tw, c), x.dtype) if out is None else out
    np.matmul(kb, tiles.reshape(t * t, -1), out=v.reshape(t * t, -1))
    return v


def channel_products(v, u, groups):
    """M[ξν] = V[ξν] U[ξν]^T per group: v (t^2, tiles, C), u (t^2, groups, C_out / groups, C / groups)
    -> (t^2, tiles, C_out)."""
    t2, tiles, c = v.shape
    c_og, c_g = u.shape[2:]
    prod = scratch("products", (t2, tiles, groups * c_og), v.dtype)
    by_group = prod.reshape(t2, tiles, groups, c_og).transpose(0, 2, 1, 3)
    np.matmul(v.reshape(t2, tiles, groups, c_g).transpose(0, 2, 1, 3), u.transpose(0, 1, 3, 2), out=by_group)
    return prod


def transformed_output(prod, out, counts, m, ka):
    """out (N, C_out, OH, OW) = (A^T ⊗ A^T) M, interleaved: tile (th, tw)'s output pixel (r, s) is
    out[:, :, th m + r, tw m + s]."""
    n, c_out, oh, ow = out.shape
    th, tw = counts
    y = scratch("untransformed", (m, m, n, th, tw, c_out), out.dtype)
    np.matmul(ka, prod.reshape(ka.shape[1], -1), out=y.reshape(m * m, -1))
    pixels = scratch("pixels", (n, th, m, tw, m, c_out), out.dtype)
    pixels[...] = y.transpose(2, 3, 0, 4, 1, 5)
    out[...] = pixels.reshape(n, th * m, tw * m, c_out)[:, :oh, :ow].transpose(0, 3, 1, 2)


def output_gradient_tiles(y, counts, m, ka):
    """dM = (A ⊗ A) e for the m x m tiles e of the output gradient y (N, C_out, OH, OW), zero past its
    edge: (t^2, N * TH * TW, C_out)."""
    n, c_out, oh, ow = y.shape
    th, tw = counts
    full = (oh, ow) == (th * m, tw * m)
    shape = (n, th * m, tw * m, c_out)
    pixels = scratch("gradient pixels", shape, y.dtype) if full else zeroed_scratch("gradient pixels", shape, y.dtype)
    pixels[:, :oh, :ow] = y.transpose(0, 2, 3, 1)
    tiles = scratch("gradient tiles", (m, m, n, th, tw, c_out), y.dtype)
    tiles[...] = pixels.reshape(n, th, m, tw, m, c_out).transpose(2, 4, 0, 1, 3, 5)
    dm = scratch("transformed gradient", (ka.shape[1], n * th * tw, c_out), y.dtype)
    np.matmul(ka.T, tiles.reshape(m * m, -1), out=dm.reshape(ka.shape[1], -1))
    return dm


def weight_products(v, dm, groups):
    """dU[ξν]^T = dM[ξν]^T V[ξν] per group, summed over the tiles: (t^2, groups, C_out / groups, C / groups),
    the output channel first as in W, so that dW = G^T dU G needs one 2-D transposed copy."""
    t2, tiles, c = v.shape
    c_out = dm.shape[2]
    return np.matmul(dm.reshape(t2, tiles, groups, c_out // groups).transpose(0, 2, 3, 1),
                     v.reshape(t2, tiles, groups, c // groups).transpose(0, 2, 1, 3))
