"""What every transform shares: reading its input, choosing its generator, and resampling an image.

Images are HWC NumPy arrays (uint8 in [0, 255] or float in [0, 1]) or Pillow images; a 2-D array is a
one-channel image and comes back 2-D. Transforms return NumPy arrays of the input's dtype (a Pillow
image comes back as its uint8 array). Masks are 2-D integer arrays (or Pillow 'L'/'P' images).
"""
import numbers

import numpy as np

from ..dataset import resolve_generator
from ..randomness import current_generator

IGNORE_INDEX = 255


class Transform:
    """Base of the image transforms: ``t(img)`` returns the new image, ``t(img, mask)`` the pair.

    Subclasses implement ``apply(array, mask, rng)`` on an HWC array (and a 2-D mask or ``None``) and
    return ``(array, mask)``. Random transforms set ``random = True``; their ``rng`` is the ``rng=``
    argument, else the instance's ``generator`` attribute, else the generator the ``DataLoader`` gave the
    sample being loaded, else ``minidl.random.generator()``.
    """

    random = False
    generator = None

    def __call__(self, img, mask=None, rng=None):
        name = type(self).__name__
        array, was_2d = to_hwc(img, name)
        if mask is not None:
            mask = to_mask(mask, array.shape, name)
        out, out_mask = self.apply(array, mask, pick_generator(self, rng) if self.random else None)
        out = from_hwc(out, was_2d)
        return out if mask is None else (out, out_mask)

    def apply(self, array, mask, rng):
        raise NotImplementedError(f"{type(self).__name__} must implement apply")

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


def is_pil(img):
    return type(img).__module__.split(".")[0] == "PIL"


def to_hwc(img, name):
    """``(array HWC, was_2d)`` for a Pillow image or an HWC/HW array; a clear error for anything else."""
    if is_pil(img):
        array = np.asarray(img).copy()
    elif isinstance(img, np.ndarray):
        array = img
    else:
        raise TypeError(
            f"{name}: expected a Pillow image or an HWC NumPy array, got {type(img).__name__} "
            "(geometric and colour transforms come before ToTensor)"
        )
    if array.ndim == 2:
        return array[:, :, None], True
    if array.ndim != 3:
        raise ValueError(f"{name}: expected an image of shape (H, W) or (H, W, C), got shape {array.shape}")
    if array.shape[0] in (1, 3) and array.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"{name}: got shape {array.shape}, which looks channels-first (CHW); "
            "transforms take HWC images (put ToTensor last)"
        )
    if array.dtype != np.uint8 and array.dtype.kind != "f":
        raise TypeError(f"{name}: expected a uint8 or floating-point image, got dtype {array.dtype}")
    return array, False


def from_hwc(array, was_2d):
    return array[:, :, 0] if was_2d else array


def to_mask(mask, shape, name):
    """The mask as a 2-D integer array of the image's height and width."""
    array = np.asarray(mask) if is_pil(mask) else mask
    if not isinstance(array, np.ndarray) or array.ndim != 2 or array.dtype.kind not in "iu":
        raise TypeError(f"{name}: a mask must be a 2-D integer array, got {_describe(array)}")
    if array.shape != tuple(shape[:2]):
        raise ValueError(f"{name}: the mask has shape {array.shape}, the image is {tuple(shape[:2])}")
    return array


def _describe(x):
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape} and dtype {x.dtype}"
    return type(x).__name__


def to_float(array):
    """The image as floats in [0, 1]: uint8 is divided by 255, floats are kept (at least float32)."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    return array.astype(np.promote_types(array.dtype, np.float32), copy=False)


def from_float(values, dtype):
    """Back to the input's dtype, clipped to the valid range: [0, 255] for uint8, [0, 1] for floats."""
    if dtype == np.uint8:
        return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)
    return np.clip(values, 0.0, 1.0).astype(dtype, copy=False)


def pick_generator(transform, rng):
    """``rng`` if passed, else the transform's ``generator`` attribute, else the current sample's generator."""
    if rng is not None:
        return resolve_generator(rng)
    if getattr(transform, "generator", None) is not None:
        return resolve_generator(transform.generator)
    return current_generator()


def pair(value, name, what):
    """``(h, w)`` from an int or a sequence of one or two positive ints."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 1:
        value = (int(value[0]), int(value[0]))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        value = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name}: {what} must be an int or a pair (h, w), got {value!r}")
    if min(value) < 1:
        raise ValueError(f"{name}: {what} must be positive, got {value}")
    return value


def symmetric_range(value, name, what, center=0.0, low=None):
    """``(lo, hi)`` from a number ``v`` (meaning ``center ± v``) or from a pair."""
    if isinstance(value, numbers.Real):
        if value < 0:
            raise ValueError(f"{name}: {what} must be non-negative when a single number, got {value}")
        lo, hi = center - value, center + value
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        lo, hi = float(value[0]), float(value[1])
    else:
        raise ValueError(f"{name}: {what} must be a number or a pair (min, max), got {value!r}")
    if lo > hi:
        raise ValueError(f"{name}: {what} range ({lo}, {hi}) has min > max")
    if low is not None:
        lo = max(lo, low)
    return float(lo), float(hi)


def remap(array, src_x, src_y, mode, fill):
    """Sample ``array`` (H, W, C) at source coordinates ``src_x``, ``src_y`` (Ho, Wo), pixel centres at integers.

    ``'bilinear'``: out = sum over the 4 neighbours of (1 - |dx|)(1 - |dy|) * pixel, where a neighbour
    outside the image counts as ``fill``; ``'nearest'``: the pixel whose centre is closest, ``fill`` outside.
    All output pixels are computed at once from the coordinate arrays (no per-pixel loop).
    """
    h, w, c = array.shape
    fill = np.broadcast_to(np.asarray(fill, dtype=np.float64), (c,))
    if mode == "nearest":
        xi = np.floor(src_x + 0.5).astype(np.int64)
        yi = np.floor(src_y + 0.5).astype(np.int64)
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        out = array[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        return np.where(inside[..., None], out, fill.astype(array.dtype))
    if mode != "bilinear":
        raise ValueError(f"remap: interpolation must be 'bilinear' or 'nearest', got {mode!r}")
    x0 = np.floor(src_x).astype(np.int64)
    y0 = np.floor(src_y).astype(np.int64)
    fx = (src_x - x0)[..., None]
    fy = (src_y - y0)[..., None]
    values = array.astype(np.float64)
    out = np.zeros(src_x.shape + (c,), dtype=np.float64)
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            inside = ((xi >= 0) & (xi < w) & (yi >= 0) & (yi < h))[..., None]
            pixel = np.where(inside, values[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)], fill)
            out += wx * wy * pixel
    if array.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(array.dtype)
