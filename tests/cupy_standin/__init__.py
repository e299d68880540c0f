"""A stand-in for CuPy on the CPU, so that minidl's GPU path runs where no GPU is.

``install()`` puts a module named ``cupy`` into ``sys.modules``: device arrays are NumPy arrays
behind CuPy's rules (``array.py``), the namespace offers the names CuPy 14 has (``api.py``) and
``RawModule`` compiles minidl's CUDA kernels for the host and runs every thread of a launch
(``hostcc.py``). ``uninstall()`` takes it away again. The test suite's fixture does both around
each ``gpu``-marked test when CuPy finds no device (see ``tests/conftest.py``).

What it cannot show: speed, memory pools, streams, real asynchrony, and the GPU's own floating point
(fused multiply-adds, fast math); those need a real GPU (``bash tests/gpu/run_device.sh``).
"""
import sys
import types

import numpy as np

from . import api, hostcc
from .array import check_keywords, device_function, ndarray, ufunc, unwrap, wrap

HOST_INPUT_FUNCTIONS = ("array", "asarray", "asanyarray")


def available():
    """(usable, reason): the stand-in needs a host C++ compiler for the kernels."""
    if hostcc.compiler() is None:
        return False, "no C++ compiler (g++ or clang++) for the CuPy stand-in"
    return True, ""


def _to_device(name):
    """``cupy.array``/``asarray``/``asanyarray``: host data (NumPy arrays, lists, scalars) is copied to
    the device; a device array is converted there, and returned as it is when nothing changes."""
    numpy_function, spec = getattr(np, name), api.FUNCTIONS[name]

    def function(*args, **kwargs):
        check_keywords(name, spec, args, kwargs)
        kwargs.pop("blocking", None)
        data, rest = args[0], args[1:]
        if isinstance(data, ndarray):
            converted = numpy_function(data._a, *rest, **kwargs)
            return data if converted is data._a else ndarray._of(converted)
        return ndarray._of(np.array(numpy_function(_device_data(data), *rest, **kwargs), copy=True))

    function.__name__ = function.__qualname__ = name
    return function


def _device_data(value):
    """Host data with any device arrays inside lists replaced by their data (CuPy accepts both)."""
    if isinstance(value, (list, tuple)):
        return type(value)(_device_data(v) for v in value)
    return value._a if isinstance(value, ndarray) else value


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def empty(shape, dtype=float, order="C"):
    return ndarray(shape, dtype, order=order)


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    data = unwrap(prototype, "cupy.empty_like")
    return ndarray(data.shape if shape is None else shape, data.dtype if dtype is None else dtype)


def get_array_module(*args):
    return module if any(isinstance(a, ndarray) for a in args) else np


class _Random(types.ModuleType):
    """``cupy.random``: the legacy seeded functions, drawn from a NumPy generator."""

    def __init__(self):
        super().__init__("cupy.random")
        self._generator = np.random.default_rng()

    def seed(self, seed=None):
        self._generator = np.random.default_rng(seed)

    def random(self, size=None, dtype=float):
        return wrap(np.asarray(self._generator.random(size, dtype=np.dtype(dtype))))

    def rand(self, *size, dtype=float):
        return self.random(size, dtype)

    def standard_normal(self, size=None, dtype=float):
        return wrap(np.asarray(self._generator.standard_normal(size, dtype=np.dtype(dtype))))

    def randn(self, *size, dtype=float):
        return self.standard_normal(size, dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        return wrap(np.asarray(self._generator.normal(loc, scale, size).astype(dtype)))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        return wrap(np.asarray(self._generator.uniform(low, high, size).astype(dtype)))

    def randint(self, low, high=None, size=None, dtype="l"):
        return wrap(np.asarray(self._generator.integers(low, high, size, dtype=dtype)))

    def permutation(self, a):
        return wrap(self._generator.permutation(unwrap(a, "cupy.random.permutation")))


class CUDARuntimeError(RuntimeError):
    pass


class Device:
    """``cupy.cuda.Device``: device 0, on which everything already happened when a call returns."""

    def __init__(self, device=0):
        if device not in (0, None):
            raise CUDARuntimeError("cudaErrorInvalidDevice: the stand-in has one device")
        self.id = 0

    def synchronize(self):
        pass

    def use(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _build_module():
    cupy = types.ModuleType("cupy", __doc__)
    cupy.__version__ = "14.2.0+minidl-standin"
    for name in api.TYPES | api.CONSTANTS - {"__version__"}:
        setattr(cupy, name, getattr(np, name))
    for name in api.FUNCTIONS:
        setattr(cupy, name, device_function(name))
    for name in api.UFUNCS:
        setattr(cupy, name, ufunc(name))
    cupy.ufunc = ufunc
    for name in HOST_INPUT_FUNCTIONS:
        setattr(cupy, name, _to_device(name))
    cupy.ndarray = ndarray
    cupy.asnumpy, cupy.empty, cupy.empty_like = asnumpy, empty, empty_like
    cupy.get_array_module = get_array_module
    cupy.RawModule = hostcc.HostModule
    cupy.random = _Random()
    cuda = types.ModuleType("cupy.cuda")
    cuda.Device = Device
    cuda.runtime = types.SimpleNamespace(getDeviceCount=lambda: 1, CUDARuntimeError=CUDARuntimeError)
    cupy.cuda = cuda
    linalg_routines = types.SimpleNamespace(set_compute_type=lambda dtype, compute_type: None,
                                            COMPUTE_TYPE_DEFAULT=1, COMPUTE_TYPE_TF32=7)
    cupy._core = types.SimpleNamespace(_routines_linalg=linalg_routines)
    return cupy


module = _build_module()


def module_for(func):
    """The stand-in's twin of a NumPy function (for ``__array_function__``), or None."""
    if func.__module__ == "numpy" and func.__name__ in api.FUNCTIONS:
        return getattr(module, func.__name__)
    return None


def scatter_add(a, slices, value):
    """``cupyx.scatter_add``: a[slices] += value with repeated indices accumulating (``np.add.at``)."""
    where = "cupyx.scatter_add"
    np.add.at(unwrap(a, where), _device_data(slices), unwrap(value, where) if isinstance(value, ndarray) else value)


cupyx = types.ModuleType("cupyx")
cupyx.scatter_add = scatter_add

_saved = []


def install():
    """Make ``import cupy`` give the stand-in, and minidl look for its GPU afresh."""
    from minidl import backend
    _saved.append(({name: sys.modules.get(name) for name in ("cupy", "cupyx")}, backend._cupy,
                   backend._cupy_checked, backend._default_device))
    sys.modules["cupy"], sys.modules["cupyx"] = module, cupyx
    backend._cupy, backend._cupy_checked = None, False
    return module


def uninstall():
    from minidl import backend
    previous, backend._cupy, backend._cupy_checked, backend._default_device = _saved.pop()
    for name, module_before in previous.items():
        if module_before is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module_before
