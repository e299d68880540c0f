"""``Shapes``: a procedural, seeded, download-free dataset of coloured geometric shapes.

Each image is a textured, noisy background (a base colour, two random sinusoidal waves and Gaussian
pixel noise) with shapes painted on it at a random position, size, rotation and colour. Every shape is
given by a signed distance function sd(p) in its own frame (negative inside, about unit size); a pixel
at offset d from the shape's centre sees p = R(-theta) d / r, and is covered by

    alpha = clip(0.5 - sd(p) * r * S, 0, 1)     (S the image size: a one-pixel antialiased edge)

All images of a block are rasterised at once: one coordinate grid, broadcast against each image's
centre, angle and radius, so generation costs a handful of array operations per block, not per pixel.

Images are made in blocks whose parameters come from ``numpy.random.default_rng([seed, block])``, so
image i depends only on ``seed``, ``image_size`` and ``mode`` (``Shapes(n=100)`` is the start of
``Shapes(n=10000)``); use another ``seed`` (or ``random_split``) for a validation set.
"""
import math

import numpy as np

from ..tensor import Tensor
from .dataset import Dataset, _check_index, to_chw_float
from .transforms import IGNORE_INDEX


def _polygon_sd(x, y, sides, apothem, phase=0.0):
    """Regular polygon: the largest distance past any of its edge lines (exact inside, close outside)."""
    sd = None
    for k in range(sides):
        a = phase + 2.0 * math.pi * k / sides
        d = x * math.cos(a) + y * math.sin(a) - apothem
        sd = d if sd is None else np.maximum(sd, d)
    return sd


def _star_sd(x, y, points=5, outer=1.05, inner=0.45):
    """Star: fold the angle into one half-spike and measure past the edge from tip (outer) to notch (inner)."""
    sector = 2.0 * math.pi / points
    angle = np.arctan2(y, x) - math.pi / 2  # one tip points up
    half = sector / 2.0
    folded = half - np.abs(np.mod(angle, sector) - half)
    radius = np.hypot(x, y)
    qx, qy = radius * np.cos(folded), radius * np.sin(folded)
    tip = np.array([outer, 0.0])
    notch = inner * np.array([math.cos(half), math.sin(half)])
    edge = notch - tip
    normal = np.array([edge[1], -edge[0]]) / np.hypot(*edge)
    if normal @ tip < 0:
        normal = -normal
    return (qx - tip[0]) * normal[0] + (qy - tip[1]) * normal[1]


def _circle(x, y):
    return np.hypot(x, y) - 1.0


def _square(x, y):
    return np.maximum(np.abs(x), np.abs(y)) - 0.8


def _triangle(x, y):
    return _polygon_sd(x, y, 3, 0.55, phase=math.pi / 2)


def _cross(x, y):
    ax, ay = np.abs(x), np.abs(y)
    return np.minimum(np.maximum(ax - 0.95, ay - 0.3), np.maximum(ax - 0.3, ay - 0.95))


def _ellipse(x, y):
    return (np.hypot(x, y / 0.5) - 1.0) * 0.5


def _hexagon(x, y):
    return _polygon_sd(x, y, 6, 0.866)


def _ring(x, y):
    return np.abs(np.hypot(x, y) - 0.72) - 0.28


# name: (signed distance in the shape's frame, radius of its bounding circle in that frame)
SHAPES = {
    "circle": (_circle, 1.0),
    "square": (_square, 0.8 * math.sqrt(2.0)),
    "triangle": (_triangle, 1.1),
    "star": (_star_sd, 1.05),
    "cross": (_cross, math.hypot(0.95, 0.3)),
    "ellipse": (_ellipse, 1.0),
    "hexagon": (_hexagon, 1.0),
    "ring": (_ring, 1.0),
}
DEFAULT_CLASSES = ("circle", "square", "triangle", "star", "cross", "ellipse")

# Shape radius r as a fraction of the image side: the shape spans about 2r (35-80% when classifying).
CLASSIFY_RADIUS = (0.175, 0.4)
SEGMENT_RADIUS = (0.1, 0.25)
PLACEMENT_TRIES = 16  # candidate positions per shape when shapes must not overlap
_BLOCK_PIXELS = 2 ** 19


def _block_size(image_size):
    return int(min(512, max(1, _BLOCK_PIXELS // (image_size * image_size))))


def _background(rng, b, size, grid_u, grid_v):
    """Base colour plus a texture of two sinusoidal waves tinted per channel, float32 (b, 3, S, S).

    Work happens channels-first, where broadcasting a per-image colour runs over contiguous rows.
    """
    base = rng.uniform(0.0, 1.0, size=(b, 3, 1, 1)).astype(np.float32)
    texture = np.zeros((b, size, size), dtype=np.float32)
    for _ in range(2):
        freq = rng.uniform(1.0, 4.0, size=(b, 1, 1)).astype(np.float32)
        turn = rng.uniform(0.0, 2.0 * math.pi, size=(b, 1, 1)).astype(np.float32)
        phase = rng.uniform(0.0, 2.0 * math.pi, size=(b, 1, 1)).astype(np.float32)
        amp = rng.uniform(0.0, 0.12, size=(b, 1, 1)).astype(np.float32)
        wave = np.sin(2.0 * math.pi * freq * (np.cos(turn) * grid_u + np.sin(turn) * grid_v) + phase)
        texture += amp * wave
    tint = rng.uniform(0.5, 1.0, size=(b, 3, 1, 1)).astype(np.float32)
    return base, base + texture[:, None] * tint


def _contrasting(rng, base):
    """A colour whose every channel differs from the background's by 0.3-0.7 (shifted around the unit circle)."""
    shift = rng.uniform(0.3, 0.7, size=base.shape).astype(np.float32)
    return np.mod(base + shift, 1.0)


def _placement(rng, b, radius_range, bounds):
    """Centre (cx, cy), angle and radius per shape, keeping the bounding circle inside the image."""
    radius = rng.uniform(*radius_range, size=b).astype(np.float32)
    reach = np.minimum(bounds * radius, 0.5)
    cx = reach + rng.uniform(0.0, 1.0, size=b).astype(np.float32) * (1.0 - 2.0 * reach)
    cy = reach + rng.uniform(0.0, 1.0, size=b).astype(np.float32) * (1.0 - 2.0 * reach)
    angle = rng.uniform(0.0, 2.0 * math.pi, size=b).astype(np.float32)
    return cx, cy, angle, radius


def _signed_distance_px(names, classes, cx, cy, angle, radius, grid_u, grid_v, size):
    """Signed distance in pixels from every pixel to each image's shape, (b, S, S), class by class."""
    out = np.empty((len(classes), size, size), dtype=np.float32)
    for k, name in enumerate(names):
        sel = np.flatnonzero(classes == k)
        if sel.size == 0:
            continue
        c, s = np.cos(angle[sel])[:, None, None], np.sin(angle[sel])[:, None, None]
        du = grid_u - cx[sel][:, None, None]
        dv = grid_v - cy[sel][:, None, None]
        r = radius[sel][:, None, None]
        x = (c * du + s * dv) / r
        y = (-s * du + c * dv) / r
        out[sel] = SHAPES[name][0](x, y) * r * size
    return out


def _finish(rng, image):
    """Add pixel noise and quantise to uint8 HWC; in place to spare memory.

    The noise is uniform with standard deviation sigma ~ U(0.02, 0.06) per image (uniform draws cost a
    third of Gaussian ones, and at this size the eye and the network cannot tell them apart).
    """
    sigma = rng.uniform(0.02, 0.06, size=(image.shape[0], 1, 1, 1)).astype(np.float32)
    noise = rng.random(image.shape, dtype=np.float32)
    noise -= 0.5
    noise *= sigma * np.float32(math.sqrt(12.0) * 255.0)
    image *= 255.0
    image += noise
    np.rint(image, out=image)
    np.clip(image, 0, 255, out=image)
    return np.ascontiguousarray(image.astype(np.uint8).transpose(0, 2, 3, 1))


def _paint(image, alpha, colour):
    """image <- image + alpha (colour - image), the "over" blend of a shape onto the image, in place."""
    delta = np.subtract(colour, image)
    delta *= alpha[:, None]
    image += delta


def _free_placement(rng, b, bounds, placed, tries=PLACEMENT_TRIES):
    """Like ``_placement`` for one more shape per image, keeping its bounding circle clear of the
    circles ``placed`` so far (a list of (cx, cy, reach, present) arrays): ``tries`` candidates per image
    are drawn at once and the first clear one kept. Returns (cx, cy, angle, radius, reach, clear):
    ``reach`` the kept circle's radius, ``clear`` whether one was clear (else the shape is left out of
    that image)."""
    cx, cy, angle, radius = (a.reshape(b, tries) for a in
                             _placement(rng, b * tries, SEGMENT_RADIUS, np.repeat(bounds, tries)))
    reach = np.minimum(bounds[:, None] * radius, 0.5)
    clear = np.ones((b, tries), dtype=bool)
    for px, py, preach, present in placed:
        apart = np.hypot(cx - px[:, None], cy - py[:, None]) >= reach + preach[:, None]
        clear &= apart | ~present[:, None]
    first = clear.argmax(axis=1)
    rows = np.arange(b)
    return tuple(a[rows, first] for a in (cx, cy, angle, radius, reach, clear))


def render_block(rng, b, size, names, mode, max_shapes, overlap=True):
    """``b`` images (uint8, (b, S, S, 3)) and their targets: labels (b,) or masks (b, S, S) uint8."""
    ticks = (np.arange(size, dtype=np.float32) + 0.5) / size
    grid_v, grid_u = ticks[:, None], ticks[None, :]
    bounds = np.array([SHAPES[n][1] for n in names], dtype=np.float32)
    base, image = _background(rng, b, size, grid_u, grid_v)
    if mode == "classify":
        # Each run of K consecutive images holds every class once, so any prefix is balanced.
        k = len(names)
        labels = np.argsort(rng.random((-(-b // k), k)), axis=1).ravel()[:b]
        cx, cy, angle, radius = _placement(rng, b, CLASSIFY_RADIUS, bounds[labels])
        sd = _signed_distance_px(names, labels, cx, cy, angle, radius, grid_u, grid_v, size)
        _paint(image, np.clip(0.5 - sd, 0.0, 1.0), _contrasting(rng, base))
        return _finish(rng, image), labels.astype(np.int64)
    counts = rng.integers(1, max_shapes + 1, size=b)
    mask = np.zeros((b, size, size), dtype=np.uint8)
    half_border = 0.5 * size / 32.0
    placed = []
    for slot in range(max_shapes):
        classes = rng.integers(0, len(names), size=b)
        if overlap:
            cx, cy, angle, radius = _placement(rng, b, SEGMENT_RADIUS, bounds[classes])
            present = slot < counts
        else:
            cx, cy, angle, radius, reach, clear = _free_placement(rng, b, bounds[classes], placed)
            present = (slot < counts) & clear
            placed.append((cx, cy, reach, present))
        colour = _contrasting(rng, base)
        present = present[:, None, None]
        sd = _signed_distance_px(names, classes, cx, cy, angle, radius, grid_u, grid_v, size)
        _paint(image, np.clip(0.5 - sd, 0.0, 1.0) * present, colour)
        mask = np.where(present & (sd < 0), (classes + 1).astype(np.uint8)[:, None, None], mask)
        mask = np.where(present & (np.abs(sd) < half_border), np.uint8(IGNORE_INDEX), mask)
    return _finish(rng, image), mask


class Shapes(Dataset):
    """Coloured geometric shapes on textured noisy backgrounds, generated from ``seed`` (no download).

    Args:
        n: number of images.
        image_size: side S of the square RGB images (any size >= 8).
        mode: ``'classify'`` (one shape per image, target its class index) or ``'segment'`` (1 to
            ``max_shapes`` shapes, target an (S, S) int64 mask: 0 background, 1..K the classes, 255 on a
            thin border of each shape, about S/32 pixels wide, to be ignored by the loss).
        classes: names from ``SHAPES`` (circle, square, triangle, star, cross, ellipse, hexagon, ring);
            default the first six.
        seed: the generator seed; images are a pure function of (seed, image_size, mode, classes).
        transform: called on the HWC uint8 image (classify) or as ``transform(image, mask)`` returning
            the pair (segment; minidl's transforms apply the same geometry to both, nearest for the mask).
        target_transform: called on the label or mask afterwards.
        max_shapes: most shapes per image in segment mode.
        overlap: segment mode: whether shapes may overlap (and hide parts of each other). With
            ``False`` each shape's bounding circle is kept clear of the others' (up to
            ``PLACEMENT_TRIES`` candidate positions; a shape with no clear one is left out), so every
            shape is seen whole.

    Without ``transform`` a sample's image is a CHW float32 array in [0, 1]. The images live in memory
    as ``data`` (N, S, S, 3) uint8 (3 S^2 N bytes); the labels as ``targets``.
    """

    def __init__(self, n=10000, image_size=32, mode="classify", classes=DEFAULT_CLASSES, seed=0,
                 transform=None, target_transform=None, max_shapes=3, overlap=True):
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"Shapes: n must be a positive integer, got {n!r}")
        if not isinstance(image_size, (int, np.integer)) or image_size < 8:
            raise ValueError(f"Shapes: image_size must be an integer >= 8, got {image_size!r}")
        if mode not in ("classify", "segment"):
            raise ValueError(f"Shapes: mode must be 'classify' or 'segment', got {mode!r}")
        classes = tuple(classes)
        unknown = [c for c in classes if c not in SHAPES]
        if unknown or len(set(classes)) != len(classes) or len(classes) < 2:
            raise ValueError(
                f"Shapes: classes must be at least two distinct names from {sorted(SHAPES)}, got {classes!r}"
            )
        if not isinstance(max_shapes, (int, np.integer)) or max_shapes < 1:
            raise ValueError(f"Shapes: max_shapes must be a positive integer, got {max_shapes!r}")
        self.n, self.image_size, self.mode, self.seed = int(n), int(image_size), mode, int(seed)
        self.max_shapes = int(max_shapes)
        self.overlap = bool(overlap)
        self.classes = list(classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.transform = transform
        self.target_transform = target_transform
        self.data, self.targets = self._generate()

    def _generate(self):
        block = _block_size(self.image_size)
        images, targets = [], []
        mode_key = 0 if self.mode == "classify" else 1
        for b, start in enumerate(range(0, self.n, block)):
            rng = np.random.default_rng([self.seed, mode_key, b])
            count = min(block, self.n - start)
            im, tg = render_block(rng, block, self.image_size, self.classes, self.mode, self.max_shapes,
                                  self.overlap)
            images.append(im[:count])
            targets.append(tg[:count])
        return np.ascontiguousarray(np.concatenate(images)), np.concatenate(targets)

    def __len__(self):
        return self.n

    @property
    def batchable(self):
        return self.transform is None and self.target_transform is None

    def __getitem__(self, index):
        index = _check_index("Shapes", index, self.n)
        image = self.data[index].copy()
        if self.mode == "classify":
            target = int(self.targets[index])
            image = self.transform(image) if self.transform is not None else to_chw_float(image)
        else:
            target = self.targets[index].astype(np.int64)
            if self.transform is not None:
                image, target = self.transform(image, target)
            else:
                image = to_chw_float(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def get_batch(self, indices):
        """Images (N, 3, S, S) float32 in [0, 1] and labels (N,) or masks (N, S, S) int64, as Tensors."""
        indices = np.asarray(indices, dtype=np.int64)
        return Tensor(to_chw_float(self.data[indices])), Tensor(self.targets[indices].astype(np.int64))

    def __repr__(self):
        return (f"Shapes(n={self.n}, image_size={self.image_size}, mode={self.mode!r}, "
                f"classes={self.classes}, seed={self.seed})")

