"""Datasets: the map-style ``Dataset`` protocol and the ways to combine and split them (as ``torch.utils.data``).

A dataset answers ``len(ds)`` and ``ds[i]``. One that keeps its samples in memory may also offer
``get_batch(indices)``, returning a whole collated batch at once; the ``DataLoader`` takes that fast path
when the dataset's ``batchable`` attribute is true (no per-sample transform to run).
"""
import bisect
import math
import numbers

import numpy as np

from .. import random as _random
from ..tensor import Tensor


class Dataset:
    """Base class of map-style datasets: subclasses implement ``__getitem__`` and ``__len__``."""

    batchable = False

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


def _check_index(name, index, length):
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
        raise TypeError(f"{name}: index must be an integer, got {type(index).__name__}")
    index = int(index)
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"{name}: index {index} out of range for a dataset of {length} samples")
    return index


def _as_array(x):
    return np.asarray(x.data) if isinstance(x, Tensor) else np.asarray(x)


class TensorDataset(Dataset):
    """Samples are the i-th rows of equally long tensors or arrays: ``ds[i] = (t0[i], t1[i], ...)``."""

    batchable = True

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor or array")
        self.tensors = tuple(_as_array(t) for t in tensors)
        lengths = [t.shape[0] if t.ndim else None for t in self.tensors]
        if None in lengths or len(set(lengths)) != 1:
            shapes = [tuple(t.shape) for t in self.tensors]
            raise ValueError(f"TensorDataset: all tensors need the same first dimension, got shapes {shapes}")

    def __getitem__(self, index):
        index = _check_index("TensorDataset", index, len(self))
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]

    def get_batch(self, indices):
        """The rows ``indices`` of every tensor, as minidl Tensors (one gather per tensor)."""
        indices = np.asarray(indices, dtype=np.int64)
        return tuple(Tensor(np.ascontiguousarray(t[indices])) for t in self.tensors)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]
        n = len(dataset)
        bad = [i for i in self.indices if not -n <= i < n]
        if bad:
            raise IndexError(f"Subset: indices {bad[:5]} out of range for a dataset of {n} samples")

    @property
    def batchable(self):
        return bool(getattr(self.dataset, "batchable", False)) and hasattr(self.dataset, "get_batch")

    def __getitem__(self, index):
        return self.dataset[self.indices[_check_index("Subset", index, len(self))]]

    def __len__(self):
        return len(self.indices)

    def get_batch(self, indices):
        own = np.asarray(self.indices, dtype=np.int64)
        return self.dataset.get_batch(own[np.asarray(indices, dtype=np.int64)])

    def __getattr__(self, name):
        # Class names and similar metadata of the wrapped dataset stay reachable (``subset.classes``).
        if name in ("dataset", "indices") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.dataset, name)


class ConcatDataset(Dataset):
    """Several datasets one after the other: index ``i`` falls in the first dataset whose cumulative size exceeds it."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected at least one dataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self):
        return int(self.cumulative_sizes[-1]) if self.cumulative_sizes else 0

    def __getitem__(self, index):
        index = _check_index("ConcatDataset", index, len(self))
        k = bisect.bisect_right(self.cumulative_sizes, index)
        start = 0 if k == 0 else int(self.cumulative_sizes[k - 1])
        return self.datasets[k][index - start]


class ArrayImageDataset(Dataset):
    """Images held in memory as ``data`` (N, H, W, C) uint8 with class indices ``targets`` (N,).

    A sample is ``(image, target)``: the HWC uint8 image goes to ``transform`` when there is one,
    otherwise it is returned as a CHW float32 array in [0, 1]. Without transforms, ``get_batch`` gathers
    a whole batch at once.
    """

    def __init__(self, data, targets, transform=None, target_transform=None):
        self.data = data
        self.targets = np.asarray(targets, dtype=np.int64)
        self.transform = transform
        self.target_transform = target_transform

    @property
    def batchable(self):
        return self.transform is None and self.target_transform is None

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        index = _check_index(type(self).__name__, index, len(self))
        image, target = self.data[index].copy(), int(self.targets[index])
        image = self.transform(image) if self.transform is not None else to_chw_float(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def get_batch(self, indices):
        """Images (N, C, H, W) float32 in [0, 1] and labels (N,) int64, as Tensors."""
        indices = np.asarray(indices, dtype=np.int64)
        return Tensor(to_chw_float(self.data[indices])), Tensor(self.targets[indices])


def to_chw_float(images):
    """HWC uint8 image(s), (..., H, W, C), to contiguous (..., C, H, W) float32 in [0, 1]."""
    chw = np.moveaxis(images, -1, -3).astype(np.float32)
    chw *= np.float32(1.0 / 255.0)
    return np.ascontiguousarray(chw)


def _split_lengths(lengths, n):
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: expected at least one length")
    fractional = all(isinstance(x, numbers.Real) and not isinstance(x, numbers.Integral) for x in lengths)
    if fractional and math.isclose(sum(lengths), 1.0, abs_tol=1e-6):
        if any(not 0 <= x <= 1 for x in lengths):
            raise ValueError(f"random_split: fractions must lie in [0, 1], got {lengths}")
        # As PyTorch: floor each part, then hand the remainder out one by one, round robin.
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        return sizes
    if any(not isinstance(x, numbers.Integral) or x < 0 for x in lengths):
        raise ValueError(
            f"random_split: lengths must be non-negative integers summing to {n} "
            f"or fractions summing to 1, got {lengths}"
        )
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, the dataset has {n} samples")
    return [int(x) for x in lengths]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into disjoint random ``Subset``\\ s of the given lengths.

    ``lengths`` are sample counts summing to ``len(dataset)``, or fractions summing to 1 (each part gets
    ``floor(n * f)`` samples and the remainder is dealt out one at a time, as PyTorch). ``generator`` is a
    ``numpy.random.Generator`` or an integer seed; without one, minidl's seeded generator is used.
    """
    n = len(dataset)
    sizes = _split_lengths(lengths, n)
    rng = resolve_generator(generator)
    order = rng.permutation(n)
    bounds = np.cumsum([0] + sizes)
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def resolve_generator(generator):
    """A ``numpy.random.Generator`` from a generator, an integer seed, or ``None`` (minidl's own)."""
    if generator is None:
        return _random.generator()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(
        f"expected a numpy.random.Generator, an integer seed or None, got {type(generator).__name__}"
    )
