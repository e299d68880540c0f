"""Image input and gradients shared by the hand-designed features (HOG, dense SIFT).

``image_batch`` checks the input: (N, C, H, W) or (C, H, W) floating-point images, as an array or a
Tensor, on NumPy or CuPy. ``centred_differences`` gives the image gradient by the kernel [-1, 0, 1]
along x (columns) and y (rows):

    gx[y, x] = I[y, x + 1] - I[y, x - 1],      gy[y, x] = I[y + 1, x] - I[y - 1, x]

with the image extended by its edge pixels, so a border pixel sees a one-sided difference of half the
size rather than a false edge against zero.
"""
from .. import backend
from ..tensor import Tensor


def image_batch(images, who):
    """``images`` as an (N, C, H, W) floating-point array (a single (C, H, W) image gets N = 1); ``who``
    names the caller in the errors."""
    a = images.data if isinstance(images, Tensor) else images
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"{who}: expected images of shape (N, C, H, W) or (C, H, W), got {tuple(a.shape)}")
    if a.dtype.kind != "f":
        raise TypeError(f"{who}: expected floating-point images, got {a.dtype}")
    return a


def centred_differences(a):
    """``(gx, gy)``, each of ``a``'s shape: the centred differences along its last two axes (x, y)."""
    xp = backend.get_array_module(a)
    p = xp.pad(a, ((0, 0),) * (a.ndim - 2) + ((1, 1), (1, 1)), mode="edge")
    gx = p[..., 1:-1, 2:] - p[..., 1:-1, :-2]
    gy = p[..., 2:, 1:-1] - p[..., :-2, 1:-1]
    return gx, gy
