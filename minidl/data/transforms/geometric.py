"""Geometric transforms: resizing, cropping, flipping, affine warps and lens distortion.

Each works on the image and, when given, its segmentation mask with the same parameters: the mask is
sampled with nearest neighbour (labels are not blended) and gets ``255`` (ignore) where the image gets
``fill``. Warps build the source coordinate of every output pixel at once and sample with ``remap``.
"""
import math
import numbers

import numpy as np
from PIL import Image

from ._image import IGNORE_INDEX, Transform, pair, remap, symmetric_range

_PIL_FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
                "lanczos": Image.LANCZOS, "box": Image.BOX}


def _resample(name, interpolation):
    if interpolation not in _PIL_FILTERS:
        raise ValueError(f"{name}: interpolation must be one of {sorted(_PIL_FILTERS)}, got {interpolation!r}")
    return _PIL_FILTERS[interpolation]


def resize_array(array, size, interpolation="bilinear"):
    """Resize an HWC array to ``size = (h, w)`` with Pillow (antialiased when shrinking)."""
    h, w = size
    if array.shape[:2] == (h, w):
        return array
    method = _PIL_FILTERS[interpolation]
    if array.dtype == np.uint8 and array.shape[2] in (1, 3, 4):
        image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
        out = np.asarray(image.resize((w, h), method))
        return out[:, :, None] if out.ndim == 2 else out
    # Pillow resizes floats one 32-bit channel at a time (mode 'F').
    channels = [np.asarray(Image.fromarray(array[:, :, c].astype(np.float32)).resize((w, h), method))
                for c in range(array.shape[2])]
    return np.stack(channels, axis=2).astype(array.dtype)


def resize_mask(mask, size):
    """Nearest-neighbour resize of a label mask: output pixel i takes input pixel floor((i + 0.5) * in / out)."""
    h, w = size
    rows = np.minimum(((np.arange(h) + 0.5) * mask.shape[0] / h).astype(np.int64), mask.shape[0] - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * mask.shape[1] / w).astype(np.int64), mask.shape[1] - 1)
    return mask[rows[:, None], cols[None, :]]


def _crop(array, mask, top, left, h, w):
    out = array[top:top + h, left:left + w]
    return out, None if mask is None else mask[top:top + h, left:left + w]


class Resize(Transform):
    """Resize to ``size``: an int matches the shorter side (keeping the aspect ratio), ``(h, w)`` is exact.

    As torchvision: with an int ``size`` the longer side becomes ``int(size * long / short)``, then is
    capped at ``max_size`` (scaling both sides down) when given. Pillow does the resampling, and always
    antialiases when shrinking (``antialias`` is accepted for torchvision's signature).
    """

    def __init__(self, size, interpolation="bilinear", max_size=None, antialias=True):
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            if size < 1:
                raise ValueError(f"Resize: size must be positive, got {size}")
            self.size = int(size)
        else:
            self.size = pair(size, "Resize", "size")
            if max_size is not None:
                raise ValueError("Resize: max_size is only allowed when size is a single int")
        _resample("Resize", interpolation)
        self.interpolation = interpolation
        self.max_size = max_size
        self.antialias = antialias

    def output_size(self, h, w):
        if not isinstance(self.size, int):
            return self.size
        short, long = (h, w) if h <= w else (w, h)
        new_short, new_long = self.size, int(self.size * long / short)
        if self.max_size is not None:
            if self.max_size <= self.size:
                raise ValueError(f"Resize: max_size {self.max_size} must exceed size {self.size}")
            if new_long > self.max_size:
                new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
        return (new_short, new_long) if h <= w else (new_long, new_short)

    def apply(self, array, mask, rng):
        size = self.output_size(*array.shape[:2])
        out = resize_array(array, size, self.interpolation)
        return out, None if mask is None else resize_mask(mask, size)


def _pad(array, mask, left, top, right, bottom, fill, padding_mode):
    modes = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}
    if padding_mode not in modes:
        raise ValueError(f"padding_mode must be one of {sorted(modes)}, got {padding_mode!r}")
    widths = ((top, bottom), (left, right))
    if padding_mode == "constant":
        fill = np.broadcast_to(np.asarray(fill, dtype=np.float64), (array.shape[2],))
        out = np.stack([np.pad(array[:, :, c], widths, constant_values=fill[c]) for c in range(array.shape[2])],
                       axis=2).astype(array.dtype)
        mask = None if mask is None else np.pad(mask, widths, constant_values=IGNORE_INDEX)
        return out, mask
    out = np.pad(array, widths + ((0, 0),), mode=modes[padding_mode])
    return out, None if mask is None else np.pad(mask, widths, mode=modes[padding_mode])


class CenterCrop(Transform):
    """The central ``size`` region; an image smaller than ``size`` is first padded with zeros (as torchvision)."""

    def __init__(self, size):
        self.size = pair(size, "CenterCrop", "size")

    def apply(self, array, mask, rng):
        h, w = self.size
        ih, iw = array.shape[:2]
        if h > ih or w > iw:
            ph, pw = max(h - ih, 0), max(w - iw, 0)
            array, mask = _pad(array, mask, pw // 2, ph // 2, pw - pw // 2, ph - ph // 2, 0, "constant")
            ih, iw = array.shape[:2]
        top, left = int(round((ih - h) / 2.0)), int(round((iw - w) / 2.0))
        return _crop(array, mask, top, left, h, w)


def _padding_sides(padding):
    if isinstance(padding, numbers.Integral):
        return (int(padding),) * 4
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        return (int(padding[0]), int(padding[1])) * 2
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        return tuple(int(p) for p in padding)
    raise ValueError(f"RandomCrop: padding must be an int or a sequence of 2 or 4 ints, got {padding!r}")


class RandomCrop(Transform):
    """A ``size`` crop at a uniformly random position, after optional padding (the CIFAR augmentation).

    ``padding``: an int (all sides), ``(left/right, top/bottom)`` or ``(left, top, right, bottom)``.
    ``pad_if_needed`` pads an image smaller than ``size`` up to it. ``padding_mode``: 'constant' (with
    ``fill``), 'edge', 'reflect' or 'symmetric'.
    """

    random = True

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = pair(size, "RandomCrop", "size")
        self.padding = None if padding is None else _padding_sides(padding)
        if self.padding is not None and min(self.padding) < 0:
            raise ValueError(f"RandomCrop: padding must be non-negative, got {padding!r}")
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(
                f"RandomCrop: padding_mode must be 'constant', 'edge', 'reflect' or 'symmetric', got {padding_mode!r}"
            )
        self.padding_mode = padding_mode

    def apply(self, array, mask, rng):
        if self.padding is not None:
            array, mask = _pad(array, mask, *self.padding, self.fill, self.padding_mode)
        h, w = self.size
        ih, iw = array.shape[:2]
        if self.pad_if_needed and (ih < h or iw < w):
            ph, pw = max(h - ih, 0), max(w - iw, 0)
            array, mask = _pad(array, mask, pw, ph, pw, ph, self.fill, self.padding_mode)
            ih, iw = array.shape[:2]
        if ih < h or iw < w:
            raise ValueError(
                f"RandomCrop: crop size {(h, w)} is larger than the (padded) image {(ih, iw)}; "
                "use padding or pad_if_needed=True"
            )
        top = int(rng.integers(0, ih - h + 1))
        left = int(rng.integers(0, iw - w + 1))
        return _crop(array, mask, top, left, h, w)


class RandomResizedCrop(Transform):
    """A crop of random area and aspect ratio, resized to ``size`` (the Inception / ResNet augmentation).

    torchvision's algorithm: up to ten times, draw area fraction s ~ U(scale) and log aspect ratio
    log r ~ U(log ratio), take w = round(sqrt(s A r)), h = round(sqrt(s A / r)) and, if it fits, a
    uniform position. If no try fits: the centre crop of the whole image, narrowed to the nearest ratio
    in ``ratio`` (at least one pixel wide, where torchvision could return an empty crop).
    """

    random = True

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), interpolation="bilinear",
                 antialias=True):
        self.size = pair(size, "RandomResizedCrop", "size")
        if not (len(scale) == 2 and 0 < scale[0] <= scale[1]):
            raise ValueError(f"RandomResizedCrop: scale must be (min, max) with 0 < min <= max, got {scale!r}")
        if not (len(ratio) == 2 and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f"RandomResizedCrop: ratio must be (min, max) with 0 < min <= max, got {ratio!r}")
        _resample("RandomResizedCrop", interpolation)
        self.scale = tuple(float(s) for s in scale)
        self.ratio = tuple(float(r) for r in ratio)
        self.interpolation = interpolation
        self.antialias = antialias

    @staticmethod
    def get_params(height, width, scale, ratio, rng):
        """``(top, left, h, w)`` of the crop, by torchvision's ten tries and centre fallback."""
        area = height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target_area = area * rng.uniform(scale[0], scale[1])
            aspect = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(rng.integers(0, height - h + 1))
                left = int(rng.integers(0, width - w + 1))
                return top, left, h, w
        in_ratio = width / height
        if in_ratio < ratio[0]:
            w, h = width, max(1, int(round(width / ratio[0])))
        elif in_ratio > ratio[1]:
            h, w = height, max(1, int(round(height * ratio[1])))
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def apply(self, array, mask, rng):
        top, left, h, w = self.get_params(array.shape[0], array.shape[1], self.scale, self.ratio, rng)
        array, mask = _crop(array, mask, top, left, h, w)
        out = resize_array(array, self.size, self.interpolation)
        return out, None if mask is None else resize_mask(mask, self.size)


class RandomHorizontalFlip(Transform):
    """Mirror left-right with probability ``p``: out[y, x] = in[y, W - 1 - x]."""

    random = True

    def __init__(self, p=0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def apply(self, array, mask, rng):
        if rng.random() >= self.p:
            return array, mask
        return array[:, ::-1].copy(), None if mask is None else mask[:, ::-1].copy()


class RandomVerticalFlip(Transform):
    """Mirror top-bottom with probability ``p``: out[y, x] = in[H - 1 - y, x]."""

    random = True

    def __init__(self, p=0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomVerticalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def apply(self, array, mask, rng):
        if rng.random() >= self.p:
            return array, mask
        return array[::-1].copy(), None if mask is None else mask[::-1].copy()


def _warp(array, mask, src_x, src_y, interpolation, fill):
    out = remap(array, src_x, src_y, interpolation, fill)
    if mask is None:
        return out, None
    warped = remap(mask[:, :, None], src_x, src_y, "nearest", IGNORE_INDEX)[:, :, 0]
    return out, warped


class RandomAffine(Transform):
    """Random rotation, translation, scale, stretch and shear about the image centre, bilinear sampling.

    The forward map sends p to c + t + A (p - c), with c the centre ((W-1)/2, (H-1)/2), t the translation
    in pixels and A = R(angle) Sh(shear_x, shear_y) S, where

        R = [[cos a, sin a], [-sin a, cos a]]   (positive angle turns the picture counter-clockwise,
                                                 x to the right and y downwards, as torchvision)
        Sh = [[1, tan sx], [tan sy, 1]]          S = diag(scale * sqrt(f), scale / sqrt(f))

    Every output pixel p is filled from the input at c + A^-1 (p - c - t), all pixels at once.
    Parameters as torchvision: ``degrees`` d means U(-d, d); ``translate=(a, b)`` shifts by
    round(U(-aW, aW)), round(U(-bH, bH)) pixels; ``scale=(lo, hi)``; ``shear`` a number s (x shear in
    U(-s, s)), a pair (x range) or four numbers (x range, y range), in degrees. ``stretch=(lo, hi)``
    (minidl's addition, the lecture's "stretching") draws the aspect factor f ~ U(lo, hi).
    """

    random = True

    def __init__(self, degrees, translate=None, scale=None, shear=None, interpolation="bilinear", fill=0,
                 center=None, stretch=None):
        self.degrees = symmetric_range(degrees, "RandomAffine", "degrees")
        if translate is not None and not (len(translate) == 2 and all(0 <= t <= 1 for t in translate)):
            raise ValueError(f"RandomAffine: translate must be (a, b) with values in [0, 1], got {translate!r}")
        self.translate = translate
        if scale is not None and not (len(scale) == 2 and 0 < scale[0] <= scale[1]):
            raise ValueError(f"RandomAffine: scale must be (min, max) with 0 < min <= max, got {scale!r}")
        self.scale = scale
        if stretch is not None and not (len(stretch) == 2 and 0 < stretch[0] <= stretch[1]):
            raise ValueError(f"RandomAffine: stretch must be (min, max) with 0 < min <= max, got {stretch!r}")
        self.stretch = stretch
        self.shear = self._shear_ranges(shear)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"RandomAffine: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.interpolation = interpolation
        self.fill = fill
        self.center = center

    @staticmethod
    def _shear_ranges(shear):
        if shear is None:
            return None
        if isinstance(shear, numbers.Real):
            return symmetric_range(shear, "RandomAffine", "shear"), (0.0, 0.0)
        if len(shear) == 2:
            return (float(shear[0]), float(shear[1])), (0.0, 0.0)
        if len(shear) == 4:
            return (float(shear[0]), float(shear[1])), (float(shear[2]), float(shear[3]))
        raise ValueError(f"RandomAffine: shear must be a number or 2 or 4 numbers, got {shear!r}")

    def get_params(self, height, width, rng):
        """``(angle, (tx, ty), scale, (shear_x, shear_y), stretch)``, angles in degrees."""
        angle = rng.uniform(*self.degrees)
        tx = ty = 0.0
        if self.translate is not None:
            tx = float(round(rng.uniform(-self.translate[0] * width, self.translate[0] * width)))
            ty = float(round(rng.uniform(-self.translate[1] * height, self.translate[1] * height)))
        scale = 1.0 if self.scale is None else rng.uniform(*self.scale)
        shear = (0.0, 0.0) if self.shear is None else (rng.uniform(*self.shear[0]), rng.uniform(*self.shear[1]))
        stretch = 1.0 if self.stretch is None else rng.uniform(*self.stretch)
        return angle, (tx, ty), scale, shear, stretch

    @staticmethod
    def matrix(angle, scale, shear, stretch):
        """The 2x2 forward matrix A = R Sh S (angles in degrees)."""
        a = math.radians(angle)
        rotation = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
        shearing = np.array([[1.0, math.tan(math.radians(shear[0]))], [math.tan(math.radians(shear[1])), 1.0]])
        scaling = np.diag([scale * math.sqrt(stretch), scale / math.sqrt(stretch)])
        return rotation @ shearing @ scaling

    def apply(self, array, mask, rng):
        h, w = array.shape[:2]
        angle, (tx, ty), scale, shear, stretch = self.get_params(h, w, rng)
        forward = self.matrix(angle, scale, shear, stretch)
        if abs(np.linalg.det(forward)) < 1e-12:
            raise ValueError(f"RandomAffine: the drawn transform is singular (shear {shear}); narrow the shear range")
        inverse = np.linalg.inv(forward)
        cx, cy = ((w - 1) / 2.0, (h - 1) / 2.0) if self.center is None else self.center
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        dx, dy = xs - cx - tx, ys - cy - ty
        src_x = cx + inverse[0, 0] * dx + inverse[0, 1] * dy
        src_y = cy + inverse[1, 0] * dx + inverse[1, 1] * dy
        return _warp(array, mask, src_x, src_y, self.interpolation, self.fill)


class RandomLensDistortion(Transform):
    """Radial lens distortion with a random coefficient k ~ U(k range) (the lecture's "lens distortions").

    With u the offset of an output pixel from the centre divided by the half diagonal (so the corners
    are at radius 1) and r = |u|, the output pixel shows the input at radius r' = r (1 + k r^2) in the
    same direction: k > 0 pulls the borders inwards (barrel), k < 0 pushes them out (pincushion).
    ``k`` is a number (meaning U(-k, k)) or a pair (min, max). Bilinear sampling, ``fill`` outside.
    """

    random = True

    def __init__(self, k=0.2, p=1.0, interpolation="bilinear", fill=0):
        self.k = symmetric_range(k, "RandomLensDistortion", "k")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomLensDistortion: p must be in [0, 1], got {p}")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(
                f"RandomLensDistortion: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}"
            )
        self.p = p
        self.interpolation = interpolation
        self.fill = fill

    def apply(self, array, mask, rng):
        if rng.random() >= self.p:
            return array, mask
        k = rng.uniform(*self.k)
        h, w = array.shape[:2]
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        radius = max(math.hypot(cx, cy), 1.0)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        dx, dy = xs - cx, ys - cy
        factor = 1.0 + k * (dx * dx + dy * dy) / (radius * radius)
        return _warp(array, mask, cx + dx * factor, cy + dy * factor, self.interpolation, self.fill)
