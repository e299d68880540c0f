"""``Compose``, ``ToTensor`` and ``Normalize``: chaining transforms and turning images into network input."""
import numpy as np

from ...backend import get_array_module
from ...tensor import Tensor
from ..randomness import use_generator
from ._image import is_pil, to_hwc

# ImageNet's per-channel RGB mean and standard deviation on a [0, 1] scale (torchvision's models).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Compose:
    """Apply transforms one after another: ``Compose([t1, t2])(x) = t2(t1(x))``.

    ``Compose(...)(img, mask)`` passes the pair through every transform (each of minidl's transforms
    takes ``(img, mask)`` and applies the same geometry to both). ``rng=`` makes every random transform
    in the chain draw from that generator.
    """

    def __init__(self, transforms):
        transforms = list(transforms)
        for t in transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {type(t).__name__}")
        self.transforms = transforms

    def __call__(self, img, mask=None, rng=None):
        if rng is not None:
            with use_generator(rng):
                return self(img, mask)
        for t in self.transforms:
            if mask is None:
                img = t(img)
            else:
                img, mask = t(img, mask)
        return img if mask is None else (img, mask)

    def __repr__(self):
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class ToTensor:
    """HWC image to a CHW float32 array: uint8 (and Pillow images) are divided by 255 into [0, 1].

    Float arrays are only transposed (as torchvision, which rescales only uint8). A mask becomes an
    int64 (H, W) array. The result is a NumPy array; the ``DataLoader`` stacks batches into Tensors.
    """

    def __call__(self, img, mask=None):
        array, _ = to_hwc(np.asarray(img) if is_pil(img) else img, "ToTensor")
        chw = np.ascontiguousarray(array.transpose(2, 0, 1))
        out = chw.astype(np.float32) / np.float32(255.0) if array.dtype == np.uint8 else chw.astype(np.float32)
        if mask is None:
            return out
        return out, np.asarray(mask).astype(np.int64)

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """Per channel: out[c] = (x[c] - mean[c]) / std[c], on a CHW array or Tensor (after ToTensor)."""

    def __init__(self, mean, std, inplace=False):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"Normalize: mean has {self.mean.size} values but std has {self.std.size}")
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std must be non-zero, got {tuple(self.std)}")
        self.inplace = inplace

    def __call__(self, img, mask=None):
        is_tensor = isinstance(img, Tensor)
        array = img.data if is_tensor else img
        if getattr(array, "ndim", 0) < 3 or array.dtype.kind != "f":
            raise TypeError(
                f"Normalize: expected a float CHW (or NCHW) array or Tensor, got {type(img).__name__} "
                f"with shape {getattr(array, 'shape', None)}; put ToTensor before Normalize"
            )
        c = array.shape[-3]
        if self.mean.size not in (1, c):
            raise ValueError(f"Normalize: the image has {c} channels but mean/std have {self.mean.size} values")
        xp = get_array_module(array)
        mean = xp.asarray(self.mean, dtype=array.dtype).reshape(-1, 1, 1)
        std = xp.asarray(self.std, dtype=array.dtype).reshape(-1, 1, 1)
        if self.inplace:
            array -= mean
            array /= std
            out = array
        else:
            out = (array - mean) / std
        out = Tensor(out) if is_tensor else out
        return out if mask is None else (out, mask)

    def __repr__(self):
        return f"Normalize(mean={tuple(self.mean.tolist())}, std={tuple(self.std.tolist())})"
