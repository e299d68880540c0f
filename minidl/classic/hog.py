"""Histograms of oriented gradients (HOG; Dalal & Triggs, "Histograms of oriented gradients for human
detection", CVPR 2005): the hand-designed features of the lecture's traditional pipeline, "feature
extraction + classifier", written as array code over a whole batch of images at once.

1. Gradients, centred differences [-1, 0, 1] along x and y in every colour channel; at each pixel the
   channel with the largest magnitude m = sqrt(gx^2 + gy^2) gives the gradient (as Dalal & Triggs do
   for colour images). Orientation is unsigned: theta = atan2(gy, gx) mod 180 degrees, in [0, 180).
2. Cell histograms: ``n_bins`` bins of width w = 180 / n_bins, centred at (b + 1/2) w. A pixel's m is
   split between the two nearest bin centres by linear interpolation in theta (wrapping round 180),
   then summed over the pixels of each ``cell_size`` x ``cell_size`` cell.
3. Block normalisation, L2-Hys: the histograms of ``block_size`` x ``block_size`` neighbouring cells
   (blocks overlap, one cell apart) form a vector v, and

       v <- v / sqrt(|v|^2 + eps^2);   v <- min(v, clip);   v <- v / sqrt(|v|^2 + eps^2)

   so that the descriptor survives changes of contrast, and one strong edge cannot dominate a block.

Pixels past the last whole cell are left out. Images are (N, C, H, W) arrays or Tensors; everything
runs on the array module of the input (NumPy or CuPy); the only Python loops are over the
bins and over the cell offsets inside a block, never over images or pixels.
"""
import numpy as np

from .. import backend
from .gradients import centred_differences, image_batch


def image_gradients(images):
    """Per-pixel gradient magnitude and unsigned orientation in degrees [0, 180), each (N, H, W), from
    the centred differences of every channel (``gradients.centred_differences``)."""
    a = image_batch(images, "hog")
    xp = backend.get_array_module(a)
    gx, gy = centred_differences(a)
    mag = xp.sqrt(gx * gx + gy * gy)
    strongest = xp.argmax(mag, axis=1)[:, None]
    gx = xp.take_along_axis(gx, strongest, axis=1)[:, 0]
    gy = xp.take_along_axis(gy, strongest, axis=1)[:, 0]
    magnitude = xp.take_along_axis(mag, strongest, axis=1)[:, 0]
    orientation = xp.mod(xp.degrees(xp.arctan2(gy, gx)), 180.0)
    # mod can return 180.0 itself for tiny negative angles in floating point; that is the same as 0.
    orientation = xp.where(orientation >= 180.0, 0.0, orientation)
    return magnitude, orientation


def orientation_votes(magnitude, orientation, n_bins=9):
    """Each pixel's magnitude split between its two nearest bins, (N, n_bins, H, W).

    With position u = theta / w - 1/2 on the axis of bin centres, the lower bin floor(u) (mod n_bins)
    gets m (1 - f) and the next one m f, where f = u - floor(u).
    """
    xp = backend.get_array_module(magnitude)
    u = orientation / (180.0 / n_bins) - 0.5
    lower = xp.floor(u)
    frac = u - lower
    lower = xp.mod(lower, n_bins).astype(np.int64)
    upper = xp.mod(lower + 1, n_bins)
    votes = []
    for b in range(n_bins):
        votes.append(magnitude * ((lower == b) * (1.0 - frac) + (upper == b) * frac))
    return xp.stack(votes, axis=1)


def cell_histograms(magnitude, orientation, cell_size=8, n_bins=9):
    """Orientation histograms of the cells, (N, H // cell_size, W // cell_size, n_bins)."""
    votes = orientation_votes(magnitude, orientation, n_bins)
    n, _, h, w = votes.shape
    ch, cw = h // cell_size, w // cell_size
    if ch == 0 or cw == 0:
        raise ValueError(f"hog: a {h}x{w} image holds no whole {cell_size}x{cell_size} cell")
    votes = votes[:, :, :ch * cell_size, :cw * cell_size]
    cells = votes.reshape(n, n_bins, ch, cell_size, cw, cell_size).sum(axis=(3, 5))
    return cells.transpose(0, 2, 3, 1)


def l2_normalize(v, eps):
    """v / sqrt(|v|^2 + eps^2) along the last axis (eps keeps empty blocks finite)."""
    xp = backend.get_array_module(v)
    return v / xp.sqrt((v * v).sum(axis=-1, keepdims=True) + eps * eps)


def block_normalize(cells, block_size=2, eps=1e-6, clip=0.2):
    """L2-Hys normalised blocks of ``block_size`` x ``block_size`` cells, stride one cell:
    (N, ch - block_size + 1, cw - block_size + 1, block_size * block_size * n_bins).

    ``clip=None`` stops after the first L2 normalisation (unit-norm blocks, plain L2).
    """
    xp = backend.get_array_module(cells)
    n, ch, cw, n_bins = cells.shape
    bh, bw = ch - block_size + 1, cw - block_size + 1
    if bh < 1 or bw < 1:
        raise ValueError(f"hog: {ch}x{cw} cells hold no whole {block_size}x{block_size} block")
    # one shifted view per cell position inside the block (block_size^2 of them), stacked on the last axis
    parts = [cells[:, i:i + bh, j:j + bw] for i in range(block_size) for j in range(block_size)]
    v = l2_normalize(xp.concatenate(parts, axis=-1), eps)
    if clip is None:
        return v
    return l2_normalize(xp.minimum(v, clip), eps)


def hog(images, cell_size=8, block_size=2, n_bins=9, eps=1e-6, clip=0.2):
    """HOG descriptors of a batch, (N, D) with D = blocks_y * blocks_x * block_size^2 * n_bins.

    A 32x32 image with the defaults has 4x4 cells, 3x3 blocks, D = 3 * 3 * 4 * 9 = 324.
    """
    magnitude, orientation = image_gradients(images)
    cells = cell_histograms(magnitude, orientation, cell_size, n_bins)
    blocks = block_normalize(cells, block_size, eps, clip)
    return blocks.reshape(blocks.shape[0], -1)
