"""Arrays to PNG files with Pillow alone (no matplotlib): grids, captions, heat-map overlays.

Images here are NumPy floats in [0, 1], (H, W) grey or (H, W, 3) RGB. Small maps are enlarged by whole
pixels (nearest neighbour), so a 3x3 filter stays nine clean squares.
"""
import numpy as np


def _rgb(image):
    a = np.asarray(image, dtype=np.float32)
    return np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a


def normalise(a, top=100.0):
    """``a`` scaled to [0, 1] from its minimum to its ``top`` percentile (the maximum by default), values
    above clipped: with ``top=99`` a few very bright pixels do not leave the rest black. All zeros when
    that range is empty."""
    a = np.asarray(a, dtype=np.float32)
    lo, hi = float(a.min()), float(np.percentile(a, top))
    return np.clip((a - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(a)


def enlarge(image, size):
    """Nearest-neighbour enlargement by the largest whole factor that keeps the longer side <= ``size``."""
    a = _rgb(image)
    factor = max(1, size // max(a.shape[:2]))
    return np.repeat(np.repeat(a, factor, axis=0), factor, axis=1)


def grid(images, cols=8, pad=2, cell=48):
    """The images (each enlarged to about ``cell`` pixels) in rows of ``cols``, on a white background."""
    tiles = [enlarge(im, cell) for im in images]
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    cols = min(cols, len(tiles))
    rows = -(-len(tiles) // cols)
    out = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), dtype=np.float32)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        out[top:top + t.shape[0], left:left + t.shape[1]] = t
    return out


def heat(values):
    """A black-red-yellow-white colour map of values in [0, 1] (the shape plus 3 channels)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)[..., None]
    return np.clip(np.concatenate([3 * v, 3 * v - 1, 3 * v - 2], axis=-1), 0.0, 1.0)


def overlay(image, values, alpha=0.5):
    """``image`` blended with ``heat(normalise(values))``; both (H, W)."""
    return (1 - alpha) * _rgb(image) + alpha * heat(normalise(values))


def save_png(image, path, caption=None):
    """Write ``image`` (floats in [0, 1]) as an 8-bit PNG, with a caption line above it when given."""
    from PIL import Image, ImageDraw

    pixels = (np.clip(_rgb(image), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    picture = Image.fromarray(pixels)
    if caption:
        band = Image.new("RGB", (max(picture.width, 7 * len(caption) + 8), picture.height + 16), "white")
        band.paste(picture, (0, 16))
        ImageDraw.Draw(band).text((4, 2), caption, fill="black")
        picture = band
    picture.save(path, optimize=True)
    return path
