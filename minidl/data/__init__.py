"""Data: datasets, the ``DataLoader`` and image transforms (``torch.utils.data`` and torchvision's names)."""
from . import transforms
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .loader import DataLoader, default_collate
from .randomness import current_generator, use_generator

__all__ = [
    "ConcatDataset", "DataLoader", "Dataset", "Subset", "TensorDataset", "current_generator",
    "default_collate", "random_split", "transforms", "use_generator",
]
