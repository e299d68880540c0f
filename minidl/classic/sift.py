"""Dense SIFT descriptors (Lowe, "Distinctive image features from scale-invariant keypoints", IJCV 2004,
section 6.1), sampled on a regular grid at one or more scales as the bag-of-words pipelines of the 2000s
did (Fei-Fei & Perona 2005; Bosch et al. 2007), instead of at difference-of-Gaussian keypoints.

1. Intensity: the mean of the colour channels. Gradients by centred differences [-1, 0, 1] (the image
   extended by its edge pixels), magnitude m = sqrt(gx^2 + gy^2) and signed orientation
   theta = atan2(gy, gx) in [0, 2 pi) (y grows downwards, as rows do).
2. Orientation votes: 8 bins centred at b * 45 degrees; a pixel's m goes to the two nearest centres,
   m (1 - f) to bin floor(o) and m f to the next (mod 8), with o = theta / 45 degrees and f = o - floor(o).
3. A descriptor window of 4 x 4 cells of ``cell_size`` pixels (side L = 4 s). Pixel i of the window (its
   centre at i + 1/2) sits at t_i = (i + 1/2) / s - 1/2 in cell units (cell c's centre is t = c) and votes
   for the cells either side with weight max(0, 1 - |t_i - c|): with the bin split of step 2 this is
   Lowe's trilinear interpolation, so a sample moving across a cell or bin border changes the descriptor
   smoothly. Every vote is also weighted by a Gaussian centred on the window, sigma = L / 2 (half the
   window width), so the samples far from the centre, the ones that move in and out of the window with a
   small shift, count less. Both weights factor into a y part and an x part,

       A[c, i] = exp(-(i + 1/2 - L/2)^2 / (2 sigma^2)) max(0, 1 - |t_i - c|),
       D[n, cy, cx, b] = sum_{i, j} A[cy, i] A[cx, j] V[n, b, y0 + i, x0 + j],

   so every descriptor of the grid is one matrix product per axis: D = P_y V P_x^T, with P (rows: grid
   position and cell; columns: image rows or columns) holding A shifted to each window's origin.
4. The 4 x 4 x 8 = 128 numbers (ordered cell row, cell column, bin) are normalised to unit length, clipped
   at 0.2 (so large gradient magnitudes, e.g. from a change of illumination, weigh less than the pattern
   of orientations) and normalised again: v <- v / sqrt(|v|^2 + eps^2) before and after the clip, eps
   keeping a flat window's descriptor at zero.

Differences of intensity drop a brightness offset exactly, and the normalisation a contrast scaling up
to eps. Images are (N, C, H, W) or (C, H, W) arrays or Tensors on NumPy or CuPy; the only Python loops are
over the 8 bins and over the scales, never over images, pixels or descriptors.
"""
import numpy as np

from .. import backend
from .gradients import centred_differences, image_batch
from .hog import l2_normalize

N_CELLS = 4
N_BINS = 8


def _gray(images):
    return image_batch(images, "dense_sift").mean(axis=1)


def gradients(gray):
    """Magnitude and signed orientation in radians [0, 2 pi) of (N, H, W) intensities, each (N, H, W)."""
    xp = backend.get_array_module(gray)
    gx, gy = centred_differences(gray)
    theta = xp.mod(xp.arctan2(gy, gx), 2 * np.pi)
    # mod can return 2 pi itself for tiny negative angles in floating point; that is the same as 0.
    theta = xp.where(theta >= 2 * np.pi, 0.0, theta).astype(gray.dtype)
    return xp.sqrt(gx * gx + gy * gy), theta


def orientation_votes(magnitude, orientation, n_bins=N_BINS):
    """(N, n_bins, H, W): each pixel's magnitude split between the two bins whose centres (b * 2 pi / n_bins)
    lie either side of its orientation."""
    xp = backend.get_array_module(magnitude)
    o = orientation / (2 * np.pi / n_bins)
    lower = xp.floor(o)
    frac = o - lower
    lower = xp.mod(lower, n_bins).astype(np.int64)
    upper = xp.mod(lower + 1, n_bins)
    return xp.stack([magnitude * ((lower == b) * (1.0 - frac) + (upper == b) * frac) for b in range(n_bins)],
                    axis=1)


def window_weights(cell_size):
    """A (4, L): Gaussian window (sigma = L / 2) times each cell's bilinear weight, for the L = 4 s pixels
    along one axis of a window."""
    side = N_CELLS * cell_size
    centre = np.arange(side) + 0.5
    gauss = np.exp(-(centre - side / 2) ** 2 / (2 * (side / 2) ** 2))
    t = centre / cell_size - 0.5
    bilinear = np.maximum(0.0, 1.0 - np.abs(t[None, :] - np.arange(N_CELLS)[:, None]))
    return gauss[None, :] * bilinear


def grid_origins(length, cell_size, step):
    """First pixel of every window along an axis of ``length`` pixels: 0, step, 2 step, ... while the window fits."""
    return np.arange(0, length - N_CELLS * cell_size + 1, step)


def _placement(weights, origins, length):
    """P (len(origins) * 4, length): row (g, c) holds weights[c] starting at column origins[g]."""
    side = weights.shape[1]
    offset = np.arange(length)[None, None, :] - origins[:, None, None]
    inside = (offset >= 0) & (offset < side)
    picked = weights[np.arange(N_CELLS)[None, :, None], np.clip(offset, 0, side - 1)]
    return (picked * inside).reshape(len(origins) * N_CELLS, length)


def normalize(v, eps=1e-7, clip=0.2):
    """Lowe's normalisation along the last axis: unit length, clip at ``clip``, unit length again."""
    xp = backend.get_array_module(v)
    return l2_normalize(xp.minimum(l2_normalize(v, eps), clip), eps)


def dense_sift(images, cell_sizes=(4,), step=None, eps=1e-7, clip=0.2):
    """SIFT descriptors on a regular grid: ``(descriptors, centres)``.

    descriptors: (N, P, 128), in the images' dtype and on their device; centres: (P, 2) NumPy array of the
    windows' centres (y, x) in pixels, the same for every image. For each cell size s in ``cell_sizes`` the
    4s x 4s windows start every ``step`` pixels (default s, one cell) in both directions; the scales follow
    one another along P.
    """
    if step is not None and (isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1):
        raise ValueError(f"dense_sift: step must be a positive int or None, got {step!r}")
    gray = _gray(images)
    xp = backend.get_array_module(gray)
    n, h, w = gray.shape
    votes = orientation_votes(*gradients(gray))
    descriptors, centres = [], []
    for s in cell_sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"dense_sift: cell_sizes must hold positive ints, got {s!r}")
        side = N_CELLS * s
        if h < side or w < side:
            raise ValueError(f"dense_sift: a {h}x{w} image is smaller than one {side}x{side} descriptor window "
                             f"(cell_size={s})")
        stride = s if step is None else step
        oy, ox = grid_origins(h, s, stride), grid_origins(w, s, stride)
        a = window_weights(s)
        py = xp.asarray(_placement(a, oy, h), dtype=gray.dtype)
        px = xp.asarray(_placement(a, ox, w), dtype=gray.dtype)
        d = py @ votes @ px.T                                     # (N, 8, gy * 4, gx * 4)
        d = d.reshape(n, N_BINS, len(oy), N_CELLS, len(ox), N_CELLS).transpose(0, 2, 4, 3, 5, 1)
        descriptors.append(d.reshape(n, len(oy) * len(ox), N_CELLS * N_CELLS * N_BINS))
        cy, cx = np.meshgrid(oy + side / 2, ox + side / 2, indexing="ij")
        centres.append(np.stack([cy.ravel(), cx.ravel()], axis=1))
    return normalize(xp.concatenate(descriptors, axis=1), eps, clip), np.concatenate(centres, axis=0)
