"""Where random transforms draw from: a per-sample generator that the ``DataLoader`` installs.

The loader gives every sample of an epoch its own ``numpy.random.Generator``, seeded from the epoch's
seed and the sample's position, and installs it for the current thread while that sample is loaded.
Transforms called inside pick it up, so augmentation is the same whichever worker thread runs it and
however many there are. Outside a loader, transforms fall back to ``minidl.random.generator()``.
"""
import contextlib
import threading

import numpy as np

from .. import random as _random

_local = threading.local()


@contextlib.contextmanager
def use_generator(generator):
    """Make ``generator`` the one ``current_generator()`` returns in this thread, for the ``with`` block."""
    previous = getattr(_local, "generator", None)
    _local.generator = generator
    try:
        yield generator
    finally:
        _local.generator = previous


def current_generator():
    """The generator installed by ``use_generator`` in this thread, else ``minidl.random.generator()``."""
    generator = getattr(_local, "generator", None)
    return generator if generator is not None else _random.generator()


def sample_generator(epoch_seed, position):
    """The generator of the sample at ``position`` in an epoch seeded with ``epoch_seed``."""
    return np.random.default_rng(np.random.SeedSequence([int(epoch_seed), int(position)]))
