"""Making tensors, with PyTorch's signatures: ``tensor`` (PyTorch's dtype inference),
``zeros``/``ones``/``empty``/``full`` and their ``*_like`` twins, ``eye``, ``arange``, ``linspace``, and the
seeded random ``randn``/``rand``/``randint``/``randperm``.

Sizes are checked as PyTorch checks them: ints >= 0 (``zeros(2.5)`` and ``zeros(-1)`` are errors, not
truncated or taken as "infer"), given as separate arguments or as one tuple.
"""
import numpy as np

from . import backend
from .functional import validation as check
from .tensor import DEFAULT_DTYPE, Tensor, int64


def tensor(data, dtype=None, device=None, requires_grad=False):
    """Make a tensor, inferring the dtype as ``torch.tensor`` does (bool, int64 or float32)."""
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_array(data):
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
    if backend.is_array(data):
        return backend.device_of(data)
    return backend.get_default_device()


def from_numpy(array):
    return Tensor(array)


def _size(args, op):
    """``f(2, 3)`` and ``f((2, 3))`` alike, checked."""
    shape = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
    return check.size(shape, op)


def _xp(device):
    return backend.cupy_module() if backend.canonical_device(device) == "cuda" else np


def _dtype(dtype, default=DEFAULT_DTYPE):
    return np.dtype(default if dtype is None else dtype)


def _creator(name):
    def make(*size, dtype=None, device=None, requires_grad=False):
        shape = _size(size, name)
        with check.memory_for(name, f"a tensor of shape {shape}"):
            array = getattr(_xp(device), name)(shape, dtype=_dtype(dtype))
        return Tensor(array, requires_grad=requires_grad)

    make.__name__ = name
    make.__doc__ = f"A tensor of the given shape filled by ``{name}`` (float32 unless ``dtype``)."
    return make


zeros = _creator("zeros")
ones = _creator("ones")
empty = _creator("empty")


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """A tensor of ``size`` filled with ``fill_value``; the dtype is inferred from it as PyTorch does
    (bool, int64 or float32) unless given."""
    if not check.is_number(fill_value) and not isinstance(fill_value, (bool, np.bool_)):
        raise TypeError(f"full: fill_value must be a number, got {fill_value!r}")
    if dtype is None:
        dtype = tensor(fill_value).dtype
    t = zeros(check.size(size, "full"), dtype=dtype, device=device)
    t.data[...] = fill_value
    return t.requires_grad_(requires_grad)


def _like(name, fill):
    def make(input, dtype=None, device=None, requires_grad=False):
        check.tensor(input, "input", name)
        dtype = input.dtype if dtype is None else dtype
        return fill(input.shape, dtype=dtype, device=input.device if device is None else device,
                    requires_grad=requires_grad)

    make.__name__ = name
    make.__doc__ = f"``{fill.__name__}`` with the shape (and, unless given, the dtype and device) of ``input``."
    return make


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n x m identity (m = n unless given)."""
    n = check.integer(n, "n", "eye", minimum=0)
    m = n if m is None else check.integer(m, "m", "eye", minimum=0)
    with check.memory_for("eye", f"a {n} x {m} matrix"):
        return Tensor(_xp(device).eye(n, m, dtype=_dtype(dtype)), requires_grad=requires_grad)


_NO_END = object()  # arange(5): the one number given is the end


def arange(start=0, end=_NO_END, step=1, dtype=None, device=None, requires_grad=False):
    """``arange(end)``, ``arange(start, end[, step])``: start, start + step, ... up to end (excluded).

    int64 when start, end and step are ints, float32 otherwise, as PyTorch.
    """
    if end is _NO_END:
        start, end = 0, start
    for name, value in (("start", start), ("end", end), ("step", step)):
        check.number(value, name, "arange")
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if (end - start) * step < 0:
        raise ValueError(f"arange: end {end} cannot be reached from start {start} with step {step}")
    default = int64 if all(check.is_int(v) for v in (start, end, step)) else DEFAULT_DTYPE
    with check.memory_for("arange", f"the values from {start} to {end} by {step}"):
        array = _xp(device).arange(start, end, step).astype(_dtype(dtype, default))
    return Tensor(array, requires_grad=requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end``, both included."""
    start = check.number(start, "start", "linspace")
    end = check.number(end, "end", "linspace")
    steps = check.integer(steps, "steps", "linspace", minimum=0)
    with check.memory_for("linspace", f"{steps} steps"):
        array = _xp(device).linspace(start, end, steps).astype(_dtype(dtype))
    return Tensor(array, requires_grad=requires_grad)


def _random(kind):
    def make(*size, dtype=None, device=None, requires_grad=False):
        from . import random

        shape = _size(size, kind)
        g = random.generator()
        with check.memory_for(kind, f"a tensor of shape {shape}"):
            array = g.standard_normal(shape) if kind == "randn" else g.random(shape)
            array = array.astype(_dtype(dtype))
        return Tensor(array, requires_grad=requires_grad, device=device)

    make.__name__ = kind
    make.__doc__ = (
        "Standard normal samples" if kind == "randn" else "Uniform samples in [0, 1)"
    ) + " from minidl's seeded generator (``manual_seed``)."
    return make


randn = _random("randn")
rand = _random("rand")


def randint(low=0, high=None, size=None, dtype=None, device=None, requires_grad=False):
    """Integers drawn uniformly from [low, high) (int64 unless ``dtype``): ``randint(high, size)`` or
    ``randint(low, high, size)``."""
    from . import random

    if size is None:
        low, high, size = 0, low, high
    low = check.integer(low, "low", "randint")
    high = check.integer(high, "high", "randint")
    if high <= low:
        raise ValueError(f"randint: high must be greater than low, got low={low}, high={high}")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint: size must be a tuple of ints, got {size!r}")
    shape = check.size(size, "randint")
    with check.memory_for("randint", f"a tensor of shape {shape}"):
        array = random.generator().integers(low, high, size=shape).astype(_dtype(dtype, int64))
    return Tensor(array, requires_grad=requires_grad, device=device)


def randperm(n, dtype=None, device=None):
    """A random permutation of 0 .. n - 1 (int64 unless ``dtype``)."""
    from . import random

    n = check.integer(n, "n", "randperm", minimum=0)
    with check.memory_for("randperm", f"{n} values"):
        return Tensor(random.generator().permutation(n).astype(_dtype(dtype, int64)), device=device)


zeros_like = _like("zeros_like", zeros)
ones_like = _like("ones_like", ones)
empty_like = _like("empty_like", empty)
rand_like = _like("rand_like", rand)
randn_like = _like("randn_like", randn)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    """``full`` with the shape (and, unless given, the dtype and device) of ``input``."""
    check.tensor(input, "input", "full_like")
    return full(input.shape, fill_value, dtype=input.dtype if dtype is None else dtype,
                device=input.device if device is None else device, requires_grad=requires_grad)
