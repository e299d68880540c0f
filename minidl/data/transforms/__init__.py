"""Image transforms and augmentations (``torchvision.transforms``' names and arguments).

Transforms take Pillow images or HWC NumPy arrays (uint8 or float in [0, 1]) and return NumPy arrays;
``ToTensor`` turns the result into a CHW float32 array and ``Normalize`` standardises it. Called as
``t(img, mask)`` they transform a segmentation pair with the same geometry. Random transforms draw
from ``rng=``, their ``generator`` attribute, the generator the ``DataLoader`` installs for each sample,
or ``minidl.random.generator()``, in that order.
"""
from ._image import IGNORE_INDEX, Transform
from .color import IMAGENET_PCA_EIGVAL, IMAGENET_PCA_EIGVEC, ColorJitter, Lighting, hsv_to_rgb, rgb_to_hsv
from .geometric import (
    CenterCrop, RandomAffine, RandomCrop, RandomHorizontalFlip, RandomLensDistortion, RandomResizedCrop,
    RandomVerticalFlip, Resize,
)
from .tensor import IMAGENET_MEAN, IMAGENET_STD, Compose, Normalize, ToTensor

__all__ = [
    "IGNORE_INDEX", "IMAGENET_MEAN", "IMAGENET_PCA_EIGVAL", "IMAGENET_PCA_EIGVEC", "IMAGENET_STD",
    "CenterCrop", "ColorJitter", "Compose", "Lighting", "Normalize", "RandomAffine", "RandomCrop",
    "RandomHorizontalFlip", "RandomLensDistortion", "RandomResizedCrop", "RandomVerticalFlip", "Resize",
    "ToTensor", "Transform", "hsv_to_rgb", "rgb_to_hsv",
]
