"""Device arrays of the stand-in: NumPy arrays behind CuPy's rules.

``ndarray`` wraps a NumPy array (its "device memory") and behaves as ``cupy.ndarray`` does where
NumPy would be more forgiving:

* a NumPy array mixed into a device operation (a ufunc, an operator, a namespace function) raises
  ``TypeError``; NumPy scalars and Python numbers are fine, as in CuPy;
* ``np.asarray(device_array)`` raises: data comes back to the host only through ``.get()``;
* reductions and scalar indexing return 0-d device arrays, never NumPy scalars;
* only the attributes and methods ``cupy.ndarray`` has exist, and reductions take no ``where``/``initial``.

Fresh memory (``empty``, ``empty_like``) holds a sentinel, as uninitialised device memory holds garbage.
"""
import weakref

import numpy as np

from . import api, hostcc

HOST_MESSAGE = ("Implicit conversion to a NumPy array is not allowed. "
                "Please use `.get()` to construct a NumPy array explicitly.")
PROPERTIES = ("shape", "dtype", "ndim", "size", "nbytes", "itemsize", "strides")
METHODS = frozenset("""
    all any argmax argmin argsort astype clip conj copy cumprod cumsum diagonal dot fill flatten item max
    mean min nonzero prod ptp put ravel repeat reshape round sort squeeze std sum swapaxes take tolist
    trace transpose var view
""".split())
NUMPY_ONLY_KEYWORDS = frozenset({"where", "initial", "like"})
# parameters CuPy reads on the host (shapes, axes, split points, pad widths): NumPy arrays are fine there
HOST_PARAMETERS = frozenset({
    "indices_or_sections", "pad_width", "reps", "shape", "newshape", "axes", "axis", "source",
    "destination", "dims", "repeats", "shift", "constant_values",
})


def unwrap(value, where):
    """The NumPy data of device arrays inside ``value`` (lists, tuples, dicts walked); NumPy arrays raise."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        raise TypeError(f"{where}: Unsupported type {type(value)} (a NumPy array given to a CuPy operation)")
    if isinstance(value, (list, tuple)):
        return type(value)(unwrap(v, where) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v, where) for k, v in value.items()}
    return value


def wrap(value):
    """NumPy results as device arrays: arrays and NumPy scalars (0-d, as CuPy's reductions give)."""
    if isinstance(value, np.ndarray):
        return ndarray._of(value)
    if isinstance(value, np.generic):
        return ndarray._of(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(wrap(v) for v in value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def check_keywords(name, spec, args, kwargs):
    """Raise as CuPy's ``name`` would for too many positional arguments or a keyword it lacks."""
    if spec is None:
        return
    params = spec.split()
    positional = [p for p in params if not p.startswith((":", "*"))]
    keywords = set(positional) | {p[1:] for p in params if p.startswith(":")}
    if any(p.startswith("**") for p in params):
        return
    if len(args) > len(positional) and not any(p.startswith("*") and not p.startswith("**") for p in params):
        raise TypeError(f"cupy.{name}() takes {len(positional)} positional arguments but {len(args)} were given")
    for key in kwargs:
        if key not in keywords:
            raise TypeError(f"cupy.{name}() got an unexpected keyword argument {key!r}")


def device_function(name):
    """``cupy.<name>``: NumPy's function on device data, with CuPy's signature and strictness."""
    numpy_function, spec, where = getattr(np, name), api.FUNCTIONS.get(name), f"cupy.{name}"
    positional = [] if spec is None else [p for p in spec.split() if not p.startswith((":", "*"))]

    def function(*args, **kwargs):
        check_keywords(name, spec, args, kwargs)
        kwargs.pop("blocking", None)
        args = tuple(a if i < len(positional) and positional[i] in HOST_PARAMETERS else unwrap(a, where)
                     for i, a in enumerate(args))
        kwargs = {k: v if k in HOST_PARAMETERS else unwrap(v, where) for k, v in kwargs.items()}
        return wrap(numpy_function(*args, **kwargs))

    function.__name__ = function.__qualname__ = name
    return function


class ufunc:
    """``cupy.ufunc``: NumPy's ufunc of the same name on device arrays only, with its methods."""

    def __init__(self, name):
        self.__name__ = name
        self._ufunc = getattr(np, name)

    def __repr__(self):
        return f"<ufunc '{self.__name__}'>"

    def _apply(self, method, args, kwargs):
        where = f"cupy.{self.__name__}"
        bad = NUMPY_ONLY_KEYWORDS.intersection(kwargs)
        if bad:
            raise TypeError(f"{where}() got an unexpected keyword argument {sorted(bad)[0]!r}")
        out = kwargs.get("out")
        result = getattr(self._ufunc, method)(*unwrap(args, where), **unwrap(kwargs, where))
        return out if out is not None else wrap(result)

    def __call__(self, *args, **kwargs):
        return self._apply("__call__", args, kwargs)

    def reduce(self, *args, **kwargs):
        return self._apply("reduce", args, kwargs)

    def accumulate(self, *args, **kwargs):
        return self._apply("accumulate", args, kwargs)

    def outer(self, *args, **kwargs):
        return self._apply("outer", args, kwargs)


class Flags:
    """``cupy.ndarray.flags``: the three flags CuPy keeps."""

    def __init__(self, array):
        self.c_contiguous = array.flags.c_contiguous
        self.f_contiguous = array.flags.f_contiguous
        self.owndata = array.flags.owndata

    def __getitem__(self, name):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[name]


# NumPy array -> the device array wrapping it, so that ``view.base`` is the base array itself (the same
# object each time), as in CuPy
_WRAPPERS = weakref.WeakValueDictionary()


class ndarray:
    """``cupy.ndarray`` on a NumPy array."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is not None or strides is not None:
            raise NotImplementedError("cupy stand-in: ndarray(memptr=, strides=) is not supported")
        self._a = _garbage(shape, dtype, order)
        _WRAPPERS[id(self._a)] = self

    @classmethod
    def _of(cls, array):
        self = object.__new__(cls)
        self._a = array
        _WRAPPERS[id(array)] = self
        return self

    # -- the host boundary
    def __array__(self, *args, **kwargs):
        raise TypeError(HOST_MESSAGE)

    def get(self, stream=None, order="C", out=None, blocking=True):
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"cupy stand-in: set() takes a NumPy array, got {type(arr).__name__}")
        if arr.shape != self.shape or arr.dtype != self.dtype:
            raise ValueError("cupy stand-in: set() needs the same shape and dtype")
        self._a[...] = arr

    def __repr__(self):
        return "device:" + repr(self._a)

    def __str__(self):
        return str(self._a)

    # -- NumPy protocols: ufuncs and functions on device arrays stay on the device
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = ufunc.__name__
        if name not in api.UFUNCS and name not in api.FUNCTIONS:
            return NotImplemented
        if method not in ("__call__", "reduce", "outer", "accumulate"):
            raise TypeError(f"cupy stand-in: {name}.{method} is not supported")
        bad = NUMPY_ONLY_KEYWORDS.intersection(kwargs)
        if bad:
            raise TypeError(f"cupy.{name}() got an unexpected keyword argument {sorted(bad)[0]!r}")
        out = kwargs.get("out")
        result = getattr(ufunc, method)(*unwrap(inputs, f"cupy.{name}"), **unwrap(kwargs, f"cupy.{name}"))
        if out is not None:
            return out[0] if len(out) == 1 else out
        return wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        namespace = _namespace_for(func)
        if namespace is None:
            return NotImplemented
        return namespace(*args, **kwargs)

    # -- shape and type
    @property
    def flags(self):
        return Flags(self._a)

    @property
    def T(self):
        return ndarray._of(self._a.T)

    @property
    def mT(self):
        return ndarray._of(self._a.mT)

    @property
    def real(self):
        return ndarray._of(self._a.real)

    @property
    def imag(self):
        return ndarray._of(self._a.imag)

    @property
    def base(self):
        base = self._a.base
        if base is None:
            return None
        wrapper = _WRAPPERS.get(id(base))
        return wrapper if wrapper is not None and wrapper._a is base else ndarray._of(base)

    @property
    def device(self):
        from . import Device
        return Device(0)

    def __getattr__(self, name):
        if name in PROPERTIES:
            return getattr(self._a, name)
        if name not in METHODS:
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")
        method = getattr(self._a, name)

        def call(*args, **kwargs):
            bad = NUMPY_ONLY_KEYWORDS.intersection(kwargs)
            if bad:
                raise TypeError(f"ndarray.{name}() got an unexpected keyword argument {sorted(bad)[0]!r}")
            where = f"cupy.ndarray.{name}"
            result = method(*unwrap(args, where), **unwrap(kwargs, where))
            if name in ("item", "tolist"):
                return result
            return wrap(result)
        return call

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (wrap(row) for row in self._a)

    def __bool__(self):
        return bool(self._a)

    def __int__(self):
        return int(self._a)

    def __float__(self):
        return float(self._a)

    def __complex__(self):
        return complex(self._a)

    def __copy__(self):
        return ndarray._of(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray._of(self._a.copy())

    # -- indexing: device index arrays and NumPy ones are both accepted, as CuPy does
    def __getitem__(self, key):
        result = self._a[_index(key)]
        return wrap(result)

    def __setitem__(self, key, value):
        self._a[_index(key)] = value._a if isinstance(value, ndarray) else value


def _index(key):
    if isinstance(key, ndarray):
        return key._a
    if isinstance(key, tuple):
        return tuple(k._a if isinstance(k, ndarray) else k for k in key)
    return key


def _namespace_for(func):
    from . import module_for
    return module_for(func)


def _garbage(shape, dtype, order="C"):
    """Uninitialised memory as the stand-in gives it: the launch sentinel in every element."""
    dtype = np.dtype(dtype)
    array = np.empty(shape, dtype=dtype, order=order)
    if dtype.itemsize in hostcc.SENTINEL and dtype.kind in "fiu":
        array.view(hostcc.UINT[dtype.itemsize])[...] = hostcc.SENTINEL[dtype.itemsize]
    return array


_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
    "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "matmul": np.matmul,
    "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor, "lshift": np.left_shift,
    "rshift": np.right_shift,
}


def _binary(ufunc):
    return (lambda self, other: ufunc(self, other),
            lambda self, other: ufunc(other, self),
            lambda self, other: ufunc(self, other, out=self))


for _name, _ufunc in _BINARY.items():
    _forward, _reflected, _inplace = _binary(_ufunc)
    setattr(ndarray, f"__{_name}__", _forward)
    setattr(ndarray, f"__r{_name}__", _reflected)
    setattr(ndarray, f"__i{_name}__", _inplace)
for _name, _ufunc in {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
                      "gt": np.greater, "ge": np.greater_equal}.items():
    setattr(ndarray, f"__{_name}__", lambda self, other, _u=_ufunc: _u(self, other))
for _name, _ufunc in {"neg": np.negative, "pos": np.positive, "abs": np.absolute,
                      "invert": np.invert}.items():
    setattr(ndarray, f"__{_name}__", lambda self, _u=_ufunc: _u(self))
ndarray.__hash__ = None
ndarray.__module__ = "cupy"
