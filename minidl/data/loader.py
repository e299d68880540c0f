"""``DataLoader``: batches of a dataset, shuffled with a seeded generator, optionally loaded by worker threads.

Determinism. Each epoch draws, from the loader's generator, the order of the samples (when shuffling)
and one 63-bit epoch seed. Sample ``k`` of the epoch is loaded with its own generator seeded by
``(epoch seed, k)`` (see ``randomness.py``), so random augmentations give the same batches for any
``num_workers``, and the whole run repeats given the seed. Each epoch's order differs from the last.

Resuming inside an epoch. ``state_dict()`` holds the generator's state and, while an epoch is being
iterated, the generator's state when that epoch began and how many batches it has handed out. After
``load_state_dict`` the next iteration draws that epoch's order and seed again from a copy of the
recorded state and continues with the next batch, so an interrupted run resumed from a checkpoint sees
the same batches, in the same order and with the same augmentations, as one that never stopped.

Workers are threads: Pillow decoding and NumPy's array work release the GIL, and threads share the
dataset without pickling it. Batches come out in order; at most ``2 * num_workers`` are in flight.
"""
import collections.abc
import concurrent.futures
import math
import numbers

import numpy as np

from .. import backend
from ..tensor import Tensor
from .dataset import resolve_generator
from .randomness import sample_generator, use_generator


def _describe(x):
    shape = getattr(x, "shape", None)
    return f"{type(x).__name__} of shape {tuple(shape)}" if shape is not None else type(x).__name__


def _check_same_shape(arrays, what):
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) > 1:
        raise ValueError(
            f"default_collate: the samples' {what} have different shapes {sorted(shapes)[:4]}; "
            "resize or crop them to one size (e.g. transforms.Resize / CenterCrop) or pass a collate_fn"
        )


def default_collate(batch):
    """Stack a list of samples into a batch of minidl Tensors, keeping the samples' structure.

    Arrays and Tensors are stacked along a new first axis and keep their dtype (images come out as the
    dataset made them, float32 CHW for minidl's datasets). Python ints become int64, Python floats
    float32 and bools bool; NumPy scalars keep their dtype. Tuples, lists and dicts are collated
    element by element; strings are returned as a list.
    """
    if not batch:
        raise ValueError("default_collate: got an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        xp = backend.get_array_module(*(t.data for t in batch))
        if len({t.device for t in batch}) > 1:
            raise ValueError("default_collate: the samples' tensors are on different devices")
        arrays = [t.data for t in batch]
        _check_same_shape(arrays, "tensors")
        return Tensor(xp.stack(arrays))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OUS":
            raise TypeError(f"default_collate: cannot batch arrays of dtype {elem.dtype}")
        _check_same_shape(batch, "arrays")
        return Tensor(np.stack(batch))
    if isinstance(elem, np.generic):
        return Tensor(np.array(batch))
    if isinstance(elem, bool):
        return Tensor(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return Tensor(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return Tensor(np.array(batch, dtype=np.float32))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in elem}
    if isinstance(elem, collections.abc.Sequence):
        if len({len(sample) for sample in batch}) > 1:
            raise ValueError("default_collate: the samples are sequences of different lengths")
        columns = [default_collate(list(column)) for column in zip(*batch)]
        if isinstance(elem, tuple) and hasattr(elem, "_fields"):
            return type(elem)(*columns)
        return tuple(columns) if isinstance(elem, tuple) else columns
    raise TypeError(
        f"default_collate: cannot batch samples of type {_describe(elem)}; expected arrays, Tensors, "
        "numbers, strings, or tuples/lists/dicts of them (or pass a collate_fn)"
    )


def move_to_device(batch, device):
    """``batch`` with every Tensor (and array) inside moved to ``device``."""
    if isinstance(batch, Tensor):
        return batch if batch.device == device else Tensor(backend.to_device(batch.data, device))
    if isinstance(batch, np.ndarray) or backend.is_gpu_array(batch):
        return Tensor(backend.to_device(batch, device))
    if isinstance(batch, collections.abc.Mapping):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(move_to_device(v, device) for v in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


class DataLoader:
    """Iterate over ``dataset`` in batches (``torch.utils.data.DataLoader``'s arguments and meaning).

    Args:
        dataset: a map-style dataset (``len`` and ``[i]``).
        batch_size: samples per batch (a positive integer).
        shuffle: a new random order each epoch.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        collate_fn: turns a list of samples into a batch; default ``default_collate``.
        num_workers: worker threads loading batches ahead (0 loads in the calling thread).
        generator: a ``numpy.random.Generator`` or an integer seed for the order and the per-sample
            augmentation streams; default ``minidl.random.generator()`` (so ``minidl.manual_seed``
            makes runs repeat).
        device: where batches go: ``'cpu'``, ``'cuda'``, ``'auto'``; ``None`` leaves them on the CPU.
        pin_memory: accepted for PyTorch compatibility and ignored.

    A dataset with ``batchable`` true and a ``get_batch(indices)`` method is read a batch at a time
    (one gather instead of ``batch_size`` Python calls) when no ``collate_fn`` is given.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None,
                 num_workers=0, generator=None, device=None, pin_memory=False):
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(num_workers, numbers.Integral) or isinstance(num_workers, bool) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative integer, got {num_workers!r}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.num_workers = int(num_workers)
        # An int seed gets the loader its own generator; None means minidl's global one, looked up at
        # each epoch so that a later ``minidl.manual_seed`` still takes effect.
        self._generator = None if generator is None else resolve_generator(generator)
        self.device = None if device is None else backend.canonical_device(device)
        self.pin_memory = pin_memory
        self._epoch = None   # {'generator': state when the epoch began, 'batches': handed out so far}
        self._resume = None  # such a record, loaded by load_state_dict, for the next iteration

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    @property
    def uses_batch_path(self):
        """True when batches are read with the dataset's ``get_batch`` instead of sample by sample."""
        return (self.collate_fn is None and bool(getattr(self.dataset, "batchable", False))
                and callable(getattr(self.dataset, "get_batch", None)))

    @property
    def generator(self):
        """The generator the epochs' orders and seeds are drawn from."""
        return self._generator if self._generator is not None else resolve_generator(None)

    def state_dict(self):
        """The generator's state and, in the middle of an epoch, where that epoch stands (see above).

        An epoch counts as in progress from the first batch until the iteration runs to its end; an
        iteration left early keeps its record until the next one begins.
        """
        state = {"generator": self.generator.bit_generator.state}
        if self._epoch is not None:
            state["epoch"] = dict(self._epoch)
        return state

    def load_state_dict(self, state):
        """Restore ``state_dict()``; a recorded epoch in progress is continued by the next iteration."""
        self.generator.bit_generator.state = state["generator"]
        epoch = state.get("epoch")
        self._resume = None if epoch is None else {"generator": epoch["generator"],
                                                    "batches": int(epoch["batches"])}

    def _generator_at(self, bit_state):
        """A private generator in ``bit_state``, drawing what the loader's own drew from that state."""
        generator = np.random.Generator(type(self.generator.bit_generator)())
        generator.bit_generator.state = bit_state
        return generator

    def _epoch_plan(self, generator):
        n = len(self.dataset)
        order = generator.permutation(n) if self.shuffle else np.arange(n)
        epoch_seed = int(generator.integers(0, 2**63 - 1))
        stop = (n // self.batch_size) * self.batch_size if self.drop_last else n
        starts = range(0, stop, self.batch_size)
        return [(s, order[s:min(s + self.batch_size, stop)]) for s in starts], epoch_seed

    def _load(self, start, indices, epoch_seed):
        if self.uses_batch_path:
            batch = self.dataset.get_batch(indices)
        else:
            samples = []
            for k, index in enumerate(indices):
                with use_generator(sample_generator(epoch_seed, start + k)):
                    samples.append(self.dataset[int(index)])
            batch = (self.collate_fn or default_collate)(samples)
        return batch if self.device is None else move_to_device(batch, self.device)

    def __iter__(self):
        return self._epoch_batches()

    def _epoch_batches(self):
        # A generator: the epoch's order is drawn at the first ``next``, so an iterator made and never
        # used (``tqdm.auto`` makes one eagerly) draws nothing and leaves a resume record in place.
        if self._resume is not None:
            record, self._resume = self._resume, None
            plan, epoch_seed = self._epoch_plan(self._generator_at(record["generator"]))
        else:
            record = {"generator": self.generator.bit_generator.state, "batches": 0}
            plan, epoch_seed = self._epoch_plan(self.generator)
        self._epoch = record
        plan = plan[record["batches"]:]
        batches = (self._load(start, indices, epoch_seed) for start, indices in plan) \
            if self.num_workers == 0 else self._threaded(plan, epoch_seed)
        for batch in batches:
            record["batches"] += 1  # counted when handed out: after k steps on its batches, k
            yield batch
        if self._epoch is record:
            self._epoch = None

    def _threaded(self, plan, epoch_seed):
        pool = concurrent.futures.ThreadPoolExecutor(self.num_workers, thread_name_prefix="minidl-loader")
        try:
            pending = collections.deque()
            jobs = iter(plan)
            for start, indices in jobs:
                pending.append(pool.submit(self._load, start, indices, epoch_seed))
                if len(pending) >= 2 * self.num_workers:
                    break
            while pending:
                batch = pending.popleft().result()
                for start, indices in jobs:
                    pending.append(pool.submit(self._load, start, indices, epoch_seed))
                    break
                yield batch
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
