"""Colour transforms: ``ColorJitter`` and AlexNet's PCA ``Lighting`` noise. Masks pass through unchanged.

Both work on floats in [0, 1] (uint8 images are divided by 255 and converted back, rounded and clipped).
"""
import numpy as np

from ._image import Transform, from_float, symmetric_range, to_float

# AlexNet's lighting noise uses the principal components of ImageNet's RGB pixel values (on a [0, 1]
# scale): eigenvalues and, as columns, their eigenvectors.
IMAGENET_PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_PCA_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)

_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])


def grayscale(x):
    """Luma of an RGB float image: 0.299 R + 0.587 G + 0.114 B, shape (H, W, 1)."""
    return (x[..., :3] @ _GRAY_WEIGHTS.astype(x.dtype))[..., None]


def rgb_to_hsv(rgb):
    """(H, W, 3) RGB in [0, 1] to HSV, hue in [0, 1)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    value = rgb.max(axis=-1)
    delta = value - rgb.min(axis=-1)
    safe = np.where(delta > 0, delta, 1.0)
    saturation = np.where(value > 0, delta / np.where(value > 0, value, 1.0), 0.0)
    hue = np.select(
        [value == r, value == g],
        [((g - b) / safe) % 6.0, (b - r) / safe + 2.0],
        (r - g) / safe + 4.0,
    )
    hue = np.where(delta > 0, hue / 6.0, 0.0) % 1.0
    return np.stack([hue, saturation, value], axis=-1)


def hsv_to_rgb(hsv):
    """Inverse of ``rgb_to_hsv``: each channel n in (5, 3, 1) is v - v s max(0, min(k, 4 - k, 1)), k = (n + 6h) mod 6."""
    h, s, v = hsv[..., 0:1], hsv[..., 1:2], hsv[..., 2:3]
    k = (np.array([5.0, 3.0, 1.0]) + 6.0 * h) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


class ColorJitter(Transform):
    """Random brightness, contrast, saturation and hue, applied in a random order (as torchvision).

    Factors are drawn uniformly: ``brightness=b`` gives f in [max(0, 1 - b), 1 + b] (or a given pair),
    likewise ``contrast`` and ``saturation``; ``hue=h`` a shift in [-h, h], h <= 0.5.

        brightness: x * f          contrast: f x + (1 - f) mean(gray(x))
        saturation: f x + (1 - f) gray(x)       hue: rotate the HSV hue by the shift
    Results are clipped to [0, 1]. Saturation and hue leave one-channel images unchanged.
    """

    random = True

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        self.brightness = self._factor(brightness, "brightness")
        self.contrast = self._factor(contrast, "contrast")
        self.saturation = self._factor(saturation, "saturation")
        self.hue = None
        if hue:
            self.hue = symmetric_range(hue, "ColorJitter", "hue")
            if not -0.5 <= self.hue[0] <= self.hue[1] <= 0.5:
                raise ValueError(f"ColorJitter: hue must lie in [-0.5, 0.5], got {hue!r}")

    @staticmethod
    def _factor(value, what):
        if not value:
            return None
        return symmetric_range(value, "ColorJitter", what, center=1.0, low=0.0)

    def apply(self, array, mask, rng):
        x = to_float(array)
        order = rng.permutation(4)
        ranges = (self.brightness, self.contrast, self.saturation, self.hue)
        factors = [None if r is None else rng.uniform(*r) for r in ranges]
        rgb = x.shape[2] >= 3
        for op in order:
            f = factors[op]
            if f is None:
                continue
            if op == 0:
                x = np.clip(x * f, 0.0, 1.0)
            elif op == 1:
                gray = grayscale(x).mean() if rgb else x.mean()
                x = np.clip(f * x + (1.0 - f) * gray, 0.0, 1.0)
            elif op == 2 and rgb:
                x = np.concatenate([np.clip(f * x[..., :3] + (1.0 - f) * grayscale(x), 0.0, 1.0), x[..., 3:]], -1)
            elif op == 3 and rgb:
                hsv = rgb_to_hsv(x[..., :3])
                hsv[..., 0] = (hsv[..., 0] + f) % 1.0
                x = np.concatenate([hsv_to_rgb(hsv), x[..., 3:]], -1).astype(x.dtype)
        return from_float(x, array.dtype), mask


class Lighting(Transform):
    """AlexNet's PCA colour augmentation (Krizhevsky et al. 2012, section 4.1).

    Draw alpha ~ N(0, alphastd^2) per component and add to every pixel the same RGB offset

        delta = V (alpha * lambda),   i.e.  delta_i = sum_j V[i, j] alpha_j lambda_j,

    with lambda the eigenvalues and the columns of V the eigenvectors of the RGB covariance (ImageNet's
    by default, on a [0, 1] scale; uint8 images get 255 * delta). Takes HWC RGB images before ToTensor.
    The result is clipped to the valid range.
    """

    random = True

    def __init__(self, alphastd=0.1, eigval=IMAGENET_PCA_EIGVAL, eigvec=IMAGENET_PCA_EIGVEC):
        if alphastd < 0:
            raise ValueError(f"Lighting: alphastd must be non-negative, got {alphastd}")
        self.alphastd = float(alphastd)
        self.eigval = np.asarray(eigval, dtype=np.float64)
        self.eigvec = np.asarray(eigvec, dtype=np.float64)
        if self.eigval.shape != (3,) or self.eigvec.shape != (3, 3):
            raise ValueError(
                f"Lighting: expected 3 eigenvalues and a 3x3 eigenvector matrix, got shapes "
                f"{self.eigval.shape} and {self.eigvec.shape}"
            )

    def offset(self, rng):
        """The RGB offset delta for one draw of alpha."""
        alpha = rng.normal(0.0, self.alphastd, size=3)
        return self.eigvec @ (alpha * self.eigval)

    def apply(self, array, mask, rng):
        if array.shape[2] != 3:
            raise ValueError(f"Lighting: expected an RGB image with 3 channels, got {array.shape[2]}")
        if self.alphastd == 0:
            return array, mask
        x = to_float(array) + self.offset(rng)
        return from_float(x, array.dtype), mask
