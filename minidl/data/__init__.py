"""Data: datasets, the ``DataLoader`` and image transforms (``torch.utils.data`` and torchvision's names)."""
from . import transforms
from .cifar import CIFAR10
from .dataset import ArrayImageDataset, ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .downloads import ChecksumError, download_url
from .folder import IMG_EXTENSIONS, ImageFolder
from .loader import DataLoader, default_collate
from .mnist import MNIST, FashionMNIST
from .randomness import current_generator, use_generator
from .shapes import Shapes
from .voc import VOC_CLASSES, VOCSegmentation, voc_colormap

__all__ = [
    "CIFAR10", "IMG_EXTENSIONS", "ArrayImageDataset", "ChecksumError", "ConcatDataset", "DataLoader",
    "Dataset", "FashionMNIST", "ImageFolder", "MNIST", "Shapes", "Subset", "TensorDataset", "VOC_CLASSES",
    "VOCSegmentation", "current_generator", "default_collate", "download_url", "random_split", "transforms",
    "use_generator", "voc_colormap",
]
