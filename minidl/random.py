"""The engine's random generators: one NumPy ``Generator`` for the CPU, CuPy's for the GPU.

``manual_seed(n)`` reseeds both, so dropout masks, initialisation and shuffling repeat run to run.
"""
import numpy as np

_seed = None
_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed every generator minidl draws from (CPU now, GPU now or when CuPy is first loaded)."""
    global _seed, _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: expected an integer seed, got {type(seed).__name__}")
    _seed = int(seed)
    _generator = np.random.default_rng(_seed)
    _seed_gpu()


def _seed_gpu():
    from . import backend

    if _seed is not None and backend._cupy is not None:
        backend._cupy.random.seed(_seed)


def generator():
    """The CPU generator (a ``numpy.random.Generator``)."""
    return _generator


def get_rng_state():
    """The CPU generator's state as plain values (checkpoints store it so a resumed run repeats)."""
    return {"cpu": _generator.bit_generator.state}


def set_rng_state(state):
    _generator.bit_generator.state = state["cpu"]


def xp_random(xp):
    """A generator for ``xp``: minidl's NumPy generator, or CuPy's global random state."""
    if xp is np:
        return _generator
    return xp.random
