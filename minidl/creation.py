"""Making tensors: ``tensor`` (PyTorch's dtype inference), ``zeros``/``ones``/``empty``/``full``,
``arange``, and the seeded random ``randn``/``rand``."""
import numpy as np

from . import backend
from .tensor import DEFAULT_DTYPE, Tensor, int64


def tensor(data, dtype=None, device=None, requires_grad=False):
    """Make a tensor, inferring the dtype as ``torch.tensor`` does (bool, int64 or float32)."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray) or backend.is_gpu_array(data):
        array = data.copy()
    else:
        array = np.asarray(data)
        if dtype is None:
            if array.dtype.kind == "f":
                array = array.astype(DEFAULT_DTYPE)
            elif array.dtype.kind in "iu":
                array = array.astype(int64)
    return Tensor(array, requires_grad=requires_grad, dtype=dtype, device=device or _host_default(data))


def _host_default(data):
    if isinstance(data, np.ndarray) or backend.is_gpu_array(data):
        return backend.device_of(data)
    return backend.get_default_device()


def from_numpy(array):
    return Tensor(array)


def _creator(name):
    def make(*shape, dtype=None, device=None, requires_grad=False):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        device = backend.canonical_device(device)
        xp = backend.cupy_module() if device == "cuda" else np
        array = getattr(xp, name)(tuple(int(s) for s in shape), dtype=np.dtype(dtype or DEFAULT_DTYPE))
        return Tensor(array, requires_grad=requires_grad)

    make.__name__ = name
    make.__doc__ = f"A tensor of the given shape filled by ``{name}`` (float32 unless ``dtype``)."
    return make


zeros = _creator("zeros")
ones = _creator("ones")
empty = _creator("empty")


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    t = zeros(shape, dtype=dtype, device=device)
    t.data[...] = fill_value
    return t.requires_grad_(requires_grad)


def zeros_like(t, dtype=None):
    return Tensor(t._xp.zeros_like(t.data, dtype=dtype))


def ones_like(t, dtype=None):
    return Tensor(t._xp.ones_like(t.data, dtype=dtype))


def arange(*args, dtype=None, device=None):
    device = backend.canonical_device(device)
    xp = backend.cupy_module() if device == "cuda" else np
    array = xp.arange(*args)
    if dtype is not None:
        array = array.astype(dtype)
    elif array.dtype.kind == "f":
        array = array.astype(DEFAULT_DTYPE)
    return Tensor(array)


def _random(kind):
    def make(*shape, dtype=None, device=None, requires_grad=False):
        from . import random

        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        shape = tuple(int(s) for s in shape)
        g = random.generator()
        array = g.standard_normal(shape) if kind == "randn" else g.random(shape)
        array = array.astype(np.dtype(dtype or DEFAULT_DTYPE))
        return Tensor(array, requires_grad=requires_grad, device=device)

    make.__name__ = kind
    make.__doc__ = (
        "Standard normal samples" if kind == "randn" else "Uniform samples in [0, 1)"
    ) + " from minidl's seeded generator (``manual_seed``)."
    return make


randn = _random("randn")
rand = _random("rand")
